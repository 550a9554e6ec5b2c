/**
 * How long the workflow's Wait state may be told to wait. Step Functions requires `SecondsPath` to resolve
 * to a non-negative integer: a fraction (a `Retry-After` of "1.5", or an HTTP date that is 61.2 s away)
 * fails the execution with `States.Runtime`, and a Wait state has no Catch, so the task would never say why.
 */

/** Never 0: a wait of nothing turns the wait → poll loop into a busy loop, paid per state transition. */
export const MIN_WORKFLOW_WAIT_SECONDS = 1;
/**
 * An hour: longer than any deadline a task is likely to have left, so a huge or malformed `Retry-After`
 * only means "look again in an hour", where the poll then enforces the deadline.
 */
export const MAX_WORKFLOW_WAIT_SECONDS = 3600;

/** `seconds` rounded up to a whole number, at least MIN_WORKFLOW_WAIT_SECONDS and at most MAX_WORKFLOW_WAIT_SECONDS. */
export function workflowWaitSeconds(seconds: number): number {
  if (Number.isNaN(seconds)) return MIN_WORKFLOW_WAIT_SECONDS;
  return Math.min(MAX_WORKFLOW_WAIT_SECONDS, Math.max(MIN_WORKFLOW_WAIT_SECONDS, Math.ceil(seconds)));
}
