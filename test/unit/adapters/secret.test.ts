import { describe, expect, it } from 'vitest';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SECRET_CACHE_MS, cachedSecret } from '../../../functions/commons/adapters/secret.ts';
import { ConfigurationError, UpstreamRejectedError } from '../../../functions/commons/errors.ts';
import { UPSTREAM_KEY_PLACEHOLDER_SECRET } from '../../../functions/commons/domain/upstream-key.ts';

/** A Secrets Manager client that answers every GetSecretValue with this string. */
const holding = (SecretString: string) => ({ send: async () => ({ SecretString }) }) as unknown as SecretsManagerClient;

/** A secret the operator changes with put-secret-value, counting the reads. */
function changing(initial: string) {
  const secret = {
    value: initial,
    reads: 0,
    client: { send: async () => (secret.reads++, { SecretString: secret.value }) } as unknown as SecretsManagerClient,
  };
  return secret;
}

const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:UpstreamKey3C2B1A9F-Qx7Zk2Wm9Vb4-AbCdEf';

/** Every run of three characters of `secret`: none may appear in what an error says. */
const fragments = (secret: string) => Array.from({ length: secret.length - 2 }, (_, i) => secret.slice(i, i + 3));

/** Everything a thrown error carries into a log line or an execution history: message, stack, causes. */
function everythingSaid(error: unknown): string {
  const parts: string[] = [];
  for (let e = error as Error | undefined, depth = 0; e && depth < 5; e = e.cause as Error | undefined, depth++) {
    parts.push(String(e.message), String(e.stack), JSON.stringify(e));
  }
  return parts.join('\n');
}

describe('cachedSecret', () => {
  it.each([
    ['the bare key', 'luma-Qx7Zk2Wm9Vb4', 'luma-Qx7Zk2Wm9Vb4'],
    ['JSON with an apiKey', ' {"apiKey": "luma-Qx7Zk2Wm9Vb4"} ', 'luma-Qx7Zk2Wm9Vb4'],
  ])('reads %s', async (_, stored, key) => {
    await expect(cachedSecret(holding(stored), 'arn:secret')()).resolves.toBe(key);
  });

  // JSON.parse's own message quotes the text around the fault: `Unexpected token 'l', "{"apiKey": luma-Qx7Z"...`.
  it.each([
    ['an unquoted key', '{"apiKey": luma-Qx7Zk2Wm9Vb4Jt8}', 'luma-Qx7Zk2Wm9Vb4Jt8'],
    ['a missing closing brace', '{"apiKey": "luma-Qx7Zk2Wm9Vb4Jt8"', 'luma-Qx7Zk2Wm9Vb4Jt8'],
    ['a trailing comma', '{"apiKey": "luma-Qx7Zk2Wm9Vb4Jt8",}', 'luma-Qx7Zk2Wm9Vb4Jt8'],
    ['single quotes', "{'apiKey': 'luma-Qx7Zk2Wm9Vb4Jt8'}", 'luma-Qx7Zk2Wm9Vb4Jt8'],
    ['a control character in the key', '{"apiKey": "luma-Qx7Zk2\u0001Wm9Vb4Jt8"}', 'luma-Qx7Zk2Wm9Vb4Jt8'],
  ])('refuses malformed JSON (%s) with a ConfigurationError that quotes nothing of the secret', async (_, stored, key) => {
    const error = await cachedSecret(holding(stored), 'arn:secret')().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as Error).message).toMatch(/not valid JSON.*"apiKey"/);
    const said = everythingSaid(error);
    for (const fragment of fragments(key)) expect(said, fragment).not.toContain(fragment);
  });
});

describe('cachedSecret: a put-secret-value takes effect within minutes', () => {
  it('keeps the key for SECRET_CACHE_MS (5 minutes), then reads the secret again', async () => {
    const secret = changing('luma-old-key-0123456789');
    let now = 0;
    const key = cachedSecret(secret.client, SECRET_ARN, { clock: () => new Date(now) });
    await expect(key()).resolves.toBe('luma-old-key-0123456789');
    secret.value = '{"apiKey": "luma-new-key-0123456789"}';
    now = SECRET_CACHE_MS - 1;
    await expect(key()).resolves.toBe('luma-old-key-0123456789');
    expect(secret.reads).toBe(1);
    now = SECRET_CACHE_MS;
    await expect(key()).resolves.toBe('luma-new-key-0123456789');
    expect(secret.reads).toBe(2);
    expect(SECRET_CACHE_MS).toBe(5 * 60_000);
  });

  it('forget() drops the key at once: the next call reads the secret', async () => {
    const secret = changing('luma-old-key-0123456789');
    const key = cachedSecret(secret.client, SECRET_ARN, { clock: () => new Date(0) });
    await key();
    secret.value = 'luma-new-key-0123456789';
    key.forget();
    await expect(key()).resolves.toBe('luma-new-key-0123456789');
  });

  it('a malformed secret is not kept: the operator’s fix is read by the next call', async () => {
    const secret = changing('{"apiKey": luma-Qx7Zk2Wm9Vb4}');
    const key = cachedSecret(secret.client, SECRET_ARN, { clock: () => new Date(0) });
    await expect(key()).rejects.toBeInstanceOf(ConfigurationError);
    secret.value = '{"apiKey": "luma-Qx7Zk2Wm9Vb4"}';
    await expect(key()).resolves.toBe('luma-Qx7Zk2Wm9Vb4');
  });
});

describe('cachedSecret: the placeholder a new deployment stores', () => {
  it('is JSON, so it never reads as a malformed secret', () => {
    expect(JSON.parse(UPSTREAM_KEY_PLACEHOLDER_SECRET)).toEqual({ apiKey: 'REPLACE_ME' });
  });

  it.each([
    ['the JSON placeholder', UPSTREAM_KEY_PLACEHOLDER_SECRET],
    ['the placeholder as a bare value', 'REPLACE_ME'],
  ])('%s is refused like a refused key (502 upstream_rejected), telling the operator which secret to set', async (_, stored) => {
    const error = await cachedSecret(holding(stored), SECRET_ARN)().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UpstreamRejectedError);
    expect(error).toMatchObject({ status: 502, failureCode: 'upstream_rejected' });
    expect((error as Error).message).toContain('set the Luma API key in secret UpstreamKey3C2B1A9F-Qx7Zk2Wm9Vb4-AbCdEf');
    expect((error as Error).message).not.toContain('123456789012'); // the name, not the account
  });

  it('is read again on every call, so replacing it takes effect at once', async () => {
    const secret = changing(UPSTREAM_KEY_PLACEHOLDER_SECRET);
    const key = cachedSecret(secret.client, SECRET_ARN, { clock: () => new Date(0) });
    await expect(key()).rejects.toBeInstanceOf(UpstreamRejectedError);
    secret.value = '{"apiKey": "luma-Qx7Zk2Wm9Vb4"}';
    await expect(key()).resolves.toBe('luma-Qx7Zk2Wm9Vb4');
  });
});
