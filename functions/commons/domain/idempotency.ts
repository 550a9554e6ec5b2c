/**
 * `Idempotency-Key` on POST: the same key and body return the original task instead of creating another;
 * the same key with another body is refused. The body is compared by a fingerprint of its canonical JSON,
 * so key order and whitespace do not make two requests different.
 */
import { createHash } from 'node:crypto';

/** Keys are opaque to us: any visible ASCII, as clients generate them (UUIDs, hashes, ULIDs). */
const KEY = /^[\x21-\x7e]{1,255}$/;

export function isValidIdempotencyKey(key: string): boolean {
  return KEY.test(key);
}

export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.keys(value)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${canonicalJson((value as Record<string, unknown>)[key])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

export function requestFingerprint(body: unknown): string {
  return createHash('sha256').update(canonicalJson(body)).digest('hex');
}

/** Records live a day: long enough for any client's retries, short enough to keep the table small. */
export const IDEMPOTENCY_TTL_SECONDS = 24 * 3600;
