/**
 * Every change is published through the lifecycle, after it is recorded, and a publication that fails
 * never holds the change up: it stays owed on the task, for the reconciler.
 */
import { describe, expect, it } from 'vitest';
import { ChangePublisher } from '../../../functions/commons/services/publishing.ts';
import { TaskLifecycle } from '../../../functions/commons/services/lifecycle.ts';
import { applyChange, hasUnpublishedChanges, isAlreadyApplied, published, type Task, type TaskChange } from '../../../functions/commons/domain/task.ts';
import type { GenerationEvent } from '../../../functions/commons/domain/generation-events.ts';
import type { TaskStore, TransitionResult } from '../../../functions/commons/ports/task-store.ts';
import type { DeliveryRunInput } from '../../../functions/commons/ports/webhook-deliveries.ts';
import { webhookTask } from '../../support/tasks.ts';

const ID = '0b6f1c1e-2f4a-4c39-9a53-1d2e3f4a5b6c';
const NOW = new Date('2026-11-30T12:00:00.000Z');

class Fakes {
  readonly tasks = new Map<string, Task>();
  readonly events: GenerationEvent[] = [];
  readonly started: DeliveryRunInput[] = [];
  eventBridgeDown = false;
  released: string[] = [];

  readonly store = {
    create: async (task: Task) => void this.tasks.set(task.id, task),
    get: async (id: string) => this.tasks.get(id),
    transition: async (id: string, change: TaskChange): Promise<TransitionResult> => {
      const task = this.tasks.get(id)!;
      if (isAlreadyApplied(task, change)) return { task, changed: false };
      const next = applyChange(task, change, NOW.toISOString());
      this.tasks.set(id, next);
      return { task: next, changed: true };
    },
    markPublished: async (seen: Task, through: number) => void this.tasks.set(seen.id, published(this.tasks.get(seen.id)!, through)),
  } as unknown as TaskStore;

  readonly publisher = new ChangePublisher({
    events: {
      publish: async (events) => {
        if (this.eventBridgeDown) throw Object.assign(new Error('down'), { name: 'ServiceUnavailable' });
        this.events.push(...events);
      },
    },
    // Named runs: a second start of one is no new run, as Step Functions refuses a second execution of a name.
    webhooks: { start: async (input) => void (this.started.some((run) => run.deliveryId === input.deliveryId && run.run === input.run) || this.started.push(input)) },
    tasks: this.store,
    bucket: 'videos',
  });

  readonly lifecycle = new TaskLifecycle(this.store, {
    capacity: { release: async (id: string) => (this.released.push(id), false) },
    publish: (task) => this.publisher.publish(task),
  });
}

function admittedTask(events?: ('processing' | 'completed' | 'failed')[]): Task {
  const task = webhookTask(ID, NOW, events && { url: 'https://hooks.example.com/', events, keyHash: 'k' });
  return { ...task, admittedAt: NOW.toISOString() };
}

describe('the lifecycle publishes each change', () => {
  it('a recorded task: Generation Submitted, and the task marked published', async () => {
    const fakes = new Fakes();
    await fakes.lifecycle.create(admittedTask());
    expect(fakes.events.map((event) => event.detailType)).toEqual(['Generation Submitted']);
    expect(hasUnpublishedChanges(fakes.tasks.get(ID)!)).toBe(false);
  });

  it('each change of public state once, and a delivery run for each the client subscribed to', async () => {
    const fakes = new Fakes();
    await fakes.lifecycle.create(admittedTask(['processing', 'failed']));
    await fakes.lifecycle.transition(ID, { to: 'submitted', upstreamId: 'up-1' });
    await fakes.lifecycle.transition(ID, { to: 'dreaming' });
    await fakes.lifecycle.transition(ID, { to: 'dreaming' }); // a repeated poll
    await fakes.lifecycle.transition(ID, { to: 'failed', failure: { code: 'cancelled', reason: 'cancelled by its owner' } });
    expect(fakes.events.map((event) => [event.detailType, event.detail.state, event.detail.failure_code])).toEqual([
      ['Generation Submitted', 'pending', null],
      ['Generation Processing', 'processing', null],
      ['Generation Failed', 'failed', 'cancelled'],
    ]);
    expect(fakes.started).toEqual([
      { deliveryId: `msg_${ID}_2`, run: 1 },
      { deliveryId: `msg_${ID}_3`, run: 1 },
    ]);
    expect(fakes.tasks.get(ID)!.publishedThrough).toBe(4);
  });

  it('a publication that fails holds nothing up: the change stands, the slot goes back, and it stays owed until published', async () => {
    const fakes = new Fakes();
    await fakes.lifecycle.create(admittedTask(['completed', 'failed']));
    fakes.eventBridgeDown = true;
    const result = await fakes.lifecycle.transition(ID, { to: 'failed', failure: { code: 'upstream_failed', reason: 'boom' } });
    expect(result).toMatchObject({ changed: true, task: { status: 'failed' } });
    expect(fakes.released).toEqual([ID]);
    expect(hasUnpublishedChanges(fakes.tasks.get(ID)!)).toBe(true);
    expect(fakes.started).toEqual([]); // the events first: nothing is marked, so all of it is owed

    // The reconciler's turn, once EventBridge answers again.
    fakes.eventBridgeDown = false;
    expect(await fakes.publisher.publish(fakes.tasks.get(ID)!)).toBe(1);
    expect(fakes.events.map((event) => event.detailType)).toEqual(['Generation Submitted', 'Generation Failed']);
    expect(fakes.started).toEqual([{ deliveryId: `msg_${ID}_1`, run: 1 }]);
    expect(hasUnpublishedChanges(fakes.tasks.get(ID)!)).toBe(false);
  });

  it('published twice after a crash before marking: the event again, the webhook run not', async () => {
    const fakes = new Fakes();
    await fakes.lifecycle.create(admittedTask(['failed']));
    await fakes.lifecycle.transition(ID, { to: 'failed', failure: { code: 'upstream_failed', reason: 'boom' } });
    const before = { ...fakes.tasks.get(ID)!, publishedThrough: 1 }; // as if the mark had been lost
    await fakes.publisher.publish(before);
    expect(fakes.events.filter((event) => event.detailType === 'Generation Failed')).toHaveLength(2);
    expect(fakes.started).toEqual([{ deliveryId: `msg_${ID}_1`, run: 1 }]);
  });
});
