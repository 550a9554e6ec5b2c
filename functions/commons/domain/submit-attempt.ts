/**
 * Submit attempts and when a task may adopt an upstream generation instead of creating one.
 *
 * The upstream account is shared: its list holds every generation any client of the account made. So a
 * task never takes a listed generation for its own because it looks alike. It adopts one only when both
 * hold:
 *   1. an earlier attempt was *ambiguous*: the request may have reached the upstream and no answer was
 *      read (a timeout after sending, a connection cut, a crash mid-call). A clear answer — any status the
 *      upstream itself sent — means nothing was created, and is never followed by a search;
 *   2. the listed generation echoes this task's *marker* exactly: a per-task URL with an unguessable token
 *      (see upstream-marker.ts), sent with every attempt.
 * A task without a marker never adopts: a duplicate paid generation is better than a stranger's video.
 */
import type { Task } from './task.ts';

/** How an attempt ended, as far as anyone can know whether it created something upstream. */
export type AttemptOutcome = 'clear' | 'ambiguous';

/**
 * The task with a new attempt begun, holding the submit lease until `now + leaseMs`; undefined when it
 * cannot be claimed (not waiting any more, or another submitter holds an unexpired lease).
 * An earlier attempt that never recorded its end (its submitter died) counts as ambiguous.
 */
export function beginAttempt(task: Task, now: Date, leaseMs: number): Task | undefined {
  if (task.status !== 'accepted') return undefined;
  if (task.submitLeaseUntil && Date.parse(task.submitLeaseUntil) > now.getTime()) return undefined;
  const unfinished = task.submitAttemptedAt && !task.submitAttemptOutcome ? task.submitAttemptedAt : undefined;
  const ambiguousSince = earliest(task.ambiguousSince, unfinished);
  return {
    ...task,
    submitLeaseUntil: new Date(now.getTime() + leaseMs).toISOString(),
    submitAttemptedAt: now.toISOString(),
    submitAttemptOutcome: undefined,
    ...(ambiguousSince && { ambiguousSince }),
    version: task.version + 1,
  };
}

/**
 * The task after its current attempt ended without a generation of its own: the lease goes back, and an
 * ambiguous end is remembered from the attempt's start. A clear end never erases an earlier ambiguity:
 * the earlier attempt may still have created something, which a later search must be able to find.
 */
export function endAttempt(task: Task, outcome: AttemptOutcome): Task {
  const { submitLeaseUntil: _lease, ...rest } = task;
  const ambiguousSince = outcome === 'ambiguous' ? earliest(task.ambiguousSince, task.submitAttemptedAt) : task.ambiguousSince;
  return {
    ...rest,
    submitAttemptOutcome: outcome,
    ...(ambiguousSince && { ambiguousSince }),
    version: task.version + 1,
  };
}

/**
 * Since when the upstream must be searched for a generation this task may already have, or undefined
 * when no attempt could have created one (or the task has no marker to recognise it by).
 */
export function adoptionSearchSince(task: Task): Date | undefined {
  if (!task.upstreamMarker || !task.ambiguousSince) return undefined;
  return new Date(task.ambiguousSince);
}

/**
 * True when submitting now may duplicate a generation an earlier attempt created, because the task has no
 * marker to find it by: the gateway then submits anyway, and counts it.
 */
export function mayDuplicate(task: Task): boolean {
  return !task.upstreamMarker && Boolean(task.ambiguousSince);
}

function earliest(a: string | undefined, b: string | undefined): string | undefined {
  if (!a) return b;
  if (!b) return a;
  return Date.parse(a) <= Date.parse(b) ? a : b;
}
