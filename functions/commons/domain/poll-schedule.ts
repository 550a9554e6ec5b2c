/**
 * When to read the upstream for a running generation, as pure functions of what the task knows.
 *
 * Two regimes:
 * - **Callbacks expected** (the task sent a callback URL and the operator says the upstream calls back):
 *   the upstream tells us the moment a generation changes, so polling is only the fallback for a lost
 *   callback: one read `callbackFallbackSeconds` (60 s) after the last read, whoever made it. A lost
 *   callback costs at most that interval; a 3-minute generation about 4 reads (the callbacks' own reads
 *   included).
 * - **No callbacks**: adaptive polling. The first read comes at `firstPollFraction` of the typical time
 *   for the generation's kind (model, resolution, duration), learned from recent completions with a
 *   configured prior; then short intervals (`minIntervalSeconds`) that grow with how far the generation
 *   runs past its typical time (`lateGrowth` seconds per second late, up to `maxIntervalSeconds`), so a
 *   slow one costs a few more reads, not one every few seconds for half an hour.
 *
 * Either way no task is polled more than `maxPollsPerTask` times: past that, the next turn is at its
 * deadline, which reads once more (no ceiling counts that read: a generation that finished is copied) and
 * otherwise fails it. (A read on a callback counts as the last read, not as a poll.)
 */
import { submittedAt, type Task } from './task.ts';
import { workflowWaitSeconds } from './workflow-wait.ts';

export interface PollScheduleSettings {
  /** While callbacks are expected: the longest a generation goes without a read. Whole seconds. */
  callbackFallbackSeconds: number;
  /** Without callbacks: the shortest interval between reads, from the first read on. */
  minIntervalSeconds: number;
  /** Without callbacks: the longest interval between reads, however late the generation. */
  maxIntervalSeconds: number;
  /** Without callbacks: the first read at this fraction of the typical time (below 1: most finish after it). */
  firstPollFraction: number;
  /** Without callbacks: seconds added to the interval per second the generation runs past its typical time. */
  lateGrowth: number;
  /** No task is polled more often than this (reads on a callback are not polls). */
  maxPollsPerTask: number;
}

/** The schedule's settings, and what else the gateway's configuration tells it. */
export interface PollingSettings {
  schedule: PollScheduleSettings;
  /** The upstream calls back (and a task sent it a callback URL): polling is only the sparse fallback. */
  callbacks: boolean;
  /** The typical seconds of a ray-2 5 s 720p generation before completions are known (priorSeconds). */
  priorSeconds: number;
  /** Gateway seconds per real second: 1 in AWS; the local runtime runs time faster (progressOf). */
  timeScale: number;
}

export const DEFAULT_POLL_SCHEDULE: PollScheduleSettings = {
  callbackFallbackSeconds: 60,
  minIntervalSeconds: 3,
  maxIntervalSeconds: 60,
  firstPollFraction: 0.9,
  lateGrowth: 0.25,
  maxPollsPerTask: 40,
};

/** What the schedule needs to know about a task; times are epoch milliseconds. */
export interface PollProgress {
  /** When the upstream accepted the generation: the generation's clock starts here. */
  submittedAt: number;
  /** The last read of the upstream (a poll, or a read on a callback); none yet: `submittedAt`. */
  lastReadAt?: number;
  /** Polls of the upstream so far, for this task. */
  reads: number;
  /** The task fails at its deadline: the schedule never aims past it. */
  deadline: number;
}

export interface PollContext {
  callbacksExpected: boolean;
  /** The typical seconds from submit to completion for this kind of generation (typicalSeconds). */
  typicalSeconds: number;
}

export type PollReason = 'callback-fallback' | 'first' | 'interval' | 'ceiling' | 'deadline';

export interface NextPoll {
  /** Epoch milliseconds at which the next read is due. */
  at: number;
  /** `ceiling` and `deadline` mean: no read then, the deadline check alone. */
  reason: PollReason;
}

/** When the next read of the upstream is due. */
export function nextPoll(progress: PollProgress, context: PollContext, settings: PollScheduleSettings = DEFAULT_POLL_SCHEDULE): NextPoll {
  if (progress.reads >= settings.maxPollsPerTask) return { at: progress.deadline, reason: 'ceiling' };
  const lastReadAt = progress.lastReadAt ?? progress.submittedAt;
  const planned = context.callbacksExpected
    ? { at: lastReadAt + settings.callbackFallbackSeconds * 1000, reason: 'callback-fallback' as const }
    : adaptive(progress, lastReadAt, context.typicalSeconds, settings);
  return planned.at >= progress.deadline ? { at: progress.deadline, reason: 'deadline' } : planned;
}

function adaptive(progress: PollProgress, lastReadAt: number, typicalSeconds: number, settings: PollScheduleSettings): NextPoll {
  const minMs = settings.minIntervalSeconds * 1000;
  const firstAt = progress.submittedAt + Math.max(minMs, typicalSeconds * settings.firstPollFraction * 1000);
  // Until the first read that was not a callback's, aim at the typical time (a read on a callback earlier
  // does not move it: the generation is no nearer its end for it).
  if (lastReadAt < firstAt - minMs) return { at: firstAt, reason: 'first' };
  const lateMs = Math.max(0, lastReadAt - (progress.submittedAt + typicalSeconds * 1000));
  const intervalMs = Math.min(settings.maxIntervalSeconds * 1000, minMs + lateMs * settings.lateGrowth);
  return { at: lastReadAt + Math.max(minMs, intervalMs), reason: 'interval' };
}

/**
 * Whether a read is due at `now`, when the wait that was aimed at it has ended: a wait is whole seconds and
 * starts a moment before the function that set it computed it, so it may end a little early (on the local
 * time scale, by the real time the function took, scaled up). A read is due once at least half of the
 * interval since `since` (the last read, or the submit) has passed, and never earlier than a second before.
 */
export function isPollDue(next: NextPoll, now: number, since = -Infinity): boolean {
  if (next.reason === 'ceiling' || next.reason === 'deadline') return false;
  const slack = Math.max(1000, Math.min((next.at - since) / 2, Number.MAX_SAFE_INTEGER));
  return now >= next.at - slack;
}

/**
 * The schedule's view of a task, on the gateway's clock: real instants divided by the time scale (1 in AWS;
 * the local runtime runs time faster, and its waits are scaled back, so the schedule thinks in gateway
 * seconds either way). Undefined before the task's generation was accepted upstream.
 */
export function progressOf(task: Pick<Task, 'history' | 'upstreamReads' | 'upstreamReadAt' | 'deadline'>, timeScale = 1): PollProgress | undefined {
  const submitted = submittedAt(task);
  if (!submitted) return undefined;
  const submittedMs = gatewayMs(submitted, timeScale);
  const readMs = task.upstreamReadAt === undefined ? undefined : gatewayMs(task.upstreamReadAt, timeScale);
  return {
    submittedAt: submittedMs,
    // A read of an earlier generation (before a resubmit) says nothing of this one.
    ...(readMs !== undefined && readMs >= submittedMs && { lastReadAt: readMs }),
    reads: task.upstreamReads ?? 0,
    deadline: gatewayMs(task.deadline, timeScale),
  };
}

/** An instant (ISO string or Date) on the gateway's clock, in milliseconds. */
export function gatewayMs(instant: string | Date, timeScale = 1): number {
  return (typeof instant === 'string' ? Date.parse(instant) : instant.getTime()) / timeScale;
}

/** The workflow's wait until `at`: whole seconds, 1 to 3600 (workflowWaitSeconds). */
export function waitSecondsUntil(at: number, now: number): number {
  return workflowWaitSeconds((at - now) / 1000);
}

// ---------------------------------------------------------------------------
// The typical time of a kind of generation
// ---------------------------------------------------------------------------

/** What a generation is made with, as far as its duration goes. */
export interface GenerationKind {
  model: string;
  resolution?: string;
  duration?: string;
}

/** One key per kind: the recent completions are kept per key. */
export function generationKindKey(kind: GenerationKind): string {
  return `${kind.model}/${kind.resolution ?? '-'}/${kind.duration ?? '-'}`;
}

/**
 * The prior for a kind before any completion is known: `referenceSeconds` is the configured typical time
 * of a ray-2 5 s video at 720p (Luma: "about 1 to 3+ minutes"); the other kinds scale it by rough factors.
 * They only place the first reads of a new deployment: completions replace them within a few generations.
 */
export function priorSeconds(kind: GenerationKind, referenceSeconds: number): number {
  const model = kind.model === 'ray-flash-2' ? 0.4 : 1;
  const resolution = { '540p': 0.75, '720p': 1, '1080p': 1.5, '4k': 3 }[kind.resolution ?? '720p'] ?? 1;
  const duration = kind.duration === '9s' ? 1.8 : 1;
  return referenceSeconds * model * resolution * duration;
}

/** How many recent completions are kept per kind, and how much the prior weighs against them. */
export const RECENT_COMPLETIONS = 20;
export const PRIOR_WEIGHT = 3;

/**
 * The typical seconds from submit to completion: the median of the recent completions with the prior
 * counted as `priorWeight` of them, so that one odd generation does not move it, and a steady run of
 * them does.
 */
export function typicalSeconds(recent: readonly number[], prior: number, priorWeight = PRIOR_WEIGHT): number {
  const samples = [...recent.filter((seconds) => Number.isFinite(seconds) && seconds > 0), ...Array<number>(priorWeight).fill(prior)].sort(
    (a, b) => a - b,
  );
  if (samples.length === 0) return prior;
  const middle = samples.length / 2;
  return Number.isInteger(middle) ? (samples[middle - 1]! + samples[middle]!) / 2 : samples[Math.floor(middle)]!;
}

/** The recent completions with one more, the oldest dropped beyond `keep`. */
export function withCompletion(recent: readonly number[], seconds: number, keep = RECENT_COMPLETIONS): number[] {
  if (!Number.isFinite(seconds) || seconds <= 0) return [...recent];
  return [...recent, Math.round(seconds * 10) / 10].slice(-keep);
}
