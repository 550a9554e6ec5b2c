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

/** The failure a task cancelled by its owner records (POST /luma/generations/{id}/cancel). */
export const CANCELLED_BY_OWNER = { code: 'cancelled', reason: 'Cancelled by its owner.' } as const satisfies Failure;

export interface Failure {
  code: FailureCode;
  reason: string;
  /**
   * A fault on the upstream's side that a new submit of the same request may well not meet ("Job failed",
   * "Error dispatching job"; Luma refunds such jobs): the poll step may submit it again while the
   * deployment's `upstreamResubmits` allow. Without resubmits left the failure stands as it is.
   */
  resubmittable?: boolean;
}

/** Luma's own words: "Contains blacklisted words", "Frame moderation failed", "Advanced prompt moderation failed". */
const MODERATION_HINTS = /moderation|blacklist|content (is )?not allowed|prompt (is )?not allowed|unsafe|nsfw|inappropriate/i;
/** Luma refuses prompts naming protected works or brands as "Prompt not allowed", sometimes saying why. */
const INTELLECTUAL_PROPERTY_HINTS = /intellectual property|copyright|trademark|\bIP\b(?! address)/i;
/** The upstream could not read a keyframe: "Failed to read user input frames". */
const INPUT_HINTS = /failed to read user input frames?|could not (read|download|fetch) (the )?(image|frame|keyframe)/i;
/** Faults inside the upstream, which a new submit may not meet: "Job failed", "Error dispatching job". */
const RESUBMITTABLE_HINTS = /^job failed\b|error dispatching job/i;
/**
 * The operator's upstream account, not the request, is at fault: no credits or balance, billing, the plan
 * or subscription, or a model the account may not use. Clients cannot fix these; the operator can.
 */
const ACCOUNT_HINTS =
  /\bcredits?\b|\bbalance\b|billing|payment|subscription|\bplan\b|quota exceeded|model\b.*\b(not (available|allowed|enabled|permitted)|unavailable)|(no|not have) access to (the |this )?model|not (available|allowed|enabled) for (this|your) (account|plan|tier)/i;

/** True when the upstream's words say the operator's account cannot do this (credits, plan, model access). */
export function isAccountProblem(text: string | undefined): boolean {
  return !!text && ACCOUNT_HINTS.test(text);
}

/** How the task's keyframes reached the upstream: client URLs, or links to images the gateway stored. */
export type KeyframeKind = 'url' | 'stored';

/**
 * Upstreams report failures as free text; classify it so clients can tell their own mistakes from faults.
 * `keyframes` are the kinds of the task's keyframes: an unreadable keyframe the gateway stored and
 * presigned itself is the gateway's fault, not the client's.
 */
export function classifyUpstreamFailure(reason: string | undefined, keyframes: readonly KeyframeKind[] = []): Failure {
  const text = reason?.trim() || 'The upstream reported the generation as failed without a reason.';
  if (MODERATION_HINTS.test(text) || INTELLECTUAL_PROPERTY_HINTS.test(text)) return { code: 'moderation', reason: text };
  if (INPUT_HINTS.test(text)) {
    if (keyframes.length > 0 && keyframes.every((kind) => kind === 'stored')) {
      return {
        code: 'internal',
        reason: `${text}: the upstream could not read the gateway's presigned link to the keyframe it stored (check the bucket and the keyframe link expiry).`,
      };
    }
    return { code: 'upstream_rejected', reason: `${text} (check that the keyframe URLs are public images).` };
  }
  if (isAccountProblem(text)) {
    return { code: 'upstream_rejected', reason: `${text} (the gateway's upstream account cannot run this; the operator must check its plan, credits and models).` };
  }
  if (RESUBMITTABLE_HINTS.test(text)) return { code: 'upstream_failed', reason: text, resubmittable: true };
  return { code: 'upstream_failed', reason: text };
}
