/**
 * What the gateway's own outgoing HTTP requests (the upstream's API, the downloads of finished videos)
 * share: which answers are worth asking again, and how a request that failed is described in a message.
 */

/**
 * Answers that say "not now" rather than "never": Request Timeout, Conflict (a request that collided with
 * another), Too Early, Too Many Requests, and every 5xx. Anything else is the server's final word.
 */
const TRANSIENT_STATUSES = new Set([408, 409, 425, 429]);

export function isTransientHttpStatus(status: number): boolean {
  return TRANSIENT_STATUSES.has(status) || status >= 500;
}

/**
 * A few words on why a request or a stream failed, safe for a message: "timed out", the system's error
 * code (`ECONNRESET`) or the cause's message. fetch reports a failure to connect as `TypeError: fetch
 * failed` with the real reason as its cause.
 */
export function describeNetworkError(error: unknown): string {
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) return 'timed out';
  const cause = (error as { cause?: { code?: string; message?: string } })?.cause;
  return cause?.code ?? cause?.message ?? (error instanceof Error ? error.message : 'unknown error');
}
