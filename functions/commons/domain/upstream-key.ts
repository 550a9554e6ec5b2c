/**
 * The upstream (Luma) API key as the operator stores it in Secrets Manager: the bare key, or JSON
 * `{"apiKey": "…"}`. A deployment that creates the secret stores a placeholder in the JSON form, which the
 * functions recognise: until the operator replaces it, tasks fail with a message saying which secret to
 * set, and the upstream is never called with it.
 */
export const UPSTREAM_KEY_PLACEHOLDER = 'REPLACE_ME';

/** What a new secret holds until the operator puts the key in it: valid JSON, never random text. */
export const UPSTREAM_KEY_PLACEHOLDER_SECRET = JSON.stringify({ apiKey: UPSTREAM_KEY_PLACEHOLDER });

/** A Secrets Manager secret's ARN; the name is what follows `secret:` (letters, digits and `/_+=.@-`). */
const SECRET_ARN = /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:([A-Za-z0-9/_+=.@-]+)$/;
/** Secrets Manager ends every secret's complete ARN with `-` and 6 random characters of its own. */
const COMPLETE_ARN_SUFFIX = /-[A-Za-z0-9]{6}$/;

/**
 * Whether an ARN is a secret's complete ARN (with the suffix Secrets Manager adds) or a partial one (the
 * name alone), decided by its shape; undefined when it is no secret ARN. A secret whose own name ends in
 * `-` and six letters or digits reads as complete: give such a secret by its complete ARN.
 */
export function secretArnForm(arn: string): 'complete' | 'partial' | undefined {
  const name = SECRET_ARN.exec(arn)?.[1];
  if (name === undefined) return undefined;
  return COMPLETE_ARN_SUFFIX.test(name) ? 'complete' : 'partial';
}

/** A secret's name, from its ARN (complete or partial) or as given: what an operator finds it by. */
export function secretNameOf(secretId: string): string {
  return SECRET_ARN.exec(secretId)?.[1] ?? secretId;
}

/** For the operator, through the task's failure_reason and the API's 502: which secret to set, and how. */
export function upstreamKeyNotSetMessage(secretId: string): string {
  const name = secretNameOf(secretId);
  return (
    `The gateway's upstream API key is not set: the operator must set the Luma API key in secret ${name} ` +
    `(aws secretsmanager put-secret-value --secret-id ${name} --secret-string '{"apiKey":"<key>"}').`
  );
}
