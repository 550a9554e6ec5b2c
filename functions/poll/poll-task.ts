/**
 * One turn of the workflow's wait → poll loop: look at the task and the upstream, record what changed,
 * and tell the state machine what to do next. Safe to repeat: every write is a monotonic transition.
 * A task's workflow starts when the task is admitted (given an upstream slot), so a poll submits an
 * admitted task and follows it upstream; it never waits for a slot.
 */
import { awaitsAdmission, isQueued, isTerminal, keyframeKinds, type Task } from '../commons/domain/task.ts';
import { classifyUpstreamFailure } from '../commons/domain/failure.ts';
import { workflowWaitSeconds } from '../commons/domain/workflow-wait.ts';
import { TransientUpstreamError, UpstreamRejectedError } from '../commons/errors.ts';
import { submitTask, type SubmitDeps } from '../commons/services/submit.ts';
import type { Dispatcher } from '../commons/services/dispatch.ts';
import { log } from '../commons/log.ts';
import { systemClock, type Clock } from '../commons/clock.ts';
import type { TaskStore } from '../commons/ports/task-store.ts';
import type { WorkflowInput } from '../commons/ports/workflow.ts';
import type { UpstreamGeneration } from '../commons/ports/video-provider.ts';

/** `wait` loops back after `waitSeconds`; `copy` stores the output; `completed`/`failed` end the execution. */
export type NextStep = 'wait' | 'copy' | 'completed' | 'failed';

export interface PollResult extends WorkflowInput {
  next: NextStep;
  /** The Wait state's SecondsPath: always a whole number of seconds (workflowWaitSeconds). */
  waitSeconds: number;
}

export interface PollDeps extends SubmitDeps {
  tasks: TaskStore;
  pollIntervalSeconds: number;
  /** How often a generation the upstream failed on its own side is replaced by a new submit. */
  upstreamResubmits: number;
  /** Admits a task recorded before the queue existed, whose workflow was started while it waited. */
  dispatcher: Pick<Dispatcher, 'admitAlone'>;
  clock?: Clock;
}

type Step = { next: NextStep; waitSeconds?: number };

export async function pollTask(input: WorkflowInput, deps: PollDeps): Promise<PollResult> {
  const task = await deps.tasks.get(input.taskId);
  if (!task) throw new Error(`Task ${input.taskId} does not exist.`);
  const step = await advance(task, deps);
  return { taskId: task.id, next: step.next, waitSeconds: workflowWaitSeconds(step.waitSeconds ?? deps.pollIntervalSeconds) };
}

async function advance(task: Task, deps: PollDeps): Promise<Step> {
  if (isTerminal(task.status)) return { next: task.status as NextStep };
  if (task.status === 'copying') return { next: 'copy' }; // a replayed execution resumes the copy
  const now = (deps.clock ?? systemClock)();
  if (now.getTime() > Date.parse(task.deadline)) {
    const since = task.admittedAt ?? task.createdAt;
    const minutes = Math.round((Date.parse(task.deadline) - Date.parse(since)) / 60_000);
    const where = task.status === 'accepted' ? (task.admittedAt ? 'it was still being submitted' : 'it was still waiting for an upstream slot') : `status was ${task.status}`;
    await deps.tasks.transition(task.id, {
      to: 'failed',
      failure: {
        code: 'deadline_exceeded',
        reason: `The generation did not finish within ${minutes} minutes (${where}). Try again later.`,
      },
    });
    return { next: 'failed' };
  }
  if (task.status !== 'accepted') return followUpstream(task, deps);
  if (isQueued(task)) return { next: 'wait' }; // no execution is started for a queued task; should one run, it waits
  // A task recorded before the queue existed has no ticket: its workflow takes a free slot for it.
  if (awaitsAdmission(task) && !(await deps.dispatcher.admitAlone(task))) return { next: 'wait' };
  return submitAdmitted(task.id, deps);
}

async function submitAdmitted(taskId: string, deps: PollDeps): Promise<Step> {
  const task = (await deps.tasks.get(taskId))!;
  try {
    const outcome = await submitTask(task, deps);
    if (outcome.submitted) return { next: 'wait' };
    return { next: 'wait', waitSeconds: backoff(deps, outcome.wait.reason === 'rate' ? outcome.wait.retryAfterSeconds : undefined) };
  } catch (error) {
    if (error instanceof UpstreamRejectedError) return { next: 'failed' }; // submitTask recorded it
    if (error instanceof TransientUpstreamError && error.rateLimited) {
      return { next: 'wait', waitSeconds: backoff(deps, error.retryAfterSeconds) };
    }
    throw error; // other transient errors: the state machine retries with backoff
  }
}

async function followUpstream(task: Task, deps: PollDeps): Promise<Step> {
  let generation: UpstreamGeneration;
  try {
    generation = await deps.provider.get(task.upstreamId!);
  } catch (error) {
    if (error instanceof TransientUpstreamError && error.rateLimited) {
      return { next: 'wait', waitSeconds: backoff(deps, error.retryAfterSeconds) };
    }
    if (!(error instanceof UpstreamRejectedError)) throw error; // transient: retried by the state machine
    await deps.tasks.transition(task.id, { to: 'failed', failure: { code: error.failureCode, reason: error.message } });
    return { next: 'failed' };
  }
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
        return submitAdmitted(task.id, deps);
      }
      const tries = (task.resubmits ?? 0) + 1;
      const reason = failure.resubmittable && tries > 1 ? `${failure.reason} (the upstream failed all ${tries} submits)` : failure.reason;
      await deps.tasks.transition(task.id, { to: 'failed', failure: { code: failure.code, reason } });
      return { next: 'failed' };
    }
    case 'completed':
      // Some upstreams report completion a moment before the asset link exists: wait for the link.
      if (!generation.videoUrl) return { next: 'wait' };
      await deps.tasks.transition(task.id, {
        to: 'copying',
        assets: { videoUrl: generation.videoUrl, imageUrl: generation.imageUrl },
      });
      return { next: 'copy' };
  }
}

/** Waits at least one poll interval, longer when the upstream or the rate window asks for it. */
function backoff(deps: PollDeps, retryAfterSeconds: number | undefined): number {
  return Math.max(deps.pollIntervalSeconds, retryAfterSeconds ?? 0);
}
