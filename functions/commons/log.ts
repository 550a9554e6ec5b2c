/**
 * One JSON line per event, which CloudWatch Logs Insights can query field by field. Callers pass ids and
 * states, never keys, request bodies or presigned URLs.
 */
export type LogFields = Record<string, unknown>;

export function log(fields: LogFields): void {
  console.log(JSON.stringify({ time: new Date().toISOString(), level: 'info', ...fields }));
}
