/**
 * Submitting an admitted task upstream, shared by the API (the first try, while the client waits, when its
 * task is admitted at once) and the poll step (later tries: the task was admitted from the queue, the
 * first try met a transient error, or the upstream failed the generation on its side). Keyframe links
 * are presigned here, at submit time, so a task that waited for its turn still hands the upstream a
 * fresh link.
 */
import { createHash } from 'node:crypto';
import type { UpstreamClaims } from '../ports/upstream-claims.ts';
import { awaitsAdmission, type Task } from '../domain/task.ts';
import { adoptionSearchSince, mayDuplicate } from '../domain/submit-attempt.ts';
import { TransientUpstreamError, UpstreamRejectedError } from '../errors.ts';
import { log } from '../log.ts';
import { recordMetric } from '../observability/metrics.ts';
import { systemClock, type Clock } from '../clock.ts';
import type { TaskStore } from '../ports/task-store.ts';
import type { MediaStore, ObjectTags } from '../ports/media-store.ts';
import type { UpstreamGeneration, VideoProvider } from '../ports/video-provider.ts';
import type { UpstreamCapacity } from '../ports/upstream-capacity.ts';

export interface SubmitDeps {
  tasks: TaskStore;
  media: MediaStore;
  provider: VideoProvider;
  capacity: Pick<UpstreamCapacity, 'countCreate'>;
  upstreamClaims: UpstreamClaims;
  keyframeUrlExpirySeconds: number;
  clock?: Clock;
}

/** Longer than any submit can take: the API's whole invocation is capped at 29 s. */
export const SUBMIT_LEASE_MS = 60_000;

/** Why an admitted task was not submitted now, and when it is worth asking again. */
export type SubmitWait =
  /** Not admitted: the task is still in its owner's queue (the dispatcher admits it). */
  | { reason: 'queued' }
  /** Another submitter (the API, another run) is at it right now. */
  | { reason: 'busy' }
  /** The upstream's creates a minute are used up: the task keeps its slot until the window ends. */
  | { reason: 'rate'; retryAfterSeconds: number };

export type SubmitOutcome = { submitted: true; task: Task } | { submitted: false; wait: SubmitWait };

/**
 * Submits the task if it is admitted (it holds an upstream slot) and the upstream's create rate allows.
 * After an ambiguous earlier attempt it first adopts the generation that attempt created, found by the
 * task's marker alone. A permanent refusal is recorded as a failure (which gives the slot back) before it
 * is rethrown; a transient error is rethrown with the task left `accepted` and admitted, keeping its
 * slot, for the caller's retry policy, remembering whether the attempt may have created something.
 */
export async function submitTask(task: Task, deps: SubmitDeps): Promise<SubmitOutcome> {
  if (task.status !== 'accepted') return { submitted: false, wait: { reason: 'busy' } };
  if (awaitsAdmission(task)) return { submitted: false, wait: { reason: 'queued' } };
  const window = await deps.capacity.countCreate();
  if (!window.allowed) return { submitted: false, wait: { reason: 'rate', retryAfterSeconds: window.secondsLeft } };
  const claim = await deps.tasks.claimSubmit(task.id, (deps.clock ?? systemClock)(), SUBMIT_LEASE_MS);
  if (!claim.claimed) return { submitted: false, wait: { reason: 'busy' } };
  const attempt = claim.task;
  let upstreamId: string;
  try {
    upstreamId = (await adoptEarlierGeneration(attempt, deps)) ?? (await submitNewGeneration(attempt, deps));
  } catch (error) {
    if (error instanceof UpstreamRejectedError) {
      // The failed transition gives the slot back.
      await deps.tasks.transition(task.id, { to: 'failed', failure: { code: error.failureCode, reason: error.message } });
    } else {
      // The slot stays with the task: another task would meet the same upstream trouble.
      const outcome = error instanceof TransientUpstreamError && error.ambiguous ? 'ambiguous' : 'clear';
      await deps.tasks.releaseSubmit(task.id, attempt.submitAttemptedAt!, outcome);
    }
    throw error;
  }
  const { task: submitted } = await deps.tasks.transition(task.id, { to: 'submitted', upstreamId });
  return { submitted: true, task: submitted };
}

/**
 * The generation an earlier, ambiguous attempt created, if the upstream lists one carrying this task's
 * marker exactly and no other task holds it. The oldest wins: a copy of the marker made by someone who
 * read it in the shared list can only come after ours.
 */
async function adoptEarlierGeneration(task: Task, deps: SubmitDeps): Promise<string | undefined> {
  const since = adoptionSearchSince(task);
  if (!since) {
    if (mayDuplicate(task)) {
      log({ level: 'warn', msg: 'resubmitting without a marker: the earlier attempt may have created a generation', taskId: task.id, duplicateRisk: 1 });
      recordMetric('duplicatesRisked');
    }
    return undefined;
  }
  let candidates: UpstreamGeneration[];
  try {
    candidates = await deps.provider.findByMarker(task.upstreamMarker!, since);
  } catch (error) {
    // A transient error is retried with the whole attempt. A refused search cannot be resolved by
    // retrying: a possible duplicate is then better than a task that never finishes.
    if (!(error instanceof UpstreamRejectedError)) throw error;
    log({ level: 'warn', msg: 'the upstream refused the search for an earlier attempt; submitting again', taskId: task.id, duplicateRisk: 1 });
    recordMetric('duplicatesRisked');
    return undefined;
  }
  const discarded = new Set(task.discardedUpstreamIds);
  for (const [index, generation] of candidates.entries()) {
    // A generation given up on (failed upstream) carries this task's marker too: never take it back.
    if (discarded.has(generation.id)) continue;
    if (!(await deps.upstreamClaims.claim(deps.provider.name, generation.id, task.id))) continue;
    log({ msg: 'adopted upstream generation', taskId: task.id, upstreamId: generation.id, extraGenerations: candidates.length - index - 1 });
    recordMetric('duplicatesAvoided');
    return generation.id;
  }
  return undefined;
}

async function submitNewGeneration(task: Task, deps: SubmitDeps): Promise<string> {
  const { request } = task;
  const [frame0Url, frame1Url] = await Promise.all([
    request.frame0 && deps.media.keyframeUrl(request.frame0, deps.keyframeUrlExpirySeconds),
    request.frame1 && deps.media.keyframeUrl(request.frame1, deps.keyframeUrlExpirySeconds),
  ]);
  const { id } = await deps.provider.submit({
    prompt: request.prompt,
    model: task.model,
    resolution: request.resolution,
    duration: request.duration,
    aspectRatio: request.aspectRatio,
    loop: request.loop,
    frame0Url,
    frame1Url,
    marker: task.upstreamMarker,
  });
  let ours: boolean;
  try {
    ours = await deps.upstreamClaims.claim(deps.provider.name, id, task.id);
  } catch (error) {
    // The generation exists upstream but is recorded nowhere yet: the next attempt must look for it.
    throw new TransientUpstreamError(`Generation ${id} was created, but recording it failed.`, { cause: error, ambiguous: true });
  }
  if (!ours) {
    // Only an upstream that hands out an id twice gets here; never record another task's generation.
    throw new UpstreamRejectedError(`The upstream answered with generation ${id}, which already belongs to another task.`, {
      status: 502,
      failureCode: 'internal',
    });
  }
  return id;
}

export function objectTags(taskId: string, owner: string, prompt: string): ObjectTags {
  return { taskId, owner, promptSha256: createHash('sha256').update(prompt).digest('hex') };
}
