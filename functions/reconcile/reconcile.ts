/**
 * The reconciler: the safety net under the workflow. It finds unfinished tasks whose workflow is gone or
 * never started (a crash between "recorded" and "started", an execution that failed or timed out without
 * recording why) and repairs them — a new run while the deadline allows, a recorded failure otherwise —
 * gives back upstream slots whose holder is finished or gone, and lowers per-key counts of unfinished
 * generations that a crash left too high. Everything it does is idempotent, so two reconcilers at once do
 * no harm.
 */
import type { TaskStore } from '../commons/adapters/task-store.ts';
import type { UpstreamCapacity } from '../commons/adapters/upstream-capacity.ts';
import type { ClientLimits } from '../commons/adapters/client-limits.ts';
import type { Workflow, RunStatus } from '../commons/adapters/workflow.ts';
import { isTerminal, releasesSlot, type Task, type TaskPhase } from '../commons/domain/task.ts';
import type { Failure } from '../commons/domain/failure.ts';
import { log } from '../commons/log.ts';

/** A task's workflow is restarted at most this many times before the task is failed. */
export const MAX_RUNS = 3;

export interface ReconcileDeps {
  tasks: TaskStore;
  capacity: Pick<UpstreamCapacity, 'slots' | 'release'>;
  clientLimits: Pick<ClientLimits, 'repair'>;
  workflow: Workflow;
  /** A task younger than this may be between "recorded" and "started": leave it to the API. */
  graceSeconds: number;
  clock?: () => Date;
}

export interface ReconcileReport {
  checked: number;
  started: number;
  failed: number;
  slotsReleased: number;
  countersRepaired: number;
}

export async function reconcile(deps: ReconcileDeps): Promise<ReconcileReport> {
  const report: ReconcileReport = { checked: 0, started: 0, failed: 0, slotsReleased: 0, countersRepaired: 0 };
  const unfinishedByOwner = new Map<string, number>();
  for (const phase of ['waiting', 'active'] satisfies TaskPhase[]) {
    let cursor: string | undefined;
    do {
      const page = await deps.tasks.listPhase(phase, cursor);
      for (const id of page.ids) {
        const task = await deps.tasks.get(id);
        if (!task || isTerminal(task.status)) continue; // the index lags a little behind the table
        report.checked++;
        const action = await repair(task, deps);
        if (action === 'started') report.started++;
        if (action === 'failed') report.failed++;
        else unfinishedByOwner.set(task.owner, (unfinishedByOwner.get(task.owner) ?? 0) + 1);
      }
      cursor = page.cursor;
    } while (cursor);
  }
  report.slotsReleased = await releaseOrphanSlots(deps);
  report.countersRepaired = await deps.clientLimits.repair(unfinishedByOwner);
  return report;
}

async function repair(task: Task, deps: ReconcileDeps): Promise<'ok' | 'started' | 'failed'> {
  const now = (deps.clock ?? (() => new Date()))().getTime();
  const { run, status } = await latestRun(task.id, deps.workflow);
  if (status === 'RUNNING') return 'ok';
  if (status === undefined && now - Date.parse(task.createdAt) < deps.graceSeconds * 1000) return 'ok';

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

async function releaseOrphanSlots(deps: ReconcileDeps): Promise<number> {
  let released = 0;
  for (const slot of await deps.capacity.slots()) {
    if (!slot.holder) continue;
    const holder = await deps.tasks.get(slot.holder);
    if (holder && !releasesSlot(holder.status)) continue;
    await deps.capacity.release(slot.holder);
    log({ level: 'warn', msg: 'reconciler released slot', slot: slot.index, taskId: slot.holder, status: holder?.status ?? 'missing' });
    released++;
  }
  return released;
}
