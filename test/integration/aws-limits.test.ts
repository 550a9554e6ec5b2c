/**
 * Each AWS limit the local runtime emulates (local/aws-limits.ts), one test each, driving the real runtime
 * pieces: LocalStepFunctions with a tiny ASL definition, LambdaHost with a tiny bundle written to a temp
 * dir. The comment on each test quotes the AWS documentation it copies. A limit found here is found before
 * a production run finds it.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LambdaHost, LambdaInvocationError, type LambdaDefinition } from '../../local/lambda-host.ts';
import { LocalStepFunctions, StepFunctionsError, type LocalStepFunctionsOptions } from '../../local/step-functions.ts';
import { LAMBDA_SYNC_PAYLOAD_BYTES, STATES_HISTORY_EVENTS, STATES_PAYLOAD_BYTES } from '../../local/aws-limits.ts';

const STATE_MACHINE_ARN = 'arn:aws:states:eu-west-1:123456789012:stateMachine:limits';
const FUNCTION_ARN = 'arn:aws:lambda:eu-west-1:123456789012:function:tiny';

/**
 * The tiny function. Module scope is the execution environment: `environmentId` and `invocations` tell a
 * warm environment from a cold one. The event says what to do.
 */
const TINY_BUNDLE = `
import { randomUUID } from 'node:crypto';
const environmentId = randomUUID();
let invocations = 0;
export const handler = async (event, context) => {
  invocations += 1;
  if (event.sleepMs) await new Promise((resolve) => setTimeout(resolve, event.sleepMs));
  if (event.answerBytes) return 'x'.repeat(event.answerBytes - 2); // a JSON string: two quotes more
  return { environmentId, invocations, remainingMs: context.getRemainingTimeInMillis() };
};
`;

interface TinyAnswer {
  environmentId: string;
  invocations: number;
}

let bundleDir: string;
const hosts: LambdaHost[] = [];
const machines: LocalStepFunctions[] = [];

beforeAll(() => {
  bundleDir = mkdtempSync(join(tmpdir(), 'aws-limits-'));
  writeFileSync(join(bundleDir, 'index.mjs'), TINY_BUNDLE);
});

afterEach(async () => {
  await Promise.all([...hosts.splice(0).map((host) => host.close()), ...machines.splice(0).map((machine) => machine.close())]);
});

afterAll(() => rmSync(bundleDir, { recursive: true, force: true }));

function tinyHost(options: Partial<LambdaDefinition> = {}): LambdaHost {
  const host = new LambdaHost({
    name: 'tiny',
    arn: FUNCTION_ARN,
    bundlePath: join(bundleDir, 'index.mjs'),
    handlerName: 'handler',
    environment: {},
    timeoutMs: 30_000,
    logs: () => undefined,
    ...options,
  });
  hosts.push(host);
  return host;
}

function machine(definition: object, options: Partial<LocalStepFunctionsOptions> = {}): LocalStepFunctions {
  const local = new LocalStepFunctions({
    stateMachineArn: STATE_MACHINE_ARN,
    definition,
    invokeLambda: async () => ({}),
    timeScale: 0.001,
    ...options,
  });
  machines.push(local);
  return local;
}

async function run(local: LocalStepFunctions, input: unknown) {
  const { executionArn } = local.startExecution({ stateMachineArn: STATE_MACHINE_ARN, input: JSON.stringify(input) });
  return local.settled(executionArn);
}

async function invocationError(call: Promise<unknown>): Promise<LambdaInvocationError> {
  const error = await call.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(LambdaInvocationError);
  return error as LambdaInvocationError;
}

describe('Step Functions', () => {
  // "SecondsPath … must select a non-negative integer" (Wait state, Amazon States Language); a runtime error
  // of a Wait state is States.Runtime, and "Wait" states cannot have Catch fields.
  it('a Wait whose SecondsPath resolves to 1.5 fails the execution with States.Runtime; 1 waits, scaled', async () => {
    const local = machine({
      StartAt: 'Wait',
      States: { Wait: { Type: 'Wait', SecondsPath: '$.seconds', Next: 'Done' }, Done: { Type: 'Succeed' } },
    });
    for (const seconds of [1.5, -1, '1', 1e21]) {
      expect(await run(local, { seconds })).toMatchObject({ status: 'FAILED', error: 'States.Runtime' });
    }
    expect(await run(local, { seconds: 1 })).toMatchObject({ status: 'SUCCEEDED' });
  });

  // "The maximum input or output size for a task, state, or execution is 256 KiB of data as a UTF-8 encoded
  // string" (service quotas); over it, States.DataLimitExceeded, "a terminal error that can't be caught by
  // the States.ALL error type" (error handling).
  it('a state output of 300 KB fails the execution with States.DataLimitExceeded, past Retry and Catch', async () => {
    let calls = 0;
    const local = machine(
      {
        StartAt: 'Produce',
        States: {
          Produce: {
            Type: 'Task',
            Resource: FUNCTION_ARN,
            Retry: [{ ErrorEquals: ['States.ALL'], MaxAttempts: 2 }],
            Catch: [{ ErrorEquals: ['States.ALL'], Next: 'Recovered' }],
            Next: 'Done',
          },
          Recovered: { Type: 'Succeed' },
          Done: { Type: 'Succeed' },
        },
      },
      {
        invokeLambda: async (_arn, payload) => {
          calls++;
          return { blob: 'x'.repeat((payload as { bytes: number }).bytes) };
        },
      },
    );
    const failed = await run(local, { bytes: 300 * 1024 });
    expect(failed).toMatchObject({ status: 'FAILED', error: 'States.DataLimitExceeded' });
    expect(failed.cause).toMatch(/Produce/);
    expect(calls).toBe(1); // not retried

    expect(await run(local, { bytes: 200 * 1024 })).toMatchObject({ status: 'SUCCEEDED' });
  });

  it('a Pass state that builds more than 256 KiB, and an execution input over it, are refused too', async () => {
    const local = machine({
      StartAt: 'Double',
      States: {
        Double: { Type: 'Pass', Parameters: { 'a.$': '$.half', 'b.$': '$.half' }, End: true },
      },
    });
    const half = 'x'.repeat(STATES_PAYLOAD_BYTES / 2);
    expect(await run(local, { half })).toMatchObject({ status: 'FAILED', error: 'States.DataLimitExceeded' });

    const tooLarge = JSON.stringify({ blob: 'x'.repeat(STATES_PAYLOAD_BYTES) });
    const refused = (() => {
      try {
        local.startExecution({ stateMachineArn: STATE_MACHINE_ARN, input: tooLarge });
      } catch (error) {
        return error;
      }
    })();
    expect(refused).toBeInstanceOf(StepFunctionsError);
    expect(refused).toMatchObject({ code: 'ValidationException' });
  });

  // "A hard quota of 25,000 entries in the execution event history. … If the event number 25,000 is
  // ExecutionSucceeded, the execution finishes successfully. If [it] isn't ExecutionSucceeded, the
  // ExecutionFailed event is logged and the state machine execution fails" (best practices). The real limit,
  // not a lowered one: a Pass/Choice loop reaches it in well under a second.
  it('a loop that would write more than 25,000 history events fails; one that ends on event 25,000 succeeds', async () => {
    const local = machine({
      StartAt: 'Count',
      States: {
        Count: { Type: 'Pass', Parameters: { 'n.$': 'States.MathAdd($.n, 1)', 'stop.$': '$.stop' }, Next: 'Enough?' },
        'Enough?': { Type: 'Choice', Choices: [{ Variable: '$.n', NumericEqualsPath: '$.stop', Next: 'Done' }], Default: 'Count' },
        Done: { Type: 'Succeed' },
      },
    });
    // ExecutionStarted, 4 events a loop (Pass and Choice, entered and exited), Succeed entered and exited,
    // ExecutionSucceeded: 4n + 4 events.
    const loopsFor = (events: number) => (events - 4) / 4;
    expect(await run(local, { n: 0, stop: loopsFor(STATES_HISTORY_EVENTS) })).toMatchObject({ status: 'SUCCEEDED' });
    const failed = await run(local, { n: 0, stop: loopsFor(STATES_HISTORY_EVENTS) + 1 });
    expect(failed).toMatchObject({ status: 'FAILED', error: 'States.Runtime' });
    expect(failed.cause).toMatch(/maximum number of history events \(25000\)/);
  });
});

describe('Lambda', () => {
  // "For synchronous invocations, the maximum payload size is 6 MB" (Invoke API); a larger request is
  // refused by the service with 413 RequestEntityTooLargeException, before the function runs.
  it('a request of more than 6 MB is refused before any code runs; exactly 6 MB is accepted', async () => {
    const host = tinyHost();
    const refused = await invocationError(host.invoke({ blob: 'x'.repeat(7 * 1024 * 1024) }));
    expect(refused).toMatchObject({ name: 'Lambda.AWSLambdaException', statusCode: 413 });
    expect(refused.message).toMatch(/Request must be smaller than 6291456 bytes for the InvokeFunction operation/);

    const exactly = 'x'.repeat(LAMBDA_SYNC_PAYLOAD_BYTES - 2); // with its quotes, a JSON string of exactly 6 MB
    expect(((await host.invoke(exactly as unknown as object)) as TinyAnswer).invocations).toBe(1); // the refused one never ran
  });

  // The same 6 MB quota on the response: Lambda drops the result and reports the function error
  // Function.ResponseSizeTooLarge ("Response payload size exceeded maximum allowed payload size").
  it('a response of more than 6 MB fails with Function.ResponseSizeTooLarge; exactly 6 MB is returned', async () => {
    const host = tinyHost();
    const failed = await invocationError(host.invoke({ answerBytes: 7 * 1024 * 1024 }));
    expect(failed).toMatchObject({ name: 'Function.ResponseSizeTooLarge', statusCode: 200 });
    expect(failed.message).toMatch(/exceeded maximum allowed payload size \(6291456 bytes\)/);

    const answer = await host.invoke({ answerBytes: LAMBDA_SYNC_PAYLOAD_BYTES });
    expect(JSON.stringify(answer)).toHaveLength(LAMBDA_SYNC_PAYLOAD_BYTES);
  });

  // "When the specified timeout is reached, Lambda terminates the execution environment" and Step
  // Functions reports Sandbox.Timedout; the next invocation starts a new environment (a cold start). Other
  // environments of the function are untouched.
  it('a function sleeping past its timeout yields Sandbox.Timedout, ends its environment, and the next call works', async () => {
    const host = tinyHost({ timeoutMs: 1_000, maxEnvironments: 2 });
    const sleeper = invocationError(host.invoke({ sleepMs: 3_600_000 }));
    // While the sleeper holds one environment, another call gets an environment of its own.
    const beside = (await host.invoke({})) as TinyAnswer;
    expect(beside.invocations).toBe(1);

    const timedOut = await sleeper;
    expect(timedOut).toMatchObject({ name: 'Sandbox.Timedout', message: 'Task timed out after 1.00 seconds', statusCode: 200 });
    // The warm environment beside it carries on; the timed-out one is gone.
    expect(await host.invoke({})).toMatchObject({ environmentId: beside.environmentId, invocations: 2 });

    const single = tinyHost({ timeoutMs: 1_000, maxEnvironments: 1 });
    const before = (await single.invoke({})) as TinyAnswer;
    await invocationError(single.invoke({ sleepMs: 3_600_000 }));
    const after = (await single.invoke({})) as TinyAnswer;
    expect(after.environmentId).not.toBe(before.environmentId);
    expect(after.invocations).toBe(1); // a cold start: module scope ran again
  });
});
