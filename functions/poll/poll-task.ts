/**
 * One turn of the workflow's wait → poll loop: look at the task and the upstream, record what changed,
 * and tell the state machine what to do next. Safe to repeat: every write is a monotonic transition.
 */
import type { TaskStore } from '../commons/adapters/task-store.ts';
import { isTerminal, type Task } from '../commons/domain/task.ts';
import { classifyUpstreamFailure } from '../commons/domain/failure.ts';
import { UpstreamRejectedError } from '../commons/errors.ts';
import { submitTask, type SubmitDeps } from '../commons/services/submit.ts';
import type { WorkflowInput } from '../commons/adapters/workflow.ts';
import type { UpstreamGeneration } from '../commons/providers/provider.ts';

/** `wait` loops back after `waitSeconds`; `copy` stores the output; `completed`/`failed` end the execution. */
export type NextStep = 'wait' | 'copy' | 'completed' | 'failed';

export interface PollResult extends WorkflowInput {
  next: NextStep;
  waitSeconds: number;
}

export interface PollDeps extends SubmitDeps {
  tasks: TaskStore;
  pollIntervalSeconds: number;
  clock?: () => Date;
}

export async function pollTask(input: WorkflowInput, deps: PollDeps): Promise<PollResult> {
  const task = await deps.tasks.get(input.taskId);
  if (!task) throw new Error(`Task ${input.taskId} does not exist.`);
  return { taskId: task.id, next: await advance(task, deps), waitSeconds: deps.pollIntervalSeconds };
}

async function advance(task: Task, deps: PollDeps): Promise<NextStep> {
  if (isTerminal(task.status)) return task.status as NextStep;
  if (task.status === 'copying') return 'copy'; // a replayed execution resumes the copy
  const now = (deps.clock ?? (() => new Date()))();
  if (now.getTime() > Date.parse(task.deadline)) {
    const minutes = Math.round((Date.parse(task.deadline) - Date.parse(task.createdAt)) / 60_000);
    await deps.tasks.transition(task.id, {
      to: 'failed',
      failure: {
        code: 'deadline_exceeded',
        reason: `The upstream did not finish the generation within ${minutes} minutes (status was ${task.status}). Try again later.`,
      },
    });
    return 'failed';
  }
  if (task.status === 'accepted') {
    try {
      await submitTask(task, deps);
      return 'wait';
    } catch (error) {
      if (error instanceof UpstreamRejectedError) return 'failed'; // submitTask recorded it
      throw error; // transient: the state machine retries with backoff
    }
  }

  let generation: UpstreamGeneration;
  try {
    generation = await deps.provider.get(task.upstreamId!);
  } catch (error) {
    if (!(error instanceof UpstreamRejectedError)) throw error; // transient: retried by the state machine
    await deps.tasks.transition(task.id, { to: 'failed', failure: { code: error.failureCode, reason: error.message } });
    return 'failed';
  }
  switch (generation.state) {
    case 'queued':
      return 'wait';
    case 'dreaming':
      await deps.tasks.transition(task.id, { to: 'dreaming' });
      return 'wait';
    case 'failed':
      await deps.tasks.transition(task.id, { to: 'failed', failure: classifyUpstreamFailure(generation.failureReason) });
      return 'failed';
    case 'completed':
      // Some upstreams report completion a moment before the asset link exists: wait for the link.
      if (!generation.videoUrl) return 'wait';
      await deps.tasks.transition(task.id, {
        to: 'copying',
        assets: { videoUrl: generation.videoUrl, imageUrl: generation.imageUrl },
      });
      return 'copy';
  }
}
