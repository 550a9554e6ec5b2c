import type { ErrorBody, FailureCode, Generation } from './types.ts';

/** An answer of the gateway that is not a success: its status and the error body's stable `code`. */
export class LumaVideoApiError extends Error {
  override readonly name = 'LumaVideoApiError';
  readonly status: number;
  /** The body's `error.code` (`invalid_request`, `not_found`, …), or `http_<status>` for an answer without one. */
  readonly code: string;
  readonly details: unknown;
  readonly requestId: string | undefined;
  /** Seconds the gateway asked to wait (`Retry-After`), when it did. */
  readonly retryAfterSeconds: number | undefined;

  constructor(status: number, body: unknown, headers: Headers) {
    const error = (body as Partial<ErrorBody> | undefined)?.error;
    const text = typeof body === 'string' ? body.slice(0, 200) : undefined;
    super(error?.message ?? (text || `The gateway answered HTTP ${status}.`));
    this.status = status;
    this.code = error?.code ?? `http_${status}`;
    this.details = error?.details;
    this.requestId = headers.get('x-request-id') ?? undefined;
    const retryAfter = Number(headers.get('retry-after'));
    this.retryAfterSeconds = headers.has('retry-after') && Number.isFinite(retryAfter) ? retryAfter : undefined;
  }
}

/** A generation that ended `failed`, from `generate()`: its failure code and reason. */
export class GenerationFailedError extends Error {
  override readonly name = 'GenerationFailedError';
  readonly failureCode: FailureCode | null;
  constructor(readonly generation: Generation) {
    super(`Generation ${generation.id} failed (${generation.failure_code ?? 'unknown'}): ${generation.failure_reason ?? 'no reason given'}`);
    this.failureCode = generation.failure_code;
  }
}

/** A downloaded video whose size or SHA-256 is not what the gateway recorded: the file was not kept. */
export class DownloadIntegrityError extends Error {
  override readonly name = 'DownloadIntegrityError';
}
