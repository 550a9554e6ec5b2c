/**
 * Our handlers for an execution's Task states (and its Wait states, rewritten as tasks): a Wait sleeps on
 * the time scale, a Lambda task invokes its function, a callback task (`lambda:invoke.waitForTaskToken`)
 * invokes it with a task token and then waits for the token to be reported (callback-wait.ts). Each holds
 * the task's input and result to the 256 KiB limit.
 */
import { awsLimitErrors } from '../aws-limits.ts';
import type { TimeScale } from '../time-scale.ts';
import { CallbackWait, type CallbackTimeouts } from './callback-wait.ts';
import type { CallbackParameters, TaskKind, WaitTask } from './definition.ts';
import type { ExecutionTokens, TaskTokens } from './task-tokens.ts';
import {
  assertPayloadSize,
  lambdaTaskError,
  msUntil,
  sleep,
  statesRuntimeError,
  toJson,
  waitSeconds,
  type LibJson,
  type LocalHandler,
} from './tasks.ts';

export interface TaskRunnerOptions {
  invokeLambda(functionArn: string, payload: unknown): Promise<unknown>;
  scale: TimeScale;
  tokens: TaskTokens;
}

export class TaskRunner {
  constructor(private readonly options: TaskRunnerOptions) {}

  /** The library's `taskResourceLocalHandlers` for one execution, by state name. */
  handlers(tasks: Iterable<TaskKind>, signal: AbortSignal, tokens: ExecutionTokens): Record<string, LocalHandler> {
    const handlers: Record<string, LocalHandler> = {};
    for (const task of tasks) {
      handlers[task.stateName] =
        task.kind === 'lambda-callback'
          ? // The token must be taken in the very turn the library read it into the Parameters (task-tokens.ts).
            (input) => this.runCallback(task.stateName, input, tokens.take(), signal)
          : (input) => this.runTask(task, input, signal);
    }
    return handlers;
  }

  private async runTask(task: TaskKind, input: LibJson, signal: AbortSignal): Promise<LibJson> {
    await this.turn(signal);
    if (task.kind === 'wait') return this.runWait(task, input, signal);
    // What Parameters made is the task's input; what the integration answers is its result: both capped.
    assertPayloadSize(input, (bytes) => awsLimitErrors.statesInputTooLarge(task.stateName, bytes));
    const result =
      task.kind === 'lambda-invoke'
        ? await this.runLambdaInvoke(task.stateName, input)
        : // A plain function ARN is Step Functions' "payload response only" form: the result is the output.
          toJson(await this.callLambda((task as Extract<TaskKind, { kind: 'lambda-arn' }>).functionArn, input));
    assertPayloadSize(result, (bytes) => awsLimitErrors.statesOutputTooLarge(task.stateName, bytes));
    return result;
  }

  /**
   * Events are judged on microtasks: one turn of the event loop lets every event so far be judged, so an
   * execution past a limit never invokes another function. The library re-enters a Retry after an abort
   * (its sleep resolves early), so refuse here.
   */
  private async turn(signal: AbortSignal): Promise<void> {
    await new Promise((resolve) => setImmediate(resolve));
    if (signal.aborted) throw statesRuntimeError('The execution was stopped');
  }

  private async runWait(task: WaitTask, parameters: LibJson, signal: AbortSignal): Promise<LibJson> {
    const { input, seconds, timestamp } = parameters as { input: LibJson; seconds?: unknown; timestamp?: unknown };
    const delayMs = task.scaled
      ? this.options.scale.secondsAsMs(waitSeconds(seconds, task.stateName))
      : msUntil(timestamp, task.stateName);
    if (!(await sleep(delayMs, signal))) throw statesRuntimeError('The execution was stopped');
    return input;
  }

  private async runLambdaInvoke(stateName: string, parameters: LibJson): Promise<LibJson> {
    const result = await this.callLambda(...invokeParameters(stateName, parameters));
    // The Lambda Invoke API response; CDK's default OutputPath/ResultSelector picks `$.Payload`.
    return { ExecutedVersion: '$LATEST', Payload: toJson(result), StatusCode: 200 };
  }

  /**
   * Opens the token before the function runs (it may report during its own invocation, as a function that
   * polls and finds the work done does), then waits. The invocation's result is dropped, as in AWS; its
   * failure fails the task, unless the task has ended already. The task's result is the reported output.
   */
  private async runCallback(stateName: string, wrapped: LibJson, token: string, signal: AbortSignal): Promise<LibJson> {
    const { parameters, timeoutSeconds, heartbeatSeconds } = wrapped as unknown as CallbackParameters;
    let wait: CallbackWait;
    try {
      const timeouts: CallbackTimeouts = {
        timeoutSeconds: positiveSeconds(timeoutSeconds, stateName, 'TimeoutSecondsPath'),
        heartbeatSeconds: positiveSeconds(heartbeatSeconds, stateName, 'HeartbeatSecondsPath'),
      };
      wait = new CallbackWait(this.options.scale, timeouts, signal, () => statesRuntimeError('The execution was stopped'));
    } catch (error) {
      this.options.tokens.retire(token);
      throw error;
    }
    const close = this.options.tokens.open(token, wait);
    try {
      await this.turn(signal);
      assertPayloadSize(parameters, (bytes) => awsLimitErrors.statesInputTooLarge(stateName, bytes));
      const [functionName, payload] = invokeParameters(stateName, parameters as LibJson);
      this.callLambda(functionName, payload).then(
        () => wait.invocationEnded(),
        (error: unknown) => wait.failWith(error as Error),
      );
      const output = toJson(await wait.result);
      assertPayloadSize(output, (bytes) => awsLimitErrors.statesOutputTooLarge(stateName, bytes));
      return output;
    } finally {
      close();
      wait.cancel();
    }
  }

  private async callLambda(functionArn: string, payload: unknown): Promise<unknown> {
    try {
      return await this.options.invokeLambda(functionArn, payload);
    } catch (error) {
      throw lambdaTaskError(error);
    }
  }
}

/** The Lambda Invoke API's parameters as Step Functions passes them on; only synchronous invocations run locally. */
function invokeParameters(stateName: string, parameters: LibJson): [functionName: string, payload: unknown] {
  const { FunctionName, Payload, InvocationType } = (parameters ?? {}) as Record<string, unknown>;
  if (typeof FunctionName !== 'string') {
    throw statesRuntimeError(`Task state '${stateName}': Parameters.FunctionName must be a string`);
  }
  if (InvocationType !== undefined && InvocationType !== 'RequestResponse') {
    throw statesRuntimeError(`Task state '${stateName}': InvocationType ${String(InvocationType)} is unsupported locally`);
  }
  return [FunctionName, Payload ?? {}];
}

/** A TimeoutSecondsPath or HeartbeatSecondsPath must select a positive whole number, or the execution fails. */
function positiveSeconds(value: unknown, stateName: string, field: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw statesRuntimeError(`Task state '${stateName}': ${field} must select a positive integer, got ${JSON.stringify(value)}`);
  }
  return value;
}
