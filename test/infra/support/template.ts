/**
 * Reading a synthesized template: CloudFormation values as strings, the state machine's ASL, and IAM
 * permissions as normalized (action, resource, condition) triples, so that statement merging and action
 * ordering do not matter.
 */
import type { Template } from 'aws-cdk-lib/assertions';
import { expect } from 'vitest';

export type Json = any;
export type Resources = Record<string, { Type: string; Properties?: Json; DeletionPolicy?: string; UpdateReplacePolicy?: string; DependsOn?: Json }>;

/**
 * Renders a CloudFormation value as a string, with tokens as placeholders:
 * `{Ref: X}` → `${X}`, `{"Fn::GetAtt": [X, "Arn"]}` → `${X.Arn}`, `Fn::Join` joined.
 */
export function render(value: Json): string {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    if ('Ref' in value) return `\${${value.Ref}}`;
    if ('Fn::GetAtt' in value) {
      const [id, attribute] = value['Fn::GetAtt'] as [string, string];
      return `\${${id}.${attribute}}`;
    }
    if ('Fn::Join' in value) {
      const [separator, parts] = value['Fn::Join'] as [string, Json[]];
      return parts.map(render).join(separator);
    }
    if ('Fn::Sub' in value) return String(value['Fn::Sub']);
    if ('Fn::Select' in value) {
      const [index, list] = value['Fn::Select'] as [number, Json];
      if (list && typeof list === 'object' && 'Fn::Split' in list) {
        const [separator, source] = list['Fn::Split'] as [string, Json];
        return `\${select(${index}, split("${separator}", ${render(source)}))}`;
      }
    }
  }
  return JSON.stringify(value);
}

export const asArray = <T>(value: T | T[] | undefined): T[] => (value === undefined ? [] : Array.isArray(value) ? value : [value]);

/** The one resource of `type`: its logical id and its definition. */
export function only(template: Template, type: string): [string, Json] {
  const found = Object.entries(template.findResources(type));
  expect(found, type).toHaveLength(1);
  return found[0]!;
}

/**
 * A state machine's ASL, from its DefinitionString (an Fn::Join), with tokens as placeholders: by default the
 * generation workflow's (named `<stack>-generation`); `-webhooks` is the webhook delivery workflow's.
 */
export function definitionOf(template: Template, nameSuffix: '-generation' | '-webhooks' = '-generation'): Json {
  const found = Object.values(template.findResources('AWS::StepFunctions::StateMachine')).filter((machine) =>
    String(machine.Properties.StateMachineName).endsWith(nameSuffix),
  );
  expect(found, nameSuffix).toHaveLength(1);
  return JSON.parse(render(found[0]!.Properties.DefinitionString));
}

/** Worst-case seconds spent by one retrier: the sum of its (capped, un-jittered) delays. */
export function retryDelaySeconds(retrier: Json): number {
  let total = 0;
  for (let attempt = 0; attempt < (retrier.MaxAttempts ?? 3); attempt++) {
    const delay = (retrier.IntervalSeconds ?? 1) * (retrier.BackoffRate ?? 2) ** attempt;
    total += Math.min(delay, retrier.MaxDelaySeconds ?? Infinity);
  }
  return total;
}

/** Every statement of the inline policies attached to the role with logical id `roleId`. */
export function statementsOf(template: Template, roleId: string): Json[] {
  return Object.values(template.findResources('AWS::IAM::Policy'))
    .filter((policy) => asArray<Json>(policy.Properties.Roles).some((role) => role.Ref === roleId))
    .flatMap((policy) => asArray<Json>(policy.Properties.PolicyDocument.Statement));
}

export interface Permission {
  action: string;
  resource: string;
  /** The statement's Condition as JSON, when it has one. */
  condition?: string;
}

/** A role's permissions, one per (action, resource, condition), optionally for one service prefix; all Allow. */
export function permissionsOf(template: Template, roleId: string, service?: string): Permission[] {
  const permissions: Permission[] = [];
  for (const statement of statementsOf(template, roleId)) {
    expect(statement.Effect).toBe('Allow');
    expect(statement.NotAction).toBeUndefined();
    expect(statement.NotResource).toBeUndefined();
    expect(statement.Principal).toBeUndefined();
    const condition = statement.Condition === undefined ? undefined : JSON.stringify(statement.Condition);
    for (const action of asArray<string>(statement.Action)) {
      if (service && !action.startsWith(`${service}:`)) continue;
      for (const resource of asArray<Json>(statement.Resource)) permissions.push({ action, resource: render(resource), condition });
    }
  }
  return permissions;
}

/**
 * A role's grants as sorted `action on resource` strings (with ` if <condition JSON>` for a conditional
 * one), optionally for one service prefix.
 */
export function grantsOf(template: Template, roleId: string, service?: string): string[] {
  const grants = permissionsOf(template, roleId, service).map(
    ({ action, resource, condition }) => `${action} on ${resource}${condition === undefined ? '' : ` if ${condition}`}`,
  );
  return [...new Set(grants)].sort();
}
