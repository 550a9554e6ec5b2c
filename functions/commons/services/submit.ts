/**
 * Submitting a task upstream, shared by the API (the first try, while the client waits) and the poll
 * step (later tries: the task waited for a slot, or the first try met a transient error). Keyframe links
 * are presigned here, at submit time, so a task that waited for its turn still hands the upstream a
 * fresh link.
 */
import { createHash } from 'node:crypto';
import type { TaskStore } from '../adapters/task-store.ts';
import type { MediaStore, ObjectTags } from '../adapters/media-store.ts';
import type { VideoProvider } from '../providers/provider.ts';
import type { UpstreamCapacity } from '../adapters/upstream-capacity.ts';
import type { Admission } from '../domain/capacity.ts';
import type { Task } from '../domain/task.ts';
import { UpstreamRejectedError } from '../errors.ts';

export interface SubmitDeps {
  tasks: TaskStore;
  media: MediaStore;
  provider: VideoProvider;
  capacity: Pick<UpstreamCapacity, 'tryAdmit' | 'release'>;
  keyframeUrlExpirySeconds: number;
  clock?: () => Date;
}

/** Longer than any submit can take: the API's whole invocation is capped at 29 s. */
export const SUBMIT_LEASE_MS = 60_000;

export type SubmitOutcome =
  | { submitted: true; task: Task }
  | { submitted: false; wait: Extract<Admission, { admitted: false }> };

/**
 * Submits the task if its turn has come (a free upstream slot, within the create rate, nobody waiting
 * longer). A permanent refusal is recorded as a failure before it is rethrown; a transient error gives
 * the slot back and is rethrown with the task left `accepted`, for the caller's retry policy.
 */
export async function submitTask(task: Task, deps: SubmitDeps): Promise<SubmitOutcome> {
  const admission = await deps.capacity.tryAdmit(task);
  if (!admission.admitted) return { submitted: false, wait: admission };
  const claim = await deps.tasks.claimSubmit(task.id, (deps.clock ?? (() => new Date()))(), SUBMIT_LEASE_MS);
  // Another submitter (the API, another run) is at it right now: look again later.
  if (!claim.claimed) return { submitted: false, wait: { admitted: false, reason: 'busy', position: 0 } };
  const { request } = task;
  let upstreamId: string;
  try {
    const [frame0Url, frame1Url] = await Promise.all([
      request.frame0 && deps.media.keyframeUrl(request.frame0, deps.keyframeUrlExpirySeconds),
      request.frame1 && deps.media.keyframeUrl(request.frame1, deps.keyframeUrlExpirySeconds),
    ]);
    const providerRequest = {
      prompt: request.prompt,
      model: task.model,
      resolution: request.resolution,
      duration: request.duration,
      aspectRatio: request.aspectRatio,
      loop: request.loop,
      frame0Url,
      frame1Url,
    };
    const earlier = claim.previousAttemptAt && (await deps.provider.findSubmitted(providerRequest, claim.previousAttemptAt));
    ({ id: upstreamId } = earlier || (await deps.provider.submit(providerRequest)));
  } catch (error) {
    if (error instanceof UpstreamRejectedError) {
      // The failed transition gives the slot back.
      await deps.tasks.transition(task.id, { to: 'failed', failure: { code: error.failureCode, reason: error.message } });
    } else {
      await deps.capacity.release(task.id);
      await deps.tasks.releaseSubmit(task.id);
    }
    throw error;
  }
  const { task: submitted } = await deps.tasks.transition(task.id, { to: 'submitted', upstreamId });
  return { submitted: true, task: submitted };
}

export function objectTags(taskId: string, owner: string, prompt: string): ObjectTags {
  return { taskId, owner, promptSha256: createHash('sha256').update(prompt).digest('hex') };
}
