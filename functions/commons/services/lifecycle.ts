/**
 * The one function every status change goes through: the store's monotonic transition, then what must
 * follow it — a task that ends while queued leaves its owner's queue; the upstream slot goes back once the
 * upstream is done with a task, and the freed slot is given to the next task at once (the dispatcher,
 * which starts that task's workflow). It is where a change is counted (the metrics of
 * observability/task-metrics.ts), and where it is published (EventBridge, webhooks: services/publishing.ts),
 * as is a new task's recording. Publishing never holds a change up: it follows the write, and what it fails
 * to publish stays owed on the task, for the reconciler.
 */
import { hasUnpublishedChanges, isQueued, isTerminal, releasesSlot, type Task, type TaskChange } from '../domain/task.ts';
import { log } from '../log.ts';
import type { TaskStore, TransitionResult } from '../ports/task-store.ts';
import type { UpstreamCapacity } from '../ports/upstream-capacity.ts';
import type { OwnerQueue } from '../ports/owner-queue.ts';
import { recordFailure, recordMetric } from '../observability/metrics.ts';
import { dataPointsOfChange, queueWaitSeconds } from '../observability/task-metrics.ts';

export interface LifecycleEffects {
  capacity?: Pick<UpstreamCapacity, 'release'>;
  queue?: Pick<OwnerQueue, 'dequeue'>;
  /** Gives free slots to waiting tasks and starts their workflows (Dispatcher.dispatchAndStart). */
  dispatch?: () => Promise<unknown>;
  /** Publishes what a task owes (ChangePublisher.publish). */
  publish?: (task: Task) => Promise<unknown>;
}

export class TaskLifecycle implements TaskStore {
  constructor(
    private readonly store: TaskStore,
    private readonly effects: LifecycleEffects,
  ) {}

  async create(task: Task): Promise<void> {
    await this.store.create(task);
    recordMetric('accepted');
    await this.publish(task);
  }

  markPublished: TaskStore['markPublished'] = (task, through) => this.store.markPublished(task, through);
  get: TaskStore['get'] = (id) => this.store.get(id);
  admit: TaskStore['admit'] = async (id, now, timeoutSeconds) => {
    const admitted = await this.store.admit(id, now, timeoutSeconds);
    const wait = admitted && queueWaitSeconds(admitted);
    if (wait !== undefined) recordMetric('queueWait', wait);
    return admitted;
  };
  queued: TaskStore['queued'] = (owner, limit, afterTicket) => this.store.queued(owner, limit, afterTicket);
  listPhase: TaskStore['listPhase'] = (phase, cursor) => this.store.listPhase(phase, cursor);
  listOwned: TaskStore['listOwned'] = (owner, page) => this.store.listOwned(owner, page);
  /** Not a change of status: only a finished task is removed, and it holds no slot and no place in a queue. */
  remove: TaskStore['remove'] = (id) => this.store.remove(id);
  claimSubmit: TaskStore['claimSubmit'] = (id, now, leaseMs) => this.store.claimSubmit(id, now, leaseMs);
  releaseSubmit: TaskStore['releaseSubmit'] = (id, attemptedAt, outcome) => this.store.releaseSubmit(id, attemptedAt, outcome);
  // Neither changes the task's status: nothing follows them.
  noteUpstreamRead: TaskStore['noteUpstreamRead'] = (id, at, poll) => this.store.noteUpstreamRead(id, at, poll);
  claimUpstreamRead: TaskStore['claimUpstreamRead'] = (id, at, isDue) => this.store.claimUpstreamRead(id, at, isDue);
  holdWait: TaskStore['holdWait'] = (id, wait, ifVersion) => this.store.holdWait(id, wait, ifVersion);

  async transition(id: string, change: TaskChange): Promise<TransitionResult> {
    const result = await this.store.transition(id, change);
    if (result.changed) recordChange(result.task);
    await this.followUp(result);
    // Also after a repeat: the earlier attempt may have died before publishing.
    await this.publish(result.task);
    return result;
  }

  private async followUp({ task, changed }: TransitionResult): Promise<void> {
    if (wasQueued(task)) {
      // Only on the change itself, so a task leaves its queue exactly once (the reconciler repairs a crash here).
      if (changed && isTerminal(task.status)) await this.effects.queue?.dequeue(task.owner);
      return; // a queued task holds no slot
    }
    // Also when the change was a repeat: the earlier attempt may have died before releasing. A task sent
    // back for a resubmit keeps its slot (its status, `accepted`, does not release one).
    if (this.effects.capacity && releasesSlot(task.status) && (await this.effects.capacity.release(task.id))) await this.dispatch(task.id);
  }

  /** Publishes what the task owes; a failure is logged and left to the reconciler, never thrown. */
  private async publish(task: Task): Promise<void> {
    if (!this.effects.publish || !hasUnpublishedChanges(task)) return;
    try {
      await this.effects.publish(task);
    } catch (error) {
      log({ level: 'warn', msg: 'publishing a change failed; left to the reconciler', taskId: task.id, error: (error as Error).name });
    }
  }

  private async dispatch(releasedBy: string): Promise<void> {
    try {
      await this.effects.dispatch?.();
    } catch (error) {
      // The change is recorded and the slot free: the reconciler's dispatch is the safety net.
      log({ level: 'error', msg: 'dispatch after a release failed; left to the reconciler', taskId: releasedBy, error: (error as Error).name });
    }
  }
}

/** The metrics of a change, counted on the change itself: a repeated transition is not counted again. */
function recordChange(task: Task): void {
  for (const point of dataPointsOfChange(task)) {
    if ('failureCode' in point) recordFailure(point.failureCode);
    else recordMetric(point.key, point.value);
  }
}

/** A task that never left its owner's queue (failed there): it has a ticket and was never admitted. */
function wasQueued(task: Task): boolean {
  return isQueued({ ...task, status: 'accepted' });
}
