/**
 * Surfaces an AWS service's throttling and internal faults as one named error, TransientAwsError, once the
 * SDK's own retries are spent: the name the state machine's Retry matches and the API maps to 503. Installed
 * on each client where it is built, outermost in its middleware stack, so it sees only what the SDK's retry
 * middleware gave up on. Every other error (a failed condition, a missing secret, a bad request) passes
 * through unchanged.
 */
import { TransientAwsError } from '../errors.ts';

/** Error names the services use for "slow down" and "our fault, try again" (DynamoDB, Secrets Manager, the SDK). */
const TRANSIENT_NAMES = new Set([
  // Throttling
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'Throttling',
  'ThrottledException',
  'RequestLimitExceeded',
  'RequestThrottled',
  'RequestThrottledException',
  'TooManyRequestsException',
  // Faults on the service's side
  'InternalServerError', // DynamoDB
  'InternalServiceError', // Secrets Manager
  'InternalFailure',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'TransactionConflictException',
  'RequestTimeout',
  'RequestTimeoutException',
  // The SDK's own: a socket timeout
  'TimeoutError',
]);
/** Connection errors Node reports by code, which the SDK retries and then rethrows as they are. */
const TRANSIENT_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN']);

interface SdkErrorShape {
  name?: unknown;
  code?: unknown;
  $retryable?: unknown;
  $metadata?: { httpStatusCode?: unknown };
}

/** The TransientAwsError that stands for `error`, or undefined when `error` is not transient. */
export function transientAwsError(error: unknown, service: string): TransientAwsError | undefined {
  if (!error || typeof error !== 'object' || error instanceof TransientAwsError) return undefined;
  const { name, code, $retryable, $metadata } = error as SdkErrorShape;
  const status = typeof $metadata?.httpStatusCode === 'number' ? $metadata.httpStatusCode : undefined;
  const transient =
    (typeof name === 'string' && TRANSIENT_NAMES.has(name)) ||
    (typeof code === 'string' && TRANSIENT_CODES.has(code)) ||
    Boolean($retryable) ||
    (status !== undefined && status >= 500);
  if (!transient) return undefined;
  const what = typeof name === 'string' && /^[A-Za-z.]{1,100}$/.test(name) ? name : 'a transient error';
  // The service's own message stays in the cause: only the error's name is said, never what it carries.
  return new TransientAwsError(`${service} answered ${what} through every retry; the step will be tried again.`, { cause: error });
}

/** The part of an SDK v3 client this needs: its middleware stack. */
interface SdkClient {
  middlewareStack: {
    add(
      middleware: (next: (args: never) => Promise<unknown>) => (args: never) => Promise<unknown>,
      options: { step: 'initialize'; name: string; priority: 'high' },
    ): void;
  };
}

/** Installs the mapping on `client` (the same client object, returned for use at module scope). */
export function surfaceTransientErrors<C extends SdkClient>(client: C, service: string): C {
  client.middlewareStack.add(
    (next) => async (args) => {
      try {
        return await next(args);
      } catch (error) {
        throw transientAwsError(error, service) ?? error;
      }
    },
    { step: 'initialize', name: 'surfaceTransientErrors', priority: 'high' },
  );
  return client;
}
