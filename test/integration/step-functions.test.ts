import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Template as CdkTemplate } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import {
  DescribeExecutionCommand,
  ExecutionAlreadyExists,
  ExecutionDoesNotExist,
  ListExecutionsCommand,
  SendTaskSuccessCommand,
  SFNClient,
  StartExecutionCommand,
  StopExecutionCommand,
} from '@aws-sdk/client-sfn';
import { findResources, stateMachineDefinition, type Template } from '../../local/cloudformation-intrinsics.ts';
import type { AslDefinition } from '../../local/asl.ts';
import { LocalStepFunctions, type LocalStepFunctionsOptions } from '../../local/step-functions.ts';
import { serveStepFunctions, type ServedStepFunctions } from '../support/step-functions-endpoint.ts';

const REGION = 'eu-west-1';
const ACCOUNT = '123456789012';
const STATE_MACHINE_ARN = `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:poller`;
const FUNCTION_ARN = `arn:aws:lambda:${REGION}:${ACCOUNT}:function:check-job`;
/** 100 s of Wait becomes 0.1 s; a 1 s retry interval becomes at most 1 ms. Waits are whole seconds, as in AWS. */
const TIME_SCALE = 0.001;

interface Job {
  jobId: string;
  waitSeconds: number;
  /** Successful polls until the job reports done. */
  polls: number;
  transientFailures?: number;
  permanent?: boolean;
  polled?: number;
  done?: boolean;
}

interface Deferred {
  promise: Promise<void>;
  resolve(): void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  const promise = new Promise<void>((res) => {
    resolve = res;
  });
  return { promise, resolve };
}

function lambdaError(errorType: string, message: string): Error {
  return Object.assign(new Error(message), { name: errorType });
}

/** Test double for the polling Lambda: counts calls, fails transiently on demand, can be held mid-call. */
class FakeJobLambda {
  readonly calls = new Map<string, number>();
  readonly transientThrown = new Map<string, number>();
  readonly functionArns = new Set<string>();
  private readonly holds = new Map<string, { reached: Deferred; released: Deferred }>();

  readonly invoke: LocalStepFunctionsOptions['invokeLambda'] = async (functionArn, payload) => {
    const job = payload as Job;
    this.functionArns.add(functionArn);
    this.calls.set(job.jobId, (this.calls.get(job.jobId) ?? 0) + 1);
    const hold = this.holds.get(job.jobId);
    if (hold) {
      hold.reached.resolve();
      await hold.released.promise;
    }
    const thrown = this.transientThrown.get(job.jobId) ?? 0;
    if (thrown < (job.transientFailures ?? 0)) {
      this.transientThrown.set(job.jobId, thrown + 1);
      throw lambdaError('TransientError', 'upstream returned 503');
    }
    if (job.permanent) throw lambdaError('PermanentUpstreamError', 'job rejected');
    const polled = (job.polled ?? 0) + 1;
    return { ...job, polled, done: polled >= job.polls };
  };

  /** Holds calls for a job until `release()`; `reached` resolves once a call is being held. */
  hold(jobId: string) {
    const entry = { reached: deferred(), released: deferred() };
    this.holds.set(jobId, entry);
    return {
      reached: entry.reached.promise,
      release: () => {
        this.holds.delete(jobId);
        entry.released.resolve();
      },
    };
  }
}

/**
 * Wait(SecondsPath) → LambdaInvoke (Retry TransientError with FULL jitter, Catch → Fail)
 * → Choice looping back to Wait until `$.done`, synthesized by the real CDK.
 */
function synthesizePollerDefinition(): AslDefinition {
  const app = new App({ builtinCloudFormationValidation: false });
  const stack = new Stack(app, 'Poller', { env: { region: REGION, account: ACCOUNT } });
  const fn = new lambda.Function(stack, 'CheckJobFn', {
    runtime: lambda.Runtime.NODEJS_22_X,
    handler: 'index.handler',
    code: lambda.Code.fromInline('exports.handler = async (event) => event;'),
  });
  const wait = new sfn.Wait(stack, 'WaitForJob', { time: sfn.WaitTime.secondsPath('$.waitSeconds') });
  const check = new tasks.LambdaInvoke(stack, 'CheckJob', { lambdaFunction: fn, outputPath: '$.Payload' });
  check.addRetry({
    errors: ['TransientError'],
    interval: Duration.seconds(1),
    maxAttempts: 3,
    backoffRate: 2,
    jitterStrategy: sfn.JitterType.FULL,
  });
  check.addCatch(new sfn.Fail(stack, 'JobFailed', { error: 'JobFailed', causePath: '$.Cause' }), { errors: ['States.ALL'] });
  const finished = new sfn.Choice(stack, 'Finished?')
    .when(sfn.Condition.booleanEquals('$.done', true), new sfn.Succeed(stack, 'Done'))
    .otherwise(wait);
  new sfn.StateMachine(stack, 'Machine', {
    definitionBody: sfn.DefinitionBody.fromChainable(wait.next(check).next(finished)),
    // Scaled, a year is still hours of real time: an execution held by a test never times out on a busy machine.
    timeout: Duration.days(365),
  });

  const template = CdkTemplate.fromStack(stack).toJSON() as Template;
  const [machine] = findResources(template, 'AWS::StepFunctions::StateMachine');
  const [fnResource] = findResources(template, 'AWS::Lambda::Function');
  const values = { [fnResource![0]]: { ref: 'check-job', attributes: { Arn: FUNCTION_ARN } } };
  return stateMachineDefinition(template, machine![0], values, { region: REGION, accountId: ACCOUNT });
}

let pollerDefinition: AslDefinition;
const opened: LocalStepFunctions[] = [];

beforeAll(() => {
  pollerDefinition = synthesizePollerDefinition();
});

afterEach(async () => {
  await Promise.all(opened.splice(0).map((instance) => instance.close()));
});

function open(options: Partial<LocalStepFunctionsOptions> & Pick<LocalStepFunctionsOptions, 'invokeLambda'>) {
  const instance = new LocalStepFunctions({
    stateMachineArn: STATE_MACHINE_ARN,
    definition: pollerDefinition,
    timeScale: TIME_SCALE,
    ...options,
  });
  opened.push(instance);
  return instance;
}

function start(local: LocalStepFunctions, job: Job, name = job.jobId) {
  return local.startExecution({ stateMachineArn: STATE_MACHINE_ARN, name, input: JSON.stringify(job) });
}

function errorOf(action: () => unknown): Error {
  try {
    action();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the call to throw');
}

describe('running the CDK-synthesized poller', () => {
  it('loops until the job is done and retries transient Lambda errors', async () => {
    const fake = new FakeJobLambda();
    const local = open({ invokeLambda: fake.invoke });
    const { executionArn } = start(local, { jobId: 'loop', waitSeconds: 1, polls: 3, transientFailures: 2 });
    await local.idle();

    const execution = local.describeExecution(executionArn);
    expect(execution.status).toBe('SUCCEEDED');
    expect(JSON.parse(execution.output!)).toMatchObject({ jobId: 'loop', polled: 3, done: true });
    expect(fake.transientThrown.get('loop')).toBe(2);
    expect(fake.calls.get('loop')).toBe(3 + 2);
    expect([...fake.functionArns]).toEqual([FUNCTION_ARN]);
  });

  it('sends a permanent Lambda error to the Catch, failing with the Fail state error and the Lambda cause', async () => {
    const fake = new FakeJobLambda();
    const local = open({ invokeLambda: fake.invoke });
    const { executionArn } = start(local, { jobId: 'doomed', waitSeconds: 1, polls: 1, permanent: true });
    await local.idle();

    const execution = local.describeExecution(executionArn);
    expect(execution.status).toBe('FAILED');
    expect(execution.error).toBe('JobFailed');
    expect(JSON.parse(execution.cause!)).toEqual({ errorType: 'PermanentUpstreamError', errorMessage: 'job rejected' });
    expect(fake.calls.get('doomed')).toBe(1);
  });

  it('scales a 100-second Wait down so it finishes quickly', async () => {
    const fake = new FakeJobLambda();
    const local = open({ invokeLambda: fake.invoke });
    const { executionArn } = start(local, { jobId: 'slow', waitSeconds: 100, polls: 2 });
    await local.idle();
    expect(local.describeExecution(executionArn).status).toBe('SUCCEEDED');
  });

  it('fails with States.Runtime, bypassing the Catch, when SecondsPath is not a valid duration', async () => {
    const local = open({ invokeLambda: new FakeJobLambda().invoke });
    const { executionArn } = start(local, { jobId: 'negative', waitSeconds: -1, polls: 1 });
    await local.idle();
    expect(local.describeExecution(executionArn)).toMatchObject({ status: 'FAILED', error: 'States.Runtime' });
  });

  it('runs hundreds of executions at once', async () => {
    const fake = new FakeJobLambda();
    const local = open({ invokeLambda: fake.invoke });
    const arns = Array.from({ length: 300 }, (_, i) =>
      start(local, { jobId: `job-${i}`, waitSeconds: 1, polls: 2, transientFailures: 1 }).executionArn,
    );
    await local.idle();
    expect(arns.map((arn) => local.describeExecution(arn).status)).toEqual(arns.map(() => 'SUCCEEDED'));
    expect(local.listExecutions('SUCCEEDED')).toHaveLength(300);
  });
});

describe('hand-written definitions', () => {
  it('supports plain Lambda ARN resources and reports an uncaught Lambda error as errorType + JSON cause', async () => {
    const definition = {
      StartAt: 'Call',
      States: {
        Call: {
          Type: 'Task',
          Resource: FUNCTION_ARN,
          Retry: [{ ErrorEquals: ['States.TaskFailed'], IntervalSeconds: 1, MaxAttempts: 1 }],
          End: true,
        },
      },
    };
    let calls = 0;
    const local = open({
      definition,
      invokeLambda: async (_arn, payload) => {
        calls++;
        if ((payload as { fail?: boolean }).fail) throw lambdaError('TransientUpstreamError', 'Luma said 502');
        return { ok: true, when: new Date(0) };
      },
    });
    const ok = local.startExecution({ stateMachineArn: STATE_MACHINE_ARN, input: '{}' });
    const bad = local.startExecution({ stateMachineArn: STATE_MACHINE_ARN, input: '{"fail":true}' });
    await local.idle();

    expect(JSON.parse(local.describeExecution(ok.executionArn).output!)).toEqual({ ok: true, when: '1970-01-01T00:00:00.000Z' });
    const failed = local.describeExecution(bad.executionArn);
    expect(failed).toMatchObject({ status: 'FAILED', error: 'TransientUpstreamError' });
    expect(JSON.parse(failed.cause!)).toEqual({ errorType: 'TransientUpstreamError', errorMessage: 'Luma said 502' });
    expect(calls).toBe(1 + 2); // the failing one ran once plus one retry
  });

  it('scales and enforces the definition TimeoutSeconds', async () => {
    // 10 ms of machine timeout against 100 s of Wait: the timeout wins however busy the machine is.
    const definition = { StartAt: 'Sleep', TimeoutSeconds: 10, States: { Sleep: { Type: 'Wait', Seconds: 100_000, End: true } } };
    const local = open({ definition, invokeLambda: async () => null });
    const { executionArn } = local.startExecution({ stateMachineArn: STATE_MACHINE_ARN, name: 'sleepy' });
    await local.idle();
    expect(local.describeExecution(executionArn)).toMatchObject({ status: 'TIMED_OUT', error: 'States.Timeout' });
  });

  it('refuses definitions it cannot run, at construction', () => {
    const dynamo = { StartAt: 'Put', States: { Put: { Type: 'Task', Resource: 'arn:aws:states:::dynamodb:putItem', End: true } } };
    expect(() => open({ definition: dynamo, invokeLambda: async () => null })).toThrow(/dynamodb:putItem/);
    expect(() => open({ definition: { StartAt: 'Nowhere', States: {} }, invokeLambda: async () => null })).toThrow(/invalid/);
  });
});

describe('StartExecution / DescribeExecution / StopExecution semantics', () => {
  it('is idempotent for the same name and input while RUNNING, and conflicts otherwise', async () => {
    const fake = new FakeJobLambda();
    const held = fake.hold('same');
    const local = open({ invokeLambda: fake.invoke });
    const job: Job = { jobId: 'same', waitSeconds: 0, polls: 1 };

    const first = start(local, job);
    expect(first.executionArn).toBe(`arn:aws:states:${REGION}:${ACCOUNT}:execution:poller:same`);
    const again = start(local, job);
    expect(again).toEqual(first);
    expect(errorOf(() => start(local, { ...job, polls: 2 })).name).toBe('ExecutionAlreadyExists');

    await held.reached;
    held.release();
    await local.idle();
    expect(errorOf(() => start(local, job)).name).toBe('ExecutionAlreadyExists');
  });

  it('validates names, state machine ARNs, input and execution ARNs like AWS', () => {
    const local = open({ invokeLambda: async () => null });
    const startWith = (input: { stateMachineArn?: string; name?: string; input?: string }) => () =>
      local.startExecution({ stateMachineArn: STATE_MACHINE_ARN, ...input });

    expect(errorOf(startWith({ name: 'has space' })).name).toBe('InvalidName');
    expect(errorOf(startWith({ name: 'x'.repeat(81) })).name).toBe('InvalidName');
    expect(errorOf(startWith({ name: '' })).name).toBe('InvalidName');
    expect(errorOf(startWith({ stateMachineArn: `${STATE_MACHINE_ARN}-other` })).name).toBe('StateMachineDoesNotExist');
    expect(errorOf(startWith({ stateMachineArn: 'not-an-arn' })).name).toBe('InvalidArn');
    expect(errorOf(startWith({ input: '{"open": ' })).name).toBe('InvalidExecutionInput');
    expect(errorOf(() => local.describeExecution(`arn:aws:states:${REGION}:${ACCOUNT}:execution:poller:ghost`)).name).toBe(
      'ExecutionDoesNotExist',
    );
  });

  it('stops a running execution as ABORTED without invoking the Lambda again', async () => {
    const fake = new FakeJobLambda();
    const held = fake.hold('stop-me');
    const local = open({ invokeLambda: fake.invoke });
    const { executionArn } = start(local, { jobId: 'stop-me', waitSeconds: 0, polls: 5 });
    await held.reached;

    const { stopDate } = local.stopExecution(executionArn, 'UserCancelled', 'no longer needed');
    held.release();
    await local.idle();

    expect(local.describeExecution(executionArn)).toMatchObject({
      status: 'ABORTED',
      error: 'UserCancelled',
      cause: 'no longer needed',
      stopDate,
    });
    expect(fake.calls.get('stop-me')).toBe(1);
  });
});

describe('over HTTP with the real SFNClient', () => {
  let served: ServedStepFunctions | undefined;

  afterEach(async () => {
    await served?.close();
    served = undefined;
  });

  async function serve(local: LocalStepFunctions): Promise<SFNClient> {
    served = await serveStepFunctions(local, REGION);
    return served.client;
  }

  it('starts, describes, lists and stops executions, and maps errors to SDK exceptions', async () => {
    const fake = new FakeJobLambda();
    const local = open({ invokeLambda: fake.invoke });
    const sdk = await serve(local);
    const input = JSON.stringify({ jobId: 'http', waitSeconds: 1, polls: 2 } satisfies Job);

    const started = await sdk.send(new StartExecutionCommand({ stateMachineArn: STATE_MACHINE_ARN, name: 'http', input }));
    expect(started.executionArn).toBe(`arn:aws:states:${REGION}:${ACCOUNT}:execution:poller:http`);
    expect(started.startDate).toBeInstanceOf(Date);
    await local.idle();

    const described = await sdk.send(new DescribeExecutionCommand({ executionArn: started.executionArn }));
    expect(described).toMatchObject({ status: 'SUCCEEDED', name: 'http', input, stateMachineArn: STATE_MACHINE_ARN });
    expect(described.stopDate).toBeInstanceOf(Date);
    expect(JSON.parse(described.output!)).toMatchObject({ polled: 2, done: true });

    const conflict = sdk.send(new StartExecutionCommand({ stateMachineArn: STATE_MACHINE_ARN, name: 'http', input: '{}' }));
    await expect(conflict).rejects.toBeInstanceOf(ExecutionAlreadyExists);
    await expect(conflict).rejects.toMatchObject({ name: 'ExecutionAlreadyExists', $metadata: { httpStatusCode: 400 } });

    const missing = sdk.send(new DescribeExecutionCommand({ executionArn: `${started.executionArn}-nope` }));
    await expect(missing).rejects.toBeInstanceOf(ExecutionDoesNotExist);

    const held = fake.hold('held');
    const running = await sdk.send(
      new StartExecutionCommand({ stateMachineArn: STATE_MACHINE_ARN, name: 'held', input: JSON.stringify({ jobId: 'held', waitSeconds: 0, polls: 1 }) }),
    );
    await held.reached;
    const listed = await sdk.send(new ListExecutionsCommand({ stateMachineArn: STATE_MACHINE_ARN, statusFilter: 'RUNNING' }));
    expect(listed.executions?.map((execution) => execution.name)).toEqual(['held']);
    const stopped = await sdk.send(new StopExecutionCommand({ executionArn: running.executionArn, error: 'Cancelled' }));
    expect(stopped.stopDate).toBeInstanceOf(Date);
    held.release();
    await local.idle();
    const all = await sdk.send(new ListExecutionsCommand({ stateMachineArn: STATE_MACHINE_ARN, maxResults: 1 }));
    expect(all.executions).toHaveLength(1);
    // The token leads to the other execution, and no further.
    const rest = await sdk.send(new ListExecutionsCommand({ stateMachineArn: STATE_MACHINE_ARN, maxResults: 1, nextToken: all.nextToken }));
    expect([...all.executions!, ...rest.executions!].map((execution) => execution.name).sort()).toEqual(['held', 'http']);
    expect(rest.nextToken).toBeUndefined();
    expect((await sdk.send(new DescribeExecutionCommand({ executionArn: running.executionArn }))).status).toBe('ABORTED');

    // Callback tasks run locally (step-functions-callbacks.test.ts): a token no task was given is refused as in AWS.
    await expect(sdk.send(new SendTaskSuccessCommand({ taskToken: 't', output: '{}' }))).rejects.toMatchObject({
      name: 'InvalidToken',
    });
  });
});

describe('persistence', () => {
  let directory: string | undefined;

  afterEach(async () => {
    if (directory) await rm(directory, { recursive: true, force: true });
  });

  async function readState(stateFile: string): Promise<Record<string, string>> {
    const { executions } = JSON.parse(await readFile(stateFile, 'utf8')) as { executions: { name: string; status: string }[] };
    return Object.fromEntries(executions.map((execution) => [execution.name, execution.status]));
  }

  it('persists every status change and resumes RUNNING executions from the beginning after a restart', async () => {
    directory = await mkdtemp(join(tmpdir(), 'local-sfn-'));
    const stateFile = join(directory, 'nested', 'executions.json');

    const before = new FakeJobLambda();
    const held = before.hold('resume-me');
    const first = open({ invokeLambda: before.invoke, stateFile });
    start(first, { jobId: 'finished', waitSeconds: 0, polls: 1 });
    const { executionArn } = start(first, { jobId: 'resume-me', waitSeconds: 1, polls: 2 });
    await held.reached;
    expect((await first.settled(executionArn.replace(/resume-me$/, 'finished'))).status).toBe('SUCCEEDED');
    await first.close();
    held.release();
    expect(await readState(stateFile)).toEqual({ finished: 'SUCCEEDED', 'resume-me': 'RUNNING' });

    const after = new FakeJobLambda();
    const second = open({ invokeLambda: after.invoke, stateFile });
    expect(second.describeExecution(executionArn).status).toBe('RUNNING');
    expect(await second.resumeRunning()).toBe(1);
    expect(await second.resumeRunning()).toBe(0); // already running, not started twice
    await second.idle();

    const resumed = second.describeExecution(executionArn);
    expect(resumed.status).toBe('SUCCEEDED');
    expect(JSON.parse(resumed.output!)).toMatchObject({ jobId: 'resume-me', polled: 2 });
    expect(after.calls.get('resume-me')).toBe(2); // re-ran from the first state with the original input
    expect(after.calls.has('finished')).toBe(false);
    expect(await readState(stateFile)).toEqual({ finished: 'SUCCEEDED', 'resume-me': 'SUCCEEDED' });
  });

  it('persists ABORTED and keeps answering for finished executions after reopening', async () => {
    directory = await mkdtemp(join(tmpdir(), 'local-sfn-'));
    const stateFile = join(directory, 'executions.json');
    const fake = new FakeJobLambda();
    const held = fake.hold('abort-me');
    const first = open({ invokeLambda: fake.invoke, stateFile });
    const { executionArn } = start(first, { jobId: 'abort-me', waitSeconds: 0, polls: 1 });
    await held.reached;
    first.stopExecution(executionArn);
    held.release();
    await first.close();

    const second = open({ invokeLambda: fake.invoke, stateFile });
    expect(await second.resumeRunning()).toBe(0);
    expect(second.describeExecution(executionArn).status).toBe('ABORTED');
    expect(errorOf(() => start(second, { jobId: 'abort-me', waitSeconds: 0, polls: 1 })).name).toBe('ExecutionAlreadyExists');
  });
});
