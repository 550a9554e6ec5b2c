/**
 * Infrastructure tests: the synthesized CloudFormation template of the gateway stack.
 *
 * The stack is built once (with bundling, a few seconds) through `buildApp` from infra/app.ts, which
 * applies cdk.json's context (e.g. `@aws-cdk/aws-iam:minimizePolicies`, which merges and sorts policy
 * statements) exactly as `cdk synth`/`cdk deploy` do; the context tests add their own on top.
 *
 * Assertions are small and behavioural; IAM checks work on normalized (action, resource, condition)
 * triples so that statement merging and action ordering do not matter.
 *
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Duration, Stack, type CfnElement } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import type { IConstruct } from 'constructs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../infra/app.ts';
import type { GatewayStack } from '../../infra/gateway-stack.ts';
import { Storage } from '../../infra/constructs/storage.ts';
import { GenerationWorkflow } from '../../infra/constructs/workflow.ts';
import { OWNER_INDEX, PHASE_INDEX } from '../../functions/commons/adapters/task-store.ts';
import { QUEUE_INDEX } from '../../functions/commons/adapters/queue-index.ts';
import { DEFAULT_ASSET_HOST_ALLOWLIST } from '../../functions/commons/config.ts';
import { rateWindow } from '../../functions/commons/domain/capacity.ts';

// ---------------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------------

type Json = any;
type Resources = Record<string, { Type: string; Properties?: Json; DeletionPolicy?: string; UpdateReplacePolicy?: string }>;

const PROJECT_FUNCTIONS = ['Api', 'Poll', 'Copy', 'RecordFailure', 'Reconcile'] as const;
type ProjectFunction = (typeof PROJECT_FUNCTIONS)[number];
/**
 * The functions that take, give back and hand on upstream slots: they dispatch (`grantTable`'s `capacity`,
 * capacity settings, StartExecution); not Copy, which moves tasks whose slot was given back already.
 */
const CAPACITY_FUNCTIONS = ['Api', 'Poll', 'RecordFailure', 'Reconcile'] as const;

/**
 * The item kinds (key prefixes) each function may change in place with UpdateItem (`grantTable`'s `updates`):
 * upstream capacity (`SLOT`, `RATE`), owners' queues (`OWNER`), the dispatch lease (`DISPATCH`), a key's
 * create rate (`KEYRATE`) and a key's last use (`APIKEY`). Copy changes nothing in place; nothing but the API
 * touches API keys and key rates.
 */
const UPDATE_PREFIXES: Record<ProjectFunction, readonly string[]> = {
  Api: ['SLOT#*', 'RATE#*', 'OWNER#*', 'KEYRATE#*', 'APIKEY#*', 'DISPATCH#*'],
  Poll: ['SLOT#*', 'RATE#*', 'OWNER#*', 'DISPATCH#*'],
  Copy: [],
  RecordFailure: ['SLOT#*', 'OWNER#*', 'DISPATCH#*'],
  Reconcile: ['SLOT#*', 'OWNER#*', 'DISPATCH#*'],
};
/**
 * The item kinds each function may write whole with PutItem (`grantTable`'s `puts`): tasks (`TASK`, every
 * function moves them on), idempotency claims (`IDEMPOTENCY`, the API) and the upstream's generations as
 * the gateway records them (`UPSTREAM`, the API's and the poll's submits). Nothing else: in particular not
 * Copy, which parses bytes from the upstream, anywhere but its own tasks.
 */
const PUT_PREFIXES: Record<ProjectFunction, readonly string[]> = {
  Api: ['TASK#*', 'IDEMPOTENCY#*', 'UPSTREAM#*', 'UPLOAD#*'],
  Poll: ['TASK#*', 'UPSTREAM#*'],
  Copy: ['TASK#*'],
  RecordFailure: ['TASK#*'],
  Reconcile: ['TASK#*'],
};
/** The item kinds each function may delete with DeleteItem: the API releases idempotency claims and deletes finished tasks. */
const DELETE_PREFIXES: Record<ProjectFunction, readonly string[]> = {
  Api: ['IDEMPOTENCY#*', 'TASK#*'],
  Poll: [],
  Copy: [],
  RecordFailure: [],
  Reconcile: [],
};
const leadingKeys = (prefixes: readonly string[]) => ({ 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': prefixes } });
/** The condition on a function's UpdateItem: its own item kinds alone. */
const leadingKeysOnly = (name: ProjectFunction) => leadingKeys(UPDATE_PREFIXES[name]);
/** The item actions that are fenced by key prefix, and each function's prefixes for them. */
const FENCED: Record<string, Record<ProjectFunction, readonly string[]>> = {
  'dynamodb:PutItem': PUT_PREFIXES,
  'dynamodb:UpdateItem': UPDATE_PREFIXES,
  'dynamodb:DeleteItem': DELETE_PREFIXES,
};

/** Skips asset bundling for every stack: for builds that only look at the template. */
const NO_BUNDLING = { 'aws:cdk:bundling-stacks': [] };

function buildWithContext(context: Record<string, unknown>, outdir: string): { stack: GatewayStack; template: Template } {
  const { stack } = buildApp({ outdir, context });
  return { stack, template: Template.fromStack(stack) };
}

/**
 * Renders a CloudFormation value as a string, with tokens as placeholders:
 * `{Ref: X}` → `${X}`, `{"Fn::GetAtt": [X, "Arn"]}` → `${X.Arn}`, `Fn::Join` joined.
 */
function render(value: Json): string {
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

const asArray = <T>(value: T | T[] | undefined): T[] => (value === undefined ? [] : Array.isArray(value) ? value : [value]);

/** The state machine's ASL, from its DefinitionString (an Fn::Join), with tokens as placeholders. */
function definitionOf(template: Template): Json {
  const machines = Object.values(template.findResources('AWS::StepFunctions::StateMachine'));
  expect(machines).toHaveLength(1);
  return JSON.parse(render(machines[0]!.Properties.DefinitionString));
}

/** Worst-case seconds spent by one retrier: the sum of its (capped, un-jittered) delays. */
function retryDelaySeconds(retrier: Json): number {
  let total = 0;
  for (let attempt = 0; attempt < (retrier.MaxAttempts ?? 3); attempt++) {
    const delay = (retrier.IntervalSeconds ?? 1) * (retrier.BackoffRate ?? 2) ** attempt;
    total += Math.min(delay, retrier.MaxDelaySeconds ?? Infinity);
  }
  return total;
}

// ---------------------------------------------------------------------------------------------------
// The stack, built once
// ---------------------------------------------------------------------------------------------------

const tempDirs: string[] = [];
const tempDir = (prefix: string): string => {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
};

let outdir: string;
let stack: GatewayStack;
let template: Template;
let resources: Resources;
let definition: Json;

const ids = {} as {
  fn: Record<ProjectFunction, string>;
  role: Record<ProjectFunction, string>;
  table: string;
  bucket: string;
  accessLogBucket: string;
  secret: string;
  stateMachine: string;
  restApi: string;
  reconcileSchedule: string;
};

const logicalIdOf = (construct: IConstruct): string => stack.getLogicalId(construct.node.defaultChild as CfnElement);

beforeAll(() => {
  outdir = tempDir('gateway-stack-test-');
  ({ stack, template } = buildWithContext({}, outdir));
  resources = template.toJSON().Resources;

  const functions: Record<ProjectFunction, IConstruct> = {
    Api: stack.api.handler,
    Poll: stack.workflow.pollFunction,
    Copy: stack.workflow.copyFunction,
    RecordFailure: stack.workflow.recordFailureFunction,
    Reconcile: stack.workflow.reconcileFunction,
  };
  ids.fn = {} as Record<ProjectFunction, string>;
  ids.role = {} as Record<ProjectFunction, string>;
  for (const name of PROJECT_FUNCTIONS) {
    ids.fn[name] = logicalIdOf(functions[name]);
    ids.role[name] = resources[ids.fn[name]]!.Properties.Role['Fn::GetAtt'][0];
  }
  ids.table = logicalIdOf(stack.storage.table);
  ids.bucket = logicalIdOf(stack.storage.bucket);
  ids.accessLogBucket = logicalIdOf(stack.storage.accessLogBucket);
  ids.secret = logicalIdOf(stack.upstreamKey);
  ids.stateMachine = logicalIdOf(stack.workflow.stateMachine);
  ids.restApi = logicalIdOf(stack.api.restApi);
  ids.reconcileSchedule = logicalIdOf(stack.workflow.reconcileSchedule);
  definition = definitionOf(template);
}, 120_000);

afterAll(() => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

const fnProps = (name: ProjectFunction): Json => resources[ids.fn[name]]!.Properties;
const envOf = (name: ProjectFunction): Record<string, Json> => fnProps(name).Environment?.Variables ?? {};

/** Every Allow statement of the inline policies attached to a function's role. */
function statementsOf(name: ProjectFunction): Json[] {
  return Object.values(template.findResources('AWS::IAM::Policy'))
    .filter((policy) => asArray<Json>(policy.Properties.Roles).some((role) => role.Ref === ids.role[name]))
    .flatMap((policy) => asArray<Json>(policy.Properties.PolicyDocument.Statement));
}

interface Permission {
  action: string;
  resource: string;
  /** The statement's Condition as JSON, when it has one. */
  condition?: string;
}

/** A function's permissions, one per (action, resource, condition), optionally for one service prefix. */
function permissionsOf(name: ProjectFunction, service?: string): Permission[] {
  const permissions: Permission[] = [];
  for (const statement of statementsOf(name)) {
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
 * A function's grants as sorted `action on resource` strings (with ` if <condition JSON>` for a
 * conditional one), optionally for one service prefix.
 */
function grantsOf(name: ProjectFunction, service?: string): string[] {
  const grants = permissionsOf(name, service).map(
    ({ action, resource, condition }) => `${action} on ${resource}${condition === undefined ? '' : ` if ${condition}`}`,
  );
  return [...new Set(grants)].sort();
}

const tableArn = () => `\${${ids.table}.Arn}`;
const phaseIndexArn = () => `${tableArn()}/index/byPhase`;
const queueIndexArn = () => `${tableArn()}/index/byQueue`;
const ownerIndexArn = () => `${tableArn()}/index/byOwner`;
/** The state machine's ARN as the functions it invokes name it: formatted from its literal name, no reference. */
const stateMachineArnFromName = () => `arn:\${AWS::Partition}:states:\${AWS::Region}:\${AWS::AccountId}:stateMachine:LumaVideoGateway-generation`;
const objects = (prefix: string) => `\${${ids.bucket}.Arn}/${prefix}`;
const secretArn = () => `\${${ids.secret}}`;
const stateMachineArn = () => `\${${ids.stateMachine}}`;
/** Every execution of this state machine: `arn:…:execution:<state machine name>:*` (the name is field 6 of its ARN). */
const executionsArn = () =>
  `arn:\${AWS::Partition}:states:\${AWS::Region}:\${AWS::AccountId}:execution:\${select(6, split(":", ${stateMachineArn()}))}:*`;

// ---------------------------------------------------------------------------------------------------
// Lambda functions
// ---------------------------------------------------------------------------------------------------

describe('Lambda functions', () => {
  it('the functions are exactly the five project functions (no CDK helper function, e.g. for S3 notifications)', () => {
    const functions = template.findResources('AWS::Lambda::Function');
    expect(Object.keys(functions).sort()).toEqual(Object.values(ids.fn).sort());
    template.resourceCountIs('AWS::Lambda::Function', PROJECT_FUNCTIONS.length);
    expect(Object.values(resources).filter((r) => r.Type.startsWith('Custom::'))).toEqual([]);
  });

  it.each(PROJECT_FUNCTIONS)('%s runs on nodejs24.x (the latest Node.js runtime), arm64, with active X-Ray tracing', (name) => {
    expect(fnProps(name)).toMatchObject({
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      TracingConfig: { Mode: 'Active' },
      Handler: 'index.handler',
    });
  });

  it.each(PROJECT_FUNCTIONS)('%s logs to its own log group, which has a retention', (name) => {
    const logGroup = fnProps(name).LoggingConfig?.LogGroup;
    expect(logGroup).toEqual({ Ref: expect.any(String) });
    const group = resources[logGroup.Ref]!;
    expect(group.Type).toBe('AWS::Logs::LogGroup');
    expect(group.Properties.RetentionInDays).toBeGreaterThan(0);
  });

  it('each function has a log group of its own', () => {
    const groups = PROJECT_FUNCTIONS.map((name) => fnProps(name).LoggingConfig.LogGroup.Ref);
    expect(new Set(groups).size).toBe(PROJECT_FUNCTIONS.length);
  });

  it('the copy function has 1024 MB and a 15 minute timeout', () => {
    expect(fnProps('Copy')).toMatchObject({ MemorySize: 1024, Timeout: 900 });
  });

  it('the API function times out before API Gateway does (30 s)', () => {
    expect(fnProps('Api').Timeout).toBeLessThan(30);
  });

  it('the reconcile function has a 5 minute timeout, no longer than its schedule’s interval', () => {
    expect(fnProps('Reconcile').Timeout).toBe(300);
    const rate = /^rate\((\d+) minutes?\)$/.exec(resources[ids.reconcileSchedule]!.Properties.ScheduleExpression);
    expect(rate).not.toBeNull();
    expect(fnProps('Reconcile').Timeout).toBeLessThanOrEqual(Number(rate![1]) * 60);
  });
});

// ---------------------------------------------------------------------------------------------------
// Reconciler schedule
// ---------------------------------------------------------------------------------------------------

describe('reconciler schedule', () => {
  it('is one enabled EventBridge rule running every 5 minutes, targeting only the reconcile function', () => {
    template.resourceCountIs('AWS::Events::Rule', 1);
    const rule = resources[ids.reconcileSchedule]!;
    expect(rule.Type).toBe('AWS::Events::Rule');
    expect(rule.Properties).toMatchObject({ ScheduleExpression: 'rate(5 minutes)', State: 'ENABLED' });
    expect(rule.Properties.EventPattern).toBeUndefined();
    expect(rule.Properties.Targets).toHaveLength(1);
    expect(rule.Properties.Targets[0]).toMatchObject({ Arn: { 'Fn::GetAtt': [ids.fn.Reconcile, 'Arn'] } });
    expect(rule.Properties.Targets[0].Input).toBeUndefined(); // the handler takes no input
  });

  it('EventBridge may invoke the reconcile function, for this rule only', () => {
    const permissions = Object.values(template.findResources('AWS::Lambda::Permission')).filter(
      (p) => p.Properties.FunctionName?.['Fn::GetAtt']?.[0] === ids.fn.Reconcile,
    );
    expect(permissions).toHaveLength(1);
    expect(permissions[0]!.Properties).toEqual({
      Action: 'lambda:InvokeFunction',
      FunctionName: { 'Fn::GetAtt': [ids.fn.Reconcile, 'Arn'] },
      Principal: 'events.amazonaws.com',
      SourceArn: { 'Fn::GetAtt': [ids.reconcileSchedule, 'Arn'] },
    });
  });

  it(
    'follows the construct’s `reconcileInterval`',
    () => {
      const app = new App({ outdir: tempDir('gateway-reconcile-interval-'), context: NO_BUNDLING });
      const scope = new Stack(app, 'ReconcileInterval');
      const storage = new Storage(scope, 'Storage');
      const workflow = new GenerationWorkflow(scope, 'Workflow', {
        table: storage.table,
        bucket: storage.bucket,
        upstream: {},
        upstreamKey: new Secret(scope, 'Key'),
        reconcileInterval: Duration.minutes(15),
      });
      const rules = Template.fromStack(scope).findResources('AWS::Events::Rule');
      expect(Object.keys(rules)).toEqual([scope.getLogicalId(workflow.reconcileSchedule.node.defaultChild as CfnElement)]);
      expect(Object.values(rules)[0]!.Properties.ScheduleExpression).toBe('rate(15 minutes)');
    },
    60_000,
  );
});

// ---------------------------------------------------------------------------------------------------
// Bucket
// ---------------------------------------------------------------------------------------------------

describe('bucket', () => {
  const BUCKETS = [
    ['the video bucket', () => ids.bucket],
    ['the access-log bucket', () => ids.accessLogBucket],
  ] as const;
  const bucketProps = (id: string): Json => resources[id]!.Properties;
  const bucketPolicyOf = (id: string): Json => {
    const policies = Object.values(template.findResources('AWS::S3::BucketPolicy')).filter((p) => p.Properties.Bucket?.Ref === id);
    expect(policies).toHaveLength(1);
    return policies[0]!.Properties.PolicyDocument;
  };

  it('there are exactly two buckets: the videos and their access logs', () => {
    expect(Object.keys(template.findResources('AWS::S3::Bucket')).sort()).toEqual([ids.bucket, ids.accessLogBucket].sort());
  });

  it.each(BUCKETS)('%s blocks all public access', (_, id) => {
    expect(bucketProps(id()).PublicAccessBlockConfiguration).toEqual({
      BlockPublicAcls: true,
      BlockPublicPolicy: true,
      IgnorePublicAcls: true,
      RestrictPublicBuckets: true,
    });
  });

  it.each(BUCKETS)('%s encrypts objects at rest and has ACLs disabled', (_, id) => {
    expect(bucketProps(id()).BucketEncryption).toEqual({
      ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: expect.any(String) } }],
    });
    expect(bucketProps(id()).OwnershipControls).toEqual({ Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] });
    expect(bucketProps(id()).AccessControl).toBeUndefined();
  });

  it.each(BUCKETS)('%s has a bucket policy denying requests without TLS, on the bucket and its objects', (_, id) => {
    const deny = bucketPolicyOf(id()).Statement.filter((s: Json) => s.Effect === 'Deny');
    expect(deny).toEqual([
      {
        Effect: 'Deny',
        Action: 's3:*',
        Principal: { AWS: '*' },
        Condition: { Bool: { 'aws:SecureTransport': 'false' } },
        Resource: [{ 'Fn::GetAtt': [id(), 'Arn'] }, { 'Fn::Join': ['', [{ 'Fn::GetAtt': [id(), 'Arn'] }, '/*']] }],
      },
    ]);
  });

  it.each(BUCKETS)('%s is kept when the stack is deleted', (_, id) => {
    expect(resources[id()]).toMatchObject({ DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
  });

  it('the video bucket’s policy allows nothing: only the TLS deny', () => {
    expect(bucketPolicyOf(ids.bucket).Statement.filter((s: Json) => s.Effect !== 'Deny')).toEqual([]);
  });

  it('aborts incomplete multipart uploads', () => {
    expect(bucketProps(ids.bucket).LifecycleConfiguration.Rules).toEqual(
      expect.arrayContaining([expect.objectContaining({ Status: 'Enabled', AbortIncompleteMultipartUpload: { DaysAfterInitiation: expect.any(Number) } })]),
    );
  });

  it('expires uploaded keyframes under inputs/, client uploads under inputs/uploads/ after a day (and nothing else)', () => {
    const rules: Json[] = bucketProps(ids.bucket).LifecycleConfiguration.Rules;
    expect(rules).toEqual(expect.arrayContaining([expect.objectContaining({ Status: 'Enabled', Prefix: 'inputs/', ExpirationInDays: 7 })]));
    expect(rules).toEqual(expect.arrayContaining([expect.objectContaining({ Status: 'Enabled', Prefix: 'inputs/uploads/', ExpirationInDays: 1 })]));
    const expiring = rules.filter((rule) => rule.ExpirationInDays !== undefined || rule.ExpirationDate !== undefined);
    expect(expiring.map((rule) => rule.Prefix)).toEqual(['inputs/', 'inputs/uploads/']); // videos under generations/ are never expired
  });

  it('sends its events to EventBridge, set on the bucket itself (no notifications custom resource)', () => {
    expect(bucketProps(ids.bucket).NotificationConfiguration).toEqual({ EventBridgeConfiguration: { EventBridgeEnabled: true } });
    expect(template.findResources('Custom::S3BucketNotifications')).toEqual({});
  });

  it('writes server access logs to the access-log bucket, under videos/', () => {
    expect(bucketProps(ids.bucket).LoggingConfiguration).toEqual({
      DestinationBucketName: { Ref: ids.accessLogBucket },
      LogFilePrefix: 'videos/',
    });
  });

  it('the access-log bucket lets only S3 log delivery write, only under videos/, only from the video bucket of this account', () => {
    const allows = bucketPolicyOf(ids.accessLogBucket).Statement.filter((s: Json) => s.Effect !== 'Deny');
    expect(allows).toEqual([
      {
        Effect: 'Allow',
        Principal: { Service: 'logging.s3.amazonaws.com' },
        Action: 's3:PutObject',
        Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [ids.accessLogBucket, 'Arn'] }, '/videos/*']] },
        Condition: {
          ArnLike: { 'aws:SourceArn': { 'Fn::GetAtt': [ids.bucket, 'Arn'] } },
          StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } },
        },
      },
    ]);
  });

  it('the access-log bucket expires its logs, keeps no logs of its own and sends no events', () => {
    expect(bucketProps(ids.accessLogBucket).LifecycleConfiguration.Rules).toEqual([
      { Id: 'expire-access-logs', Status: 'Enabled', ExpirationInDays: 90 },
    ]);
    expect(bucketProps(ids.accessLogBucket).LoggingConfiguration).toBeUndefined();
    expect(bucketProps(ids.accessLogBucket).NotificationConfiguration).toBeUndefined();
  });

  it('no function may touch the access-log bucket', () => {
    for (const name of PROJECT_FUNCTIONS) {
      const text = JSON.stringify(statementsOf(name)) + JSON.stringify(envOf(name));
      expect(text, name).not.toContain(ids.accessLogBucket);
    }
  });
});

// ---------------------------------------------------------------------------------------------------
// Table
// ---------------------------------------------------------------------------------------------------

describe('table', () => {
  it('has a string partition key `pk` and no sort key', () => {
    template.hasResourceProperties('AWS::DynamoDB::GlobalTable', {
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      AttributeDefinitions: Match.arrayWith([{ AttributeName: 'pk', AttributeType: 'S' }]),
    });
  });

  it('bills on demand', () => {
    template.hasResourceProperties('AWS::DynamoDB::GlobalTable', { BillingMode: 'PAY_PER_REQUEST' });
  });

  it('has point-in-time recovery', () => {
    template.hasResourceProperties('AWS::DynamoDB::GlobalTable', {
      Replicas: Match.arrayWith([
        Match.objectLike({ PointInTimeRecoverySpecification: Match.objectLike({ PointInTimeRecoveryEnabled: true }) }),
      ]),
    });
  });

  it('expires items through a TTL attribute', () => {
    template.hasResourceProperties('AWS::DynamoDB::GlobalTable', {
      TimeToLiveSpecification: { AttributeName: Match.stringLikeRegexp('.+'), Enabled: true },
    });
  });

  it('is kept when the stack is deleted', () => {
    template.hasResource('AWS::DynamoDB::GlobalTable', { DeletionPolicy: 'Retain' });
  });

  it('has exactly three indexes, the sparse keys-only `byPhase` (`phase`, `phaseOrder`) and `byQueue` (`queueKey`, `queueOrder`), and `byOwner` (`listKey`, `listOrder`, with `status`) the code queries', () => {
    const table = resources[ids.table]!.Properties;
    expect(table.GlobalSecondaryIndexes).toEqual([
      {
        IndexName: 'byPhase',
        KeySchema: [
          { AttributeName: 'phase', KeyType: 'HASH' },
          { AttributeName: 'phaseOrder', KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'KEYS_ONLY' },
      },
      {
        IndexName: 'byQueue',
        KeySchema: [
          { AttributeName: 'queueKey', KeyType: 'HASH' },
          { AttributeName: 'queueOrder', KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'KEYS_ONLY' },
      },
      {
        IndexName: 'byOwner',
        KeySchema: [
          { AttributeName: 'listKey', KeyType: 'HASH' },
          { AttributeName: 'listOrder', KeyType: 'RANGE' },
        ],
        // The one attribute a list filters on (`state=`), so a filtered page reads no task it drops.
        Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: ['status'] },
      },
    ]);
    expect(table.LocalSecondaryIndexes).toBeUndefined();
    expect([...table.AttributeDefinitions].sort((a: Json, b: Json) => a.AttributeName.localeCompare(b.AttributeName))).toEqual([
      { AttributeName: 'listKey', AttributeType: 'S' },
      { AttributeName: 'listOrder', AttributeType: 'S' },
      { AttributeName: 'phase', AttributeType: 'S' },
      { AttributeName: 'phaseOrder', AttributeType: 'S' },
      { AttributeName: 'pk', AttributeType: 'S' },
      { AttributeName: 'queueKey', AttributeType: 'S' },
      { AttributeName: 'queueOrder', AttributeType: 'S' },
    ]);
    expect([PHASE_INDEX, QUEUE_INDEX, OWNER_INDEX]).toEqual(['byPhase', 'byQueue', 'byOwner']); // the names the adapters query
  });
});

// ---------------------------------------------------------------------------------------------------
// State machine
// ---------------------------------------------------------------------------------------------------

describe('state machine', () => {
  const state = (name: string): Json => {
    const found = definition.States[name];
    expect(found, `state "${name}"`).toBeDefined();
    return found;
  };

  it('is a STANDARD state machine with tracing', () => {
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      StateMachineType: 'STANDARD',
      TracingConfiguration: { Enabled: true },
    });
  });

  it('logs every event (level ALL) but no execution data (prompts, URLs, error causes) to a log group with a retention', () => {
    expect(resources[ids.stateMachine]!.Properties.LoggingConfiguration).toMatchObject({ Level: 'ALL', IncludeExecutionData: false });
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      LoggingConfiguration: Match.objectLike({
        Level: Match.anyValue(),
        Destinations: [{ CloudWatchLogsLogGroup: { LogGroupArn: { 'Fn::GetAtt': [Match.anyValue(), 'Arn'] } } }],
      }),
    });
    const logGroupId = resources[ids.stateMachine]!.Properties.LoggingConfiguration.Destinations[0].CloudWatchLogsLogGroup.LogGroupArn['Fn::GetAtt'][0];
    expect(resources[logGroupId]).toMatchObject({ Type: 'AWS::Logs::LogGroup', Properties: { RetentionInDays: expect.any(Number) } });
  });

  it('has an execution timeout longer than the generation timeout', () => {
    expect(definition.TimeoutSeconds).toEqual(expect.any(Number));
    expect(definition.TimeoutSeconds).toBeGreaterThan(Number(envOf('Api').GENERATION_TIMEOUT_SECONDS));
  });

  it('starts with Poll', () => {
    expect(definition.StartAt).toBe('Poll');
  });

  it.each([
    ['Poll', 'Poll'],
    ['Copy', 'Copy'],
    ['Record failure', 'RecordFailure'],
  ] as const)('the "%s" state invokes the %s function', (stateName, fn) => {
    expect(state(stateName)).toMatchObject({
      Type: 'Task',
      Resource: expect.stringMatching(/:states:::lambda:invoke$/),
      Parameters: { FunctionName: `\${${ids.fn[fn]}.Arn}` },
    });
  });

  it.each([
    ['Poll', 'TransientUpstreamError'],
    ['Copy', 'TransientDownloadError'],
  ])('%s retries %s with capped exponential backoff and full jitter', (name, error) => {
    const retriers: Json[] = state(name).Retry ?? [];
    const retrier = retriers.find((r) => r.ErrorEquals.includes(error));
    expect(retrier).toMatchObject({
      BackoffRate: expect.any(Number),
      MaxDelaySeconds: expect.any(Number),
      MaxAttempts: expect.any(Number),
      JitterStrategy: 'FULL',
    });
    expect(retrier.BackoffRate).toBeGreaterThan(1);
    expect(retrier.MaxAttempts).toBeGreaterThan(0);
  });

  it.each(['Poll', 'Copy'])('%s never retries permanent errors (no States.ALL / States.TaskFailed retrier)', (name) => {
    for (const retrier of state(name).Retry ?? []) {
      expect(retrier.ErrorEquals).not.toContain('States.ALL');
      expect(retrier.ErrorEquals).not.toContain('States.TaskFailed');
    }
  });

  it.each(['Poll', 'Copy'])('%s retries Lambda service errors (the invoke itself failing)', (name) => {
    const retried = (state(name).Retry ?? []).flatMap((r: Json) => r.ErrorEquals);
    expect(retried).toEqual(expect.arrayContaining(['Lambda.ServiceException', 'Lambda.TooManyRequestsException']));
  });

  it('every Task state except "Record failure" catches States.ALL into "Record failure", keeping its input', () => {
    const tasks = Object.entries<Json>(definition.States).filter(([, s]) => s.Type === 'Task');
    expect(tasks.map(([name]) => name).sort()).toEqual(['Copy', 'Poll', 'Record failure']);
    for (const [name, task] of tasks) {
      if (name === 'Record failure') continue;
      expect(task.Catch, name).toEqual(
        expect.arrayContaining([
          // ResultPath keeps `taskId` and adds the error, which is what "Record failure" reads.
          expect.objectContaining({ ErrorEquals: ['States.ALL'], Next: 'Record failure', ResultPath: '$.error' }),
        ]),
      );
    }
  });

  it('"Record failure" retries any error, then ends the execution as failed', () => {
    const recordFailure = state('Record failure');
    expect(recordFailure.Catch).toBeUndefined();
    expect(recordFailure.Retry).toEqual(expect.arrayContaining([expect.objectContaining({ ErrorEquals: ['States.ALL'] })]));
    expect(state(recordFailure.Next)).toMatchObject({ Type: 'Fail' });
  });

  it('the Wait state waits `$.waitSeconds`, then polls again', () => {
    expect(state('Wait')).toMatchObject({ Type: 'Wait', SecondsPath: '$.waitSeconds', Next: 'Poll' });
  });

  it('the Choice after Poll routes wait, copy, completed and failed', () => {
    const choice = state(state('Poll').Next);
    expect(choice.Type).toBe('Choice');
    const routes = Object.fromEntries(choice.Choices.map((c: Json) => [c.StringEquals, c.Next]));
    expect(choice.Choices.every((c: Json) => c.Variable === '$.next')).toBe(true);
    expect(routes).toEqual({ wait: 'Wait', copy: 'Copy', completed: 'Completed', failed: 'Failed' });
    expect(state('Completed').Type).toBe('Succeed');
    expect(state('Failed').Type).toBe('Fail');
    expect(state('Copy').Next).toBe('Completed');
  });

  it('the Choice default reaches "Record failure" with an `error` for it to record', () => {
    const choice = state(state('Poll').Next);
    const target = state(choice.Default);
    const readsError = JSON.stringify(target.Parameters ?? {}).includes('"$.error"');
    // Either the default target does not need `$.error`, or it is a state that provides one.
    expect(readsError && target.Type === 'Task').toBe(false);
  });

  it('the execution timeout leaves room for a Copy (with its retries) that starts at the deadline', () => {
    const copy = state('Copy');
    const transient = copy.Retry.find((r: Json) => r.ErrorEquals.includes('TransientDownloadError'));
    const worstCopySeconds = (transient.MaxAttempts + 1) * fnProps('Copy').Timeout + retryDelaySeconds(transient);
    const slack = definition.TimeoutSeconds - Number(envOf('Api').GENERATION_TIMEOUT_SECONDS);
    expect(slack).toBeGreaterThanOrEqual(worstCopySeconds);
  });
});

// ---------------------------------------------------------------------------------------------------
// The workflow, executed locally (aws-local-stepfunctions, Lambda steps replaced by stubs)
// ---------------------------------------------------------------------------------------------------

describe('workflow behaviour (synthesized definition run in aws-local-stepfunctions)', () => {
  type Handler = (input: Json) => Promise<Json>;
  let LocalStateMachine: typeof import('aws-local-stepfunctions').StateMachine;

  beforeAll(async () => {
    ({ StateMachine: LocalStateMachine } = await import('../../local/aws-local-stepfunctions.ts'));
  });

  const namedError = (name: string, message = name): Error => Object.assign(new Error(message), { name });

  /** Runs the definition; each stub gets the Lambda payload and returns the Lambda result. */
  async function run(stubs: Record<string, (payload: Json, call: number) => Json>) {
    const calls: Record<string, Json[]> = {};
    const handlers: Record<string, Handler> = {};
    for (const [stateName, stub] of Object.entries(stubs)) {
      handlers[stateName] = async (input) => {
        const list = (calls[stateName] ??= []);
        list.push(input.Payload);
        return { Payload: await stub(input.Payload, list.length) };
      };
    }
    const asl = JSON.parse(JSON.stringify(definition).replaceAll('${AWS::Partition}', 'aws'));
    const machine = new LocalStateMachine(asl as never, { validationOptions: { checkPaths: false } });
    const execution = machine.run({ taskId: 't-1' }, {
      overrides: {
        taskResourceLocalHandlers: handlers as never,
        waitTimeOverrides: { Wait: 0 },
        retryIntervalOverrides: { Poll: 0, Copy: 0, 'Record failure': 0 },
      },
    });
    try {
      return { calls, output: await execution.result, error: undefined as Json };
    } catch (error) {
      return { calls, output: undefined as Json, error: error as Json };
    }
  }

  const recordFailureStub = (payload: Json) => ({ taskId: payload.taskId, status: 'failed' });
  /** The error an execution failed with (the library wraps it in an ExecutionError). */
  const failedWith = (error: Json): string | undefined => error?.cause?.name ?? error?.name;

  it('loops Poll → Wait → Poll, then copies and succeeds', async () => {
    const { calls, output, error } = await run({
      Poll: (p, n) => ({ taskId: p.taskId, next: n < 3 ? 'wait' : 'copy', waitSeconds: 1 }),
      Copy: (p) => ({ taskId: p.taskId, next: 'completed' }),
      'Record failure': recordFailureStub,
    });
    expect(error).toBeUndefined();
    expect(calls.Poll).toEqual([{ taskId: 't-1' }, { taskId: 't-1' }, { taskId: 't-1' }]);
    expect(calls.Copy).toEqual([{ taskId: 't-1' }]);
    expect(calls['Record failure']).toBeUndefined();
    expect(output).toEqual({ taskId: 't-1', next: 'completed' });
  });

  it('a `failed` poll ends the execution as GenerationFailed without recording again', async () => {
    const { calls, error } = await run({
      Poll: (p) => ({ taskId: p.taskId, next: 'failed', waitSeconds: 1 }),
      'Record failure': recordFailureStub,
    });
    expect(failedWith(error)).toBe('GenerationFailed');
    expect(calls['Record failure']).toBeUndefined();
  });

  it('a transient upstream error is retried, then the workflow carries on', async () => {
    const { calls, error } = await run({
      Poll: (p, n) => {
        if (n <= 2) throw namedError('TransientUpstreamError');
        return { taskId: p.taskId, next: 'completed', waitSeconds: 1 };
      },
      'Record failure': recordFailureStub,
    });
    expect(error).toBeUndefined();
    expect(calls.Poll).toHaveLength(3);
    expect(calls['Record failure']).toBeUndefined();
  });

  it('a permanent Copy error is not retried: Record failure gets the task id and the error', async () => {
    const { calls, error } = await run({
      Poll: (p) => ({ taskId: p.taskId, next: 'copy', waitSeconds: 1 }),
      Copy: () => {
        throw namedError('DownloadFailedError', 'link expired');
      },
      'Record failure': recordFailureStub,
    });
    expect(calls.Copy).toHaveLength(1);
    expect(calls['Record failure']).toEqual([
      { taskId: 't-1', error: expect.objectContaining({ Error: 'DownloadFailedError', Cause: expect.stringContaining('link expired') }) },
    ]);
    expect(failedWith(error)).toBe('GenerationFailed');
  });

  it('transient errors that never clear end in Record failure after the retries', async () => {
    const { calls, error } = await run({
      Poll: () => {
        throw namedError('TransientUpstreamError');
      },
      'Record failure': recordFailureStub,
    });
    const retrier = definition.States.Poll.Retry.find((r: Json) => r.ErrorEquals.includes('TransientUpstreamError'));
    expect(calls.Poll).toHaveLength(retrier.MaxAttempts + 1);
    expect(calls['Record failure']).toEqual([{ taskId: 't-1', error: expect.objectContaining({ Error: 'TransientUpstreamError' }) }]);
    expect(failedWith(error)).toBe('GenerationFailed');
  });

  it('an unexpected `next` from Poll is recorded as a failure', async () => {
    const { calls, error } = await run({
      Poll: (p) => ({ taskId: p.taskId, next: 'something-new', waitSeconds: 1 }),
      'Record failure': recordFailureStub,
    });
    expect(failedWith(error)).toBe('GenerationFailed');
    expect(calls['Record failure']).toEqual([
      { taskId: 't-1', error: expect.objectContaining({ Error: 'UnexpectedNextStep', Cause: expect.stringContaining('something-new') }) },
    ]);
  });
});

// ---------------------------------------------------------------------------------------------------
// Least privilege
// ---------------------------------------------------------------------------------------------------

describe('least privilege', () => {
  const XRAY = new Set(['xray:PutTraceSegments', 'xray:PutTelemetryRecords']);

  /**
   * What `grantTable` gives each function beyond GetItem on the table and its fenced item actions: the
   * dispatchers read slots and owners in batches and query the queues; the reconciler lists phases; the
   * API lists an owner's tasks (and reads them in batches).
   */
  const TABLE_ACCESS: Record<ProjectFunction, { capacity: boolean; phases: boolean; ownerTasks: boolean }> = {
    Api: { capacity: true, phases: false, ownerTasks: true },
    Poll: { capacity: true, phases: false, ownerTasks: false },
    Copy: { capacity: false, phases: false, ownerTasks: false },
    RecordFailure: { capacity: true, phases: false, ownerTasks: false },
    Reconcile: { capacity: true, phases: true, ownerTasks: false },
  };

  const tableGrants = (name: ProjectFunction): string[] => {
    const { capacity, phases, ownerTasks } = TABLE_ACCESS[name];
    return [
      ...(capacity || ownerTasks ? [`dynamodb:BatchGetItem on ${tableArn()}`] : []),
      `dynamodb:GetItem on ${tableArn()}`,
      `dynamodb:PutItem on ${tableArn()} if ${JSON.stringify(leadingKeys(PUT_PREFIXES[name]))}`,
      ...(capacity ? [`dynamodb:Query on ${queueIndexArn()}`] : []),
      ...(phases ? [`dynamodb:Query on ${phaseIndexArn()}`] : []),
      ...(ownerTasks ? [`dynamodb:Query on ${ownerIndexArn()}`] : []),
      ...(UPDATE_PREFIXES[name].length ? [`dynamodb:UpdateItem on ${tableArn()} if ${JSON.stringify(leadingKeysOnly(name))}`] : []),
      ...(DELETE_PREFIXES[name].length ? [`dynamodb:DeleteItem on ${tableArn()} if ${JSON.stringify(leadingKeys(DELETE_PREFIXES[name]))}`] : []),
    ].sort();
  };

  it.each(PROJECT_FUNCTIONS)('%s has exactly its DynamoDB grants (action, resource, condition)', (name) => {
    expect(grantsOf(name, 'dynamodb')).toEqual(tableGrants(name));
  });

  it('Copy may not UpdateItem at all: it changes tasks whole, with conditional puts, and touches no counter or slot', () => {
    expect(UPDATE_PREFIXES.Copy).toEqual([]);
    expect(statementsOf('Copy').filter((s) => asArray<string>(s.Action).includes('dynamodb:UpdateItem'))).toEqual([]);
  });

  it.each([
    ['Api', 'SLOT#*, RATE#*, OWNER#*, KEYRATE#*, APIKEY#*, DISPATCH#*'],
    ['Poll', 'SLOT#*, RATE#*, OWNER#*, DISPATCH#*'],
    ['RecordFailure', 'SLOT#*, OWNER#*, DISPATCH#*'],
    ['Reconcile', 'SLOT#*, OWNER#*, DISPATCH#*'],
  ] as const)('%s’s UpdateItem is one statement of its own, conditioned on LeadingKeys %s', (name, prefixes) => {
    expect(UPDATE_PREFIXES[name].join(', ')).toBe(prefixes);
    const updates = statementsOf(name).filter((s) => asArray<string>(s.Action).includes('dynamodb:UpdateItem'));
    expect(updates).toHaveLength(1);
    // Alone in its statement: the condition neither loosens nor is loosened by another action.
    expect(updates[0]).toEqual({
      Effect: 'Allow',
      Action: 'dynamodb:UpdateItem',
      Resource: { 'Fn::GetAtt': [ids.table, 'Arn'] },
      Condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [...UPDATE_PREFIXES[name]] } },
    });
  });

  it.each([
    ['Api', 'TASK#*, IDEMPOTENCY#*, UPSTREAM#*, UPLOAD#*'],
    ['Poll', 'TASK#*, UPSTREAM#*'],
    ['Copy', 'TASK#*'],
    ['RecordFailure', 'TASK#*'],
    ['Reconcile', 'TASK#*'],
  ] as const)('%s’s PutItem is one statement of its own, conditioned on LeadingKeys %s', (name, prefixes) => {
    expect(PUT_PREFIXES[name].join(', ')).toBe(prefixes);
    const puts = statementsOf(name).filter((s) => asArray<string>(s.Action).includes('dynamodb:PutItem'));
    expect(puts).toEqual([
      { Effect: 'Allow', Action: 'dynamodb:PutItem', Resource: { 'Fn::GetAtt': [ids.table, 'Arn'] }, Condition: leadingKeys(PUT_PREFIXES[name]) },
    ]);
  });

  it.each(PROJECT_FUNCTIONS)('%s has no condition on any other statement than its PutItem, UpdateItem and DeleteItem ones', (name) => {
    for (const { action, condition } of permissionsOf(name)) {
      if (action in FENCED) expect(condition, action).toBe(JSON.stringify(leadingKeys(FENCED[action]![name])));
      else expect(condition, action).toBeUndefined();
    }
  });

  it.each(PROJECT_FUNCTIONS)('%s may write whole items of no kind that only another function writes', (name) => {
    // Keys, rates, slots and counters are only ever changed in place (UpdateItem) or by the operator's tools.
    for (const kind of ['APIKEY#*', 'SLOT#*', 'RATE#*', 'OWNER#*', 'KEYRATE#*', 'DISPATCH#*']) expect(PUT_PREFIXES[name]).not.toContain(kind);
    if (name !== 'Api') expect(PUT_PREFIXES[name]).not.toContain('IDEMPOTENCY#*');
    if (name !== 'Api') expect(PUT_PREFIXES[name]).not.toContain('UPLOAD#*'); // only the API hands out uploads
    if (name !== 'Api' && name !== 'Poll') expect(PUT_PREFIXES[name]).not.toContain('UPSTREAM#*');
  });

  it.each(PROJECT_FUNCTIONS)('%s has no DynamoDB action beyond Get/Put/Update/DeleteItem, BatchGetItem, Query and Scan', (name) => {
    const allowed = ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:BatchGetItem', 'dynamodb:Query', 'dynamodb:Scan'];
    if (DELETE_PREFIXES[name].length) allowed.push('dynamodb:DeleteItem');
    for (const { action } of permissionsOf(name, 'dynamodb')) expect(allowed, action).toContain(action);
    // In particular nothing that writes several items at once outside the conditions above.
    const actions = permissionsOf(name).map((p) => p.action);
    for (const action of ['dynamodb:BatchWriteItem', 'dynamodb:TransactWriteItems', 'dynamodb:PartiQLUpdate', 'dynamodb:PartiQLDelete']) {
      expect(actions).not.toContain(action);
    }
  });

  it('only the API may delete items, and only idempotency records and tasks, in a statement of its own', () => {
    for (const name of PROJECT_FUNCTIONS) {
      const deletes = statementsOf(name).filter((s) => asArray<string>(s.Action).includes('dynamodb:DeleteItem'));
      if (name !== 'Api') expect(deletes, name).toEqual([]);
      else {
        expect(deletes).toEqual([
          { Effect: 'Allow', Action: 'dynamodb:DeleteItem', Resource: { 'Fn::GetAtt': [ids.table, 'Arn'] }, Condition: leadingKeys(['IDEMPOTENCY#*', 'TASK#*']) },
        ]);
      }
    }
  });

  it('no function may Scan the table (the reconciler repairs queues from the index of waiting owners); Copy may not BatchGetItem or Query', () => {
    for (const name of PROJECT_FUNCTIONS) {
      const actions = permissionsOf(name).map((p) => p.action);
      expect(actions.includes('dynamodb:Scan'), name).toBe(false);
    }
    const copy = permissionsOf('Copy').map((p) => p.action);
    for (const action of ['dynamodb:BatchGetItem', 'dynamodb:Query']) expect(copy).not.toContain(action);
  });

  describe('the LeadingKeys patterns let each function put, update and delete its own item kinds and nothing else', () => {
    // IAM StringLike: `*` is any run of characters, `?` one character, everything else literal.
    const toRegExp = (pattern: string) =>
      new RegExp(`^${pattern.replace(/[.+^$(){}|[\]\\]/g, '\\$&').replaceAll('*', '.*').replaceAll('?', '.')}$`);
    const hash = (c: string) => c.repeat(64);
    const window = rateWindow(Date.now()).key;
    /** A real key of each kind, as the code builds it (see functions/commons/adapters). */
    const KEYS = {
      SLOT: ['SLOT#0', 'SLOT#9', 'SLOT#999'],
      RATE: [`RATE#${window}`],
      OWNER: [`OWNER#${hash('c')}`, 'OWNER#team-a'],
      KEYRATE: [`KEYRATE#${hash('d')}#${window}`],
      APIKEY: [`APIKEY#${hash('a')}`],
      TASK: ['TASK#4f9c2e1a-0000-4000-8000-000000000000'],
      IDEMPOTENCY: [`IDEMPOTENCY#${hash('b')}`],
      UPSTREAM: ['UPSTREAM#6c2f4a1e-0000-4000-8000-000000000000'],
      UPLOAD: ['UPLOAD#7d3e5b2f-0000-4000-8000-000000000000'],
      DISPATCH: ['DISPATCH#lease'],
      lowercase: ['slot#0', 'owner#x', 'task#4f9c2e1a-0000-4000-8000-000000000000'],
      unknown: ['SOMETHING#1', 'TASK', 'IDEMPOTENCY'],
    } as const;

    it.each(PROJECT_FUNCTIONS.flatMap((name) => Object.keys(FENCED).map((action) => [name, action] as const)))('%s, %s', (name, action) => {
      const prefixes = FENCED[action]![name];
      const patterns = prefixes.map(toRegExp);
      const allowed = (key: string) => patterns.some((pattern) => pattern.test(key));
      const mine = new Set(prefixes.map((prefix) => prefix.replace(/#\*$/, '')));
      for (const [kind, keys] of Object.entries(KEYS)) {
        for (const key of keys) expect(allowed(key), `${name} ${action} on ${key}`).toBe(mine.has(kind));
      }
      // Tasks, idempotency records, upstream records and uploads are never updated in place by anyone.
      if (action === 'dynamodb:UpdateItem') for (const kind of ['TASK', 'IDEMPOTENCY', 'UPSTREAM', 'UPLOAD']) expect(mine.has(kind)).toBe(false);
      // Nobody deletes an upload: it expires (TTL), and its object with inputs/uploads/.
      if (action === 'dynamodb:DeleteItem') expect(mine.has('UPLOAD')).toBe(false);
    });
  });

  it('the table grants are CloudFormation statements on the table and its index (hasResourceProperties)', () => {
    for (const name of CAPACITY_FUNCTIONS) {
      template.hasResourceProperties('AWS::IAM::Policy', {
        Roles: Match.arrayWith([{ Ref: ids.role[name] }]),
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Effect: 'Allow',
              Action: ['dynamodb:BatchGetItem', 'dynamodb:GetItem'],
              Resource: { 'Fn::GetAtt': [ids.table, 'Arn'] },
            }),
            Match.objectLike({
              Effect: 'Allow',
              Action: 'dynamodb:PutItem',
              Condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [...PUT_PREFIXES[name]] } },
            }),
            Match.objectLike({
              Effect: 'Allow',
              Action: 'dynamodb:Query',
              Resource: TABLE_ACCESS[name].phases || TABLE_ACCESS[name].ownerTasks
                ? Match.arrayWith([{ 'Fn::Join': ['', [{ 'Fn::GetAtt': [ids.table, 'Arn'] }, '/index/byQueue']] }])
                : { 'Fn::Join': ['', [{ 'Fn::GetAtt': [ids.table, 'Arn'] }, '/index/byQueue']] },
            }),
            Match.objectLike({
              Effect: 'Allow',
              Action: 'dynamodb:UpdateItem',
              Condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [...UPDATE_PREFIXES[name]] } },
            }),
          ]),
        },
      });
    }
    template.hasResourceProperties('AWS::IAM::Policy', {
      Roles: Match.arrayWith([{ Ref: ids.role.Copy }]),
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Allow',
            Action: 'dynamodb:GetItem',
            Resource: { 'Fn::GetAtt': [ids.table, 'Arn'] },
          }),
          Match.objectLike({
            Effect: 'Allow',
            Action: 'dynamodb:PutItem',
            Condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['TASK#*'] } },
          }),
        ]),
      },
    });
  });

  it.each([
    ['Api', ['s3:GetObject on inputs/*', 's3:GetObject on generations/*', 's3:PutObject on inputs/*', 's3:DeleteObject on inputs/*', 's3:DeleteObject on generations/*']],
    ['Poll', ['s3:GetObject on inputs/*']],
    ['Copy', ['s3:AbortMultipartUpload on generations/*', 's3:PutObject on generations/*', 's3:DeleteObject on generations/*']],
    ['RecordFailure', []],
    ['Reconcile', []],
  ] as const)('%s has only the S3 object actions it uses, on the prefixes it uses', (name, expected) => {
    const want = expected.map((grant) => grant.replace(/ on (.*)$/, (_, prefix: string) => ` on ${objects(prefix)}`)).sort();
    expect(grantsOf(name, 's3')).toEqual(want);
  });

  it.each([
    ['Api', true],
    ['Poll', true],
    ['Copy', false],
    ['RecordFailure', false],
    ['Reconcile', false],
  ] as const)('%s can read the upstream key secret: %s', (name, canRead) => {
    const grants = grantsOf(name, 'secretsmanager');
    if (canRead) expect(grants).toContain(`secretsmanager:GetSecretValue on ${secretArn()}`);
    else expect(grants).toEqual([]);
    expect(grants.every((grant) => grant.endsWith(` on ${secretArn()}`))).toBe(true);
  });

  it.each(['Api', 'Poll'] as const)('%s may only call GetSecretValue on the secret', (name) => {
    expect(grantsOf(name, 'secretsmanager')).toEqual([`secretsmanager:GetSecretValue on ${secretArn()}`]);
  });

  it('the functions that dispatch may start executions, and only of this state machine; Copy may not', () => {
    expect(grantsOf('Api', 'states').filter((grant) => grant.startsWith('states:StartExecution'))).toEqual([`states:StartExecution on ${stateMachineArn()}`]);
    for (const name of ['Api', 'Reconcile'] as const) {
      template.hasResourceProperties('AWS::IAM::Policy', {
        Roles: [{ Ref: ids.role[name] }],
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({ Effect: 'Allow', Action: 'states:StartExecution', Resource: { Ref: ids.stateMachine } }),
          ]),
        },
      });
    }
    // Invoked by the state machine, so named by the ARN formatted from its literal name (a Ref would be a cycle).
    for (const name of ['Poll', 'RecordFailure'] as const) {
      expect(grantsOf(name, 'states'), name).toEqual([`states:StartExecution on ${stateMachineArnFromName()}`]);
    }
    expect(grantsOf('Copy', 'states')).toEqual([]);
  });

  it('the state machine has the literal name that the ARN its functions are told and granted is formatted from', () => {
    expect(resources[ids.stateMachine]!.Properties.StateMachineName).toBe('LumaVideoGateway-generation');
    expect(stack.workflow.stateMachineName).toBe('LumaVideoGateway-generation');
    for (const name of ['Poll', 'RecordFailure'] as const) expect(render(envOf(name).STATE_MACHINE_ARN), name).toBe(stateMachineArnFromName());
    // The same ARN a Ref gives, once deployed: arn:<partition>:states:<region>:<account>:stateMachine:<name>.
    const name = resources[ids.stateMachine]!.Properties.StateMachineName;
    expect(stateMachineArnFromName()).toBe(`arn:\${AWS::Partition}:states:\${AWS::Region}:\${AWS::AccountId}:stateMachine:${name}`);
  });

  it('the API may StartExecution on the state machine, and DescribeExecution and StopExecution (a cancel) on its executions, nothing else', () => {
    expect(grantsOf('Api', 'states')).toEqual([
      `states:DescribeExecution on ${executionsArn()}`,
      `states:StartExecution on ${stateMachineArn()}`,
      `states:StopExecution on ${executionsArn()}`,
    ]);
  });

  it('the reconciler may StartExecution on the state machine and DescribeExecution on its executions, nothing else', () => {
    expect(grantsOf('Reconcile', 'states')).toEqual([
      `states:DescribeExecution on ${executionsArn()}`,
      `states:StartExecution on ${stateMachineArn()}`,
    ]);
  });

  it('the reconciler’s DescribeExecution covers the ARNs its code builds, and only executions of this state machine', () => {
    const [describeGrant] = permissionsOf('Reconcile', 'states').filter((p) => p.action === 'states:DescribeExecution');
    expect(describeGrant!.resource).toBe(executionsArn());
    expect(describeGrant!.resource).not.toContain(':stateMachine:');
    // The code derives `arn:…:execution:<name>:<run name>` from the state machine's ARN; check the two agree.
    const machineArn = 'arn:aws:states:eu-west-1:123456789012:stateMachine:WorkflowStateMachine8F1B1C15-AbC';
    const executionArn = `${machineArn.replace(':stateMachine:', ':execution:')}:4f9c2e1a-0000-4000-8000-000000000000-r2`;
    const granted = executionsArn()
      .replace('${AWS::Partition}', 'aws')
      .replace('${AWS::Region}', 'eu-west-1')
      .replace('${AWS::AccountId}', '123456789012')
      .replace(`\${select(6, split(":", ${stateMachineArn()}))}`, machineArn.split(':')[6]!);
    expect(new RegExp(`^${granted.replaceAll('*', '.*')}$`).test(executionArn)).toBe(true);
  });

  it.each(PROJECT_FUNCTIONS)('%s uses no service beyond DynamoDB, S3, Secrets Manager, Step Functions, X-Ray and its logs', (name) => {
    const services = new Set(grantsOf(name).map((grant) => grant.split(':')[0]));
    for (const service of services) expect(['dynamodb', 's3', 'secretsmanager', 'states', 'xray', 'logs']).toContain(service);
  });

  it.each(PROJECT_FUNCTIONS)('%s may write only to its own log group', (name) => {
    const logGroup = `\${${fnProps(name).LoggingConfig.LogGroup.Ref}.Arn}`;
    for (const grant of grantsOf(name, 'logs')) expect(grant.split(' on ')[1]).toBe(logGroup);
    expect(grantsOf(name, 'logs').map((grant) => grant.split(' on ')[0]).sort()).toEqual(['logs:CreateLogStream', 'logs:PutLogEvents']);
  });

  it.each(PROJECT_FUNCTIONS)('%s has no wildcard actions', (name) => {
    for (const statement of statementsOf(name)) {
      for (const action of asArray<string>(statement.Action)) expect(action).not.toMatch(/\*/);
    }
  });

  it.each(PROJECT_FUNCTIONS)('%s has no statement on Resource "*" except the X-Ray tracing one', (name) => {
    const starStatements = statementsOf(name).filter((s) => asArray<Json>(s.Resource).includes('*'));
    expect(starStatements.length).toBeLessThanOrEqual(1);
    for (const statement of starStatements) {
      for (const action of asArray<string>(statement.Action)) expect(XRAY.has(action), action).toBe(true);
    }
  });

  it.each(PROJECT_FUNCTIONS)('%s has no resource wildcard on a whole service (e.g. `arn:…:table/*`)', (name) => {
    for (const { action, resource } of permissionsOf(name)) {
      if (resource === '*') continue; // X-Ray, checked above
      // Besides whole resources and the two bucket prefixes: the table's two indexes (not `index/*`), the
      // executions of this one state machine, and the state machine by its name.
      if ([phaseIndexArn(), queueIndexArn(), ownerIndexArn(), executionsArn(), stateMachineArnFromName()].includes(resource)) continue;
      expect(resource, `${action} on ${resource}`).toMatch(/^\$\{[A-Za-z0-9]+(\.Arn)?\}(\/(inputs|generations)\/\*)?$/);
    }
  });

  it('only the functions that dispatch read the queues, only the reconciler lists phases, only the API lists owners’ tasks, and only those two touch executions', () => {
    for (const name of PROJECT_FUNCTIONS) {
      const resources = new Set(permissionsOf(name).map((p) => p.resource));
      expect(resources.has(queueIndexArn()), name).toBe((CAPACITY_FUNCTIONS as readonly string[]).includes(name));
      expect(resources.has(phaseIndexArn()), name).toBe(name === 'Reconcile');
      expect(resources.has(ownerIndexArn()), name).toBe(name === 'Api');
      expect(resources.has(executionsArn()), name).toBe(name === 'Reconcile' || name === 'Api');
    }
  });

  it.each(PROJECT_FUNCTIONS)('%s’s role has no managed policy granting logs on "*"', (name) => {
    const managed = (resources[ids.role[name]]!.Properties.ManagedPolicyArns ?? []).map(render);
    expect(managed).toEqual([]);
  });

  it('the state machine may invoke the three workflow functions, not the API or the reconcile function', () => {
    const role = resources[ids.stateMachine]!.Properties.RoleArn['Fn::GetAtt'][0];
    const invoked = Object.values(template.findResources('AWS::IAM::Policy'))
      .filter((policy) => asArray<Json>(policy.Properties.Roles).some((r) => r.Ref === role))
      .flatMap((policy) => asArray<Json>(policy.Properties.PolicyDocument.Statement))
      .filter((s) => asArray<string>(s.Action).includes('lambda:InvokeFunction'))
      .flatMap((s) => asArray<Json>(s.Resource).map(render));
    const wanted = (['Poll', 'Copy', 'RecordFailure'] as const).flatMap((n) => [`\${${ids.fn[n]}.Arn}`, `\${${ids.fn[n]}.Arn}:*`]);
    expect(invoked.sort()).toEqual(wanted.sort());
  });

  it('the state machine’s role has Resource "*" only for X-Ray and CloudWatch Logs delivery, which have no resource-level permissions', () => {
    const role = resources[ids.stateMachine]!.Properties.RoleArn['Fn::GetAtt'][0];
    const star = Object.values(template.findResources('AWS::IAM::Policy'))
      .filter((policy) => asArray<Json>(policy.Properties.Roles).some((r) => r.Ref === role))
      .flatMap((policy) => asArray<Json>(policy.Properties.PolicyDocument.Statement))
      .filter((s) => asArray<Json>(s.Resource).includes('*'));
    const actions = star.flatMap((s) => asArray<string>(s.Action));
    expect(actions.length).toBeGreaterThan(0);
    for (const action of actions) expect(action).toMatch(/^(xray:(PutTraceSegments|PutTelemetryRecords|GetSamplingRules|GetSamplingTargets)|logs:(Create|Get|Update|Delete|List)LogDeliver(y|ies)|logs:(PutResourcePolicy|DescribeResourcePolicies|DescribeLogGroups))$/);
  });

  it('the only IAM roles are the five function roles, the state machine’s and API Gateway’s logging role, with no managed policies', () => {
    const roles = template.findResources('AWS::IAM::Role');
    const stateMachineRole = resources[ids.stateMachine]!.Properties.RoleArn['Fn::GetAtt'][0];
    const apiGatewayRole = Object.values(template.findResources('AWS::ApiGateway::Account'))[0]!.Properties.CloudWatchRoleArn['Fn::GetAtt'][0];
    expect(Object.keys(roles).sort()).toEqual([...Object.values(ids.role), stateMachineRole, apiGatewayRole].sort());
    for (const [id, role] of Object.entries(roles)) expect(role.Properties.ManagedPolicyArns, id).toBeUndefined();
  });

  it('only API Gateway, for this API, may invoke the API function; only EventBridge the reconciler; nothing else', () => {
    const permissions = Object.values(template.findResources('AWS::Lambda::Permission'));
    expect(permissions).toHaveLength(2);
    expect(permissions.map((p) => p.Properties.FunctionName['Fn::GetAtt'][0]).sort()).toEqual([ids.fn.Api, ids.fn.Reconcile].sort());
    const permission = permissions.find((p) => p.Properties.FunctionName['Fn::GetAtt'][0] === ids.fn.Api);
    expect(permission!.Properties).toMatchObject({
      Action: 'lambda:InvokeFunction',
      Principal: 'apigateway.amazonaws.com',
      FunctionName: { 'Fn::GetAtt': [ids.fn.Api, 'Arn'] },
    });
    expect(render(permission!.Properties.SourceArn)).toContain(`:\${${ids.restApi}}/prod/`);
  });
});

// ---------------------------------------------------------------------------------------------------
// Environment
// ---------------------------------------------------------------------------------------------------

describe('environment', () => {
  /** The per-key limits: the only variables besides the secret's ARN whose names contain KEY. */
  const NUMERIC_KEY_SETTINGS = new Set(['KEY_RATE_PER_MINUTE', 'KEY_MAX_QUEUED', 'KEY_MAX_CONCURRENT']);
  /** What every function that dispatches is told besides the capacity: the workflow it starts, the deadline it starts. */
  const DISPATCH = ['STATE_MACHINE_ARN', 'GENERATION_TIMEOUT_SECONDS'];
  const CAPACITY = ['UPSTREAM_MAX_CONCURRENT', 'UPSTREAM_MAX_CREATES_PER_MINUTE', 'QUEUE_TIMEOUT_SECONDS'];

  it.each([
    ['Api', ['TABLE_NAME', 'BUCKET_NAME', ...DISPATCH, 'PRESIGN_EXPIRY_SECONDS', 'PUBLIC_BASE_URL', ...CAPACITY, 'KEY_RATE_PER_MINUTE', 'KEY_MAX_QUEUED', 'LUMA_BASE_URL', 'LUMA_MODEL', 'LUMA_RESOLUTION', 'LUMA_DURATION', 'ALLOWED_MODELS', 'ALLOWED_RESOLUTIONS', 'ALLOWED_DURATIONS', 'LUMA_API_KEY_SECRET_ARN']],
    ['Poll', ['TABLE_NAME', 'BUCKET_NAME', 'POLL_INTERVAL_SECONDS', ...DISPATCH, ...CAPACITY, 'LUMA_BASE_URL', 'LUMA_MODEL', 'LUMA_RESOLUTION', 'LUMA_DURATION', 'UPSTREAM_RESUBMITS', 'LUMA_API_KEY_SECRET_ARN']],
    ['Copy', ['TABLE_NAME', 'BUCKET_NAME', 'DOWNLOAD_TIMEOUT_MS', 'ASSET_HOST_ALLOWLIST']],
    ['RecordFailure', ['TABLE_NAME', ...DISPATCH, ...CAPACITY]],
    ['Reconcile', ['TABLE_NAME', ...DISPATCH, 'RECONCILE_GRACE_SECONDS', ...CAPACITY]],
  ] as const)('%s has exactly the environment it is given (plus NODE_OPTIONS)', (name, keys) => {
    expect(Object.keys(envOf(name)).sort()).toEqual(['NODE_OPTIONS', ...keys].sort());
    expect(envOf(name).NODE_OPTIONS).toBe('--enable-source-maps');
  });

  it.each(['Api', 'Poll'] as const)('%s sends ray-2 at 720p for 5s unless a request says otherwise', (name) => {
    expect(envOf(name)).toMatchObject({ LUMA_MODEL: 'ray-2', LUMA_RESOLUTION: '720p', LUMA_DURATION: '5s' });
  });

  it('the API, which admits requests, offers every model, resolution and duration by default; no other function is told', () => {
    expect(envOf('Api')).toMatchObject({
      ALLOWED_MODELS: 'ray-2,ray-flash-2',
      ALLOWED_RESOLUTIONS: '540p,720p,1080p,4k',
      ALLOWED_DURATIONS: '5s,9s',
    });
    for (const name of PROJECT_FUNCTIONS.filter((n) => n !== 'Api')) {
      expect(Object.keys(envOf(name)).filter((key) => key.startsWith('ALLOWED_')), name).toEqual([]);
    }
  });

  it('the poll may resubmit a task the upstream failed on its own side once by default; no other function is told', () => {
    expect(envOf('Poll').UPSTREAM_RESUBMITS).toBe('1');
    for (const name of PROJECT_FUNCTIONS.filter((n) => n !== 'Poll')) expect(envOf(name).UPSTREAM_RESUBMITS, name).toBeUndefined();
  });

  it('the API gets the default per-key limits: 600 generations a minute, 1000 queued, and no cap on running tasks', () => {
    expect(envOf('Api')).toMatchObject({ KEY_RATE_PER_MINUTE: '600', KEY_MAX_QUEUED: '1000' });
    expect(envOf('Api').KEY_MAX_CONCURRENT).toBeUndefined(); // fair share governs running tasks
  });

  it.each(CAPACITY_FUNCTIONS)('%s may let a task wait 24 hours for a slot and admits with the 30-minute generation deadline', (name) => {
    expect(envOf(name)).toMatchObject({ QUEUE_TIMEOUT_SECONDS: String(24 * 3600), GENERATION_TIMEOUT_SECONDS: '1800' });
  });

  it('only the API gets the per-key limits (the other functions never admit a request)', () => {
    for (const name of PROJECT_FUNCTIONS.filter((n) => n !== 'Api')) {
      expect(Object.keys(envOf(name)).filter((key) => NUMERIC_KEY_SETTINGS.has(key)), name).toEqual([]);
    }
  });

  it('Copy may download from the default asset hosts only (`*.cdn-luma.com`), and only Copy gets an allowlist', () => {
    expect(envOf('Copy').ASSET_HOST_ALLOWLIST).toBe('*.cdn-luma.com');
    expect(envOf('Copy').ASSET_HOST_ALLOWLIST).toBe(DEFAULT_ASSET_HOST_ALLOWLIST.join(','));
    for (const name of PROJECT_FUNCTIONS.filter((n) => n !== 'Copy')) expect(envOf(name).ASSET_HOST_ALLOWLIST, name).toBeUndefined();
  });

  it('Copy’s download gives up a minute before the function times out', () => {
    expect(Number(envOf('Copy').DOWNLOAD_TIMEOUT_MS)).toBe((fnProps('Copy').Timeout - 60) * 1000);
  });
  it('no environment variable of any function holds a secret value', () => {
    for (const [id, fn] of Object.entries(template.findResources('AWS::Lambda::Function'))) {
      for (const [key, value] of Object.entries<Json>(fn.Properties.Environment?.Variables ?? {})) {
        const text = render(value);
        expect(text, `${id}.${key}`).not.toMatch(/resolve:secretsmanager|resolve:ssm-secure|SecretString/);
        if (NUMERIC_KEY_SETTINGS.has(key)) {
          // Named after client keys, but plain limits: whole numbers, nothing secret.
          expect(value, `${id}.${key}`).toMatch(/^[1-9][0-9]*$/);
        } else if (/KEY|TOKEN|SECRET|PASSWORD|CREDENTIAL/i.test(key)) {
          expect(key, `${id}.${key}`).toBe('LUMA_API_KEY_SECRET_ARN');
          expect(value, `${id}.${key}`).toEqual({ Ref: ids.secret });
        }
      }
    }
  });

  it.each(['Api', 'Poll'] as const)('%s names the upstream key secret by ARN only', (name) => {
    expect(envOf(name).LUMA_API_KEY_SECRET_ARN).toEqual({ Ref: ids.secret });
  });

  it.each(['Copy', 'RecordFailure', 'Reconcile'] as const)('%s is not told about the upstream key at all', (name) => {
    expect(Object.keys(envOf(name)).filter((key) => key.startsWith('LUMA_'))).toEqual([]);
  });

  it('the API knows its table, bucket and state machine', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          TABLE_NAME: { Ref: ids.table },
          BUCKET_NAME: { Ref: ids.bucket },
          STATE_MACHINE_ARN: { Ref: ids.stateMachine },
        }),
      },
    });
    expect(envOf('Api')).toMatchObject({
      TABLE_NAME: { Ref: ids.table },
      BUCKET_NAME: { Ref: ids.bucket },
      STATE_MACHINE_ARN: { Ref: ids.stateMachine },
      GENERATION_TIMEOUT_SECONDS: '1800',
    });
  });

  it.each([
    ['Poll', ['TABLE_NAME', 'BUCKET_NAME', 'POLL_INTERVAL_SECONDS', 'LUMA_API_KEY_SECRET_ARN', 'STATE_MACHINE_ARN']],
    ['Copy', ['TABLE_NAME', 'BUCKET_NAME']],
    ['RecordFailure', ['TABLE_NAME', 'STATE_MACHINE_ARN']],
    ['Reconcile', ['TABLE_NAME', 'STATE_MACHINE_ARN', 'RECONCILE_GRACE_SECONDS']],
  ] as const)('%s has the settings its handler requires', (name, keys) => {
    for (const key of keys) expect(envOf(name)[key], key).toBeDefined();
  });

  it('the reconciler knows its table and state machine, and waits 120 s before taking over a newly admitted task', () => {
    expect(envOf('Reconcile')).toEqual({
      NODE_OPTIONS: '--enable-source-maps',
      TABLE_NAME: { Ref: ids.table },
      STATE_MACHINE_ARN: { Ref: ids.stateMachine },
      GENERATION_TIMEOUT_SECONDS: '1800',
      RECONCILE_GRACE_SECONDS: '120',
      UPSTREAM_MAX_CONCURRENT: '10',
      UPSTREAM_MAX_CREATES_PER_MINUTE: '20',
      QUEUE_TIMEOUT_SECONDS: '86400',
    });
  });

  it.each(CAPACITY_FUNCTIONS)('%s counts the same upstream slots: 10 in flight, 20 creates a minute by default', (name) => {
    expect(envOf(name)).toMatchObject({ UPSTREAM_MAX_CONCURRENT: '10', UPSTREAM_MAX_CREATES_PER_MINUTE: '20' });
  });

  it('Copy is not given the capacity settings (it never takes or gives back a slot)', () => {
    expect(Object.keys(envOf('Copy')).filter((key) => key.startsWith('UPSTREAM_'))).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------------
// REST API
// ---------------------------------------------------------------------------------------------------

describe('REST API', () => {
  it('is regional, with one resource besides the root: {proxy+}', () => {
    template.resourceCountIs('AWS::ApiGateway::RestApi', 1);
    expect(resources[ids.restApi]!.Properties.EndpointConfiguration).toEqual({ Types: ['REGIONAL'] });
    template.resourceCountIs('AWS::ApiGateway::Resource', 1);
    template.hasResourceProperties('AWS::ApiGateway::Resource', { RestApiId: { Ref: ids.restApi }, PathPart: '{proxy+}' });
  });

  it('has ANY on / and on /{proxy+}, each a proxy integration of the API function with a 29 s timeout', () => {
    const methods = Object.values(template.findResources('AWS::ApiGateway::Method'));
    expect(methods).toHaveLength(2);
    for (const method of methods) {
      expect(method.Properties).toMatchObject({ RestApiId: { Ref: ids.restApi }, HttpMethod: 'ANY', AuthorizationType: 'NONE' });
      expect(method.Properties.Integration).toMatchObject({ Type: 'AWS_PROXY', IntegrationHttpMethod: 'POST', TimeoutInMillis: 29_000 });
      expect(render(method.Properties.Integration.Uri)).toContain(`:lambda:path/2015-03-31/functions/\${${ids.fn.Api}.Arn}/invocations`);
    }
    expect(fnProps('Api').Timeout).toBeLessThanOrEqual(29);
  });

  it('takes every media type as binary, so each body reaches the function Base64-encoded (4/3 of its size, never escaped)', () => {
    expect(resources[ids.restApi]!.Properties.BinaryMediaTypes).toEqual(['*/*']);
  });

  it('answers what API Gateway refuses itself in the API’s error shape: one gateway response per type, no more', () => {
    const responses = Object.values(template.findResources('AWS::ApiGateway::GatewayResponse'));
    const byType = Object.fromEntries(responses.map((r) => [r.Properties.ResponseType, r.Properties]));
    expect(Object.keys(byType).sort()).toEqual(['DEFAULT_4XX', 'DEFAULT_5XX', 'INTEGRATION_FAILURE', 'INTEGRATION_TIMEOUT', 'REQUEST_TOO_LARGE', 'THROTTLED']);
    const expected: Record<string, [string | undefined, string]> = {
      REQUEST_TOO_LARGE: ['413', 'payload_too_large'],
      THROTTLED: ['429', 'rate_limited'],
      INTEGRATION_TIMEOUT: ['504', 'gateway_timeout'],
      INTEGRATION_FAILURE: ['502', 'internal'],
      DEFAULT_4XX: [undefined, 'request_refused'],
      DEFAULT_5XX: [undefined, 'internal'],
    };
    for (const [type, [status, code]] of Object.entries(expected)) {
      const response = byType[type];
      expect(response.RestApiId, type).toEqual({ Ref: ids.restApi });
      expect(response.StatusCode, type).toBe(status);
      expect(response.ResponseParameters['gatewayresponse.header.cache-control'], type).toBe("'no-store'");
      const template: string = response.ResponseTemplates['application/json'];
      // API Gateway fills in the request id and its own message (already a quoted JSON string): then it is JSON.
      const rendered = JSON.parse(template.replace('$context.requestId', 'req-1').replace('$context.error.messageString', '"Forbidden"'));
      expect(rendered, type).toEqual({ error: { code, message: expect.any(String), details: { request_id: 'req-1' } } });
    }
    expect(byType.THROTTLED.ResponseParameters['gatewayresponse.header.retry-after']).toBe("'1'");
    expect(byType.REQUEST_TOO_LARGE.ResponseTemplates['application/json']).toContain('at most 4325376 bytes (4.125 MiB)');
  });

  it('has one stage, whose name the function’s own URL uses', () => {
    template.resourceCountIs('AWS::ApiGateway::Stage', 1);
    template.hasResourceProperties('AWS::ApiGateway::Stage', { RestApiId: { Ref: ids.restApi }, StageName: 'prod' });
  });

  it('writes access logs and error-level execution logs to log groups with a retention', () => {
    const stage = Object.values(template.findResources('AWS::ApiGateway::Stage'))[0]!;
    const logGroupId = stage.Properties.AccessLogSetting.DestinationArn['Fn::GetAtt'][0];
    expect(resources[logGroupId]).toMatchObject({ Type: 'AWS::Logs::LogGroup', Properties: { RetentionInDays: expect.any(Number) } });
    const executionLogs = Object.values(resources).find((r) => r.Type === 'AWS::Logs::LogGroup' && render(r.Properties?.LogGroupName ?? '').startsWith('API-Gateway-Execution-Logs_'));
    expect(render(executionLogs!.Properties.LogGroupName)).toBe(`API-Gateway-Execution-Logs_\${${ids.restApi}}/prod`);
    expect(executionLogs!.Properties.RetentionInDays).toEqual(expect.any(Number));
  });
});

// ---------------------------------------------------------------------------------------------------
// Outputs and assembly
// ---------------------------------------------------------------------------------------------------

describe('outputs', () => {
  it.each(['ApiUrl', 'BucketName', 'TableName', 'UpstreamKeySecret', 'StateMachineArn'])('exports %s', (name) => {
    template.hasOutput(name, { Value: Match.anyValue() });
  });

  it('points each output at the right resource', () => {
    template.hasOutput('BucketName', { Value: { Ref: ids.bucket } });
    template.hasOutput('TableName', { Value: { Ref: ids.table } });
    template.hasOutput('UpstreamKeySecret', { Value: { Ref: ids.secret } });
    template.hasOutput('StateMachineArn', { Value: { Ref: ids.stateMachine } });
    const url = render(template.toJSON().Outputs.ApiUrl.Value);
    expect(url).toMatch(new RegExp(`^https://\\$\\{${ids.restApi}\\}\\.execute-api\\.\\$\\{AWS::Region\\}\\.\\$\\{AWS::URLSuffix\\}/\\$\\{\\w+\\}/$`));
  });

  it('creates a placeholder secret for the upstream key when none is given', () => {
    template.resourceCountIs('AWS::SecretsManager::Secret', 1);
    expect(resources[ids.secret]!.Type).toBe('AWS::SecretsManager::Secret');
  });
});

describe('cloud assembly', () => {
  it('contains one bundled asset.*/index.mjs per project function, the one each function deploys', () => {
    const bundles = readdirSync(outdir).filter((entry) => entry.startsWith('asset.') && existsSync(join(outdir, entry, 'index.mjs')));
    const deployed = PROJECT_FUNCTIONS.map((name) => {
      const key: string = fnProps(name).Code.S3Key;
      expect(key).toMatch(/^[0-9a-f]{64}\.zip$/);
      return `asset.${key.replace(/\.zip$/, '')}`;
    });
    expect(new Set(deployed).size).toBe(PROJECT_FUNCTIONS.length);
    expect(bundles.sort()).toEqual([...deployed].sort());
    for (const dir of deployed) {
      const code = readFileSync(join(outdir, dir, 'index.mjs'), 'utf8');
      expect(code.length).toBeGreaterThan(1000);
      expect(code).toMatch(/export\s*\{[^}]*\bhandler\b/); // ESM with a `handler` export
    }
  });
});

// ---------------------------------------------------------------------------------------------------
// App context
// ---------------------------------------------------------------------------------------------------

describe('app context (given as the CLI gives it: `cdk synth -c key=value` → string values)', () => {
  const EXISTING_SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:luma-api-key-AbCdEf';
  let other: Template;
  let otherResources: Resources;
  let otherStack: GatewayStack;

  beforeAll(() => {
    ({ stack: otherStack, template: other } = buildWithContext(
      {
        ...NO_BUNDLING,
        upstreamKeySecretArn: EXISTING_SECRET,
        generationTimeoutMinutes: '45',
        pollIntervalSeconds: '20',
        upstreamBaseUrl: 'https://luma.example.test/v1',
        upstreamModel: 'ray-flash-2',
        upstreamResolution: '1080p',
        upstreamDuration: '9s',
        allowedModels: 'ray-flash-2',
        allowedResolutions: '540p, 1080p,720p',
        upstreamResubmits: '3',
        upstreamMaxConcurrent: '5',
        upstreamMaxCreatesPerMinute: '40',
        keyRatePerMinute: '12',
        keyMaxQueued: '50',
        keyMaxConcurrent: '3',
        queueTimeoutHours: '2',
        reconcileIntervalMinutes: '15',
        assetHostAllowlist: 'storage.cdn-luma.com,*.assets.example.test,http://10.0.0.5:8080',
      },
      tempDir('gateway-stack-context-'),
    ));
    otherResources = other.toJSON().Resources;
  }, 120_000);

  const otherEnv = (construct: IConstruct): Record<string, Json> =>
    otherResources[otherStack.getLogicalId(construct.node.defaultChild as CfnElement)]!.Properties.Environment.Variables;

  it('`upstreamKeySecretArn` uses that secret: no new secret is created', () => {
    other.resourceCountIs('AWS::SecretsManager::Secret', 0);
    other.hasOutput('UpstreamKeySecret', { Value: EXISTING_SECRET });
  });

  it('`upstreamKeySecretArn` is what the functions are told and granted', () => {
    for (const fn of [otherStack.api.handler, otherStack.workflow.pollFunction]) {
      expect(otherEnv(fn).LUMA_API_KEY_SECRET_ARN).toBe(EXISTING_SECRET);
    }
    other.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Action: 'secretsmanager:GetSecretValue', Resource: EXISTING_SECRET }),
        ]),
      },
    });
    const policiesOnSecret = Object.values(other.findResources('AWS::IAM::Policy')).filter((p) =>
      JSON.stringify(p.Properties.PolicyDocument).includes(EXISTING_SECRET),
    );
    expect(policiesOnSecret).toHaveLength(2); // API and Poll
  });

  it('`generationTimeoutMinutes` sets GENERATION_TIMEOUT_SECONDS and the execution timeout', () => {
    expect(otherEnv(otherStack.api.handler).GENERATION_TIMEOUT_SECONDS).toBe(String(45 * 60));
    const asl = definitionOf(other);
    expect(asl.TimeoutSeconds).toBeGreaterThan(45 * 60);
    expect(asl.TimeoutSeconds).not.toBe(definition.TimeoutSeconds); // it moved with the setting
    expect(asl.TimeoutSeconds - 45 * 60).toBe(definition.TimeoutSeconds - 30 * 60); // same slack as by default
  });

  it('`pollIntervalSeconds` sets POLL_INTERVAL_SECONDS of the poll function', () => {
    expect(otherEnv(otherStack.workflow.pollFunction).POLL_INTERVAL_SECONDS).toBe('20');
  });

  it('`upstreamBaseUrl` and `upstreamModel` reach the API and poll functions', () => {
    for (const fn of [otherStack.api.handler, otherStack.workflow.pollFunction]) {
      expect(otherEnv(fn)).toMatchObject({ LUMA_BASE_URL: 'https://luma.example.test/v1', LUMA_MODEL: 'ray-flash-2' });
    }
  });

  it('`upstreamResolution` and `upstreamDuration` reach the API and poll functions', () => {
    for (const fn of [otherStack.api.handler, otherStack.workflow.pollFunction]) {
      expect(otherEnv(fn)).toMatchObject({ LUMA_RESOLUTION: '1080p', LUMA_DURATION: '9s' });
    }
  });

  it('`allowedModels` and `allowedResolutions` (comma-separated) set the API’s lists, in Luma’s order; unset `allowedDurations` allows all', () => {
    expect(otherEnv(otherStack.api.handler)).toMatchObject({
      ALLOWED_MODELS: 'ray-flash-2',
      ALLOWED_RESOLUTIONS: '540p,720p,1080p',
      ALLOWED_DURATIONS: '5s,9s',
    });
  });

  it('`upstreamResubmits` sets the poll’s UPSTREAM_RESUBMITS', () => {
    expect(otherEnv(otherStack.workflow.pollFunction).UPSTREAM_RESUBMITS).toBe('3');
  });

  it(
    '`allowedResolutions` may be a list, as in cdk.json, and 0 resubmits turns resubmitting off',
    () => {
      const { stack: listStack, template: listTemplate } = buildWithContext(
        { ...NO_BUNDLING, allowedResolutions: ['720p', '540p'], upstreamResubmits: 0 },
        tempDir('gateway-stack-offer-'),
      );
      const env = (construct: IConstruct) =>
        listTemplate.toJSON().Resources[listStack.getLogicalId(construct.node.defaultChild as CfnElement)].Properties.Environment.Variables;
      expect(env(listStack.api.handler)).toMatchObject({ ALLOWED_RESOLUTIONS: '540p,720p', LUMA_RESOLUTION: '720p' });
      expect(env(listStack.workflow.pollFunction).UPSTREAM_RESUBMITS).toBe('0');
    },
    60_000,
  );

  it('`upstreamMaxConcurrent` and `upstreamMaxCreatesPerMinute` reach every function that counts slots, and not Copy', () => {
    const w = otherStack.workflow;
    for (const fn of [otherStack.api.handler, w.pollFunction, w.recordFailureFunction, w.reconcileFunction]) {
      expect(otherEnv(fn)).toMatchObject({ UPSTREAM_MAX_CONCURRENT: '5', UPSTREAM_MAX_CREATES_PER_MINUTE: '40' });
    }
    expect(Object.keys(otherEnv(w.copyFunction)).filter((key) => key.startsWith('UPSTREAM_'))).toEqual([]);
  });

  it('`queueTimeoutHours` sets QUEUE_TIMEOUT_SECONDS of every function that counts slots', () => {
    const w = otherStack.workflow;
    for (const fn of [otherStack.api.handler, w.pollFunction, w.recordFailureFunction, w.reconcileFunction]) {
      expect(otherEnv(fn).QUEUE_TIMEOUT_SECONDS).toBe(String(2 * 3600));
    }
  });

  it('`keyRatePerMinute`, `keyMaxQueued` and `keyMaxConcurrent` set the API’s KEY_RATE_PER_MINUTE, KEY_MAX_QUEUED and KEY_MAX_CONCURRENT, and no other function’s', () => {
    expect(otherEnv(otherStack.api.handler)).toMatchObject({ KEY_RATE_PER_MINUTE: '12', KEY_MAX_QUEUED: '50', KEY_MAX_CONCURRENT: '3' });
    const w = otherStack.workflow;
    for (const fn of [w.pollFunction, w.copyFunction, w.recordFailureFunction, w.reconcileFunction]) {
      expect(Object.keys(otherEnv(fn)).filter((key) => key.startsWith('KEY_'))).toEqual([]);
    }
  });

  it('`reconcileIntervalMinutes` sets the reconciler’s schedule', () => {
    const rules = Object.values(other.findResources('AWS::Events::Rule'));
    expect(rules).toHaveLength(1);
    expect(rules[0]!.Properties.ScheduleExpression).toBe('rate(15 minutes)');
    expect(rules[0]!.Properties.Targets[0].Arn).toEqual({
      'Fn::GetAtt': [otherStack.getLogicalId(otherStack.workflow.reconcileFunction.node.defaultChild as CfnElement), 'Arn'],
    });
  });

  it('`assetHostAllowlist` (comma-separated) sets Copy’s ASSET_HOST_ALLOWLIST, entries kept in order', () => {
    const allowlist = String(otherEnv(otherStack.workflow.copyFunction).ASSET_HOST_ALLOWLIST);
    expect(allowlist.split(',')).toEqual(['storage.cdn-luma.com', '*.assets.example.test', 'http://10.0.0.5:8080']);
    expect(allowlist.split(',')).not.toContain('*.cdn-luma.com'); // replaces the default, does not add to it
  });

  it(
    '`assetHostAllowlist` may be a list, as in cdk.json',
    () => {
      const { stack: listStack, template: listTemplate } = buildWithContext(
        { ...NO_BUNDLING, assetHostAllowlist: ['storage.cdn-luma.com', 'https://assets.example.test'] },
        tempDir('gateway-stack-allowlist-'),
      );
      const copy = listTemplate.toJSON().Resources[listStack.getLogicalId(listStack.workflow.copyFunction.node.defaultChild as CfnElement)];
      expect(String(copy.Properties.Environment.Variables.ASSET_HOST_ALLOWLIST).split(',')).toEqual([
        'storage.cdn-luma.com',
        'https://assets.example.test',
      ]);
    },
    60_000,
  );

  it.each([
    ['keyMaxConcurrent', '0', /^keyMaxConcurrent must be a whole number from 1 to 10000, not 0\.$/],
    ['keyMaxQueued', '0', /^keyMaxQueued must be a whole number from 1 to 100000, not 0\.$/],
    ['keyMaxQueued', '2.5', /keyMaxQueued/],
    ['keyRatePerMinute', '100001', /^keyRatePerMinute must be a whole number from 1 to 100000, not 100001\.$/],
    ['keyRatePerMinute', 'many', /keyRatePerMinute/],
    ['queueTimeoutHours', '169', /queueTimeoutHours must be from 1 minute to 168 hours/],
    ['queueTimeoutHours', '0', /queueTimeoutHours must be from 1 minute to 168 hours/],
    ['reconcileIntervalMinutes', 'often', /reconcileIntervalMinutes/],
    ['assetHostAllowlist', 'ftp://files.example.test', /must be an http or https origin/],
    ['upstreamModel', 'ray-3', /^upstreamModel must be one of ray-2, ray-flash-2, not "ray-3"\.$/],
    ['upstreamResolution', '8k', /^upstreamResolution must be one of 540p, 720p, 1080p, 4k, not "8k"\.$/],
    ['upstreamDuration', '10s', /^upstreamDuration must be one of 5s, 9s, not "10s"\.$/],
    ['allowedResolutions', '720p,8k', /^allowedResolutions may list only 540p, 720p, 1080p, 4k; "8k" is not one of them\.$/],
    ['allowedModels', ' , ', /^allowedModels must list at least one of ray-2, ray-flash-2/],
    ['allowedResolutions', '1080p,4k', /The default resolution 720p \(upstreamResolution is unset\) is not among allowedResolutions \(1080p, 4k\)/],
    ['upstreamResubmits', '-1', /upstreamResubmits must be a whole number from 0 to 5/],
    ['upstreamResubmits', '1.5', /upstreamResubmits must be a whole number from 0 to 5/],
    ['upstreamResubmits', '6', /upstreamResubmits must be a whole number from 0 to 5/],
    ['upstreamResubmits', 'twice', /upstreamResubmits/],
  ])(
    'rejects `%s` = "%s" at synth time',
    (key, value, message) => {
      expect(() => buildWithContext({ ...NO_BUNDLING, [key]: value }, tempDir('gateway-stack-limits-'))).toThrow(message);
    },
    60_000,
  );

  it.each([
    ['upstreamMaxConcurrent', '0', /maxConcurrent/],
    ['upstreamMaxConcurrent', '2.5', /maxConcurrent/],
    ['upstreamMaxCreatesPerMinute', '1001', /maxCreatesPerMinute/],
    ['upstreamMaxCreatesPerMinute', 'many', /upstreamMaxCreatesPerMinute/],
  ])(
    'rejects `%s` = "%s" at synth time',
    (key, value, message) => {
      expect(() => buildWithContext({ ...NO_BUNDLING, [key]: value }, tempDir('gateway-stack-capacity-'))).toThrow(message);
    },
    60_000,
  );

  it(
    'rejects a default the operator does not allow at synth time',
    () => {
      expect(() =>
        buildWithContext({ ...NO_BUNDLING, upstreamResolution: '4k', allowedResolutions: '540p,720p,1080p' }, tempDir('gateway-stack-offer-bad-')),
      ).toThrow('upstreamResolution 4k is not among allowedResolutions (540p, 720p, 1080p): set upstreamResolution to one of them.');
    },
    60_000,
  );

  it(
    'rejects a zero `generationTimeoutMinutes` at synth time',
    () => {
      expect(() =>
        buildWithContext({ ...NO_BUNDLING, generationTimeoutMinutes: '0' }, tempDir('gateway-stack-zero-')),
      ).toThrow(/timeout/i);
    },
    60_000,
  );
});

// ---------------------------------------------------------------------------------------------------
// CORS
// ---------------------------------------------------------------------------------------------------

describe('CORS (`corsAllowedOrigins`)', () => {
  const APP = 'https://app.example.test';
  const typed = (t: Template, type: string) => Object.values(t.findResources(type));
  const apiEnv = (t: Template): Record<string, Json> =>
    typed(t, 'AWS::Lambda::Function').find((f) => f.Properties.Environment?.Variables?.STATE_MACHINE_ARN && f.Properties.Environment.Variables.PUBLIC_BASE_URL)!.Properties.Environment.Variables;
  const bucketCors = (t: Template) => typed(t, 'AWS::S3::Bucket').map((b) => b.Properties.CorsConfiguration).filter(Boolean);
  const gatewayResponseHeaders = (t: Template) => typed(t, 'AWS::ApiGateway::GatewayResponse').map((r) => r.Properties.ResponseParameters ?? {});
  const wafHeaders = (t: Template) =>
    typed(t, 'AWS::WAFv2::WebACL')[0]!.Properties.Rules.map((rule: Json) => rule.Action.Block.CustomResponse.ResponseHeaders as { Name: string; Value: string }[]);

  it('is off by default: the function is told no origins, the bucket has no CORS rules, no answer names an origin', () => {
    expect(apiEnv(template).CORS_ALLOWED_ORIGINS).toBeUndefined();
    expect(bucketCors(template)).toEqual([]);
    for (const headers of gatewayResponseHeaders(template)) expect(headers['gatewayresponse.header.access-control-allow-origin']).toBeUndefined();
    for (const headers of wafHeaders(template)) expect(headers.map((h: { Name: string }) => h.Name)).not.toContain('access-control-allow-origin');
  });

  it(
    'one origin (a list in cdk.json): the function is told it, the bucket lets it PUT uploads, and API Gateway’s and WAF’s own answers name it',
    () => {
      const { template: one } = buildWithContext({ ...NO_BUNDLING, corsAllowedOrigins: [APP] }, tempDir('gateway-stack-cors-one-'));
      expect(apiEnv(one).CORS_ALLOWED_ORIGINS).toBe(APP);
      expect(bucketCors(one)).toEqual([
        { CorsRules: [{ Id: 'browser-uploads', AllowedOrigins: [APP], AllowedMethods: ['PUT'], AllowedHeaders: ['content-type'], MaxAge: 600 }] },
      ]);
      for (const headers of gatewayResponseHeaders(one)) {
        expect(headers['gatewayresponse.header.access-control-allow-origin']).toBe(`'${APP}'`);
        expect(headers['gatewayresponse.header.vary']).toBe("'Origin'");
      }
      for (const headers of wafHeaders(one)) expect(headers).toEqual(expect.arrayContaining([{ Name: 'access-control-allow-origin', Value: APP }]));
      // The function answers preflights: API Gateway has no OPTIONS method of its own (no MOCK integration).
      expect(typed(one, 'AWS::ApiGateway::Method').map((m) => m.Properties.HttpMethod)).toEqual(['ANY', 'ANY']);
    },
    60_000,
  );

  it(
    'several origins (separated by commas, as `-c` gives them): all told and allowed, none named by the static answers',
    () => {
      const { template: two } = buildWithContext({ ...NO_BUNDLING, corsAllowedOrigins: `${APP},http://localhost:5173` }, tempDir('gateway-stack-cors-two-'));
      expect(apiEnv(two).CORS_ALLOWED_ORIGINS).toBe(`${APP},http://localhost:5173`);
      expect(bucketCors(two)[0].CorsRules[0].AllowedOrigins).toEqual([APP, 'http://localhost:5173']);
      for (const headers of gatewayResponseHeaders(two)) expect(headers['gatewayresponse.header.access-control-allow-origin']).toBeUndefined();
    },
    60_000,
  );

  it.each(['*', `${APP}/`, 'app.example.test'])(
    'rejects "%s" at synth time, naming the setting',
    (origin) => {
      expect(() => buildWithContext({ ...NO_BUNDLING, corsAllowedOrigins: origin }, tempDir('gateway-stack-cors-bad-'))).toThrow(/^Context corsAllowedOrigins: ".*" is not an origin/);
    },
    60_000,
  );
});
