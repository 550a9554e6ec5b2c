import { afterEach, describe, expect, it } from 'vitest';
import {
  InvalidOutput,
  InvalidToken,
  SendTaskFailureCommand,
  SendTaskHeartbeatCommand,
  SendTaskSuccessCommand,
  SFNClient,
  TaskTimedOut,
} from '@aws-sdk/client-sfn';
import { LocalStepFunctions, type LocalStepFunctionsOptions } from '../../local/step-functions.ts';
import { serveStepFunctions, type ServedStepFunctions } from '../support/step-functions-endpoint.ts';

const REGION = 'eu-west-1';
const ACCOUNT = '123456789012';
const STATE_MACHINE_ARN = `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:callbacks`;
const FUNCTION_ARN = `arn:aws:lambda:${REGION}:${ACCOUNT}:function:start-job`;
const CALLBACK_RESOURCE = 'arn:aws:states:::lambda:invoke.waitForTaskToken';
/** 100 s of a callback task's timeout last 0.1 s once its function has returned. */
const TIME_SCALE = 0.001;

interface Invocation {
  token: string;
  job: Record<string, unknown>;
}

/** The invoked function: hands each token it is given to the test, in order, and can fail or report itself. */
class TokenInbox {
  readonly invocations: Invocation[] = [];
  private waiters: ((invocation: Invocation) => void)[] = [];
  behaviour: (invocation: Invocation) => Promise<unknown> = async () => ({ ignored: 'the function result is dropped' });

  readonly invoke: LocalStepFunctionsOptions['invokeLambda'] = async (functionArn, payload) => {
    expect(functionArn).toBe(FUNCTION_ARN);
    const invocation = payload as Invocation;
    this.invocations.push(invocation);
    for (const waiter of this.waiters.splice(0)) waiter(invocation);
    return this.behaviour(invocation);
  };

  /** Resolves with the nth invocation (1-based), once it has happened. */
  async nth(n: number): Promise<Invocation> {
    while (this.invocations.length < n) await new Promise<Invocation>((resolve) => this.waiters.push(resolve));
    return this.invocations[n - 1]!;
  }
}

function callbackTask(fields: Record<string, unknown> = {}) {
  return {
    Type: 'Task',
    Resource: CALLBACK_RESOURCE,
    Parameters: { FunctionName: FUNCTION_ARN, Payload: { 'token.$': '$$.Task.Token', 'job.$': '$' } },
    ...fields,
  };
}

/** One callback task; a timeout is caught into a Pass that records it, anything else fails the execution. */
function machine(task: Record<string, unknown> = {}) {
  return {
    StartAt: 'Wait for job',
    States: {
      'Wait for job': callbackTask({
        Catch: [{ ErrorEquals: ['States.Timeout'], ResultPath: '$.timedOut', Next: 'Timed out' }],
        End: true,
        ...task,
      }),
      'Timed out': { Type: 'Pass', End: true },
    },
  };
}

const opened: LocalStepFunctions[] = [];
let served: ServedStepFunctions | undefined;

afterEach(async () => {
  await served?.close();
  served = undefined;
  await Promise.all(opened.splice(0).map((instance) => instance.close()));
});

function open(definition: object, inbox: TokenInbox): LocalStepFunctions {
  const local = new LocalStepFunctions({ stateMachineArn: STATE_MACHINE_ARN, definition, timeScale: TIME_SCALE, invokeLambda: inbox.invoke });
  opened.push(local);
  return local;
}

async function serve(local: LocalStepFunctions): Promise<SFNClient> {
  served = await serveStepFunctions(local, REGION);
  return served.client;
}

function start(local: LocalStepFunctions, input: object = { jobId: 'j' }) {
  return local.startExecution({ stateMachineArn: STATE_MACHINE_ARN, input: JSON.stringify(input) }).executionArn;
}

function errorOf(action: () => unknown): Error {
  try {
    action();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the call to throw');
}

describe('a lambda:invoke.waitForTaskToken task', () => {
  it('invokes the function with $$.Task.Token and ends with what SendTaskSuccess reports, once', async () => {
    const inbox = new TokenInbox();
    const local = open(machine(), inbox);
    const sdk = await serve(local);
    const executionArn = start(local, { jobId: 'ok' });

    const { token, job } = await inbox.nth(1);
    expect(job).toEqual({ jobId: 'ok' });
    expect(token).toMatch(/^AQ[A-Za-z0-9+/=]{100,}$/);
    await sdk.send(new SendTaskHeartbeatCommand({ taskToken: token }));
    expect(local.describeExecution(executionArn).status).toBe('RUNNING');
    expect(await sdk.send(new SendTaskSuccessCommand({ taskToken: token, output: '{"done":true}' }))).toMatchObject({ $metadata: { httpStatusCode: 200 } });

    const settled = await local.settled(executionArn);
    expect(settled.status).toBe('SUCCEEDED');
    expect(JSON.parse(settled.output!)).toEqual({ done: true });
    // The task is closed: its token is used up, for every report.
    await expect(sdk.send(new SendTaskSuccessCommand({ taskToken: token, output: '{}' }))).rejects.toBeInstanceOf(TaskTimedOut);
    await expect(sdk.send(new SendTaskFailureCommand({ taskToken: token }))).rejects.toBeInstanceOf(TaskTimedOut);
    await expect(sdk.send(new SendTaskHeartbeatCommand({ taskToken: token }))).rejects.toBeInstanceOf(TaskTimedOut);
  });

  it('refuses tokens it never issued, oversize or non-JSON output and overlong fields, and keeps waiting', async () => {
    const inbox = new TokenInbox();
    const local = open(machine(), inbox);
    const sdk = await serve(local);
    const executionArn = start(local);
    const { token } = await inbox.nth(1);

    await expect(sdk.send(new SendTaskSuccessCommand({ taskToken: `${token}x`, output: '{}' }))).rejects.toBeInstanceOf(InvalidToken);
    await expect(sdk.send(new SendTaskHeartbeatCommand({ taskToken: 'AQnever-issued' }))).rejects.toBeInstanceOf(InvalidToken);
    await expect(sdk.send(new SendTaskSuccessCommand({ taskToken: token, output: '{"open": ' }))).rejects.toBeInstanceOf(InvalidOutput);
    const tooLarge = JSON.stringify({ blob: 'x'.repeat(256 * 1024) });
    await expect(sdk.send(new SendTaskSuccessCommand({ taskToken: token, output: tooLarge }))).rejects.toMatchObject({ name: 'ValidationException' });
    await expect(sdk.send(new SendTaskFailureCommand({ taskToken: token, error: 'E'.repeat(257) }))).rejects.toMatchObject({ name: 'ValidationException' });
    await expect(sdk.send(new SendTaskHeartbeatCommand({ taskToken: 'A'.repeat(1025) }))).rejects.toMatchObject({ name: 'ValidationException' });

    expect(local.describeExecution(executionArn).status).toBe('RUNNING');
    local.sendTaskSuccess(token, '{"after":"refusals"}');
    expect(JSON.parse((await local.settled(executionArn)).output!)).toEqual({ after: 'refusals' });
  });

  it('fails with the error and cause SendTaskFailure reports, which a Catch can take', async () => {
    const inbox = new TokenInbox();
    const caught = {
      StartAt: 'Wait for job',
      States: {
        'Wait for job': callbackTask({ Catch: [{ ErrorEquals: ['JobRejected'], ResultPath: '$.error', Next: 'Rejected' }], End: true }),
        Rejected: { Type: 'Pass', End: true },
      },
    };
    const local = open(caught, inbox);
    const rejected = start(local, { jobId: 'rejected' });
    local.sendTaskFailure((await inbox.nth(1)).token, 'JobRejected', 'bad input');
    expect(JSON.parse((await local.settled(rejected)).output!)).toEqual({ jobId: 'rejected', error: { Error: 'JobRejected', Cause: 'bad input' } });

    const uncaught = start(local, { jobId: 'broken' });
    local.sendTaskFailure((await inbox.nth(2)).token, 'JobBroken', 'no disk');
    expect(await local.settled(uncaught)).toMatchObject({ status: 'FAILED', error: 'JobBroken', cause: 'no disk' });
  });

  it('takes a report the function sends during its own invocation', async () => {
    const inbox = new TokenInbox();
    const local = open(machine(), inbox);
    inbox.behaviour = async ({ token }) => {
      local.sendTaskSuccess(token, '{"reported":"early"}');
      return 'the result is dropped';
    };
    const executionArn = start(local);
    expect(JSON.parse((await local.settled(executionArn)).output!)).toEqual({ reported: 'early' });
  });

  it('fails with the function error when the invocation fails, unless the task was reported', async () => {
    const inbox = new TokenInbox();
    const local = open(machine(), inbox);
    inbox.behaviour = async () => {
      throw Object.assign(new Error('upstream said 503'), { name: 'TransientUpstreamError' });
    };
    const failed = await local.settled(start(local));
    expect(failed).toMatchObject({ status: 'FAILED', error: 'TransientUpstreamError' });
    expect(JSON.parse(failed.cause!)).toEqual({ errorType: 'TransientUpstreamError', errorMessage: 'upstream said 503' });

    inbox.behaviour = async ({ token }) => {
      local.sendTaskSuccess(token, '{"reported":true}');
      throw new Error('too late to matter');
    };
    expect(await local.settled(start(local))).toMatchObject({ status: 'SUCCEEDED', output: '{"reported":true}' });
  });

  it('times out after TimeoutSeconds, on the time scale, into a Catch on States.Timeout; the token is then expired', async () => {
    const inbox = new TokenInbox();
    const local = open(machine({ TimeoutSeconds: 100 }), inbox);
    const executionArn = start(local, { jobId: 'slow' });
    const { token } = await inbox.nth(1);

    const settled = await local.settled(executionArn);
    expect(settled.status).toBe('SUCCEEDED');
    expect(JSON.parse(settled.output!)).toMatchObject({ jobId: 'slow', timedOut: { Error: 'States.Timeout' } });
    expect(errorOf(() => local.sendTaskSuccess(token, '{}'))).toMatchObject({ name: 'TaskTimedOut' });
  });

  it('reads TimeoutSecondsPath from the input, and fails with States.Runtime when it is not a positive integer', async () => {
    const inbox = new TokenInbox();
    const local = open(machine({ TimeoutSecondsPath: '$.timeoutSeconds' }), inbox);
    const timedOut = await local.settled(start(local, { timeoutSeconds: 50 }));
    expect(JSON.parse(timedOut.output!)).toMatchObject({ timedOut: { Error: 'States.Timeout' } });

    const invalid = await local.settled(start(local, { timeoutSeconds: 1.5 }));
    expect(invalid).toMatchObject({ status: 'FAILED', error: 'States.Runtime' });
    expect(inbox.invocations).toHaveLength(1); // the invalid one never invoked its function
  });

  it('fails with States.HeartbeatTimeout without heartbeats, which a Catch on States.Timeout takes and States.TaskFailed does not', async () => {
    const inbox = new TokenInbox();
    const definition = {
      StartAt: 'Wait for job',
      States: {
        'Wait for job': callbackTask({
          TimeoutSeconds: 1_000_000,
          HeartbeatSeconds: 20,
          Catch: [
            { ErrorEquals: ['States.TaskFailed'], ResultPath: '$.taskFailed', Next: 'Wrong catcher' },
            { ErrorEquals: ['States.Timeout'], ResultPath: '$.timedOut', Next: 'Timed out' },
          ],
          End: true,
        }),
        'Wrong catcher': { Type: 'Fail', Error: 'WrongCatcher' },
        'Timed out': { Type: 'Pass', End: true },
      },
    };
    const local = open(definition, inbox);
    const settled = await local.settled(start(local));
    expect(settled.status).toBe('SUCCEEDED');
    expect(JSON.parse(settled.output!)).toMatchObject({ timedOut: { Error: 'States.HeartbeatTimeout' } });
  });

  it('gives every attempt a token of its own: a retried timeout leaves the first token expired', async () => {
    const inbox = new TokenInbox();
    const retried = machine({ TimeoutSeconds: 10, Retry: [{ ErrorEquals: ['States.Timeout'], IntervalSeconds: 1, MaxAttempts: 1 }] });
    const local = open(retried, inbox);
    const executionArn = start(local);
    const first = await inbox.nth(1);
    const second = await inbox.nth(2);
    expect(second.token).not.toBe(first.token);
    expect(errorOf(() => local.sendTaskSuccess(first.token, '{}'))).toMatchObject({ name: 'TaskTimedOut' });
    await local.settled(executionArn);
    expect(inbox.invocations).toHaveLength(2);
  });

  it('closes the token when its execution is stopped', async () => {
    const inbox = new TokenInbox();
    const local = open(machine(), inbox);
    const executionArn = start(local);
    const { token } = await inbox.nth(1);
    local.stopExecution(executionArn);
    expect((await local.settled(executionArn)).status).toBe('ABORTED');
    expect(errorOf(() => local.sendTaskSuccess(token, '{}'))).toMatchObject({ name: 'TaskTimedOut' });
  });

  it('runs a loop that catches its own timeout back into itself until a report ends it', async () => {
    const inbox = new TokenInbox();
    const loop = {
      StartAt: 'Wait for job',
      States: {
        'Wait for job': callbackTask({
          TimeoutSeconds: 5,
          Catch: [{ ErrorEquals: ['States.Timeout'], ResultPath: '$.timedOut', Next: 'Wait for job' }],
          End: true,
        }),
      },
    };
    const local = open(loop, inbox);
    inbox.behaviour = async ({ token }) => {
      if (inbox.invocations.length === 3) local.sendTaskSuccess(token, '{"round":3}');
      return null;
    };
    const settled = await local.settled(start(local));
    expect(JSON.parse(settled.output!)).toEqual({ round: 3 });
    expect(new Set(inbox.invocations.map(({ token }) => token)).size).toBe(3);
  });
});

describe('definitions with callback tasks it refuses at load', () => {
  const build = (definition: object) => () => open(definition, new TokenInbox());

  it('refuses a callback task that never passes on its token', () => {
    const silent = machine({ Parameters: { FunctionName: FUNCTION_ARN, Payload: { 'job.$': '$' } } });
    expect(build(silent)).toThrow(/never pass on \$\$\.Task\.Token/);
    // The path as a plain string is only text: no token is passed on.
    const literal = machine({ Parameters: { FunctionName: FUNCTION_ARN, Payload: { token: '$$.Task.Token' } } });
    expect(build(literal)).toThrow(/never pass on \$\$\.Task\.Token/);
  });

  it('refuses $$.Task read anywhere but a callback task’s Parameters', () => {
    const elsewhere = {
      StartAt: 'Peek',
      States: { Peek: { Type: 'Pass', Parameters: { 'token.$': '$$.Task.Token' }, Next: 'Wait for job' }, 'Wait for job': callbackTask({ End: true }) },
    };
    expect(build(elsewhere)).toThrow(/'Peek' reads \$\$\.Task/);
    const inSelector = machine({ ResultSelector: { 'token.$': '$$.Task.Token' } });
    expect(build(inSelector)).toThrow(/'Wait for job' reads \$\$\.Task/);
  });

  it('refuses HeartbeatSeconds not below TimeoutSeconds, and timeouts that are not whole seconds', () => {
    expect(build(machine({ TimeoutSeconds: 10, HeartbeatSeconds: 10 }))).toThrow(/must be smaller than TimeoutSeconds/);
    expect(build(machine({ TimeoutSeconds: 2.5 }))).toThrow(/TimeoutSeconds is invalid/);
  });
});
