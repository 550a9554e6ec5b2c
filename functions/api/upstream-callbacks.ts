/**
 * The upstream's callbacks: Luma POSTs a generation to the task's marker URL on each change. They are
 * unsigned, and others who share the upstream account can read the URL in its list, so a callback is a
 * hint and never a source of truth: it is accepted only with the task's exact token, nothing in its body
 * is believed, and what it does is read the truth with a GET (services/upstream-reads.ts). Then:
 * - the generation ended (completed, failed, failed on the upstream's side): the workflow's wait is ended
 *   at once with what the read recorded, so the copy starts within a second of the upstream finishing;
 * - it runs on: the held wait is left as it is. The read counts as the task's last (a callback's read is as
 *   good as a poll), so the turn that ends the wait finds no read due yet and waits on to the one that is:
 *   a turn either way, but one the workflow's schedule bounds, where moving the wait from here cost a turn
 *   for every callback, which whoever sees the URL can send.
 * A callback that finds no wait held (the workflow is mid-turn) needs none: the turn's hold is conditional
 * on the task as it read it, so the turn sees what this read recorded.
 *
 * A callback is answered 503 while the task is being submitted, and while its last change is still being
 * published by the function that made it, so that changes are published once and in order. Luma calls
 * back 3 times, 100 ms apart: past that the callback is lost, and the workflow's next poll, a fallback
 * interval (60 s) at most away, reads instead. Such a completion misses the lag target of a callback.
 *
 * Reads on a callback come at most one a second (of the gateway's time) per task: whoever can see the URL
 * can make the gateway read the upstream, never without bound. They are not polls: they do not count
 * against the task's ceiling of polls, which a flood of callbacks could otherwise use up.
 */
import { timingSafeEqual } from 'node:crypto';
import { CallbackTooEarlyError, NotFoundError } from '../commons/errors.ts';
import { log } from '../commons/log.ts';
import { gatewayMs } from '../commons/domain/poll-schedule.ts';
import { systemClock } from '../commons/clock.ts';
import { readUpstream, type UpstreamReadDeps } from '../commons/services/upstream-reads.ts';
import { hasUnpublishedChanges, type Task } from '../commons/domain/task.ts';
import type { Workflow, WorkflowTurn } from '../commons/ports/workflow.ts';

export interface CallbackDeps extends UpstreamReadDeps {
  workflow: Pick<Workflow, 'wake'>;
}

/** Real milliseconds a change's own publication is given before a callback may change the task again. */
const PUBLISHING_GRACE_MS = 5_000;
/** The least time between a read and a read on a callback, in gateway milliseconds. */
const MIN_READ_GAP_MS = 1_000;

export async function acceptUpstreamCallback(taskId: string, token: string, deps: CallbackDeps): Promise<void> {
  const task = await deps.tasks.get(taskId);
  const marker = task?.upstreamMarker;
  const expected = marker?.slice(marker.lastIndexOf('/') + 1);
  // One answer for an unknown task, a task without a marker and a wrong token: the path reveals nothing.
  if (!expected || !sameToken(expected, token)) throw new NotFoundError('No such callback.');
  const acted = await wakeOnCallback(task!, deps);
  log({ msg: 'upstream callback', taskId, status: task!.status, acted });
}

/** What the callback led to: a read and a wake, a read alone, or nothing (see the module's comment). */
async function wakeOnCallback(task: Task, deps: CallbackDeps): Promise<string> {
  const now = (deps.clock ?? systemClock)();
  // Created upstream, not yet recorded (a submit, or a resubmit, is writing it): the upstream's next try will find it.
  if (task.status === 'accepted' && task.submitLeaseUntil && Date.parse(task.submitLeaseUntil) > now.getTime()) {
    throw new CallbackTooEarlyError('The task is being submitted: call back again.');
  }
  // Its last change is being published by the function that made it: a change made now would be published
  // with it, by two functions at once (twice, or out of order). Not after a publication that failed: the
  // reconciler publishes that, and the callbacks must not wait for it.
  const last = task.history.at(-1)?.at;
  if (hasUnpublishedChanges(task) && last && now.getTime() - Date.parse(last) < PUBLISHING_GRACE_MS) {
    throw new CallbackTooEarlyError("The task's last change is being published: call back again.");
  }
  if ((task.status !== 'submitted' && task.status !== 'dreaming') || !task.upstreamId) return `nothing to read (${task.status})`;
  // The read is claimed on the task before it is made: of callbacks that come at once (whoever can see
  // the URL can send many), one reads and the others find the read just made.
  const { timeScale } = deps.polling;
  const isDue = (current: Task) =>
    (current.status === 'submitted' || current.status === 'dreaming') &&
    current.upstreamId === task.upstreamId &&
    (!current.upstreamReadAt || gatewayMs(now, timeScale) - gatewayMs(current.upstreamReadAt, timeScale) >= MIN_READ_GAP_MS);
  const claimed = await deps.tasks.claimUpstreamRead(task.id, now, isDue);
  if (!claimed) return 'no read: read a moment ago';

  const outcome = await readUpstream(claimed, deps, { poll: false, claimed: true });
  // The generation runs on: the held wait stays (see the module's comment).
  if (outcome.next === 'wait') return 'read (wait), wait kept';
  const latest = (await deps.tasks.get(task.id))!;
  if (!latest.wait) return `read (${outcome.next}), no wait held`;
  // A resubmit is the next turn's: a wait of a second, then it submits (the task is `accepted` again).
  const turn: WorkflowTurn = { taskId: task.id, next: outcome.next === 'resubmit' ? 'wait' : outcome.next, waitSeconds: 1 };
  // False: that wait is over already; the run's next turn reads what this read recorded.
  const woken = await deps.workflow.wake(latest.wait.token, turn);
  return `read (${outcome.next}), ${woken ? `woke the workflow: ${turn.next}` : 'its wait was over already'}`;
}

function sameToken(expected: string, given: string): boolean {
  const a = Buffer.from(expected);
  const b = Buffer.from(given);
  return a.length === b.length && timingSafeEqual(a, b);
}
