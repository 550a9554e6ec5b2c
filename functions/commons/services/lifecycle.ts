/**
 * The one function every status change goes through: the store's monotonic transition, then what must
 * follow it — a task that ends while queued leaves its owner's queue; the upstream slot goes back once the
 * upstream is done with a task, and the freed slot is given to the next task at once (the dispatcher,
 * which starts that task's workflow). This is also where a change will be published (webhooks,
 * EventBridge).
 */
import { isQueued, isTerminal, releasesSlot, type Task, type TaskChange } from '../domain/task.ts';
import { log } from '../log.ts';
import type { TaskStore, TransitionResult } from '../ports/task-store.ts';
import type { UpstreamCapacity } from '../ports/upstream-capacity.ts';
import type { OwnerQueue } from '../ports/owner-queue.ts';

export interface LifecycleEffects {
  capacity?: Pick<UpstreamCapacity, 'release'>;
  queue?: Pick<OwnerQueue, 'dequeue'>;
  /** Gives free slots to waiting tasks and starts their workflows (Dispatcher.dispatchAndStart). */
  dispatch?: () => Promise<unknown>;
}

export class TaskLifecycle implements TaskStore {
  constructor(
    private readonly store: TaskStore,
    private readonly effects: LifecycleEffects,
  ) {}

  create: TaskStore['create'] = (task) => this.store.create(task);
  get: TaskStore['get'] = (id) => this.store.get(id);
  admit: TaskStore['admit'] = (id, now, timeoutSeconds) => this.store.admit(id, now, timeoutSeconds);
  queued: TaskStore['queued'] = (owner, limit, afterTicket) => this.store.queued(owner, limit, afterTicket);
  listPhase: TaskStore['listPhase'] = (phase, cursor) => this.store.listPhase(phase, cursor);
  claimSubmit: TaskStore['claimSubmit'] = (id, now, leaseMs) => this.store.claimSubmit(id, now, leaseMs);
  releaseSubmit: TaskStore['releaseSubmit'] = (id, attemptedAt, outcome) => this.store.releaseSubmit(id, attemptedAt, outcome);
  // Neither changes the task's status: nothing follows them.
  noteUpstreamRead: TaskStore['noteUpstreamRead'] = (id, at, poll) => this.store.noteUpstreamRead(id, at, poll);
  holdWait: TaskStore['holdWait'] = (id, wait, ifVersion) => this.store.holdWait(id, wait, ifVersion);

  async transition(id: string, change: TaskChange): Promise<TransitionResult> {
    const result = await this.store.transition(id, change);
    const { task } = result;
    if (wasQueued(task)) {
      // Only on the change itself, so a task leaves its queue exactly once (the reconciler repairs a crash here).
      if (result.changed && isTerminal(task.status)) await this.effects.queue?.dequeue(task.owner);
      return result; // a queued task holds no slot
    }
    // Also when the change was a repeat: the earlier attempt may have died before releasing. A task sent
    // back for a resubmit keeps its slot (its status, `accepted`, does not release one).
    if (this.effects.capacity && releasesSlot(task.status) && (await this.effects.capacity.release(id))) await this.dispatch(id);
    return result;
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

/** A task that never left its owner's queue (failed there): it has a ticket and was never admitted. */
function wasQueued(task: Task): boolean {
  return isQueued({ ...task, status: 'accepted' });
}
