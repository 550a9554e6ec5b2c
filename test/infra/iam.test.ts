/**
 * Least privilege, as synthesized: each function's role allows exactly the actions its code performs, on the
 * resources and item kinds it uses, and nothing else may invoke what it should not. IAM checks work on
 * normalized (action, resource, condition) triples, so that statement merging and action ordering do not matter.
 */
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import type { LumaVideoGateway } from '../../infra/constructs/luma-video-gateway.ts';
import { rateWindow } from '../../functions/commons/domain/capacity.ts';
import { CAPACITY_FUNCTIONS, PROJECT_FUNCTIONS, STATE_MACHINE_ARN_FROM_NAME, DELIVERY_STATE_MACHINE_ARN, DEFAULT_EVENT_BUS_ARN, PUBLISHING_FUNCTIONS, synthesizeOnce, type GatewayIds, type ProjectFunction } from './support/synth.ts';
import { asArray, grantsOf as roleGrants, permissionsOf as rolePermissions, render, statementsOf as roleStatements, type Json, type Resources } from './support/template.ts';

let gateway: LumaVideoGateway;
let template: Template;
let resources: Resources;
let ids: GatewayIds;

synthesizeOnce((synthesized) => ({ gateway, template, resources, ids } = synthesized));

const fnProps = (name: ProjectFunction): Json => resources[ids.fn[name]]!.Properties;
const envOf = (name: ProjectFunction): Record<string, Json> => fnProps(name).Environment?.Variables ?? {};
/** Every Allow statement of the inline policies attached to a function's role. */
const statementsOf = (name: ProjectFunction): Json[] => roleStatements(template, ids.role[name]);
/** A function's permissions, one per (action, resource, condition), optionally for one service prefix. */
const permissionsOf = (name: ProjectFunction, service?: string) => rolePermissions(template, ids.role[name], service);
/** A function's grants as sorted `action on resource[ if condition]` strings, optionally for one service prefix. */
const grantsOf = (name: ProjectFunction, service?: string): string[] => roleGrants(template, ids.role[name], service);

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
  DeliverWebhook: [],
};
/**
 * The item kinds each function may write whole with PutItem (`grantTable`'s `puts`): tasks (`TASK`, every
 * function moves them on), idempotency claims (`IDEMPOTENCY`, the API) and the upstream's generations as
 * the gateway records them (`UPSTREAM`, the API's and the poll's submits), and the webhook delivery ledger
 * (`DELIVERY`, its function alone, which writes no task). Nothing else: in particular not Copy, which parses
 * bytes from the upstream, anywhere but its own tasks.
 */
const PUT_PREFIXES: Record<ProjectFunction, readonly string[]> = {
  Api: ['TASK#*', 'IDEMPOTENCY#*', 'UPSTREAM#*', 'UPLOAD#*', 'STATS#*'],
  Poll: ['TASK#*', 'UPSTREAM#*', 'STATS#*'],
  Copy: ['TASK#*'],
  RecordFailure: ['TASK#*'],
  Reconcile: ['TASK#*'],
  DeliverWebhook: ['DELIVERY#*'],
};
/** The item kinds each function may delete with DeleteItem: the API releases idempotency claims and deletes finished tasks. */
const DELETE_PREFIXES: Record<ProjectFunction, readonly string[]> = {
  Api: ['IDEMPOTENCY#*', 'TASK#*'],
  Poll: [],
  Copy: [],
  RecordFailure: [],
  Reconcile: [],
  DeliverWebhook: [],
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

const tableArn = () => `\${${ids.table}.Arn}`;
const phaseIndexArn = () => `${tableArn()}/index/byPhase`;
const queueIndexArn = () => `${tableArn()}/index/byQueue`;
const ownerIndexArn = () => `${tableArn()}/index/byOwner`;
/** The state machine's ARN as the functions it invokes name it: formatted from its literal name, no reference. */
const stateMachineArnFromName = () => STATE_MACHINE_ARN_FROM_NAME;
/** The webhook delivery workflow, as the functions that publish name it (from its literal name). */
const deliveryArn = () => DELIVERY_STATE_MACHINE_ARN;
const objects = (prefix: string) => `\${${ids.bucket}.Arn}/${prefix}`;
const secretArn = () => `\${${ids.secret}}`;
const stateMachineArn = () => `\${${ids.stateMachine}}`;
/** Every execution of this state machine: `arn:…:execution:<state machine name>:*` (the name is field 6 of its ARN). */
const executionsArn = () =>
  `arn:\${AWS::Partition}:states:\${AWS::Region}:\${AWS::AccountId}:execution:\${select(6, split(":", ${stateMachineArn()}))}:*`;

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
    DeliverWebhook: { capacity: false, phases: false, ownerTasks: false },
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
    ['Api', 'TASK#*, IDEMPOTENCY#*, UPSTREAM#*, UPLOAD#*, STATS#*'],
    ['Poll', 'TASK#*, UPSTREAM#*, STATS#*'],
    ['Copy', 'TASK#*'],
    ['RecordFailure', 'TASK#*'],
    ['Reconcile', 'TASK#*'],
    ['DeliverWebhook', 'DELIVERY#*'],
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
    // The ledger is the delivery function's alone, and it changes no task.
    if (name !== 'DeliverWebhook') expect(PUT_PREFIXES[name]).not.toContain('DELIVERY#*');
    else expect(PUT_PREFIXES[name]).toEqual(['DELIVERY#*']);
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
      DELIVERY: ['DELIVERY#msg_4f9c2e1a-0000-4000-8000-000000000000_4'],
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
    ['DeliverWebhook', ['s3:GetObject on generations/*']], // to presign the links in a delivery's `data`
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
    ['DeliverWebhook', false],
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
    expect(grantsOf('Api', 'states').filter((grant) => grant.startsWith('states:StartExecution'))).toEqual([`states:StartExecution on ${deliveryArn()}`, `states:StartExecution on ${stateMachineArn()}`].sort());
    expect(grantsOf('Api', 'states').filter((grant) => grant.startsWith('states:SendTask'))).toEqual([`states:SendTaskSuccess on ${stateMachineArnFromName()}`]);
    for (const name of ['Api', 'Reconcile'] as const) {
      template.hasResourceProperties('AWS::IAM::Policy', {
        Roles: [{ Ref: ids.role[name] }],
        PolicyDocument: {
          Statement: Match.arrayWith([
            // Beside the webhook delivery workflow, merged into one statement (cdk.json's minimizePolicies).
            Match.objectLike({ Effect: 'Allow', Action: 'states:StartExecution', Resource: Match.arrayWith([{ Ref: ids.stateMachine }]) }),
          ]),
        },
      });
    }
    // Invoked by the state machine, so named by the ARN formatted from its literal name (a Ref would be a cycle).
    expect(grantsOf('Poll', 'states')).toEqual(
      [`states:SendTaskSuccess on ${stateMachineArnFromName()}`, `states:StartExecution on ${deliveryArn()}`, `states:StartExecution on ${stateMachineArnFromName()}`].sort(),
    );
    expect(grantsOf('RecordFailure', 'states')).toEqual([`states:StartExecution on ${deliveryArn()}`, `states:StartExecution on ${stateMachineArnFromName()}`].sort());
    // Copy starts webhook deliveries (it completes tasks), never a generation.
    expect(grantsOf('Copy', 'states')).toEqual([`states:StartExecution on ${deliveryArn()}`]);
    expect(grantsOf('DeliverWebhook', 'states')).toEqual([]);
  });

  it('only Poll (a turn ends its own wait) and the API (a callback ends it) may end the workflow’s waits, and only with success', () => {
    for (const name of PROJECT_FUNCTIONS) {
      const actions = permissionsOf(name, 'states').map((p) => p.action);
      expect(actions.filter((action) => action.startsWith('states:SendTask')), name).toEqual(name === 'Api' || name === 'Poll' ? ['states:SendTaskSuccess'] : []);
    }
  });

  it('the state machine has the literal name that the ARN its functions are told and granted is formatted from', () => {
    expect(resources[ids.stateMachine]!.Properties.StateMachineName).toBe('LumaVideoGateway-generation');
    expect(gateway.workflow.stateMachineName).toBe('LumaVideoGateway-generation');
    for (const name of ['Poll', 'RecordFailure'] as const) expect(render(envOf(name).STATE_MACHINE_ARN), name).toBe(stateMachineArnFromName());
    // The same ARN a Ref gives, once deployed: arn:<partition>:states:<region>:<account>:stateMachine:<name>.
    const name = resources[ids.stateMachine]!.Properties.StateMachineName;
    expect(stateMachineArnFromName()).toBe(`arn:\${AWS::Partition}:states:\${AWS::Region}:\${AWS::AccountId}:stateMachine:${name}`);
  });

  it('the API may StartExecution on the state machine and on the webhook delivery workflow, DescribeExecution and StopExecution (a cancel) on its executions, and end their waits (a callback), nothing else', () => {
    expect(grantsOf('Api', 'states')).toEqual(
      [
        `states:DescribeExecution on ${executionsArn()}`,
        `states:SendTaskSuccess on ${stateMachineArnFromName()}`,
        `states:StartExecution on ${stateMachineArn()}`,
        `states:StartExecution on ${deliveryArn()}`,
        `states:StopExecution on ${executionsArn()}`,
      ].sort(),
    );
  });

  it('the reconciler may StartExecution on the state machine and DescribeExecution on its executions, nothing else', () => {
    expect(grantsOf('Reconcile', 'states')).toEqual(
      [`states:DescribeExecution on ${executionsArn()}`, `states:StartExecution on ${stateMachineArn()}`, `states:StartExecution on ${deliveryArn()}`].sort(),
    );
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

  it.each(PROJECT_FUNCTIONS)('%s uses no service beyond DynamoDB, S3, Secrets Manager, Step Functions, EventBridge, X-Ray and its logs', (name) => {
    const services = new Set(grantsOf(name).map((grant) => grant.split(':')[0]));
    for (const service of services) expect(['dynamodb', 's3', 'secretsmanager', 'states', 'events', 'xray', 'logs']).toContain(service);
  });

  it.each(PROJECT_FUNCTIONS)('%s may PutEvents on the one bus the gateway publishes to, and nothing else of EventBridge, if it changes tasks', (name) => {
    const publishes = (PUBLISHING_FUNCTIONS as readonly string[]).includes(name);
    expect(grantsOf(name, 'events')).toEqual(publishes ? [`events:PutEvents on ${DEFAULT_EVENT_BUS_ARN}`] : []);
    if (publishes) expect(render(envOf(name).EVENT_BUS_NAME)).toBe('default');
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

  it.each(PROJECT_FUNCTIONS)('%s has one statement on Resource "*": the X-Ray tracing one', (name) => {
    const starStatements = statementsOf(name).filter((s) => asArray<Json>(s.Resource).includes('*'));
    expect(starStatements.map((s) => asArray<string>(s.Action).sort())).toEqual([[...XRAY].sort()]);
  });

  it.each(PROJECT_FUNCTIONS)('%s has no resource wildcard on a whole service (e.g. `arn:…:table/*`)', (name) => {
    for (const { action, resource } of permissionsOf(name)) {
      if (resource === '*') continue; // X-Ray, checked above
      // Besides whole resources and the two bucket prefixes: the table's two indexes (not `index/*`), the
      // executions of this one state machine, and the state machine by its name.
      if ([phaseIndexArn(), queueIndexArn(), ownerIndexArn(), executionsArn(), stateMachineArnFromName(), deliveryArn(), DEFAULT_EVENT_BUS_ARN].includes(resource)) continue;
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
    expect(actions.sort()).toEqual([
      'logs:CreateLogDelivery',
      'logs:DeleteLogDelivery',
      'logs:DescribeLogGroups',
      'logs:DescribeResourcePolicies',
      'logs:GetLogDelivery',
      'logs:ListLogDeliveries',
      'logs:PutResourcePolicy',
      'logs:UpdateLogDelivery',
      'xray:GetSamplingRules',
      'xray:GetSamplingTargets',
      'xray:PutTelemetryRecords',
      'xray:PutTraceSegments',
    ]);
    for (const action of actions) expect(action).toMatch(/^(xray:(PutTraceSegments|PutTelemetryRecords|GetSamplingRules|GetSamplingTargets)|logs:(Create|Get|Update|Delete|List)LogDeliver(y|ies)|logs:(PutResourcePolicy|DescribeResourcePolicies|DescribeLogGroups))$/);
  });

  it('the only IAM roles are the six function roles, the two state machines’ and API Gateway’s logging role, with no managed policies', () => {
    const roles = template.findResources('AWS::IAM::Role');
    const stateMachineRole = resources[ids.stateMachine]!.Properties.RoleArn['Fn::GetAtt'][0];
    const deliveryRole = resources[ids.deliveryStateMachine]!.Properties.RoleArn['Fn::GetAtt'][0];
    const apiGatewayRole = Object.values(template.findResources('AWS::ApiGateway::Account'))[0]!.Properties.CloudWatchRoleArn['Fn::GetAtt'][0];
    expect(Object.keys(roles).sort()).toEqual([...Object.values(ids.role), stateMachineRole, deliveryRole, apiGatewayRole].sort());
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
