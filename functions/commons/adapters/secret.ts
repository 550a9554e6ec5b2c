import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { ConfigurationError } from '../errors.ts';
import { registerSecret } from '../log.ts';

/**
 * Reads a secret once per container and keeps it in memory only: never in an environment variable,
 * never logged. The secret may hold the bare key or JSON `{"apiKey": "…"}`.
 */
export function cachedSecret(client: SecretsManagerClient, secretId: string): () => Promise<string> {
  let value: Promise<string> | undefined;
  return () => {
    value ??= client.send(new GetSecretValueCommand({ SecretId: secretId })).then(
      (result) => {
        const key = extractKey(result.SecretString);
        registerSecret(key);
        return key;
      },
      (error) => {
        value = undefined; // a throttled or failed read must not poison the container
        throw error;
      },
    );
    return value;
  };
}

function extractKey(secret: string | undefined): string {
  const text = secret?.trim();
  if (!text) throw new ConfigurationError('The upstream API key secret is empty.');
  if (text.startsWith('{')) {
    const parsed = JSON.parse(text) as { apiKey?: unknown };
    if (typeof parsed.apiKey !== 'string' || !parsed.apiKey) {
      throw new ConfigurationError('The upstream API key secret is JSON without an "apiKey" string.');
    }
    return parsed.apiKey;
  }
  return text;
}
