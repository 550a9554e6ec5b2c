/**
 * The dispatcher against in-memory stores built on the same pure functions as the DynamoDB ones, so that
 * what the emulators cannot easily stage can be: an index that lags behind the table (stale entries, an
 * owner or a task not listed yet), a race lost to another dispatcher, queue deadlines, caps. The
 * lifecycle's part (a task failed while queued leaves its queue; a resubmit keeps its slot; a release
 * hands the slot on) is checked here too.
 */
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { Dispatcher, describeDuration, type DispatchDeps } from '../../../functions/commons/services/dispatch.ts';
import { TaskLifecycle } from '../../../functions/commons/services/lifecycle.ts';
import { admitted, applyChange, awaitsAdmission, isAlreadyApplied, isQueued, newTask, type Task, type TaskChange } from '../../../functions/commons/domain/task.ts';
import { isFree, type Slot } from '../../../functions/commons/domain/capacity.ts';
import type { TaskStore, TransitionResult } from '../../../functions/commons/ports/task-store.ts';
import type { OwnerRecord } from '../../../functions/commons/ports/owner-queue.ts';

beforeAll(() => {
  vi.spyOn(console, 'log').mockImplementation(() => undefined);
});

const T0 = Date.parse('2026-11-30T12:00:00Z');

class World {
  now = T0;
  readonly tasks = new Map<string, Task>();
  readonly slots: Slot[];
  readonly owners = new Map<string, OwnerRecord>();
  readonly started: string[] = [];
  /** Owners the index of waiting owners does not show yet, and queue entries it still shows. */
  readonly unlistedOwners = new Set<string>();
  readonly hiddenTasks = new Set<string>();
  readonly staleEntries: { owner: string; id: string; ticket: number }[] = [];
  /** Runs once, just before the next `admit`: another dispatcher's write landing in between. */
  beforeAdmit?: (id: string) => void;

  constructor(slotCount: number) {
    this.slots = Array.from({ length: slotCount }, (_, index) => ({ index }));
  }

  clock = () => new Date(this.now);

  enqueue(owner: string, prompt: string, settings: Partial<OwnerRecord> = {}): Task {
    const record = this.owners.get(owner) ?? { owner, weight: 1, tickets: 0, waiting: 0, served: 0 };
    Object.assign(record, settings, { tickets: record.tickets + 1, waiting: record.waiting + 1 });
    this.owners.set(owner, record);
    const task = newTask({
      id: `${owner}-${record.tickets}`,
      owner,
      request: { prompt },
      provider: 'luma',
      model: 'ray-2',
      now: new Date(this.now),
      timeoutSeconds: 3600,
      queueTicket: record.tickets,
    });
    this.tasks.set(task.id, task);
    this.now += 1000;
    return task;
  }

  /** A slot already held by a task of `owner` admitted earlier (running upstream). */
  holding(index: number, owner: string): void {
    Object.assign(this.slots[index]!, { holder: `${owner}-running-${index}`, owner, leaseUntil: this.now + 3_600_000, takenAt: this.now });
  }

  readonly store: TaskStore = {
    create: async (task) => void this.tasks.set(task.id, task),
    get: async (id) => structuredClone(this.tasks.get(id)),
    markPublished: async () => undefined,
    transition: async (id: string, change: TaskChange): Promise<TransitionResult> => {
      const task = this.tasks.get(id)!;
      if (isAlreadyApplied(task, change)) return { task, changed: false };
      const next = applyChange(task, change, new Date(this.now).toISOString());
      this.tasks.set(id, next);
      return { task: next, changed: true };
    },
    admit: async (id, now, timeout) => {
      this.beforeAdmit?.(id);
      this.beforeAdmit = undefined;
      const task = this.tasks.get(id);
      if (!task || !awaitsAdmission(task)) return undefined;
      const next = admitted(task, now, timeout);
      this.tasks.set(id, next);
      return next;
    },
    queued: async (owner, limit, afterTicket) => {
      const live = [...this.tasks.values()]
        .filter((task) => task.owner === owner && isQueued(task) && !this.hiddenTasks.has(task.id))
        .map((task) => ({ id: task.id, ticket: task.queueTicket! }));
      const stale = this.staleEntries.filter((entry) => entry.owner === owner).map(({ id, ticket }) => ({ id, ticket }));
      return [...live, ...stale]
        .filter((entry) => afterTicket === undefined || entry.ticket > afterTicket)
        .sort((a, b) => a.ticket - b.ticket)
        .slice(0, limit);
    },
    claimSubmit: async () => ({ claimed: false }),
    releaseSubmit: async () => undefined,
    listPhase: async () => ({ ids: [] }),
    noteUpstreamRead: async () => {
      throw new Error('not used');
    },
    claimUpstreamRead: async () => {
      throw new Error('not used');
    },
    holdWait: async () => undefined,
    listOwned: async () => ({ tasks: [] }),
    remove: async () => false,
  };

  readonly capacity: DispatchDeps['capacity'] & { release(id: string): Promise<boolean> } = {
    slots: async () => structuredClone(this.slots),
    take: async (index, holder, now) => {
      const slot = this.slots[index]!;
      if (!isFree(slot, now ?? this.now)) return false;
      Object.assign(slot, { holder: holder.id, owner: holder.owner, leaseUntil: Date.parse(holder.deadline), takenAt: now });
      return true;
    },
    giveBack: async (index, id) => {
      const slot = this.slots[index]!;
      if (slot.holder !== id) return false;
      this.slots[index] = { index };
      return true;
    },
    release: async (id) => {
      let freed = false;
      for (const slot of this.slots) if (slot.holder === id && (await this.capacity.giveBack(slot.index, id))) freed = true;
      return freed;
    },
  };

  readonly queue: DispatchDeps['queue'] & { dequeue(owner: string, servedAt?: Date): Promise<void> } = {
    waitingOwners: async () => [...this.owners.values()].filter((o) => o.waiting > 0 && !this.unlistedOwners.has(o.owner)).map((o) => ({ ...o })),
    get: async (owner) => this.owners.get(owner) && { ...this.owners.get(owner)! },
    dequeue: async (owner, servedAt) => {
      const record = this.owners.get(owner)!;
      record.waiting--;
      record.served++;
      if (servedAt) record.lastServedAt = servedAt.toISOString();
    },
  };

  /** The dispatch lease, in memory with the same rules as adapters/dispatch-lease.ts. */
  readonly lease = {
    holder: undefined as string | undefined,
    pending: false,
    /** Runs inside each release, before its check: work arriving as a round ends. */
    onRelease: undefined as (() => void) | undefined,
    acquire: async (holder: string, leaveNote = true) => {
      if (this.lease.holder !== undefined) {
        if (leaveNote) this.lease.pending = true;
        return false;
      }
      Object.assign(this.lease, { holder, pending: false });
      return true;
    },
    release: async (holder: string) => {
      this.lease.onRelease?.();
      if (this.lease.holder !== holder) return true;
      if (this.lease.pending) {
        this.lease.pending = false;
        return false;
      }
      this.lease.holder = undefined;
      return true;
    },
    abandon: async (holder: string) => {
      if (this.lease.holder === holder) this.lease.holder = undefined;
    },
  };

  dispatcher(): { dispatcher: Dispatcher; lifecycle: TaskLifecycle } {
    let dispatcher!: Dispatcher;
    const lifecycle = new TaskLifecycle(this.store, { capacity: this.capacity, queue: this.queue, dispatch: () => dispatcher.dispatchAndStart() });
    dispatcher = new Dispatcher({
      tasks: lifecycle,
      capacity: this.capacity,
      queue: this.queue,
      lease: this.lease,
      workflow: { start: async ({ taskId }) => void this.started.push(taskId) },
      generationTimeoutSeconds: 1800,
      clock: this.clock,
    });
    return { dispatcher, lifecycle };
  }
}

describe('Dispatcher', () => {
  it('fills the free slots by fair share, dequeues what it admits, and starts their workflows', async () => {
    const world = new World(4);
    world.holding(0, 'big');
    world.holding(1, 'big');
    const big = [1, 2, 3].map((i) => world.enqueue('big', `big ${i}`));
    const small = world.enqueue('small', 'small 1');
    const { dispatcher } = world.dispatcher();
    const { admitted: ids } = await dispatcher.dispatchAndStart();
    // small runs nothing, big two: small first; then big (2 running) against small (1) — small has no more.
    expect(ids).toEqual([small.id, big[0]!.id]);
    expect(world.started).toEqual(ids);
    expect(world.owners.get('big')).toMatchObject({ waiting: 2, served: 1 });
    expect(world.owners.get('small')).toMatchObject({ waiting: 0, served: 1 });
    const admittedSmall = world.tasks.get(small.id)!;
    expect(admittedSmall.admittedAt).toBe(new Date(world.now).toISOString());
    expect(Date.parse(admittedSmall.deadline)).toBe(world.now + 1800 * 1000); // the generation deadline starts now
    expect(world.slots.filter((slot) => slot.owner === 'small').map((slot) => slot.holder)).toEqual([small.id]);
    expect(isQueued(world.tasks.get(big[1]!.id)!)).toBe(true);
  });

  it('does nothing, and reads no queue, when every slot is taken', async () => {
    const world = new World(1);
    world.holding(0, 'big');
    world.enqueue('small', 'waits');
    const waitingOwners = vi.spyOn(world.queue, 'waitingOwners');
    const { dispatcher } = world.dispatcher();
    expect((await dispatcher.dispatch()).admitted).toEqual([]);
    expect(waitingOwners).not.toHaveBeenCalled();
  });

  it('skips index entries of tasks that have left the queue already, confirming each head with a read', async () => {
    const world = new World(1);
    const first = world.enqueue('owner', 'first');
    const second = world.enqueue('owner', 'second');
    // `first` was admitted elsewhere a moment ago; the index still lists it.
    world.tasks.set(first.id, admitted(first, new Date(world.now), 1800));
    world.staleEntries.push({ owner: 'owner', id: first.id, ticket: 1 });
    const { dispatcher } = world.dispatcher();
    expect((await dispatcher.dispatch()).admitted).toEqual([second.id]);
  });

  it('finds the API’s own task through its hint while neither the owner nor the task is in the index yet', async () => {
    const world = new World(2);
    const task = world.enqueue('newcomer', 'just recorded');
    world.unlistedOwners.add('newcomer');
    world.hiddenTasks.add(task.id);
    const { dispatcher } = world.dispatcher();
    expect((await dispatcher.dispatch()).admitted).toEqual([]); // without the hint, nothing to see
    expect((await dispatcher.dispatch({ hint: { owner: 'newcomer', taskId: task.id } })).admitted).toEqual([task.id]);
  });

  it('prefers an older queued task of the owner over the hint, so the owner’s order holds', async () => {
    const world = new World(1);
    const older = world.enqueue('owner', 'older');
    const hinted = world.enqueue('owner', 'hinted');
    world.hiddenTasks.add(hinted.id);
    const { dispatcher } = world.dispatcher();
    expect((await dispatcher.dispatch({ hint: { owner: 'owner', taskId: hinted.id } })).admitted).toEqual([older.id]);
  });

  it('gives back only the slot it took when another dispatcher admitted the task first, and moves on', async () => {
    const world = new World(2);
    const first = world.enqueue('owner', 'first');
    const second = world.enqueue('owner', 'second');
    // Another dispatcher admits `first` into slot 1 between our read of the head and our mark.
    world.beforeAdmit = (id) => {
      world.tasks.set(id, admitted(world.tasks.get(id)!, new Date(world.now), 1800));
      Object.assign(world.slots.find((slot) => !slot.holder)!, { holder: id, owner: 'owner', leaseUntil: world.now + 1e7 });
      world.owners.get('owner')!.waiting--;
      world.owners.get('owner')!.served++;
    };
    const { dispatcher } = world.dispatcher();
    expect((await dispatcher.dispatch()).admitted).toEqual([second.id]);
    expect(world.slots.map((slot) => slot.holder).sort()).toEqual([first.id, second.id].sort()); // the other's slot kept
    expect(world.owners.get('owner')).toMatchObject({ waiting: 0, served: 2 });
  });

  it('fails a head that waited past its queue deadline instead of admitting it, then admits the next', async () => {
    const world = new World(1);
    const expired = world.enqueue('owner', 'too old');
    world.now += 3600 * 1000; // past the first one's deadline (an hour), not the second's
    const fresh = world.enqueue('owner', 'fresh');
    const { dispatcher } = world.dispatcher();
    const result = await dispatcher.dispatch();
    expect(result).toEqual({ admitted: [fresh.id], expired: [expired.id] });
    expect(world.tasks.get(expired.id)!.failure).toEqual({
      code: 'deadline_exceeded',
      reason: 'The generation waited more than 60 minutes for an upstream slot. Try again later.',
    });
    expect(world.owners.get('owner')).toMatchObject({ waiting: 0, served: 2 }); // both left the queue once
  });

  it('expireHeads fails expired heads even while every slot is taken, and without the lease (the reconciler)', async () => {
    const world = new World(1);
    const expired = world.enqueue('owner', 'too old');
    world.now += 2 * 3600 * 1000;
    world.holding(0, 'other');
    const { dispatcher } = world.dispatcher();
    expect(await dispatcher.dispatch()).toEqual({ admitted: [], expired: [] });
    world.lease.holder = 'another dispatcher';
    expect(await dispatcher.expireHeads()).toEqual([expired.id]);
    expect(world.tasks.get(expired.id)!.status).toBe('failed');
  });

  it('leaves an owner at its cap of running tasks waiting, with slots free', async () => {
    const world = new World(3);
    world.holding(0, 'capped');
    world.enqueue('capped', 'waits', { maxRunning: 1 });
    const { dispatcher } = world.dispatcher();
    expect((await dispatcher.dispatch()).admitted).toEqual([]);
    world.slots[0] = { index: 0 }; // its running task ends
    expect((await dispatcher.dispatch()).admitted).toHaveLength(1);
  });

  it('runs one at a time: while another holds the lease it leaves a note and reads no queue', async () => {
    const world = new World(3);
    world.enqueue('owner', 'waits');
    world.lease.holder = 'another dispatcher';
    const waitingOwners = vi.spyOn(world.queue, 'waitingOwners');
    const { dispatcher } = world.dispatcher();
    expect(await dispatcher.dispatch()).toEqual({ admitted: [], expired: [], deferred: true });
    expect(world.lease.pending).toBe(true);
    expect(waitingOwners).not.toHaveBeenCalled();
  });

  it('asked to wait (the API), tries a held lease again for a moment, and dispatches once it is let go', async () => {
    const world = new World(1);
    const task = world.enqueue('owner', 'submitted while its client waits');
    world.lease.holder = 'another dispatcher';
    const acquire = world.lease.acquire;
    world.lease.acquire = async (holder: string) => {
      const got = await acquire(holder);
      world.lease.holder = undefined; // the other one finishes meanwhile
      return got;
    };
    const { dispatcher } = world.dispatcher();
    expect((await dispatcher.dispatch({ waitForLease: true })).admitted).toEqual([task.id]);
  });

  it('takes no lease and leaves no note while every slot is taken: whoever frees one dispatches', async () => {
    const world = new World(1);
    world.holding(0, 'other');
    world.enqueue('owner', 'waits');
    const acquire = vi.spyOn(world.lease, 'acquire');
    const { dispatcher } = world.dispatcher();
    expect(await dispatcher.dispatch()).toEqual({ admitted: [], expired: [] });
    expect(acquire).not.toHaveBeenCalled();
  });

  it('goes round again while notes are left, so a slot freed or a task queued meanwhile is not lost', async () => {
    const world = new World(1);
    let first: Task | undefined;
    let rounds = 0;
    world.lease.onRelease = () => {
      // As the first round ends, a task is recorded: its API finds the lease held.
      if (++rounds === 1) {
        first = world.enqueue('owner', 'recorded during the first round');
        world.lease.pending = true;
      }
    };
    const { dispatcher } = world.dispatcher();
    expect((await dispatcher.dispatch()).admitted).toEqual([first!.id]);
    expect(rounds).toBe(2);
    expect(world.lease).toMatchObject({ holder: undefined, pending: false });
  });

  it('lets go after a few rounds under a stream of notes, leaving the last note for the next dispatcher', async () => {
    const world = new World(1);
    // Someone asks for a dispatch during every round.
    const slots = world.capacity.slots;
    const rounds = vi.fn();
    world.capacity.slots = async () => {
      rounds();
      world.lease.pending = true;
      return slots();
    };
    const { dispatcher } = world.dispatcher();
    await dispatcher.dispatch();
    expect(rounds).toHaveBeenCalledTimes(1 + 5); // the look for a free slot, then five rounds
    expect(world.lease).toMatchObject({ holder: undefined, pending: true });
  });

  it('gives a lone owner every slot', async () => {
    const world = new World(3);
    for (let i = 0; i < 5; i++) world.enqueue('alone', `task ${i}`);
    const { dispatcher } = world.dispatcher();
    expect((await dispatcher.dispatch()).admitted).toEqual(['alone-1', 'alone-2', 'alone-3']);
  });
});

describe('TaskLifecycle with the dispatcher', () => {
  it('a release hands the freed slot to the next task and starts its workflow', async () => {
    const world = new World(1);
    const running = world.enqueue('a', 'running');
    const { dispatcher, lifecycle } = world.dispatcher();
    await dispatcher.dispatchAndStart();
    const next = world.enqueue('b', 'next');
    await lifecycle.transition(running.id, { to: 'failed', failure: { code: 'internal', reason: 'test' } });
    expect(world.started).toEqual([running.id, next.id]);
    expect(world.slots[0]!.holder).toBe(next.id);
  });

  it('a task failed while queued leaves its queue once, and hands on no slot', async () => {
    const world = new World(1);
    world.holding(0, 'other');
    const queued = world.enqueue('a', 'queued');
    const { lifecycle } = world.dispatcher();
    const failure = { code: 'cancelled' as const, reason: 'test' };
    await lifecycle.transition(queued.id, { to: 'failed', failure });
    await lifecycle.transition(queued.id, { to: 'failed', failure }); // a repeat
    expect(world.owners.get('a')).toMatchObject({ waiting: 0, served: 1 });
    expect(world.slots[0]!.holder).toBe('other-running-0');
  });

  it('a task sent back for a resubmit keeps its slot: nothing is released or dispatched', async () => {
    const world = new World(1);
    const task = world.enqueue('a', 'resubmitted');
    const { dispatcher, lifecycle } = world.dispatcher();
    await dispatcher.dispatchAndStart();
    const admittedAt = world.tasks.get(task.id)!.admittedAt;
    expect(admittedAt).toBe(new Date(T0 + 1000).toISOString()); // the clock after its enqueue
    await lifecycle.transition(task.id, { to: 'submitted', upstreamId: 'gen-1' });
    const waiting = world.enqueue('b', 'waits');
    await lifecycle.transition(task.id, { to: 'accepted', resubmitOf: 'gen-1', reason: 'Job failed' });
    expect(world.slots[0]!.holder).toBe(task.id);
    expect(isQueued(world.tasks.get(waiting.id)!)).toBe(true);
    expect(world.tasks.get(task.id)!.admittedAt).toBe(admittedAt); // still admitted, as before: the poll submits it again
  });
});

describe('describeDuration', () => {
  it('names a wait in the largest whole unit that fits', () => {
    expect(describeDuration(24 * 3600 * 1000)).toBe('24 hours');
    expect(describeDuration(3600 * 1000)).toBe('60 minutes');
    expect(describeDuration(864 * 1000)).toBe('14 minutes');
    expect(describeDuration(90 * 1000)).toBe('90 seconds');
  });
});
