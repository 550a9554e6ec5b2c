/**
 * The generation workflow as synthesized: the state machine (its states, retries, catches and timeout), its
 * definition run in aws-local-stepfunctions with the Lambda steps replaced by stubs, and the reconciler's schedule.
 */
import { App, Duration, Stack, type CfnElement } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { afterAll, describe, expect, it } from 'vitest';
import { Storage } from '../../infra/constructs/storage.ts';
import { GenerationWorkflow } from '../../infra/constructs/workflow.ts';
import { NO_BUNDLING, synthesizeOnce, tempDir, type GatewayIds, type ProjectFunction } from './support/synth.ts';
import { definitionOf, retryDelaySeconds, type Json, type Resources } from './support/template.ts';

let template: Template;
let resources: Resources;
let ids: GatewayIds;
let definition: Json;

synthesizeOnce((synthesized) => {
  ({ template, resources, ids } = synthesized);
  definition = definitionOf(template);
});

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

  const WAIT = 'Wait for the generation';

  it('starts with the wait for the generation', () => {
    expect(definition.StartAt).toBe(WAIT);
  });

  it('the wait is a callback task: Poll is invoked with its task token and the state as it is', () => {
    expect(state(WAIT)).toMatchObject({
      Type: 'Task',
      Resource: expect.stringMatching(/:states:::lambda:invoke\.waitForTaskToken$/),
      Parameters: { FunctionName: `\${${ids.fn.Poll}.Arn}`, Payload: { 'taskToken.$': '$$.Task.Token', 'taskId.$': '$.taskId', 'state.$': '$' } },
      TimeoutSecondsPath: '$.waitSeconds',
    });
  });

  it.each([
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
    [WAIT, 'TransientUpstreamError', { IntervalSeconds: 5, MaxAttempts: 6, MaxDelaySeconds: 60 }],
    ['Copy', 'TransientDownloadError', { IntervalSeconds: 5, MaxAttempts: 3, MaxDelaySeconds: 30 }],
  ])('%s retries %s with capped exponential backoff and full jitter', (name, error, schedule) => {
    const retriers: Json[] = state(name).Retry ?? [];
    const retrier = retriers.find((r) => r.ErrorEquals.includes(error));
    expect(retrier).toMatchObject({ ...schedule, BackoffRate: 2, JitterStrategy: 'FULL' });
  });

  it.each([WAIT, 'Copy'])('%s never retries permanent errors (no States.ALL / States.TaskFailed retrier), nor its own timeout', (name) => {
    for (const retrier of state(name).Retry ?? []) {
      expect(retrier.ErrorEquals).not.toContain('States.ALL');
      expect(retrier.ErrorEquals).not.toContain('States.TaskFailed');
      expect(retrier.ErrorEquals).not.toContain('States.Timeout');
    }
  });

  it.each([WAIT, 'Copy'])('%s retries Lambda service errors (the invoke itself failing)', (name) => {
    const retried = (state(name).Retry ?? []).flatMap((r: Json) => r.ErrorEquals);
    expect(retried).toEqual(expect.arrayContaining(['Lambda.ServiceException', 'Lambda.TooManyRequestsException']));
  });

  it('every Task state except "Record failure" catches States.ALL into "Record failure", keeping its input', () => {
    const tasks = Object.entries<Json>(definition.States).filter(([, s]) => s.Type === 'Task');
    expect(tasks.map(([name]) => name).sort()).toEqual(['Copy', 'Record failure', WAIT]);
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

  it('the wait’s own timeout is caught back into it, before any other error is, and marks the turn `woke`', () => {
    expect(state(WAIT).Catch[0]).toEqual({ ErrorEquals: ['States.Timeout'], ResultPath: '$.woke', Next: WAIT });
  });

  it('the Choice after the wait routes wait, copy, completed and failed', () => {
    const choice = state(state(WAIT).Next);
    expect(choice.Type).toBe('Choice');
    const routes = Object.fromEntries(choice.Choices.map((c: Json) => [c.StringEquals, c.Next]));
    expect(choice.Choices.every((c: Json) => c.Variable === '$.next')).toBe(true);
    expect(routes).toEqual({ wait: WAIT, copy: 'Copy', completed: 'Completed', failed: 'Failed' });
    expect(state('Completed').Type).toBe('Succeed');
    expect(state('Failed').Type).toBe('Fail');
    expect(state('Copy').Next).toBe('Completed');
  });

  it('the Choice default reaches "Record failure" with an `error` for it to record', () => {
    const choice = state(state(WAIT).Next);
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

describe('workflow behaviour (the synthesized definition run by the local Step Functions)', () => {
  type Report = Json | 'hold';
  type Stub = (payload: Json, call: number, token: string) => Report | Promise<Report>;
  const WAIT = 'Wait for the generation';
  const STATE_MACHINE_ARN = 'arn:aws:states:us-east-1:000000000000:stateMachine:generation';
  const opened: { close(): Promise<void> }[] = [];
  afterAll(async () => Promise.all(opened.map((local) => local.close())));

  const namedError = (name: string, message = name): Error => Object.assign(new Error(message), { name });

  /**
   * Runs the definition, each function a stub. Poll's stub gets the turn's state and, as Poll does, ends
   * its own wait with what it returns (SendTaskSuccess), or holds it ('hold') until it times out; the
   * others return the Lambda result. 60 s of waiting last 6 ms.
   */
  async function start(stubs: { Poll?: Stub; Copy?: Stub; 'Record failure'?: Stub }, input: Json = { taskId: 't-1', waitSeconds: 60 }) {
    const { LocalStepFunctions } = await import('../../local/step-functions.ts');
    const names = { [`\${${ids.fn.Poll}.Arn}`]: 'Poll', [`\${${ids.fn.Copy}.Arn}`]: 'Copy', [`\${${ids.fn.RecordFailure}.Arn}`]: 'Record failure' } as const;
    const calls: Record<string, Json[]> = {};
    const asl = JSON.parse(JSON.stringify(definition).replaceAll('${AWS::Partition}', 'aws'));
    const local = new LocalStepFunctions({
      stateMachineArn: STATE_MACHINE_ARN,
      definition: asl,
      timeScale: 0.0001,
      invokeLambda: async (functionName, payload: Json) => {
        const name = names[functionName]!;
        const list = (calls[name] ??= []);
        if (name !== 'Poll') {
          list.push(payload);
          return stubs[name]!(payload, list.length, '');
        }
        list.push(payload.state);
        const report = await stubs.Poll!(payload.state, list.length, payload.taskToken);
        if (report !== 'hold') local.sendTaskSuccess(payload.taskToken, JSON.stringify(report));
        return null;
      },
    });
    opened.push(local);
    const { executionArn } = local.startExecution({ stateMachineArn: STATE_MACHINE_ARN, input: JSON.stringify(input) });
    const settled = local.settled(executionArn).then((execution) => ({
      calls,
      execution,
      output: execution.output === undefined ? undefined : JSON.parse(execution.output),
    }));
    return { local, settled };
  }

  const run = async (...args: Parameters<typeof start>) => (await start(...args)).settled;

  const recordFailureStub = (payload: Json) => ({ taskId: payload.taskId, status: 'failed' });

  it('a held wait times out back into the same state (`woke`); a turn that finds the generation done goes on to copy', async () => {
    const { calls, output, execution } = await run({
      Poll: (s, n) => (n < 3 ? 'hold' : { taskId: s.taskId, next: 'copy', waitSeconds: 1 }),
      Copy: (p) => ({ taskId: p.taskId, next: 'completed' }),
      'Record failure': recordFailureStub,
    });
    expect(execution.status).toBe('SUCCEEDED');
    expect(calls.Poll).toEqual([
      { taskId: 't-1', waitSeconds: 60 },
      { taskId: 't-1', waitSeconds: 60, woke: expect.objectContaining({ Error: 'States.Timeout' }) },
      { taskId: 't-1', waitSeconds: 60, woke: expect.objectContaining({ Error: 'States.Timeout' }) },
    ]);
    expect(calls.Copy).toEqual([{ taskId: 't-1' }]);
    expect(calls['Record failure']).toBeUndefined();
    expect(output).toEqual({ taskId: 't-1', next: 'completed' });
  });

  it('a turn that asks for another wait goes round through the Choice, entering the wait with it', async () => {
    const { calls, execution } = await run({
      Poll: (s, n) => ({ taskId: s.taskId, next: n === 1 ? 'wait' : 'completed', waitSeconds: 5 }),
      'Record failure': recordFailureStub,
    });
    expect(execution.status).toBe('SUCCEEDED');
    expect(calls.Poll).toEqual([{ taskId: 't-1', waitSeconds: 60 }, { taskId: 't-1', next: 'wait', waitSeconds: 5 }]);
  });

  it('a wait held by its turn is ended from outside (the upstream’s callback) with its token', async () => {
    let release!: (token: string) => void;
    const held = new Promise<string>((resolve) => (release = resolve));
    const started = await start(
      {
        // Only the first turn holds; a second would fail the task, so reaching it would show the wait timed out.
        Poll: (_s, n, token) => (n === 1 ? (release(token), 'hold') : { taskId: 't-1', next: 'failed', waitSeconds: 1 }),
        Copy: (p) => ({ taskId: p.taskId, next: 'completed' }),
        'Record failure': recordFailureStub,
      },
      // A day's wait: 8.6 s here, far longer than the report below takes to arrive.
      { taskId: 't-1', waitSeconds: 86_400 },
    );
    started.local.sendTaskSuccess(await held, JSON.stringify({ taskId: 't-1', next: 'copy', waitSeconds: 1 }));
    const { calls, execution } = await started.settled;
    expect(execution.status).toBe('SUCCEEDED');
    expect(calls.Poll).toHaveLength(1);
    expect(calls.Copy).toEqual([{ taskId: 't-1' }]);
  });

  it('a `failed` turn ends the execution as GenerationFailed without recording again', async () => {
    const { calls, execution } = await run({
      Poll: (s) => ({ taskId: s.taskId, next: 'failed', waitSeconds: 1 }),
      'Record failure': recordFailureStub,
    });
    expect(execution).toMatchObject({ status: 'FAILED', error: 'GenerationFailed' });
    expect(calls['Record failure']).toBeUndefined();
  });

  it('a transient upstream error is retried, then the workflow carries on', async () => {
    const { calls, execution } = await run({
      Poll: (s, n) => {
        if (n <= 2) throw namedError('TransientUpstreamError');
        return { taskId: s.taskId, next: 'completed', waitSeconds: 1 };
      },
      'Record failure': recordFailureStub,
    });
    expect(execution.status).toBe('SUCCEEDED');
    expect(calls.Poll).toHaveLength(3);
    expect(calls['Record failure']).toBeUndefined();
  });

  it('a permanent Copy error is not retried: Record failure gets the task id and the error', async () => {
    const { calls, execution } = await run({
      Poll: (s) => ({ taskId: s.taskId, next: 'copy', waitSeconds: 1 }),
      Copy: () => {
        throw namedError('DownloadFailedError', 'link expired');
      },
      'Record failure': recordFailureStub,
    });
    expect(calls.Copy).toHaveLength(1);
    expect(calls['Record failure']).toEqual([
      { taskId: 't-1', error: expect.objectContaining({ Error: 'DownloadFailedError', Cause: expect.stringContaining('link expired') }) },
    ]);
    expect(execution).toMatchObject({ status: 'FAILED', error: 'GenerationFailed' });
  });

  it('transient errors that never clear end in Record failure after the retries', async () => {
    const { calls, execution } = await run({
      Poll: () => {
        throw namedError('TransientUpstreamError');
      },
      'Record failure': recordFailureStub,
    });
    const retrier = definition.States[WAIT].Retry.find((r: Json) => r.ErrorEquals.includes('TransientUpstreamError'));
    expect(calls.Poll).toHaveLength(retrier.MaxAttempts + 1);
    expect(calls['Record failure']).toEqual([{ taskId: 't-1', error: expect.objectContaining({ Error: 'TransientUpstreamError' }) }]);
    expect(execution).toMatchObject({ status: 'FAILED', error: 'GenerationFailed' });
  });

  it('an unexpected `next` from a turn is recorded as a failure', async () => {
    const { calls, execution } = await run({
      Poll: (s) => ({ taskId: s.taskId, next: 'something-new', waitSeconds: 1 }),
      'Record failure': recordFailureStub,
    });
    expect(execution).toMatchObject({ status: 'FAILED', error: 'GenerationFailed' });
    expect(calls['Record failure']).toEqual([
      { taskId: 't-1', error: expect.objectContaining({ Error: 'UnexpectedNextStep', Cause: expect.stringContaining('something-new') }) },
    ]);
  });
});
