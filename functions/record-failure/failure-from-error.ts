/**
 * Turns what a state machine's Catch hands over — `{Error, Cause}`, where Cause is the failed Lambda's
 * `{"errorType","errorMessage"}` — into a failure a user can act on. Only our own named errors have
 * messages written for users, and the error catalogue says what each one records; anything else is
 * reported by name, with its details left in the logs.
 */
import type { Failure } from '../commons/domain/failure.ts';
import { catalogueEntry } from '../commons/errors.ts';

export interface CaughtError {
  Error?: string;
  Cause?: string;
}

function messageOf(cause: string | undefined): string | undefined {
  if (!cause) return undefined;
  try {
    const parsed = JSON.parse(cause) as { errorMessage?: unknown };
    return typeof parsed.errorMessage === 'string' ? parsed.errorMessage : undefined;
  } catch {
    return undefined;
  }
}

export function failureFromError(caught: CaughtError | undefined): Failure {
  const name = caught?.Error ?? 'unknown';
  const failure = catalogueEntry(name)?.failure;
  if (failure) return failure(messageOf(caught?.Cause));
  if (name === 'States.Timeout') {
    return { code: 'deadline_exceeded', reason: 'The workflow ran past its time limit before the generation finished.' };
  }
  return {
    code: 'internal',
    reason: `The gateway failed while processing the task (${name.slice(0, 100)}). The operator can find details in the workflow's execution history.`,
  };
}
