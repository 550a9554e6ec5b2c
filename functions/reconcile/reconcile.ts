/**
 * The reconciler: the safety net under the workflow and the queue. It finds admitted, unfinished tasks
 * whose workflow is gone or never started (a crash between "admitted" and "started", an execution that
 * failed or timed out without recording why) and repairs them — a new run while the deadline allows, a
 * recorded failure otherwise — gives back upstream slots whose holder is finished or gone, dispatches
 * (the wake-up a crash may have lost, and the queue deadlines of owners whose heads wait too long), and
 * repairs owners' queue counters that a crash left behind. Queued tasks need nothing from it but the
 * dispatch: they have no execution. It also publishes the changes whose publication a crash or an outage
 * interrupted (services/publishing.ts): such a task stays on its work list until they are. Everything it
 * does is idempotent, so two reconcilers at once do no harm.
 */
import type { Dispatcher } from '../commons/services/dispatch.ts';
import { awaitsAdmission, hasUnpublishedChanges, isQueued, isTerminal, releasesSlot, type Task, type TaskPhase } from '../commons/domain/task.ts';
import type { ChangePublisher } from '../commons/services/publishing.ts';
import type { Failure } from '../commons/domain/failure.ts';
import { log } from '../commons/log.ts';
import { recordMetric } from '../commons/observability/metrics.ts';
import { systemClock, type Clock } from '../commons/clock.ts';
import type { TaskStore } from '../commons/ports/task-store.ts';
import type { UpstreamCapacity } from '../commons/ports/upstream-capacity.ts';
import type { OwnerQueue } from '../commons/ports/owner-queue.ts';
import type { RunStatus, Workflow } from '../commons/ports/workflow.ts';

/** A task's workflow is restarted at most this many times before the task is failed. */
export const MAX_RUNS = 3;

export interface ReconcileDeps {
  tasks: TaskStore;
  capacity: Pick<UpstreamCapacity, 'slots' | 'giveBack'>;
  queue: Pick<OwnerQueue, 'repair'>;
  dispatcher: Pick<Dispatcher, 'dispatchAndStart' | 'expireHeads'>;
  workflow: Workflow;
  publisher: Pick<ChangePublisher, 'publish'>;
  /**
   * A task admitted less than this long ago may be between "admitted" and "started": leave it to its
   * dispatcher. Also how long a slot may be held by a task not yet marked admitted.
   */
  graceSeconds: number;
  clock?: Clock;
}

export interface ReconcileReport {
  checked: number;
  started: number;
  failed: number;
  slotsReleased: number;
  /** Queued tasks this run's dispatch admitted, and failed at their queue deadline. */
  admitted: number;
  expired: number;
  countersRepaired: number;
  /** Changes published that their own function had left unpublished. */
  republished: number;
  /** Checked tasks left unfinished past their deadline and the grace (see `isOverdue`): the `overdue_tasks` metric. */
  overdue: number;
}

/**
 * `active`: admitted tasks and those past submit. `waiting`: tasks recorded before the queue existed,
 * whose workflows wait for a slot as they did then (none once they are all through). `publishing`:
 * queued or finished tasks whose changes are not all published.
 */
const PHASES: readonly TaskPhase[] = ['active', 'waiting', 'publishing'];

export async function reconcile(deps: ReconcileDeps): Promise<ReconcileReport> {
  const report: ReconcileReport = { checked: 0, started: 0, failed: 0, slotsReleased: 0, admitted: 0, expired: 0, countersRepaired: 0, overdue: 0, republished: 0 };
  const now = (deps.clock ?? (() => new Date()))().getTime();
  for (const phase of PHASES) {
    let cursor: string | undefined;
    do {
      const page = await deps.tasks.listPhase(phase, cursor);
      for (const id of page.ids) {
        const task = await deps.tasks.get(id);
        if (task) report.republished += await republish(task, deps);
        // The index lags a little behind the table; a queued task has no workflow to look after.
        if (!task || isTerminal(task.status) || isQueued(task)) continue;
        report.checked++;
        const action = await repair(task, deps);
        if (action === 'started') report.started++;
        if (action === 'failed') report.failed++;
        if (action === 'ok' && isOverdue(task, now, deps.graceSeconds)) report.overdue++;
      }
      cursor = page.cursor;
    } while (cursor);
  }
  report.slotsReleased = await releaseOrphanSlots(deps);
  report.expired = (await deps.dispatcher.expireHeads()).length;
  report.admitted = (await deps.dispatcher.dispatchAndStart({ waitForLease: true })).admitted.length;
  report.countersRepaired = await deps.queue.repair(async (owner) => (await deps.tasks.queued(owner, 1)).length === 0);
  // Every run, zero included: the alarm on it then tells "none overdue" from "the reconciler stopped".
  recordMetric('overdueTasks', report.overdue);
  return report;
}

/**
 * Still running past its deadline by more than the grace: Poll fails a task at its first turn past the
 * deadline, so this one's workflow is stuck or slow to notice. A copy may start at the deadline and run past
 * it (the state machine's own timeout bounds it, and then this reconciler fails the task): not overdue.
 */
export function isOverdue(task: Task, now: number, graceSeconds: number): boolean {
  return task.status !== 'copying' && now > Date.parse(task.deadline) + graceSeconds * 1000;
}

/**
 * Publishes what the task still owes once its last change is older than the grace: a younger one may still
 * be being published by the function that made it (publishing it here too would only send it twice).
 */
async function republish(task: Task, deps: ReconcileDeps): Promise<number> {
  const now = (deps.clock ?? systemClock)().getTime();
  if (!hasUnpublishedChanges(task) || now - Date.parse(task.updatedAt) < deps.graceSeconds * 1000) return 0;
  try {
    const count = await deps.publisher.publish(task);
    if (count > 0) log({ level: 'warn', msg: 'reconciler published changes left unpublished', taskId: task.id, changes: count });
    return count;
  } catch (error) {
    log({ level: 'warn', msg: 'publishing still fails; tried again at the next run', taskId: task.id, error: (error as Error).name });
    return 0;
  }
}

async function repair(task: Task, deps: ReconcileDeps): Promise<'ok' | 'started' | 'failed'> {
  const now = (deps.clock ?? systemClock)().getTime();
  // A wait its workflow holds, not yet over, shows a live run without asking Step Functions: at scale the
  // reconciler's DescribeExecution calls (a few a second allowed per account) are what runs out first.
  if (waitsNow(task, now, deps.graceSeconds)) return 'ok';
  const { run, status } = await latestRun(task.id, deps.workflow);
  if (status === 'RUNNING') return 'ok';
  // Its run may have ended with the task, between our read of the task and of the run.
  if (status !== undefined) {
    const current = await deps.tasks.get(task.id);
    if (!current || isTerminal(current.status)) return 'ok';
  }
  // Its workflow starts at admission (before the queue existed: at its recording).
  const since = Date.parse(task.admittedAt ?? task.createdAt);
  if (status === undefined && now - since < deps.graceSeconds * 1000) return 'ok';

  const failure = failureFor(task, status, run, now);
  if (failure) {
    await deps.tasks.transition(task.id, { to: 'failed', failure });
    log({ level: 'warn', msg: 'reconciler failed task', taskId: task.id, failureCode: failure.code, run, runStatus: status });
    return 'failed';
  }
  const next = status === undefined ? 1 : run + 1;
  await deps.workflow.start({ taskId: task.id }, next);
  log({ level: 'warn', msg: 'reconciler started workflow', taskId: task.id, run: next, previous: status ?? 'none' });
  return 'started';
}

/** Why a task whose workflow is not running must fail now, or undefined when another run can finish it. */
function failureFor(task: Task, status: RunStatus | undefined, run: number, now: number): Failure | undefined {
  if (now > Date.parse(task.deadline)) {
    return { code: 'deadline_exceeded', reason: `The generation did not finish before its deadline (its workflow ${describe(status)}).` };
  }
  if (status !== undefined && run >= MAX_RUNS) {
    return {
      code: 'internal',
      reason: `The task's workflow ended ${MAX_RUNS} times without finishing it (last: ${describe(status)}). The operator can find details in the execution history.`,
    };
  }
  return undefined;
}

function describe(status: RunStatus | undefined): string {
  return status === undefined ? 'never started' : `ended ${status.toLowerCase()}`;
}

/**
 * Seconds ahead a held wait may end and still be taken as a live run's: the fallback waits of a task called
 * back (a minute) and the polls' intervals are. A longer one (a poll ceiling's wait for the deadline, an
 * hour at most) is checked with Step Functions, so that a run that died holding it is not left for an hour.
 */
export const TRUSTED_WAIT_SECONDS = 10 * 60;

/**
 * The task's workflow holds a wait that ends less than the grace ago, or later but within
 * TRUSTED_WAIT_SECONDS: its run was alive when it wrote it, and a run that died since is found at the next
 * run of the reconciler after that.
 */
function waitsNow(task: Task, now: number, graceSeconds: number): boolean {
  if (!task.wait) return false;
  const until = Date.parse(task.wait.until);
  return until + graceSeconds * 1000 > now && until - now <= TRUSTED_WAIT_SECONDS * 1000;
}

/** The newest run of a task's workflow: runs are numbered, so the first missing number ends the search. */
async function latestRun(taskId: string, workflow: Workflow): Promise<{ run: number; status?: RunStatus }> {
  let latest: { run: number; status?: RunStatus } = { run: 0 };
  for (let run = 1; run <= MAX_RUNS; run++) {
    const status = await workflow.status(taskId, run);
    if (status === undefined) break;
    latest = { run, status };
  }
  return latest;
}

/**
 * A slot taken this long ago is settled: its taker has marked its task admitted, or given the slot back,
 * or died. Before that, a slot held by a task not yet admitted, or a second slot of one task (two
 * dispatchers racing for one head, one of which is about to give its slot back), is work in progress.
 */
const TAKE_SETTLE_MS = 60_000;

/**
 * Gives back the slots that no task will give back: held by a finished task, or — once settled — by a
 * missing task, by a task still not admitted (a dispatcher died between the two), or a second slot of one
 * task (all but one).
 */
async function releaseOrphanSlots(deps: ReconcileDeps): Promise<number> {
  const now = (deps.clock ?? systemClock)().getTime();
  let released = 0;
  const holders = new Set<string>();
  for (const slot of await deps.capacity.slots()) {
    if (!slot.holder) continue;
    const holder = await deps.tasks.get(slot.holder);
    const settled = now - (slot.takenAt ?? 0) > TAKE_SETTLE_MS;
    const second = holders.has(slot.holder) && settled;
    if (settled) holders.add(slot.holder);
    const stale = (!holder || awaitsAdmission(holder)) && settled;
    if (!(holder && releasesSlot(holder.status)) && !second && !stale) continue;
    if (!(await deps.capacity.giveBack(slot.index, slot.holder))) continue;
    const why = !holder ? 'missing' : second ? 'second slot' : stale ? 'never admitted' : holder.status;
    log({ level: 'warn', msg: 'reconciler released slot', slot: slot.index, taskId: slot.holder, status: why });
    released++;
  }
  return released;
}
