/**
 * The upstream (Luma) API key as the operator stores it in Secrets Manager: the bare key, or JSON
 * `{"apiKey": "…"}`. A deployment that creates the secret stores a placeholder in the JSON form, which the
 * functions recognise: until the operator replaces it, tasks fail with a message saying which secret to
 * set, and the upstream is never called with it.
 */
export const UPSTREAM_KEY_PLACEHOLDER = 'REPLACE_ME';

/** What a new secret holds until the operator puts the key in it: valid JSON, never random text. */
export const UPSTREAM_KEY_PLACEHOLDER_SECRET = JSON.stringify({ apiKey: UPSTREAM_KEY_PLACEHOLDER });

/** A secret's name, from its ARN (complete or partial) or as given: what an operator finds it by. */
export function secretNameOf(secretId: string): string {
  const match = /^arn:[^:]+:secretsmanager:[^:]*:[^:]*:secret:(.+)$/.exec(secretId);
  return match ? match[1]! : secretId;
}

/** For the operator, through the task's failure_reason and the API's 502: which secret to set, and how. */
export function upstreamKeyNotSetMessage(secretId: string): string {
  const name = secretNameOf(secretId);
  return (
    `The gateway's upstream API key is not set: the operator must set the Luma API key in secret ${name} ` +
    `(aws secretsmanager put-secret-value --secret-id ${name} --secret-string '{"apiKey":"<key>"}').`
  );
}
