import { describe, expect, it } from 'vitest';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { cachedSecret } from '../../../functions/commons/adapters/secret.ts';
import { ConfigurationError } from '../../../functions/commons/errors.ts';

/** A Secrets Manager client that answers every GetSecretValue with this string. */
const holding = (SecretString: string) => ({ send: async () => ({ SecretString }) }) as unknown as SecretsManagerClient;

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
