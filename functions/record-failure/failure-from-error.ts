/**
 * Turns what a state machine's Catch hands over — `{Error, Cause}`, where Cause is the failed Lambda's
 * `{"errorType","errorMessage"}` — into a failure a user can act on. Only our own named errors have
 * messages written for users; anything else is reported by name, with its details left in the logs.
 */
import type { Failure } from '../commons/domain/failure.ts';

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
  const message = messageOf(caught?.Cause);
  switch (name) {
    case 'TransientUpstreamError':
      return {
        code: 'upstream_unavailable',
        reason: `The upstream kept failing after several retries${message ? ` (last: ${message})` : ''}. Try again later.`,
      };
    case 'TransientDownloadError':
    case 'DownloadFailedError':
      return {
        code: 'download_failed',
        reason: `The finished video could not be stored${message ? `: ${message}` : '.'}`,
      };
    case 'DownloadRefusedError':
      return {
        code: 'download_refused',
        reason: `The finished video was not downloaded: ${message ?? 'the gateway refused its URL.'}`,
      };
    case 'TransientAwsError':
      return {
        code: 'internal',
        reason:
          `The gateway's own AWS services kept throttling or failing through every retry${message ? ` (last: ${message})` : ''}. ` +
          'Try again later; the operator can raise the table\'s or account\'s limits.',
      };
    case 'States.Timeout':
      return { code: 'deadline_exceeded', reason: 'The workflow ran past its time limit before the generation finished.' };
    default:
      return {
        code: 'internal',
        reason: `The gateway failed while processing the task (${name.slice(0, 100)}). The operator can find details in the workflow's execution history.`,
      };
  }
}
