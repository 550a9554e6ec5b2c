/**
 * Named errors carry what the edges need to map them: an HTTP status for the API, and an error name that
 * the state machine's Retry/Catch matches on (Lambda reports `errorType` = the error's `name`).
 * Messages of these errors are written for users; anything else is reported as an internal fault without
 * its message, so stack traces and SDK details never reach a client.
 */
import type { FailureCode } from './domain/failure.ts';

export abstract class GatewayError extends Error {
  abstract readonly status: number;
  abstract readonly code: string;
  readonly retryable: boolean = false;
  readonly details?: unknown;

  constructor(message: string, options?: { cause?: unknown; details?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.details = options?.details;
  }
}

export class BadRequestError extends GatewayError {
  readonly status = 400;
  readonly code = 'invalid_request';
}

export class UnauthorizedError extends GatewayError {
  readonly status = 401;
  readonly code = 'unauthorized';
}

export class NotFoundError extends GatewayError {
  readonly status = 404;
  readonly code = 'not_found';
}

export class MethodNotAllowedError extends GatewayError {
  readonly status = 405;
  readonly code = 'method_not_allowed';
}

/** The same Idempotency-Key is still being served for an identical request: the client may retry shortly. */
export class IdempotencyInProgressError extends GatewayError {
  readonly status = 409;
  readonly code = 'idempotency_in_progress';
}

/** The same Idempotency-Key came with a different body: a client bug we must not paper over. */
export class IdempotencyKeyReusedError extends GatewayError {
  readonly status = 422;
  readonly code = 'idempotency_key_reused';
}

/** A per-key limit was reached: nothing was created; the client may try again after `retryAfterSeconds`. */
export class TooManyRequestsError extends GatewayError {
  readonly status = 429;
  readonly code = 'rate_limited';
  readonly retryAfterSeconds: number;

  constructor(message: string, retryAfterSeconds: number) {
    super(message);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

export class PayloadTooLargeError extends GatewayError {
  readonly status = 413;
  readonly code = 'payload_too_large';
}

export class UnsupportedMediaTypeError extends GatewayError {
  readonly status = 415;
  readonly code = 'unsupported_media_type';
}

/**
 * The upstream refused the request for good: retrying cannot help. `status` is what we answer the client:
 * the upstream's own 4xx when the request was at fault, 502 when the gateway's upstream key was refused.
 */
export class UpstreamRejectedError extends GatewayError {
  readonly code: string;
  readonly status: number;
  readonly failureCode: FailureCode;

  constructor(message: string, options: { status: number; failureCode: FailureCode; cause?: unknown; details?: unknown }) {
    super(message, options);
    this.status = options.status;
    this.failureCode = options.failureCode;
    this.code = options.failureCode;
  }
}

/** The upstream did not answer well this time (timeout, connection error, 408/409/429/5xx): try again later. */
export class TransientUpstreamError extends GatewayError {
  readonly status = 503;
  readonly code = 'upstream_unavailable';
  override readonly retryable = true;
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

/**
 * An AWS service the gateway itself uses (DynamoDB, Secrets Manager) throttled it or failed on its side,
 * and the SDK's own retries are spent: the step is safe to repeat, so the workflow retries it later, and
 * the API answers 503. Raised at the clients' edge (clients/transient-errors.ts), never for a refusal such
 * as a failed condition.
 */
export class TransientAwsError extends GatewayError {
  readonly status = 503;
  readonly code = 'service_unavailable';
  override readonly retryable = true;
}

/** The finished video could not be fetched this time; the workflow retries the copy from scratch. */
export class TransientDownloadError extends GatewayError {
  readonly status = 502;
  readonly code = 'download_failed';
  override readonly retryable = true;
}

/** The finished video can never be copied as it is (not an MP4, too large, refused URL). */
export class DownloadFailedError extends GatewayError {
  readonly status = 502;
  readonly code = 'download_failed';
}

/**
 * The gateway will not fetch this URL (a scheme other than https, a host not in ASSET_HOST_ALLOWLIST, an
 * address that is not public unicast, too many redirects): a policy decision, never retried. The message
 * names the host.
 */
export class DownloadRefusedError extends GatewayError {
  readonly status = 502;
  readonly code = 'download_refused';
}

/** A task was asked to move somewhere its lifecycle does not allow; a bug or a race, never user input. */
export class InvalidTransitionError extends GatewayError {
  readonly status = 409;
  readonly code = 'invalid_transition';
}

/** A required setting is missing or malformed: raised at cold start so a bad deploy fails loudly. */
export class ConfigurationError extends Error {
  override readonly name = 'ConfigurationError';
}
