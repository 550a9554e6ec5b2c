/**
 * The AWS limits the local runtime enforces, in one place: each number, how AWS measures it and the error
 * AWS answers with. local/lambda-host.ts and local/step-functions.ts enforce them; the README's Tests
 * section lists them; test/integration/aws-limits.test.ts proves each one. Where AWS's exact wording or
 * threshold is undocumented, the stricter plausible reading is taken and the comment says so.
 */
import { LAMBDA_SYNC_PAYLOAD_BYTES } from '../functions/commons/domain/payload-limits.ts';

/**
 * Lambda, synchronous invocation (RequestResponse): "For synchronous invocations, the maximum payload size is
 * 6 MB" (Invoke API reference), for the request and for the response. Measured as the UTF-8 bytes of the
 * JSON. AWS's request check is 6,291,456 bytes ("Request must be smaller than 6291456 bytes for the
 * InvokeFunction operation"); its response check allows 100 bytes more (6,291,556, "Response payload size
 * exceeded maximum allowed payload size (6291556 bytes)"): the stricter number serves both here. The number
 * itself lives with the API's body limits, which are derived from it (functions/commons/domain/payload-limits.ts).
 */
export { LAMBDA_SYNC_PAYLOAD_BYTES };

/**
 * Step Functions: "The maximum input or output size for a task, state, or execution is 256 KiB of data as a
 * UTF-8 encoded string" (service quotas). Over it: the terminal error States.DataLimitExceeded, which
 * States.ALL does not catch (error handling guide). Treated here as terminal for every Retry and Catch,
 * also one that names it: "terminal" is the documented word, and the stricter reading.
 */
export const STATES_PAYLOAD_BYTES = 256 * 1024;

/**
 * Step Functions, Standard workflows: "a hard quota of 25,000 entries in the execution event history. When an
 * execution reaches 24,999 events, it waits for the next event to happen. If the event number 25,000 is
 * ExecutionSucceeded, the execution finishes successfully. If [it] isn't ExecutionSucceeded, the
 * ExecutionFailed event is logged and the state machine execution fails" (best practices, "Avoid reaching
 * the history quota"). The error name is not documented: States.Runtime here (it bypasses Retry and Catch);
 * the cause is the message AWS users report.
 */
export const STATES_HISTORY_EVENTS = 25_000;

/** The UTF-8 size of a value's JSON, as AWS measures a payload; `undefined` serialises as nothing. */
export function jsonBytes(value: unknown): number {
  const text = JSON.stringify(value);
  return text === undefined ? 0 : Buffer.byteLength(text, 'utf8');
}

/** A Step Functions or Lambda error, named and worded as AWS reports it. */
export interface AwsLimitError {
  error: string;
  cause: string;
}

export const awsLimitErrors = {
  /**
   * The Invoke call itself is refused with HTTP 413, error code RequestEntityTooLargeException. Step
   * Functions, whose Lambda client does not model that code, reports it as Lambda.AWSLambdaException with the
   * service's message.
   */
  lambdaRequestTooLarge: (bytes: number): AwsLimitError => ({
    error: 'Lambda.AWSLambdaException',
    cause:
      `Request must be smaller than ${LAMBDA_SYNC_PAYLOAD_BYTES} bytes for the InvokeFunction operation ` +
      `(Service: AWSLambda; Status Code: 413; Error Code: RequestEntityTooLargeException) [the event has ${bytes} bytes]`,
  }),
  /** The function ran, but Lambda drops its result: a function error (Invoke answers 200, X-Amz-Function-Error). */
  lambdaResponseTooLarge: (bytes: number): AwsLimitError => ({
    error: 'Function.ResponseSizeTooLarge',
    cause: `Response payload size (${bytes} bytes) exceeded maximum allowed payload size (${LAMBDA_SYNC_PAYLOAD_BYTES} bytes).`,
  }),
  /** The function's configured timeout, in real time: the sandbox is shut down (Lambda's own wording). */
  lambdaTimedOut: (timeoutMs: number): AwsLimitError => ({
    error: 'Sandbox.Timedout',
    cause: `Task timed out after ${(timeoutMs / 1000).toFixed(2)} seconds`,
  }),
  /** StartExecution's own length check on `input` (its API reference: "Maximum length of 262144"). */
  executionInputTooLarge: (bytes: number): AwsLimitError => ({
    error: 'ValidationException',
    cause: `1 validation error detected: Value at 'input' failed to satisfy constraint: Member must have length less than or equal to ${STATES_PAYLOAD_BYTES} [the input has ${bytes} bytes]`,
  }),
  statesInputTooLarge: (stateName: string, bytes: number): AwsLimitError => ({
    error: 'States.DataLimitExceeded',
    cause: `The state '${stateName}' has an input of ${bytes} bytes, exceeding the maximum number of bytes service limit (${STATES_PAYLOAD_BYTES}).`,
  }),
  statesOutputTooLarge: (stateName: string, bytes: number): AwsLimitError => ({
    error: 'States.DataLimitExceeded',
    cause: `The state/task '${stateName}' returned a result with a size of ${bytes} bytes, exceeding the maximum number of bytes service limit (${STATES_PAYLOAD_BYTES}).`,
  }),
  statesHistoryFull: (): AwsLimitError => ({
    error: 'States.Runtime',
    cause: `The execution reached the maximum number of history events (${STATES_HISTORY_EVENTS}).`,
  }),
  statesWaitSeconds: (stateName: string, seconds: unknown): AwsLimitError => ({
    error: 'States.Runtime',
    cause: `An error occurred while executing the state '${stateName}'. The SecondsPath parameter does not reference a non-negative integer value: ${JSON.stringify(seconds)}`,
  }),
} as const;
