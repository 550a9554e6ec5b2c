/**
 * One JSON line per event, which CloudWatch Logs Insights can query field by field. Callers pass ids and
 * states, never keys, bodies or presigned URLs; as a second line of defence every line is redacted
 * before it is written: bearer tokens, client keys, webhook secrets, presigned-URL signatures and credentials, and any
 * secret value registered at run time (the upstream key, once read).
 */
export type LogFields = Record<string, unknown>;

const PATTERNS: [RegExp, string][] = [
  [/(bearer\s+)[^\s"',]+/gi, '$1[redacted]'],
  [/\blvg_[A-Za-z0-9_-]{8,}/g, 'lvg_[redacted]'],
  [/\bwhsec_[A-Za-z0-9+/=]{8,}/g, 'whsec_[redacted]'],
  [/(X-Amz-(?:Signature|Credential|Security-Token)=)[^&\s"']+/gi, '$1[redacted]'],
  [/([?&](?:signature|sig|token|key|Policy|Key-Pair-Id)=)[^&\s"']+/gi, '$1[redacted]'],
];
const secrets = new Set<string>();

/** Values that must never appear in a log line, whatever field or message they end up in. */
export function registerSecret(value: string): void {
  if (value.length >= 8) secrets.add(value);
}

export function redact(text: string): string {
  let result = text;
  for (const secret of secrets) result = result.split(secret).join('[redacted]');
  for (const [pattern, replacement] of PATTERNS) result = result.replace(pattern, replacement);
  return result;
}

export function log(fields: LogFields): void {
  console.log(redact(JSON.stringify({ time: new Date().toISOString(), level: 'info', ...fields })));
}
