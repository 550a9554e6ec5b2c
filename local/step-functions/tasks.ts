/**
 * What a Task state's local handler needs besides the call itself: the errors it throws as Step Functions
 * reports them, the 256 KiB cap on its input and result, and its waits.
 */
import type { StateMachine as LibStateMachine } from 'aws-local-stepfunctions';
import { STATES_PAYLOAD_BYTES, awsLimitErrors, jsonBytes, type AwsLimitError } from '../aws-limits.ts';
import { MAX_TIMER_MS } from '../time-scale.ts';

export type LibJson = Parameters<LibStateMachine['run']>[0];
export type LocalHandler = (input: LibJson) => Promise<LibJson>;

/**
 * A Lambda failure shaped as Step Functions reports it: Error = errorType and Cause = the
 * JSON error payload. aws-local-stepfunctions matches Retry/Catch ErrorEquals against
 * `error.name`, hands `error.message` to a Catch as its Cause, and reports
 * `error.cause ?? error.message` when the execution fails, so `cause` stays unset.
 */
export function lambdaTaskError(error: unknown): Error {
  const errorType = error instanceof Error && error.name ? error.name : 'Error';
  const errorMessage = error instanceof Error ? error.message : String(error);
  const taskError = new Error(JSON.stringify({ errorType, errorMessage }));
  taskError.name = errorType;
  return taskError;
}

/**
 * States.Runtime in AWS bypasses Retry and Catch. The library honours duck-typed
 * `isRetryable`/`isCatchable` flags (`error.isRetryable ?? true`), so we set them.
 */
export function statesRuntimeError(message: string): Error {
  return terminalError({ error: 'States.Runtime', cause: message });
}

/** An error no Retry or Catch handles: States.Runtime, States.DataLimitExceeded. */
function terminalError({ error, cause }: AwsLimitError): Error {
  return Object.assign(new Error(cause), { name: error, isRetryable: false, isCatchable: false });
}

export function assertPayloadSize(value: unknown, tooLarge: (bytes: number) => AwsLimitError): void {
  const bytes = jsonBytes(value);
  if (bytes > STATES_PAYLOAD_BYTES) throw terminalError(tooLarge(bytes));
}

export function toJson(value: unknown): LibJson {
  // Mirrors the serialisation a real invocation goes through (Dates become strings, undefined null).
  const text = JSON.stringify(value);
  return text === undefined ? null : (JSON.parse(text) as LibJson);
}

/** Like AWS, a whole number of seconds or the execution fails; the local time scale applies afterwards. */
export function waitSeconds(seconds: unknown, stateName: string): number {
  if (typeof seconds !== 'number' || !Number.isSafeInteger(seconds) || seconds < 0) {
    throw terminalError(awsLimitErrors.statesWaitSeconds(stateName, seconds));
  }
  return seconds;
}

export function msUntil(timestamp: unknown, stateName: string): number {
  const time = typeof timestamp === 'string' ? Date.parse(timestamp) : Number.NaN;
  if (Number.isNaN(time)) {
    throw statesRuntimeError(`Wait state '${stateName}': timestamp must be an RFC 3339 string, got ${JSON.stringify(timestamp)}`);
  }
  return Math.max(0, time - Date.now());
}

/** Resolves true once `ms` has elapsed, false as soon as `signal` aborts. Handles delays beyond Node's timer limit. */
export function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve(false);
    const deadline = Date.now() + ms;
    let timer: NodeJS.Timeout | undefined;
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const tick = () => {
      const remaining = deadline - Date.now();
      if (remaining > 0) {
        timer = setTimeout(tick, Math.min(remaining, MAX_TIMER_MS));
        return;
      }
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    tick();
  });
}

