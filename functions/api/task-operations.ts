/**
 * The rest of the task API, free of HTTP like generations.ts: an owner lists its tasks, cancels one that is
 * still running, deletes one that has ended. The routes (routes.ts) authenticate and parse; these decide.
 * Another owner's task is answered exactly like a missing one, here as in GET.
 */
import { isQueued, isTerminal, storedObjectKeys, type Task } from '../commons/domain/task.ts';
import { encodeCursor, type GenerationList, type ListPage } from '../commons/domain/generation-list.ts';
import { publicState, toPublicGeneration, type PublicGeneration } from '../commons/domain/public-generation.ts';
import { queuePosition } from '../commons/domain/fair-share.ts';
import { CANCELLED_BY_OWNER } from '../commons/domain/failure.ts';
import { AlreadyFinishedError, NotFinishedError, NotFoundError } from '../commons/errors.ts';
import { log } from '../commons/log.ts';
import type { TaskStore } from '../commons/ports/task-store.ts';
import type { MediaStore } from '../commons/ports/media-store.ts';
import type { VideoProvider } from '../commons/ports/video-provider.ts';
import type { OwnerQueue } from '../commons/ports/owner-queue.ts';
import type { Workflow } from '../commons/ports/workflow.ts';

export interface TaskOperationsDeps {
  /** The lifecycle (services/lifecycle.ts): the cancel is a status change like any other. */
  tasks: Pick<TaskStore, 'get' | 'transition' | 'listOwned' | 'remove'>;
  media: Pick<MediaStore, 'outputLinks' | 'removeObjects'>;
  provider: Pick<VideoProvider, 'delete'>;
  queue: Pick<OwnerQueue, 'get'>;
  workflow: Pick<Workflow, 'stop'>;
  presignExpirySeconds: number;
}


/** One page of the owner's generations, newest first (domain/task-list.ts). */
export async function listGenerations(owner: string, page: ListPage, requestId: string, deps: TaskOperationsDeps): Promise<GenerationList> {
  const { tasks, next } = await deps.tasks.listOwned(owner, page);
  // One read of the owner's queue places every queued task of the page, as GET places one.
  const served = tasks.some(isQueued) ? ((await deps.queue.get(owner))?.served ?? 0) : 0;
  const data = await Promise.all(
    tasks.map(async (task) =>
      toPublicGeneration(
        task,
        await deps.media.outputLinks(task, deps.presignExpirySeconds),
        requestId,
        isQueued(task) ? queuePosition(task.queueTicket!, served) : undefined,
      ),
    ),
  );
  return { data, next_cursor: next === undefined ? null : encodeCursor(next) };
}

/**
 * Fails the task with `cancelled` through the lifecycle, whose change is the one that counts: it leaves
 * its owner's queue, gives its upstream slot back (and hands it on) and is published like any other end.
 * Whatever ends a task first wins — a completion racing with the cancel makes it a 409, and a workflow step
 * that wakes after it can change nothing (transitions only move forward). Then, without waiting for
 * either to matter: the workflow is stopped (a run still going would only find the task finished at its
 * next step) and the generation deleted upstream where the upstream allows it.
 */
export async function cancelGeneration(owner: string, taskId: string, requestId: string, deps: TaskOperationsDeps): Promise<PublicGeneration> {
  const task = await ownedTask(owner, taskId, deps);
  if (isTerminal(task.status)) throw alreadyFinished(task);
  const { task: cancelled, changed } = await deps.tasks.transition(taskId, { to: 'failed', failure: CANCELLED_BY_OWNER });
  if (!changed) throw alreadyFinished(cancelled);
  log({ msg: 'task cancelled', taskId, owner, status: task.status });
  await Promise.all([stopWorkflow(cancelled, deps), deleteUpstream(cancelled, deps)]);
  return toPublicGeneration(cancelled, undefined, requestId);
}

/**
 * Deletes a task that has ended: its objects in the bucket first (stored keyframes, video, thumbnail),
 * then its generation upstream where the upstream allows it, then the task itself. A crash half-way leaves
 * the task, so the client's repeat of the DELETE finishes the work; afterwards the task is a 404. Kept:
 * the upstream claim (`UPSTREAM#…`, which holds nothing but ids and keeps one upstream generation from
 * ever becoming two tasks'), and an idempotency record that named the task (it expires after 24 hours: a
 * repeat of the original POST answers 404 until then, rather than creating and paying for a new task).
 */
export async function deleteGeneration(owner: string, taskId: string, deps: TaskOperationsDeps): Promise<void> {
  const task = await ownedTask(owner, taskId, deps);
  if (!isTerminal(task.status)) {
    throw new NotFinishedError(
      `Generation ${taskId} is ${publicState(task.status)}; only a completed or failed generation can be deleted. Cancel it first (POST /luma/generations/${taskId}/cancel).`,
    );
  }
  await deps.media.removeObjects(storedObjectKeys(task));
  await deleteUpstream(task, deps);
  await deps.tasks.remove(taskId);
  log({ msg: 'task deleted', taskId, owner });
}

async function ownedTask(owner: string, taskId: string, deps: TaskOperationsDeps): Promise<Task> {
  const task = await deps.tasks.get(taskId);
  if (!task || task.owner !== owner) throw new NotFoundError(`No generation with id ${taskId}.`);
  return task;
}

function alreadyFinished(task: Task): AlreadyFinishedError {
  return new AlreadyFinishedError(`Generation ${task.id} has already ${task.status === 'completed' ? 'completed' : 'failed'}; there is nothing to cancel.`, {
    details: { state: publicState(task.status), failure_code: task.failure?.code ?? null },
  });
}

/** A task that never left its owner's queue has no workflow to stop. */
async function stopWorkflow(task: Task, deps: TaskOperationsDeps): Promise<void> {
  if (task.queueTicket !== undefined && task.admittedAt === undefined) return;
  try {
    await deps.workflow.stop(task.id, CANCELLED_BY_OWNER.reason);
  } catch (error) {
    // The task has ended: a run left going stops at its next step, which finds it so.
    log({ level: 'warn', msg: 'workflow not stopped', taskId: task.id, error: (error as Error).name });
  }
}

/** Best effort: the task's outcome never depends on the upstream's answer, which is only logged. */
async function deleteUpstream(task: Task, deps: TaskOperationsDeps): Promise<void> {
  if (!task.upstreamId) return;
  try {
    await deps.provider.delete(task.upstreamId);
    log({ msg: 'upstream generation deleted', taskId: task.id, upstreamId: task.upstreamId });
  } catch (error) {
    log({ level: 'warn', msg: 'upstream generation not deleted', taskId: task.id, upstreamId: task.upstreamId, error: (error as Error).message });
  }
}
