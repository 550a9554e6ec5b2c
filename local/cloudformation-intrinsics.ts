/**
 * Evaluates the CloudFormation intrinsic functions that a synthesized CDK template
 * contains, so the local gateway can run the very artefacts `cdk synth` produced.
 *
 * Pure: no I/O, no AWS calls. Anything it cannot resolve throws, because a silently
 * "undefined" ARN would only surface much later as a confusing runtime failure.
 */
import type { AslDefinition } from './asl.ts';

export type Template = {
  Resources: Record<string, { Type: string; Properties?: any }>;
  Outputs?: any;
  Parameters?: any;
};

/** Physical values that Ref / Fn::GetAtt resolve to, keyed by logical id. */
export interface ResourceValues {
  [logicalId: string]: { ref: string; attributes?: Record<string, string> };
}

export interface PseudoParameters {
  region: string;
  accountId: string;
  /** Defaults to the partition the region belongs to (aws, aws-cn, aws-us-gov). */
  partition?: string;
  /** Defaults to the region's DNS suffix (amazonaws.com or amazonaws.com.cn). */
  urlSuffix?: string;
  /** Needed only when the template references AWS::StackName. */
  stackName?: string;
}

type TemplateResource = Template['Resources'][string];

/** Internal marker for `Ref: AWS::NoValue`; the enclosing object/array drops the entry. */
const NO_VALUE: unique symbol = Symbol('AWS::NoValue');

interface Scope {
  values: ResourceValues;
  pseudo: PseudoParameters | undefined;
}

export function resolveIntrinsics(value: unknown, values: ResourceValues, pseudo?: PseudoParameters): unknown {
  const resolved = resolveAt(value, { values, pseudo }, '$');
  return resolved === NO_VALUE ? undefined : resolved;
}

export function findResources(template: Template, type: string): [string, TemplateResource][] {
  return Object.entries(template.Resources ?? {}).filter(([, resource]) => resource.Type === type);
}

/**
 * The parsed ASL of an AWS::StepFunctions::StateMachine. CDK emits `DefinitionString`
 * as an `Fn::Join` of JSON fragments and tokens; hand-written templates may use a plain
 * string or a `Definition` object instead.
 */
export function stateMachineDefinition(
  template: Template,
  logicalId: string,
  values: ResourceValues,
  pseudo?: PseudoParameters,
): AslDefinition {
  const resource = template.Resources?.[logicalId];
  if (!resource) throw new Error(`Template has no resource with logical id "${logicalId}"`);
  if (resource.Type !== 'AWS::StepFunctions::StateMachine') {
    throw new Error(`Resource "${logicalId}" is a ${resource.Type}, not an AWS::StepFunctions::StateMachine`);
  }
  const properties = resource.Properties ?? {};
  const substitutions = resolveSubstitutions(properties.DefinitionSubstitutions, values, pseudo, logicalId);

  let definition: unknown;
  if (properties.DefinitionString !== undefined) {
    const text = resolveIntrinsics(properties.DefinitionString, values, pseudo);
    if (typeof text !== 'string') throw new Error(`DefinitionString of "${logicalId}" did not resolve to a string`);
    definition = parseDefinitionJson(substituteDefinition(text, substitutions), logicalId);
  } else if (properties.Definition !== undefined) {
    definition = substituteInStrings(resolveIntrinsics(properties.Definition, values, pseudo), substitutions);
  } else if (properties.DefinitionS3Location !== undefined) {
    throw new Error(`State machine "${logicalId}" uses DefinitionS3Location, which is unsupported locally`);
  } else {
    throw new Error(`State machine "${logicalId}" has neither DefinitionString nor Definition`);
  }
  return assertAsl(definition, logicalId);
}

function resolveAt(value: unknown, scope: Scope, path: string): unknown {
  if (Array.isArray(value)) return resolveArray(value, scope, path);
  if (value === null || typeof value !== 'object') return value;

  const entries = Object.entries(value);
  if (entries.length === 1 && isIntrinsicName(entries[0]![0])) {
    const [name, argument] = entries[0]!;
    return evaluateIntrinsic(name, argument, scope, `${path}["${name}"]`);
  }
  const result: Record<string, unknown> = {};
  for (const [key, child] of entries) {
    const resolved = resolveAt(child, scope, `${path}.${key}`);
    if (resolved !== NO_VALUE) result[key] = resolved;
  }
  return result;
}

function resolveArray(items: unknown[], scope: Scope, path: string): unknown[] {
  return items
    .map((item, index) => resolveAt(item, scope, `${path}[${index}]`))
    .filter((item) => item !== NO_VALUE);
}

function isIntrinsicName(key: string): boolean {
  return key === 'Ref' || key.startsWith('Fn::');
}

function evaluateIntrinsic(name: string, argument: unknown, scope: Scope, path: string): unknown {
  switch (name) {
    case 'Ref':
      return evaluateRef(resolveAt(argument, scope, path), scope, path);
    case 'Fn::GetAtt':
      return evaluateGetAtt(resolveAt(argument, scope, path), scope, path);
    case 'Fn::Join':
      return evaluateJoin(argument, scope, path);
    case 'Fn::Sub':
      return evaluateSub(argument, scope, path);
    case 'Fn::Select':
      return evaluateSelect(argument, scope, path);
    case 'Fn::Split':
      return evaluateSplit(argument, scope, path);
    case 'Fn::Base64':
      return Buffer.from(expectString(resolveAt(argument, scope, path), 'Fn::Base64', path)).toString('base64');
    default:
      // Conditions need the template's Conditions/Mappings and parameter values, which a
      // local run has no use for yet; refusing loudly beats guessing a branch.
      throw new Error(`${name} is unsupported by the local template evaluator (at ${path})`);
  }
}

function evaluateRef(target: unknown, scope: Scope, path: string): unknown {
  const id = expectString(target, 'Ref', path);
  if (id.startsWith('AWS::')) return pseudoParameter(id, scope.pseudo, path);
  return physicalValue(id, scope.values, 'Ref', path).ref;
}

function evaluateGetAtt(argument: unknown, scope: Scope, path: string): string {
  const [id, attribute] = getAttParts(argument, path);
  const resource = physicalValue(id, scope.values, 'Fn::GetAtt', path);
  const attributeValue = resource.attributes?.[attribute];
  if (attributeValue === undefined) {
    throw new Error(`Fn::GetAtt: logical id "${id}" has no attribute "${attribute}" (at ${path})`);
  }
  return attributeValue;
}

/** Both `["Id", "Attr"]` and `"Id.Attr"`; attribute names may themselves contain dots. */
function getAttParts(argument: unknown, path: string): [string, string] {
  if (typeof argument === 'string') {
    const dot = argument.indexOf('.');
    if (dot > 0 && dot < argument.length - 1) return [argument.slice(0, dot), argument.slice(dot + 1)];
  }
  if (Array.isArray(argument) && argument.length === 2) {
    return [expectString(argument[0], 'Fn::GetAtt', path), expectString(argument[1], 'Fn::GetAtt', path)];
  }
  throw new Error(`Fn::GetAtt expects ["LogicalId", "Attribute"] or "LogicalId.Attribute" (at ${path})`);
}

function physicalValue(id: string, values: ResourceValues, intrinsic: string, path: string) {
  const value = Object.hasOwn(values, id) ? values[id] : undefined;
  if (!value) throw new Error(`${intrinsic}: unknown logical id "${id}" (no physical value provided, at ${path})`);
  return value;
}

function pseudoParameter(name: string, pseudo: PseudoParameters | undefined, path: string): unknown {
  if (name === 'AWS::NoValue') return NO_VALUE;
  if (!pseudo) throw new Error(`Ref ${name} needs pseudo parameters (region, accountId), none given (at ${path})`);
  switch (name) {
    case 'AWS::Region':
      return pseudo.region;
    case 'AWS::AccountId':
      return pseudo.accountId;
    case 'AWS::Partition':
      return pseudo.partition ?? partitionOf(pseudo.region);
    case 'AWS::URLSuffix':
      return pseudo.urlSuffix ?? (pseudo.region.startsWith('cn-') ? 'amazonaws.com.cn' : 'amazonaws.com');
    case 'AWS::StackName':
      if (pseudo.stackName === undefined) throw new Error(`Ref AWS::StackName needs pseudo.stackName (at ${path})`);
      return pseudo.stackName;
    default:
      throw new Error(`Pseudo parameter ${name} is unsupported by the local template evaluator (at ${path})`);
  }
}

function partitionOf(region: string): string {
  if (region.startsWith('cn-')) return 'aws-cn';
  if (region.startsWith('us-gov-')) return 'aws-us-gov';
  return 'aws';
}

function evaluateJoin(argument: unknown, scope: Scope, path: string): string {
  const [delimiter, list] = expectPair(argument, 'Fn::Join', path);
  const items = resolveAt(list, scope, `${path}[1]`);
  if (!Array.isArray(items)) throw new Error(`Fn::Join expects a list of values (at ${path})`);
  const separator = expectString(resolveAt(delimiter, scope, `${path}[0]`), 'Fn::Join delimiter', path);
  return items.map((item, index) => expectScalar(item, 'Fn::Join', `${path}[1][${index}]`)).join(separator);
}

function evaluateSelect(argument: unknown, scope: Scope, path: string): unknown {
  const [rawIndex, rawList] = expectPair(argument, 'Fn::Select', path);
  const index = Number(resolveAt(rawIndex, scope, `${path}[0]`));
  const list = resolveAt(rawList, scope, `${path}[1]`);
  if (!Array.isArray(list)) throw new Error(`Fn::Select expects a list (at ${path})`);
  if (!Number.isInteger(index) || index < 0 || index >= list.length) {
    throw new Error(`Fn::Select index ${String(rawIndex)} is out of range for a list of ${list.length} (at ${path})`);
  }
  return list[index];
}

function evaluateSplit(argument: unknown, scope: Scope, path: string): string[] {
  const [rawDelimiter, rawSource] = expectPair(argument, 'Fn::Split', path);
  const delimiter = expectString(resolveAt(rawDelimiter, scope, `${path}[0]`), 'Fn::Split delimiter', path);
  const source = expectString(resolveAt(rawSource, scope, `${path}[1]`), 'Fn::Split source', path);
  return source.split(delimiter);
}

function evaluateSub(argument: unknown, scope: Scope, path: string): string {
  const [rawTemplate, rawVariables] = Array.isArray(argument) ? argument : [argument, {}];
  const template = expectString(rawTemplate, 'Fn::Sub', path);
  const variables = resolveAt(rawVariables ?? {}, scope, `${path}[1]`);
  if (variables === null || typeof variables !== 'object' || Array.isArray(variables)) {
    throw new Error(`Fn::Sub variables must be an object (at ${path})`);
  }
  return template.replace(/\$\{([^}]*)\}/g, (_match, name: string) =>
    substituteVariable(name, variables as Record<string, unknown>, scope, path),
  );
}

function substituteVariable(name: string, variables: Record<string, unknown>, scope: Scope, path: string): string {
  // `${!Literal}` is CloudFormation's escape for a literal `${Literal}`.
  if (name.startsWith('!')) return `\${${name.slice(1)}}`;
  if (Object.hasOwn(variables, name)) return expectScalar(variables[name], `Fn::Sub variable ${name}`, path);
  if (name.startsWith('AWS::')) return expectScalar(pseudoParameter(name, scope.pseudo, path), `Fn::Sub ${name}`, path);
  if (name.includes('.')) return evaluateGetAtt(name, scope, path);
  return physicalValue(name, scope.values, 'Fn::Sub', path).ref;
}

function expectPair(argument: unknown, intrinsic: string, path: string): [unknown, unknown] {
  if (!Array.isArray(argument) || argument.length !== 2) {
    throw new Error(`${intrinsic} expects a two-element list (at ${path})`);
  }
  return [argument[0], argument[1]];
}

function expectString(value: unknown, what: string, path: string): string {
  if (typeof value !== 'string') throw new Error(`${what} expects a string, got ${describe(value)} (at ${path})`);
  return value;
}

/** CloudFormation stringifies numbers and booleans inside strings; objects are an error. */
function expectScalar(value: unknown, what: string, path: string): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  throw new Error(`${what} expects a string, got ${describe(value)} (at ${path})`);
}

function describe(value: unknown): string {
  if (value === NO_VALUE) return 'AWS::NoValue';
  return value === undefined ? 'undefined' : JSON.stringify(value);
}

function resolveSubstitutions(
  raw: unknown,
  values: ResourceValues,
  pseudo: PseudoParameters | undefined,
  logicalId: string,
): Record<string, string> {
  if (raw === undefined) return {};
  const resolved = resolveIntrinsics(raw, values, pseudo);
  if (resolved === null || typeof resolved !== 'object' || Array.isArray(resolved)) {
    throw new Error(`DefinitionSubstitutions of "${logicalId}" must be an object`);
  }
  return Object.fromEntries(
    Object.entries(resolved).map(([key, value]) => [key, expectScalar(value, `DefinitionSubstitutions.${key}`, logicalId)]),
  );
}

/** Step Functions replaces `${key}` in the definition with DefinitionSubstitutions values. */
function substituteDefinition(text: string, substitutions: Record<string, string>): string {
  if (Object.keys(substitutions).length === 0) return text;
  return text.replace(/\$\{([^}]+)\}/g, (match, key: string) => substitutions[key] ?? match);
}

function substituteInStrings(value: unknown, substitutions: Record<string, string>): unknown {
  if (typeof value === 'string') return substituteDefinition(value, substitutions);
  if (Array.isArray(value)) return value.map((item) => substituteInStrings(item, substitutions));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, child]) => [key, substituteInStrings(child, substitutions)]));
  }
  return value;
}

function parseDefinitionJson(text: string, logicalId: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new Error(`DefinitionString of "${logicalId}" is not valid JSON: ${(error as Error).message}`);
  }
}

function assertAsl(definition: unknown, logicalId: string): AslDefinition {
  const candidate = definition as Partial<AslDefinition> | null;
  if (!candidate || typeof candidate.StartAt !== 'string' || typeof candidate.States !== 'object') {
    throw new Error(`Definition of "${logicalId}" is not an ASL document (StartAt/States missing)`);
  }
  return candidate as AslDefinition;
}
