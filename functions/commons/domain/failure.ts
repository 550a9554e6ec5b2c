/**
 * The one list of reasons a generation can fail. `code` is a short stable word clients can branch on;
 * `reason` is text a person can act on. Codes are part of the public API: add, never rename.
 */
export const FAILURE_CODES = [
  /** The upstream refused the request (bad parameters, rejected key, unsupported combination). */
  'upstream_rejected',
  /** The upstream's content moderation refused the prompt or a keyframe. */
  'moderation',
  /** The upstream accepted the request but the generation failed there. */
  'upstream_failed',
  /** The upstream did not answer, or kept answering 429/5xx, through every retry. */
  'upstream_unavailable',
  /** The finished video could not be copied into the bucket (unreachable, truncated, not an MP4, too large). */
  'download_failed',
  /**
   * The gateway refused to download the finished video from where the upstream pointed it (not https, a
   * host not in ASSET_HOST_ALLOWLIST, a non-public address, too many redirects); the reason names the host.
   */
  'download_refused',
  /** The generation did not finish before the configured deadline. */
  'deadline_exceeded',
  /** The task was cancelled by its owner. */
  'cancelled',
  /** A fault inside the gateway; the reason names what to look for in the logs. */
  'internal',
] as const;

export type FailureCode = (typeof FAILURE_CODES)[number];

export interface Failure {
  code: FailureCode;
  reason: string;
}

const MODERATION_HINTS = /moderation|blacklist|content (is )?not allowed|unsafe|nsfw|inappropriate/i;
/** The upstream could not read a keyframe the client gave: the client's to fix, not a fault upstream. */
const INPUT_HINTS = /failed to read user input frames?|could not (read|download|fetch) (the )?(image|frame|keyframe)/i;

/** Upstreams report failures as free text; classify it so clients can tell their own mistakes from faults. */
export function classifyUpstreamFailure(reason: string | undefined): Failure {
  const text = reason?.trim() || 'The upstream reported the generation as failed without a reason.';
  if (MODERATION_HINTS.test(text)) return { code: 'moderation', reason: text };
  if (INPUT_HINTS.test(text)) return { code: 'upstream_rejected', reason: `${text} (check that the keyframe URLs are public images).` };
  return { code: 'upstream_failed', reason: text };
}
