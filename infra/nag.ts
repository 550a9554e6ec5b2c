/**
 * cdk-nag (`AwsSolutionsChecks`) acknowledgments, kept next to the constructs they are about.
 *
 * cdk-nag 3 is a CDK policy-validation plugin: `app.synth()` (so `cdk synth`, `cdk deploy`, the tests and
 * the local runtime) fails on any finding that is neither fixed nor acknowledged here. An acknowledgment
 * is recorded on a construct and covers that construct and its children (a role covers its DefaultPolicy).
 * Wildcard findings are acknowledged one by one, by the exact string cdk-nag reports
 * (`AwsSolutions-IAM5[Resource::<StorageBucket….Arn>/inputs/*]`), never for a whole rule.
 */
import { Stack, Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/** The rule pack's name, which is also the namespace of its rule ids in CDK's validation framework. */
export const NAG_PACK = 'AwsSolutions';

/**
 * Acknowledges AwsSolutions rule `rule` (e.g. `SMG4`, `IAM5`) on `scope` and its children, with a reason.
 * With `findings`, only those granular findings (`Resource::…`, `Action::…`, `Policy::…`; see `resourceFinding`)
 * are acknowledged, not the rule.
 */
export function acknowledge(scope: IConstruct, rule: string, reason: string, findings?: readonly string[]): void {
  const ids = findings === undefined ? [`${NAG_PACK}-${rule}`] : findings.map((finding) => `${NAG_PACK}-${rule}[${finding}]`);
  for (const id of ids) Validations.of(scope).acknowledge({ id: `${NAG_PACK}::${id}`, reason });
}

/**
 * The `Resource::…` finding cdk-nag reports for an IAM resource value (a string with tokens): references are
 * flattened the way cdk-nag does (`{"Fn::GetAtt": [X, "Arn"]}` → `<X.Arn>`, `{Ref: X}` → `<X>`, joins
 * concatenated, other intrinsics as JSON), so an acknowledgment names exactly the ARN it is about.
 */
export function resourceFinding(scope: IConstruct, resource: string): string {
  return `Resource::${flatten(Stack.of(scope).resolve(resource))}`;
}

function flatten(node: unknown): string {
  if (node === undefined) return '';
  if (typeof node === 'string') return node.replace(/\$\{/g, '<').replace(/\}/g, '>');
  if (node && typeof node === 'object') {
    const value = node as Record<string, unknown>;
    if (value['Fn::Join']) {
      const [delimiter, items] = value['Fn::Join'] as [string, unknown[]];
      return items.map(flatten).join(delimiter);
    }
    if (value['Fn::Sub']) return flatten(value['Fn::Sub']);
    if (value['Fn::GetAtt']) {
      const [resource, attribute] = value['Fn::GetAtt'] as [unknown, unknown];
      return `<${flatten(resource)}.${flatten(attribute)}>`;
    }
    if (value['Fn::ImportValue']) return flatten(value['Fn::ImportValue']);
    if (value.Ref) return `<${flatten(value.Ref)}>`;
  }
  return JSON.stringify(node);
}
