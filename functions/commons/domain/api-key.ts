import { createHash } from 'node:crypto';

/**
 * Client API keys are random and long, so a plain SHA-256 is a safe way to store them: the table holds
 * only hashes, and looking one up by hash compares no secret bytes in our code.
 */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

const BEARER = /^Bearer[ \t]+([\x21-\x7e]{16,256})[ \t]*$/i;

/** The key from an `Authorization: Bearer <key>` header, or undefined when the header is absent or malformed. */
export function bearerToken(header: string | undefined): string | undefined {
  return header ? BEARER.exec(header)?.[1] : undefined;
}
