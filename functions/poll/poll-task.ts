/**
 * One turn of the workflow's wait: the state machine invokes the poll with a task token and waits until
 * the token is reported (SendTaskSuccess) or its wait's timeout comes (States.Timeout, caught back into the
 * same state: `woke`). A turn looks at the task, submits an admitted one, reads the upstream when a read is
 * due (domain/poll-schedule.ts), records what changed, and then either
 * - ends its own wait at once (`wake`) with the next step: copy, completed, failed, or a wait of another
 *   length than the one the state was entered with; or
 * - holds: it stores the token on the task and lets the wait run its course, unless the upstream's
 *   callback ends it first (api/upstream-callbacks.ts).
 * Safe to repeat: every write is a monotonic transition, and a hold is conditional on the task as read.
 */
import { awaitsAdmission, isQueued, isTerminal, type Task } from '../commons/domain/task.ts';
import { gatewayMs, isPollDue, waitSecondsUntil } from '../commons/domain/poll-schedule.ts';
import { workflowWaitSeconds } from '../commons/domain/workflow-wait.ts';
import { TransientUpstreamError, UpstreamRejectedError } from '../commons/errors.ts';
import { submitTask, type SubmitDeps } from '../commons/services/submit.ts';
import { nextReadOf, readUpstream, type UpstreamReadDeps } from '../commons/services/upstream-reads.ts';
import type { Dispatcher } from '../commons/services/dispatch.ts';
import { systemClock } from '../commons/clock.ts';
import type { TaskStore } from '../commons/ports/task-store.ts';
import type { NextStep, Workflow, WorkflowInput, WorkflowTurn } from '../commons/ports/workflow.ts';

export type { NextStep };

/** What the state machine hands a turn. */
export interface PollInput extends WorkflowInput {
  /** The token of the wait this turn ends or holds. */
  taskToken: string;
  /** The length the wait was entered with (its TimeoutSecondsPath): whole seconds. */
  waitSeconds: number;
  /** Present when the previous wait ran out (its Catch): the read it was aimed at is due. */
  woke?: unknown;
}

/** What a turn decided: the turn's result, and whether it keeps the wait it was entered with. */
export interface PollResult extends WorkflowTurn {
  hold: boolean;
}

export interface PollDeps extends SubmitDeps, Omit<UpstreamReadDeps, 'provider'> {
  tasks: TaskStore;
  /** Admits a task recorded before the queue existed, whose workflow was started while it waited. */
  dispatcher: Pick<Dispatcher, 'admitAlone'>;
  workflow: Pick<Workflow, 'wake'>;
}

/** `waitSeconds` unset: the schedule's. */
type Step = { next: NextStep; waitSeconds?: number; hold?: boolean };

const HOLD_ATTEMPTS = 3;
/**
 * Real milliseconds a held wait must have left for the hold to be worth writing. A wait's timeout runs from
 * the moment its state was entered, this turn's own run included: a turn that ends nearer its wait's end
 * than this (or after it: a slow upstream, a 1 s wait) holds nothing and lets the wait run out, so that its
 * token, dead or about to be, never takes the place of the live one the state's next turn will store.
 */
const HOLD_MIN_LEFT_MS = 500;

/**
 * A whole turn: decides, then ends the wait or holds it. A hold is written only if the task is in the status
 * the decision was made on, and has not changed since the turn last read it: a callback that came in
 * between (a resubmit, say) and found no wait to end is then seen by the next look instead of being slept
 * through. A turn that changed the status itself (a submit, a read) looks once more, without a read.
 */
export async function takeTurn(input: PollInput, deps: PollDeps): Promise<PollResult> {
  const clock = deps.clock ?? systemClock;
  // About when the wait's state was entered (it invokes this turn at once): its timeout counts from here.
  const enteredMs = clock().getTime();
  let turn = input;
  for (let attempt = 1; ; attempt++) {
    const result = await pollTask(turn, deps);
    if (!result.hold) {
      const { taskId, next, waitSeconds } = result;
      // False: the wait ran out meanwhile (a slow turn); the run has moved on and its next turn looks afresh.
      await deps.workflow.wake(input.taskToken, { taskId, next, waitSeconds });
      return withoutDecidedOn(result);
    }
    const untilMs = enteredMs + result.waitSeconds * 1000 * deps.polling.timeScale;
    if (untilMs - clock().getTime() < HOLD_MIN_LEFT_MS) return { ...withoutDecidedOn(result), hold: false };
    const latest = await deps.tasks.get(input.taskId);
    if (latest && isWaiting(latest) && latest.status === result.decidedOn) {
      const until = new Date(untilMs).toISOString();
      if (await deps.tasks.holdWait(input.taskId, { token: input.taskToken, until }, latest.version)) return withoutDecidedOn(result);
    }
    if (attempt >= HOLD_ATTEMPTS) throw new TransientUpstreamError(`Task ${input.taskId} kept changing while its workflow tried to wait.`);
    // The task moved on (or changed) since: look again, without reading the upstream a second time.
    turn = { ...input, woke: undefined };
  }
}

/** A turn's decision, and the status of the task it was made on (before the turn's own writes). */
export interface Decision extends PollResult {
  decidedOn: Task['status'];
}

/** The turn's decision, from the task as it is. */
export async function pollTask(input: PollInput, deps: PollDeps): Promise<Decision> {
  const task = await deps.tasks.get(input.taskId);
  if (!task) throw new Error(`Task ${input.taskId} does not exist.`);
  const step = await advance(task, input, deps);
  const decidedOn = task.status;
  if (step.next !== 'wait') return { taskId: task.id, next: step.next, waitSeconds: workflowWaitSeconds(step.waitSeconds ?? 1), hold: false, decidedOn };
  const wanted = step.waitSeconds === undefined ? undefined : workflowWaitSeconds(step.waitSeconds);
  // Within a second of the wait the state was entered with: keep it, rather than pay a turn to change it.
  const hold = step.hold === true || wanted === undefined || Math.abs(wanted - input.waitSeconds) <= 1;
  return { taskId: task.id, next: 'wait', waitSeconds: hold ? input.waitSeconds : wanted, hold, decidedOn };
}

function withoutDecidedOn({ decidedOn: _, ...result }: Decision): PollResult {
  return result;
}

async function advance(task: Task, input: PollInput, deps: PollDeps): Promise<Step> {
  if (isTerminal(task.status)) return { next: task.status as NextStep };
  if (task.status === 'copying') return { next: 'copy' }; // a replayed execution resumes the copy
  const now = (deps.clock ?? systemClock)();
  if (now.getTime() > Date.parse(task.deadline)) return lastLookAtDeadline(task, deps);
  if (task.status !== 'accepted') return followUpstream(task, input, now, deps);
  if (isQueued(task)) return { next: 'wait', hold: true }; // no execution is started for a queued task; should one run, it waits
  // A task recorded before the queue existed has no ticket: its workflow takes a free slot for it.
  if (awaitsAdmission(task) && !(await deps.dispatcher.admitAlone(task))) return { next: 'wait', waitSeconds: deps.polling.schedule.minIntervalSeconds };
  return submitAdmitted(task.id, now, deps);
}

/**
 * Past the deadline: a generation the upstream finished since the last read (after the poll ceiling, say,
 * or between sparse polls) is copied, not failed. One last read, which no ceiling counts; an upstream that
 * cannot answer now does not keep the task from failing.
 */
async function lastLookAtDeadline(task: Task, deps: PollDeps): Promise<Step> {
  if ((task.status === 'submitted' || task.status === 'dreaming') && task.upstreamId) {
    try {
      const outcome = await readUpstream(task, deps, { poll: false });
      if (outcome.next === 'copy' || outcome.next === 'failed') return { next: outcome.next };
    } catch (error) {
      if (!(error instanceof TransientUpstreamError)) throw error;
    }
  }
  return failAtDeadline((await deps.tasks.get(task.id)) ?? task, deps);
}

async function failAtDeadline(task: Task, deps: PollDeps): Promise<Step> {
  const since = task.admittedAt ?? task.createdAt;
  const minutes = Math.round((Date.parse(task.deadline) - Date.parse(since)) / 60_000);
  const where = task.status === 'accepted' ? (task.admittedAt ? 'it was still being submitted' : 'it was still waiting for an upstream slot') : `status was ${task.status}`;
  await deps.tasks.transition(task.id, {
    to: 'failed',
    failure: { code: 'deadline_exceeded', reason: `The generation did not finish within ${minutes} minutes (${where}). Try again later.` },
  });
  return { next: 'failed' };
}

async function submitAdmitted(taskId: string, now: Date, deps: PollDeps): Promise<Step> {
  const task = (await deps.tasks.get(taskId))!;
  try {
    const outcome = await submitTask(task, deps);
    if (outcome.submitted) return scheduled(outcome.task, now, deps);
    return { next: 'wait', waitSeconds: backoff(deps, outcome.wait.reason === 'rate' ? outcome.wait.retryAfterSeconds : undefined) };
  } catch (error) {
    if (error instanceof UpstreamRejectedError) return { next: 'failed' }; // submitTask recorded it
    if (error instanceof TransientUpstreamError && error.rateLimited) {
      return { next: 'wait', waitSeconds: backoff(deps, error.retryAfterSeconds) };
    }
    throw error; // other transient errors: the state machine retries with backoff
  }
}

/**
 * A submitted generation: read it when the wait that ended was aimed at a read that is due; after any
 * other entry (the run's start, a wait another turn or a callback aimed) keep the wait as it was set.
 */
async function followUpstream(task: Task, input: PollInput, now: Date, deps: PollDeps): Promise<Step> {
  const plan = await nextReadOf(task, deps);
  if (input.woke === undefined || !plan) return { next: 'wait', hold: true };
  const nowMs = gatewayMs(now, deps.polling.timeScale);
  if (!isPollDue(plan.next, nowMs, plan.progress.lastReadAt ?? plan.progress.submittedAt)) {
    // Early (a callback's read moved the plan), or past the ceiling: wait on to what is due next.
    return { next: 'wait', waitSeconds: waitSecondsUntil(plan.next.at, nowMs) };
  }
  const outcome = await readUpstream(task, deps);
  if (outcome.next === 'resubmit') return submitAdmitted(task.id, now, deps);
  if (outcome.next !== 'wait') return { next: outcome.next };
  const step = await scheduled((await deps.tasks.get(task.id))!, now, deps);
  return outcome.retryAfterSeconds === undefined ? step : { ...step, waitSeconds: Math.max(step.waitSeconds ?? 0, outcome.retryAfterSeconds) };
}

/** The wait until the schedule's next read. */
async function scheduled(task: Task, now: Date, deps: PollDeps): Promise<Step> {
  const plan = await nextReadOf(task, deps);
  if (!plan) return { next: 'wait', waitSeconds: deps.polling.schedule.minIntervalSeconds };
  return { next: 'wait', waitSeconds: waitSecondsUntil(plan.next.at, gatewayMs(now, deps.polling.timeScale)) };
}

/** A task whose workflow may wait for it: still before copying, and not failed. */
function isWaiting(task: Task): boolean {
  return task.status === 'accepted' || task.status === 'submitted' || task.status === 'dreaming';
}

/** Waits at least the shortest poll interval, longer when the upstream or the rate window asks for it. */
function backoff(deps: PollDeps, retryAfterSeconds: number | undefined): number {
  return Math.max(deps.polling.schedule.minIntervalSeconds, retryAfterSeconds ?? 0);
}
