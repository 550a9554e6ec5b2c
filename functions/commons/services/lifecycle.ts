/**
 * The one function every status change goes through: the store's monotonic transition, then what must
 * follow it — the upstream slot goes back once the upstream is done with a task, and the owner's count of
 * unfinished generations goes down when it ends. This is also where a change will be published
 * (webhooks, EventBridge).
 */
import type { TaskStore, TransitionResult } from '../adapters/task-store.ts';
import type { UpstreamCapacity } from '../adapters/upstream-capacity.ts';
import type { ClientLimits } from '../adapters/client-limits.ts';
import { isTerminal, releasesSlot, type TaskChange } from '../domain/task.ts';

export interface LifecycleEffects {
  capacity?: Pick<UpstreamCapacity, 'release'>;
  clientLimits?: Pick<ClientLimits, 'finished'>;
}

export class TaskLifecycle implements TaskStore {
  constructor(
    private readonly store: TaskStore,
    private readonly effects: LifecycleEffects,
  ) {}

  create: TaskStore['create'] = (task) => this.store.create(task);
  get: TaskStore['get'] = (id) => this.store.get(id);
  countWaitingAhead: TaskStore['countWaitingAhead'] = (task) => this.store.countWaitingAhead(task);
  listPhase: TaskStore['listPhase'] = (phase, cursor) => this.store.listPhase(phase, cursor);
  claimSubmit: TaskStore['claimSubmit'] = (id, now, leaseMs) => this.store.claimSubmit(id, now, leaseMs);
  releaseSubmit: TaskStore['releaseSubmit'] = (id, attemptedAt, outcome) => this.store.releaseSubmit(id, attemptedAt, outcome);

  async transition(id: string, change: TaskChange): Promise<TransitionResult> {
    const result = await this.store.transition(id, change);
    const { task } = result;
    // Also when the change was a repeat: the earlier attempt may have died before releasing. A task back
    // in line to be submitted again waits for a slot like any other (at its place of arrival).
    if (this.effects.capacity && (releasesSlot(task.status) || change.to === 'accepted')) await this.effects.capacity.release(id);
    // Only on the change itself, so a task is counted out exactly once (the reconciler repairs a crash here).
    if (this.effects.clientLimits && result.changed && isTerminal(task.status)) await this.effects.clientLimits.finished(task.owner);
    return result;
  }
}
