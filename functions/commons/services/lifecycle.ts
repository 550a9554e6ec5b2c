/**
 * The one function every status change goes through: the store's monotonic transition, then what must
 * follow it. Today that is giving back the upstream slot once the upstream is done with a task; this is
 * also where a change will be published (webhooks, EventBridge).
 */
import type { TaskStore, TransitionResult } from '../adapters/task-store.ts';
import type { UpstreamCapacity } from '../adapters/upstream-capacity.ts';
import { releasesSlot, type TaskChange } from '../domain/task.ts';

export class TaskLifecycle implements TaskStore {
  constructor(
    private readonly store: TaskStore,
    /** Absent for functions that never move a task out of a slot-holding status (the copy). */
    private readonly capacity?: Pick<UpstreamCapacity, 'release'>,
  ) {}

  create: TaskStore['create'] = (task) => this.store.create(task);
  get: TaskStore['get'] = (id) => this.store.get(id);
  countWaitingAhead: TaskStore['countWaitingAhead'] = (task) => this.store.countWaitingAhead(task);
  listPhase: TaskStore['listPhase'] = (phase, cursor) => this.store.listPhase(phase, cursor);

  async transition(id: string, change: TaskChange): Promise<TransitionResult> {
    const result = await this.store.transition(id, change);
    // Also when the change was a repeat: the earlier attempt may have died before releasing.
    if (this.capacity && releasesSlot(result.task.status)) await this.capacity.release(id);
    return result;
  }
}
