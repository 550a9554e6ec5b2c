/**
 * The generation workflow as synthesized: the state machine (its states, retries, catches and timeout), its
 * definition run in aws-local-stepfunctions with the Lambda steps replaced by stubs, and the reconciler's schedule.
 */
import { App, Duration, Stack, type CfnElement } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Storage } from '../../infra/constructs/storage.ts';
import { GenerationWorkflow } from '../../infra/constructs/workflow.ts';
import { gatewayIds, NO_BUNDLING, removeOutdirs, synthesize, tempDir, type GatewayIds, type ProjectFunction } from './support/synth.ts';
import { definitionOf, retryDelaySeconds, type Json, type Resources } from './support/template.ts';

let template: Template;
let resources: Resources;
let ids: GatewayIds;
let definition: Json;

beforeAll(() => {
  const synthesized = synthesize();
  ({ template, resources } = synthesized);
  ids = gatewayIds(synthesized.stack);
  definition = definitionOf(template);
}, 120_000);
afterAll(removeOutdirs);

const fnProps = (name: ProjectFunction): Json => resources[ids.fn[name]]!.Properties;
const envOf = (name: ProjectFunction): Record<string, Json> => fnProps(name).Environment?.Variables ?? {};

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

  it('logs every event (level ALL) but no execution data (prompts, URLs, error causes) to a log group that keeps them 30 days', () => {
    expect(resources[ids.stateMachine]!.Properties.LoggingConfiguration).toMatchObject({ Level: 'ALL', IncludeExecutionData: false });
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      LoggingConfiguration: Match.objectLike({
        Level: Match.anyValue(),
        Destinations: [{ CloudWatchLogsLogGroup: { LogGroupArn: { 'Fn::GetAtt': [Match.anyValue(), 'Arn'] } } }],
      }),
    });
    const logGroupId = resources[ids.stateMachine]!.Properties.LoggingConfiguration.Destinations[0].CloudWatchLogsLogGroup.LogGroupArn['Fn::GetAtt'][0];
    expect(resources[logGroupId]).toMatchObject({ Type: 'AWS::Logs::LogGroup', Properties: { RetentionInDays: 30 } });
  });

  it('has an execution timeout longer than the generation timeout', () => {
    expect(envOf('Api').GENERATION_TIMEOUT_SECONDS).toBe('1800');
    // The 30-minute deadline, four 15-minute copies, the copy retrier's backoff (5 + 10 + 20 s), a stretch of
    // Lambda throttling (60 + 120 + 240 + 480 + 600 + 600 s) and 10 minutes to spare.
    expect(definition.TimeoutSeconds).toBe(1800 + 4 * 900 + 35 + 2100 + 600);
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
    ['Poll', 'TransientUpstreamError', { IntervalSeconds: 5, MaxAttempts: 6, MaxDelaySeconds: 60 }],
    ['Copy', 'TransientDownloadError', { IntervalSeconds: 5, MaxAttempts: 3, MaxDelaySeconds: 30 }],
  ])('%s retries %s with capped exponential backoff and full jitter', (name, error, schedule) => {
    const retriers: Json[] = state(name).Retry ?? [];
    const retrier = retriers.find((r) => r.ErrorEquals.includes(error));
    expect(retrier).toMatchObject({ ...schedule, BackoffRate: 2, JitterStrategy: 'FULL' });
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
    expect(choice.Default).toBe('Unexpected next step');
    // "Record failure" reads `$.error`: the Pass state before it provides one, with the whole input as its cause.
    expect(state(choice.Default)).toEqual({
      Type: 'Pass',
      Parameters: { 'taskId.$': '$.taskId', error: { Error: 'UnexpectedNextStep', 'Cause.$': 'States.JsonToString($)' } },
      Next: 'Record failure',
    });
  });

  it('the execution timeout leaves room for a Copy (with its retries) that starts at the deadline', () => {
    const copy = state('Copy');
    const transient = copy.Retry.find((r: Json) => r.ErrorEquals.includes('TransientDownloadError'));
    const worstCopySeconds = (transient.MaxAttempts + 1) * fnProps('Copy').Timeout + retryDelaySeconds(transient);
    const slack = definition.TimeoutSeconds - Number(envOf('Api').GENERATION_TIMEOUT_SECONDS);
    expect(slack).toBeGreaterThanOrEqual(worstCopySeconds);
  });
});

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
