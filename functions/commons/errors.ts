/**
 * The gateway's named errors, in one catalogue. An entry says what each edge needs: the HTTP status and
 * code the API answers with, the workflow steps whose Retry matches it, and the failure a task records
 * when the workflow gives up on it (record-failure). The classes stay, one per entry, because `instanceof`
 * and the class name are the contract (Lambda reports `errorType` = the error's `name`, which the state
 * machine's Retry/Catch match); what they carry is read from here, so a code or a retry cannot drift.
 *
 * Messages of these errors are written for users; anything else is reported as an internal fault without
 * its message, so stack traces and SDK details never reach a client.
 */
import type { Failure, FailureCode } from './domain/failure.ts';
import { TransitionRefusedError } from './domain/task.ts';

/** The workflow's Lambda steps that retry errors of their own, by state name (infra/constructs/workflow.ts). */
export type RetryingStep = 'Poll' | 'Copy';

interface CatalogueEntry {
  status: number;
  code: string;
  /** The steps whose Retry matches it: transient there. Unset: permanent, straight to Record failure. */
  retriedBy?: readonly RetryingStep[];
  /** The failure a task records when the workflow gives up on it, from its message; unset: an internal fault, by name. */
  failure?: (message: string | undefined) => Failure;
}

const downloadFailed = (message: string | undefined): Failure => ({
  code: 'download_failed',
  reason: `The finished video could not be stored${message ? `: ${message}` : '.'}`,
});

/**
 * Every named error. The order is the order of the retry lists: a step's own transient error first, the
 * AWS services' last.
 */
export const ERROR_CATALOGUE = {
  BadRequestError: { status: 400, code: 'invalid_request' },
  UnauthorizedError: { status: 401, code: 'unauthorized' },
  NotFoundError: { status: 404, code: 'not_found' },
  MethodNotAllowedError: { status: 405, code: 'method_not_allowed' },
  /** The same Idempotency-Key is still being served for an identical request: the client may retry shortly. */
  IdempotencyInProgressError: { status: 409, code: 'idempotency_in_progress' },
  /** A retry of a webhook delivery whose run is still under way (or not begun): it would only race it. */
  DeliveryInProgressError: { status: 409, code: 'delivery_in_progress' },
  /** A cancel of a task that already ended (completed, failed or cancelled): there is nothing left to stop. */
  AlreadyFinishedError: { status: 409, code: 'already_finished' },
  /** A delete of a task that has not ended: cancel it first, or wait for it. */
  NotFinishedError: { status: 409, code: 'not_finished' },
  /** The same Idempotency-Key came with a different body: a client bug we must not paper over. */
  IdempotencyKeyReusedError: { status: 422, code: 'idempotency_key_reused' },
  /** A per-key limit was reached: nothing was created; the client may try again after `retryAfterSeconds`. */
  TooManyRequestsError: { status: 429, code: 'rate_limited' },
  PayloadTooLargeError: { status: 413, code: 'payload_too_large' },
  UnsupportedMediaTypeError: { status: 415, code: 'unsupported_media_type' },
  /**
   * The upstream refused the request for good: retrying cannot help. Each error carries its own status
   * (the upstream's 4xx when the request was at fault, 502 when the gateway's key was refused) and its
   * failure code as its code; these are the usual ones.
   */
  UpstreamRejectedError: { status: 502, code: 'upstream_rejected' },
  /** The upstream did not answer well this time (timeout, connection error, 408/409/425/429/5xx): try again later. */
  TransientUpstreamError: {
    status: 503,
    code: 'upstream_unavailable',
    retriedBy: ['Poll'],
    failure: (message) => ({
      code: 'upstream_unavailable',
      reason: `The upstream kept failing after several retries${message ? ` (last: ${message})` : ''}. Try again later.`,
    }),
  },
  /** The finished video could not be fetched this time; the workflow retries the copy from scratch. */
  TransientDownloadError: { status: 502, code: 'download_failed', retriedBy: ['Copy'], failure: downloadFailed },
  /** The finished video can never be copied as it is (not an MP4, too large, refused URL). */
  DownloadFailedError: { status: 502, code: 'download_failed', failure: downloadFailed },
  /**
   * The gateway will not fetch this URL (a scheme other than https, a host not in ASSET_HOST_ALLOWLIST, an
   * address that is not public unicast, too many redirects): a policy decision, never retried. The message
   * names the host.
   */
  DownloadRefusedError: {
    status: 502,
    code: 'download_refused',
    failure: (message) => ({ code: 'download_refused', reason: `The finished video was not downloaded: ${message ?? 'the gateway refused its URL.'}` }),
  },
  /**
   * An AWS service the gateway itself uses (DynamoDB, Secrets Manager) throttled it or failed on its side,
   * and the SDK's own retries are spent: the step is safe to repeat, so the workflow retries it later, and
   * the API answers 503. Raised at the clients' edge (clients/transient-errors.ts), never for a refusal such
   * as a failed condition.
   */
  TransientAwsError: {
    status: 503,
    code: 'service_unavailable',
    retriedBy: ['Poll', 'Copy'],
    failure: (message) => ({
      code: 'internal',
      reason:
        `The gateway's own AWS services kept throttling or failing through every retry${message ? ` (last: ${message})` : ''}. ` +
        "Try again later; the operator can raise the table's or account's limits.",
    }),
  },
  /** A task was asked to move somewhere its lifecycle does not allow; a bug or a race, never user input. */
  InvalidTransitionError: { status: 409, code: 'invalid_transition' },
  /**
   * The upstream called back about a generation the task has not recorded yet (its submit is still being
   * written), or while its last change is being published. Luma tries 3 times, 100 ms apart: a wait longer
   * than that drops the callback, and the workflow's next poll (a fallback interval at most) reads instead.
   */
  CallbackTooEarlyError: { status: 503, code: 'try_again' },
} as const satisfies Record<string, CatalogueEntry>;

export type GatewayErrorName = keyof typeof ERROR_CATALOGUE;

/** The catalogue's entry for an error name (as Lambda reports it), or undefined for any other name. */
export function catalogueEntry(name: string): CatalogueEntry | undefined {
  return Object.hasOwn(ERROR_CATALOGUE, name) ? ERROR_CATALOGUE[name as GatewayErrorName] : undefined;
}

/** The names of our errors that a step's Retry matches, in catalogue order. */
export function errorsRetriedBy(step: RetryingStep): string[] {
  return Object.entries(ERROR_CATALOGUE)
    .filter(([, entry]) => (entry as CatalogueEntry).retriedBy?.includes(step))
    .map(([name]) => name);
}

export abstract class GatewayError extends Error {
  readonly status: number;
  readonly code: string;
  /** True when some workflow step retries it (its catalogue entry's `retriedBy`). */
  readonly retryable: boolean;
  readonly details?: unknown;

  constructor(message: string, options?: { cause?: unknown; details?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    const entry = catalogueEntry(this.name);
    if (!entry) throw new TypeError(`${this.name} is not in the error catalogue (errors.ts).`);
    this.status = entry.status;
    this.code = entry.code;
    this.retryable = (entry.retriedBy?.length ?? 0) > 0;
    this.details = options?.details;
  }
}

export class BadRequestError extends GatewayError {}
export class UnauthorizedError extends GatewayError {}
export class NotFoundError extends GatewayError {}
export class MethodNotAllowedError extends GatewayError {}
export class IdempotencyInProgressError extends GatewayError {}
export class AlreadyFinishedError extends GatewayError {}
export class NotFinishedError extends GatewayError {}
export class IdempotencyKeyReusedError extends GatewayError {}
export class DeliveryInProgressError extends GatewayError {}
export class PayloadTooLargeError extends GatewayError {}
export class UnsupportedMediaTypeError extends GatewayError {}
export class TransientAwsError extends GatewayError {}
export class TransientDownloadError extends GatewayError {}
export class DownloadFailedError extends GatewayError {}
export class DownloadRefusedError extends GatewayError {}
export class InvalidTransitionError extends GatewayError {}
export class CallbackTooEarlyError extends GatewayError {}

export class TooManyRequestsError extends GatewayError {
  readonly retryAfterSeconds: number;

  constructor(message: string, retryAfterSeconds: number) {
    super(message);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

export class UpstreamRejectedError extends GatewayError {
  override readonly status: number;
  override readonly code: string;
  readonly failureCode: FailureCode;

  constructor(message: string, options: { status: number; failureCode: FailureCode; cause?: unknown; details?: unknown }) {
    super(message, options);
    this.status = options.status;
    this.failureCode = options.failureCode;
    this.code = options.failureCode;
  }
}

export class TransientUpstreamError extends GatewayError {
  /** The upstream said "too many requests" (429): back off and ask again, never give up on the task. */
  readonly rateLimited: boolean;
  /** Seconds the upstream asked us to wait (Retry-After), when it said. */
  readonly retryAfterSeconds?: number;
  /**
   * A create that may have reached the upstream with no answer read (a timeout after sending, a cut
   * connection, an unreadable success): it may have created a generation. Any answer the upstream itself
   * sent is clear: nothing was created.
   */
  readonly ambiguous: boolean;

  constructor(message: string, options?: { cause?: unknown; retryAfterSeconds?: number; rateLimited?: boolean; ambiguous?: boolean }) {
    super(message, options);
    this.rateLimited = options?.rateLimited ?? false;
    this.retryAfterSeconds = options?.retryAfterSeconds;
    this.ambiguous = options?.ambiguous ?? false;
  }
}

/** A required setting is missing or malformed: raised at cold start so a bad deploy fails loudly. */
export class ConfigurationError extends Error {
  override readonly name = 'ConfigurationError';
}

/**
 * An error as the edges report it: the domain's own errors, which carry no status, become the named
 * errors the API maps to a status and the workflow matches by name; anything else is left as it is.
 */
export function asGatewayError(error: unknown): unknown {
  if (error instanceof TransitionRefusedError) return new InvalidTransitionError(error.message, { cause: error });
  return error;
}

/**
 * A Lambda handler whose errors leave it as the edges report them (`asGatewayError`): what the state
 * machine's Retry and Catch, Record failure and the logs see is a catalogue name.
 */
export function withGatewayErrors<A extends unknown[], R>(step: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
  return async (...args) => {
    try {
      return await step(...args);
    } catch (error) {
      throw asGatewayError(error);
    }
  };
}
