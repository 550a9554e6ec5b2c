/**
 * One JSON line per event, written by Powertools' Logger (level, message, timestamp, service, the Lambda
 * context's fields and, while a handler serves a task, the task id as `correlation_id`), which CloudWatch
 * Logs Insights can query field by field. Callers pass ids and states, never keys, bodies or presigned
 * URLs; as a second line of defence every string that reaches a line is redacted as it is serialized:
 * bearer tokens, client keys, webhook secrets, presigned-URL signatures and credentials, and any secret value registered at
 * run time (the upstream key, once read).
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { DEFAULT_SERVICE_NAME } from './observability/names.ts';

/** `msg` is the line's message; `level` (`debug`, `info`, `warn`, `error`) its level, info by default. */
export type LogFields = Record<string, unknown>;

const LEVELS = new Set(['debug', 'info', 'warn', 'error'] as const);
type Level = typeof LEVELS extends Set<infer L> ? L : never;

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

/**
 * The functions' one logger. Its replacer sees every value before it is written, an error's message and
 * stack included (Powertools formats an error into an object, which the serializer then walks), so
 * redaction does not depend on the caller.
 */
export const logger = new Logger({
  serviceName: process.env.POWERTOOLS_SERVICE_NAME || DEFAULT_SERVICE_NAME,
  jsonReplacerFn: (_key, value) => (typeof value === 'string' ? redact(value) : value),
});

/** `log({ msg, level?, ...fields })`: the message, at its level (info by default), with the fields beside it. */
export function log(fields: LogFields): void {
  const { msg, level, ...rest } = fields;
  logger[LEVELS.has(level as Level) ? (level as Level) : 'info'](String(msg ?? ''), rest);
}
