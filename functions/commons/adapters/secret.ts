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
    const apiKey = (parseJson(text) as { apiKey?: unknown } | null)?.apiKey;
    if (typeof apiKey !== 'string' || !apiKey) {
      throw new ConfigurationError('The upstream API key secret is JSON without an "apiKey" string.');
    }
    return apiKey;
  }
  return text;
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
