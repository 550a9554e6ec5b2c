/**
 * Reading where a generation stands upstream, and recording what changed: the one path by which the
 * workflow's turns (the poll) and the upstream's callbacks (the API) learn the truth. Every read is counted
 * on the task, for the poll schedule (domain/poll-schedule.ts), and the first to see a completion adds the
 * generation's duration to its kind's recent ones, which adaptive polling learns from.
 */
import { classifyUpstreamFailure } from '../domain/failure.ts';
import {
  gatewayMs,
  generationKindKey,
  nextPoll,
  priorSeconds,
  progressOf,
  typicalSeconds,
  type PollContext,
  type PollingSettings,
} from '../domain/poll-schedule.ts';
import { keyframeKinds, submittedAt, type Task } from '../domain/task.ts';
import { TransientUpstreamError, UpstreamRejectedError } from '../errors.ts';
import { log } from '../log.ts';
import { systemClock, type Clock } from '../clock.ts';
import type { GenerationDurations } from '../ports/generation-durations.ts';
import type { TaskStore } from '../ports/task-store.ts';
import type { UpstreamGeneration, VideoProvider } from '../ports/video-provider.ts';

export interface UpstreamReadDeps {
  tasks: TaskStore;
  provider: Pick<VideoProvider, 'get'>;
  durations: GenerationDurations;
  polling: PollingSettings;
  /** How often a generation the upstream failed on its own side is replaced by a new submit. */
  upstreamResubmits: number;
  clock?: Clock;
}

/**
 * What a read found. `wait`: the generation runs on (or the upstream asked us to slow down, for
 * `retryAfterSeconds`); `copy` and `failed` are recorded on the task; `resubmit`: the upstream failed the
 * generation on its own side and the task is back to `accepted`, in its slot, to be submitted again.
 */
export type ReadOutcome = { next: 'wait'; retryAfterSeconds?: number } | { next: 'copy' | 'failed' | 'resubmit' };

/**
 * Reads the task's generation upstream once, and records what changed. `poll`: the read is one of the
 * workflow's own polls, which count against the task's ceiling; a read on a callback does not, and is
 * recorded before it is made (`claimed`, TaskStore.claimUpstreamRead).
 */
export async function readUpstream(task: Task, deps: UpstreamReadDeps, { poll, claimed }: { poll: boolean; claimed?: boolean } = { poll: true }): Promise<ReadOutcome> {
  const now = (deps.clock ?? systemClock)();
  const noteRead = () => (claimed ? undefined : deps.tasks.noteUpstreamRead(task.id, now, poll));
  let generation: UpstreamGeneration;
  try {
    generation = await deps.provider.get(task.upstreamId!);
  } catch (error) {
    if (error instanceof TransientUpstreamError && error.rateLimited) {
      await noteRead(); // a request all the same
      return { next: 'wait', retryAfterSeconds: error.retryAfterSeconds };
    }
    if (!(error instanceof UpstreamRejectedError)) throw error; // transient: retried by the state machine
    await deps.tasks.transition(task.id, { to: 'failed', failure: { code: error.failureCode, reason: error.message } });
    return { next: 'failed' };
  }
  await noteRead();
  switch (generation.state) {
    case 'queued':
      return { next: 'wait' };
    case 'dreaming':
      await deps.tasks.transition(task.id, { to: 'dreaming' });
      return { next: 'wait' };
    case 'failed': {
      const failure = classifyUpstreamFailure(generation.failureReason, keyframeKinds(task.request));
      if (failure.resubmittable && (task.resubmits ?? 0) < deps.upstreamResubmits) {
        // A fault on the upstream's side (which refunds it): submitted again at once, in the slot it holds.
        await deps.tasks.transition(task.id, { to: 'accepted', resubmitOf: task.upstreamId!, reason: failure.reason });
        log({ level: 'warn', msg: 'upstream failed the generation on its side; submitting again', taskId: task.id, upstreamId: task.upstreamId });
        return { next: 'resubmit' };
      }
      const tries = (task.resubmits ?? 0) + 1;
      const reason = failure.resubmittable && tries > 1 ? `${failure.reason} (the upstream failed all ${tries} submits)` : failure.reason;
      await deps.tasks.transition(task.id, { to: 'failed', failure: { code: failure.code, reason } });
      return { next: 'failed' };
    }
    case 'completed': {
      // Some upstreams report completion a moment before the asset link exists: wait for the link.
      if (!generation.videoUrl) return { next: 'wait' };
      const { changed } = await deps.tasks.transition(task.id, {
        to: 'copying',
        assets: { videoUrl: generation.videoUrl, imageUrl: generation.imageUrl },
      });
      if (changed) await recordDuration(task, now, deps);
      return { next: 'copy' };
    }
  }
}

/** The poll schedule's view of the task: callbacks expected or not, and its kind's typical time. */
export async function pollContext(task: Task, deps: Pick<UpstreamReadDeps, 'durations' | 'polling'>): Promise<PollContext> {
  // Only a task that gave the upstream its callback URL (its marker) can be called back.
  const callbacksExpected = deps.polling.callbacks && task.upstreamMarker !== undefined;
  if (callbacksExpected) return { callbacksExpected, typicalSeconds: deps.polling.priorSeconds }; // unused: sparse polling ignores it
  const kind = kindOf(task);
  const prior = priorSeconds(kind, deps.polling.priorSeconds);
  return { callbacksExpected, typicalSeconds: typicalSeconds(await deps.durations.recent(generationKindKey(kind)), prior) };
}

/** When the task's next read is due, on the gateway's clock (undefined before its generation was submitted). */
export async function nextReadOf(task: Task, deps: Pick<UpstreamReadDeps, 'durations' | 'polling'>) {
  const progress = progressOf(task, deps.polling.timeScale);
  if (!progress) return undefined;
  return { progress, next: nextPoll(progress, await pollContext(task, deps), deps.polling.schedule) };
}

async function recordDuration(task: Task, now: Date, deps: UpstreamReadDeps): Promise<void> {
  const submitted = submittedAt(task);
  if (!submitted) return;
  const seconds = (gatewayMs(now, deps.polling.timeScale) - gatewayMs(submitted, deps.polling.timeScale)) / 1000;
  try {
    await deps.durations.record(generationKindKey(kindOf(task)), seconds);
  } catch (error) {
    // Statistics: the task has moved on whatever becomes of them.
    log({ level: 'warn', msg: 'generation duration not recorded', taskId: task.id, error: (error as Error).name });
  }
}

function kindOf(task: Task) {
  return { model: task.model, resolution: task.request.resolution, duration: task.request.duration };
}
