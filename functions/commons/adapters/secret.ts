/** The upstream's API key, from Secrets Manager (ports/cached-secret.ts). */
import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { ConfigurationError, UpstreamRejectedError } from '../errors.ts';
import { registerSecret } from '../log.ts';
import { UPSTREAM_KEY_PLACEHOLDER, upstreamKeyNotSetMessage } from '../domain/upstream-key.ts';
import { systemClock, type Clock } from '../clock.ts';
import type { CachedSecret } from '../ports/cached-secret.ts';

/**
 * How long a container keeps the key it read: short enough that `put-secret-value` takes effect within
 * minutes without a deploy, long enough that a busy poll loop reads the secret a few times an hour.
 */
export const SECRET_CACHE_MS = 5 * 60_000;

/**
 * Reads the upstream key secret and keeps it in memory only, for SECRET_CACHE_MS: never in an environment
 * variable, never logged. The secret may hold the bare key or JSON `{"apiKey": "…"}`. A read that fails,
 * a malformed secret and the placeholder are not kept, so the operator's fix is seen by the next call.
 */
export function cachedSecret(
  client: SecretsManagerClient,
  secretId: string,
  { cacheMs = SECRET_CACHE_MS, clock = systemClock }: { cacheMs?: number; clock?: Clock } = {},
): CachedSecret {
  let held: { key: Promise<string>; readAt: number } | undefined;
  const read = () => {
    if (held && clock().getTime() - held.readAt < cacheMs) return held.key;
    const entry = {
      readAt: clock().getTime(),
      key: client.send(new GetSecretValueCommand({ SecretId: secretId })).then((result) => {
        const key = extractKey(result.SecretString, secretId);
        registerSecret(key);
        return key;
      }),
    };
    // A throttled read, a malformed secret or the placeholder must not poison the container.
    entry.key.catch(() => {
      if (held === entry) held = undefined;
    });
    held = entry;
    return entry.key;
  };
  return Object.assign(read, {
    forget: () => {
      held = undefined;
    },
  });
}

function extractKey(secret: string | undefined, secretId: string): string {
  const text = secret?.trim();
  if (!text) throw new ConfigurationError('The upstream API key secret is empty.');
  let key = text;
  if (text.startsWith('{')) {
    const apiKey = (parseJson(text) as { apiKey?: unknown } | null)?.apiKey;
    if (typeof apiKey !== 'string' || !apiKey) {
      throw new ConfigurationError('The upstream API key secret is JSON without an "apiKey" string.');
    }
    key = apiKey;
  }
  if (key.trim() === UPSTREAM_KEY_PLACEHOLDER) {
    // Not the client's to fix, and never worth sending: answered like a refused key (502), naming the secret.
    throw new UpstreamRejectedError(upstreamKeyNotSetMessage(secretId), { status: 502, failureCode: 'upstream_rejected' });
  }
  return key;
}

/**
 * JSON.parse's message quotes the text around the fault (`Unexpected token 'l', "{"apiKey": luma-0123"...`),
 * which would carry part of the key into the Lambda log and the execution history: the error says only
 * what shape is expected, and keeps neither the parser's message nor its error as a cause.
 */
function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new ConfigurationError(
      'The upstream API key secret starts with "{" but is not valid JSON: store the bare key, or {"apiKey": "<key>"}.',
    );
  }
}
