/**
 * The dispatcher: while an upstream slot is free, it gives it to the next task by fair share
 * (domain/fair-share.ts) and starts that task's workflow. A queued task has no workflow execution, so it
 * costs nothing while it waits; its execution starts here, at its admission.
 *
 * Anyone may ask for a dispatch at any time: the API after recording a task, the lifecycle after a change
 * that freed a slot, the reconciler on every run (the safety net for a lost wake-up). One runs at a time
 * (adapters/dispatch-lease.ts): who finds it running leaves a note, and the running one goes round again.
 * Every step is conditional as well — a slot is taken only if free, a task is marked admitted only if
 * still queued — so no task is admitted twice nor two tasks put in one slot, even by a dispatcher whose
 * lease ran out; the loser of such a race gives back what it took and moves on.
 *
 * It reads the slots (one batch), the owners with tasks waiting (an index of tenants, not of tasks), and
 * each candidate owner's head (a few index entries, each confirmed with a consistent read, because the
 * index lags behind the table). Nothing reads a whole queue: each owner's queue is in arrival order and
 * its queue deadline is arrival + a fixed timeout, so only heads can have expired.
 */
import { randomUUID } from 'node:crypto';
import { isFree, runningByOwner, type Slot } from '../domain/capacity.ts';
import { chooseNext, shareGroups, type Candidate } from '../domain/fair-share.ts';
import { awaitsAdmission, isQueued, type Task } from '../domain/task.ts';
import { log } from '../log.ts';
import { systemClock, type Clock } from '../clock.ts';
import type { TaskStore } from '../ports/task-store.ts';
import type { UpstreamCapacity } from '../ports/upstream-capacity.ts';
import type { OwnerQueue, OwnerRecord } from '../ports/owner-queue.ts';
import type { Workflow } from '../ports/workflow.ts';
import type { DispatchLease } from '../ports/dispatch-lease.ts';

/** The API's own task, which the indexes may not show yet: it is considered as its owner's head too. */
export interface DispatchHint {
  owner: string;
  taskId: string;
}

export interface DispatchOptions {
  hint?: DispatchHint;
  /** Called as each task is admitted (dispatchAndStart starts its workflow there). */
  onAdmitted?: (taskId: string) => void;
  /**
   * When another dispatcher runs, try again for a moment (about 0.25 s) before leaving it a note: whoever
   * freed a slot, and the API when its own task is its owner's next (submitted while the client waits
   * only if this request admits it). Not every request of a burst: each try is a write, and they would
   * queue up behind one another for the lease.
   */
  waitForLease?: boolean;
  /**
   * Rounds at most, while notes are left, before letting go and leaving the notes to the next dispatcher.
   * The API does one: its client is waiting, and the next request, or the next release, dispatches.
   * @default 5
   */
  rounds?: number;
}

export interface DispatchResult {
  /** Tasks admitted, in the order they were given their slots. */
  admitted: string[];
  /** Queued tasks failed because they waited past their queue deadline. */
  expired: string[];
  /** Another dispatcher was running: it was left a note, and dispatches again before it stops. */
  deferred?: boolean;
}

export interface DispatchDeps {
  tasks: Pick<TaskStore, 'get' | 'transition' | 'admit' | 'queued'>;
  capacity: Pick<UpstreamCapacity, 'slots' | 'take' | 'giveBack'>;
  queue: Pick<OwnerQueue, 'waitingOwners' | 'get' | 'dequeue'>;
  lease: Pick<DispatchLease, 'acquire' | 'release' | 'abandon'>;
  workflow: Pick<Workflow, 'start'>;
  generationTimeoutSeconds: number;
  clock?: Clock;
}

/** Index entries read per query for an owner's head; stale ones (tasks that just left) are skipped. */
const HEAD_PAGE = 5;
/** At most this many stale entries are skipped for one owner in one dispatch; the rest wait for the next. */
const MAX_STALE_PER_OWNER = 50;
/** A dispatcher goes round again while notes are left, at most this many times (DispatchOptions.rounds). */
const MAX_ROUNDS = 5;
/** Pauses between tries for a held lease, when waiting for it: a round takes less. */
const LEASE_RETRY_MS = [25, 75, 150];

interface Waiting extends Omit<Candidate, 'head'> {
  record: OwnerRecord;
  /** The owner's current head; undefined until read; null when the owner has none to offer now. */
  headTask?: Task | null;
  /** The last ticket this dispatch moved past, so the next head is read after it. */
  after?: number;
  hint?: string;
}

export class Dispatcher {
  constructor(private readonly deps: DispatchDeps) {}

  /**
   * Admits tasks while slots are free and starts the workflow of each as soon as it is admitted; returns
   * what it admitted and expired.
   */
  async dispatchAndStart(options: DispatchOptions = {}): Promise<DispatchResult> {
    const starts: Promise<void>[] = [];
    const result = await this.dispatch({ ...options, onAdmitted: (taskId) => void starts.push(this.start([taskId])) });
    await Promise.all(starts);
    return result;
  }

  /**
   * Starts the workflow of each admitted task. A start that fails is logged and left to the reconciler,
   * which starts the missing execution of an admitted task.
   */
  async start(taskIds: readonly string[]): Promise<void> {
    await Promise.all(
      taskIds.map((taskId) =>
        this.deps.workflow.start({ taskId }).catch((error: Error) => {
          log({ level: 'error', msg: 'workflow not started; left to the reconciler', taskId, error: error.name });
        }),
      ),
    );
  }

  /**
   * Admits tasks while slots are free, without starting their workflows (the API submits its own first),
   * if no other dispatcher is running; otherwise leaves it a note and returns `deferred`.
   */
  async dispatch(options: DispatchOptions = {}): Promise<DispatchResult> {
    const result: DispatchResult = { admitted: [], expired: [] };
    // A cheap look first: with every slot taken (a burst's usual case) there is nothing to dispatch, and
    // whoever frees a slot dispatches after freeing it.
    if (!(await this.anySlotFree())) return result;
    const holder = randomUUID();
    if (!(await this.acquireLease(holder, options.waitForLease ?? false))) return { ...result, deferred: true };
    try {
      for (let round = 1; ; round++) {
        await this.dispatchOnce(options, result);
        if (round >= (options.rounds ?? MAX_ROUNDS)) {
          await this.deps.lease.abandon(holder);
          return result;
        }
        if (await this.deps.lease.release(holder)) return result;
      }
    } catch (error) {
      await this.deps.lease.abandon(holder).catch(() => undefined); // its expiry frees it otherwise
      throw error;
    }
  }

  private async anySlotFree(): Promise<boolean> {
    const now = this.now().getTime();
    return (await this.deps.capacity.slots()).some((slot) => isFree(slot, now));
  }

  /** Takes the lease; the note for the holder is left only by the last try. */
  private async acquireLease(holder: string, patient: boolean): Promise<boolean> {
    const tries = patient ? LEASE_RETRY_MS.length + 1 : 1;
    for (let attempt = 1; ; attempt++) {
      if (await this.deps.lease.acquire(holder, attempt === tries)) return true;
      if (attempt === tries) return false;
      await new Promise((resume) => setTimeout(resume, LEASE_RETRY_MS[attempt - 1]));
    }
  }

  /**
   * Fails the queued heads that waited past their queue deadline, for every waiting owner, whether or not
   * a slot is free (the reconciler: a queue deadline must hold while the slots stay busy for longer than
   * it). Without the lease: failing a queued task takes no slot, and is conditional on its version.
   */
  async expireHeads(): Promise<string[]> {
    const result: DispatchResult = { admitted: [], expired: [] };
    const now = this.now().getTime();
    const running = runningByOwner(await this.deps.capacity.slots(), now);
    for (const owner of await this.waitingOwners(running, undefined)) await this.headOf(owner, result);
    return result.expired;
  }

  /** One round: fills the free slots (and, asked to, fails expired heads). */
  private async dispatchOnce(options: DispatchOptions, result: DispatchResult): Promise<void> {
    const now = this.now();
    const slots = await this.deps.capacity.slots();
    let free = slots.filter((slot) => isFree(slot, now.getTime()));
    if (free.length === 0) return;

    const running = runningByOwner(slots, now.getTime());
    const owners = await this.waitingOwners(running, options.hint);

    // Bounded however the races go: every turn admits, expires or moves past a task, or stops.
    for (let turn = 0; free.length > 0 && turn < 10 * slots.length + 100; turn++) {
      const next = await this.nextCandidate(owners, result);
      if (!next) break;
      const task = next.headTask!;
      // The moment of this admission, not of the dispatch's start: a long dispatch admits over time.
      const at = this.now();
      const slot = await this.takeSlot(free, task, at);
      if (!slot) break; // others took every free slot: they dispatch
      free = free.filter((candidate) => candidate !== slot);
      const marked = await this.deps.tasks.admit(task.id, at, this.deps.generationTimeoutSeconds);
      if (!marked) {
        // Admitted by another dispatcher, or failed, meanwhile: the slot we took goes back, and we move on.
        if (await this.deps.capacity.giveBack(slot.index, task.id)) free.push(slot);
      } else {
        await this.deps.queue.dequeue(next.tenant.owner, at);
        next.running++;
        // Its turn is taken: later than any other this dispatch recorded, even within one millisecond.
        next.tenant.lastServedAt = new Date(at.getTime() + result.admitted.length).toISOString();
        result.admitted.push(task.id);
        options.onAdmitted?.(task.id);
        log({ msg: 'task admitted', taskId: task.id, owner: next.tenant.owner, slot: slot.index });
      }
      this.moveOn(next);
    }
  }

  /**
   * Gives a task recorded before the queue existed (no ticket) a free slot directly, outside the fair
   * share: its own workflow asks, as it did then. True when the task is admitted now.
   */
  async admitAlone(task: Task): Promise<boolean> {
    if (!awaitsAdmission(task)) return Boolean(task.admittedAt);
    const now = this.now();
    const free = (await this.deps.capacity.slots()).filter((slot) => isFree(slot, now.getTime()));
    const slot = await this.takeSlot(free, task, now);
    if (!slot) return false;
    if (await this.deps.tasks.admit(task.id, now, this.deps.generationTimeoutSeconds)) return true;
    await this.deps.capacity.giveBack(slot.index, task.id);
    return false;
  }

  private now(): Date {
    return (this.deps.clock ?? systemClock)();
  }

  private async waitingOwners(running: Map<string, number>, hint: DispatchHint | undefined): Promise<Waiting[]> {
    const records = await this.deps.queue.waitingOwners();
    if (hint && !records.some((record) => record.owner === hint.owner)) {
      // The index of waiting owners may not show the hint's owner yet.
      const record = await this.deps.queue.get(hint.owner);
      if (record) records.push(record);
    }
    return records.map((record) => ({
      record,
      tenant: { owner: record.owner, weight: record.weight, maxRunning: record.maxRunning, lastServedAt: record.lastServedAt },
      running: running.get(record.owner) ?? 0,
      ...(hint?.owner === record.owner && { hint: hint.taskId }),
    }));
  }

  /**
   * The next candidate by fair share, with its head read: the owners are taken a group of equal share at a
   * time, fewest running first, and only that group's heads are read; an owner without a head (its queue
   * emptied meanwhile) drops out. A head past its queue deadline is failed on the way.
   */
  private async nextCandidate(owners: Waiting[], result: DispatchResult): Promise<Waiting | undefined> {
    for (const group of shareGroups(owners)) {
      const withHeads: (Waiting & Candidate)[] = [];
      for (const owner of group) {
        const head = await this.headOf(owner, result);
        if (head) withHeads.push({ ...owner, head: { id: head.id, ticket: head.queueTicket!, createdAt: head.createdAt } });
      }
      const chosen = chooseNext(withHeads);
      if (chosen) return owners.find((owner) => owner.tenant.owner === chosen.tenant.owner);
    }
    return undefined;
  }

  /** The owner's head, read once per position, with any expired heads failed first. */
  private async headOf(owner: Waiting, result: DispatchResult): Promise<Task | null> {
    for (;;) {
      if (owner.headTask === undefined) owner.headTask = await this.readHead(owner);
      const head = owner.headTask;
      if (!head || this.now().getTime() <= Date.parse(head.deadline)) return head;
      await this.expire(head);
      result.expired.push(head.id);
      this.moveOn(owner);
    }
  }

  /**
   * The first task still queued in the owner's queue after the position reached: index entries are
   * confirmed with a consistent read and skipped when stale. The hint (the API's own task, perhaps not in
   * the index yet) is the head when nothing older is confirmed.
   */
  private async readHead(owner: Waiting): Promise<Task | null> {
    const isHead = (task: Task | undefined): task is Task =>
      task !== undefined && isQueued(task) && task.owner === owner.tenant.owner && (owner.after === undefined || task.queueTicket! > owner.after);
    let head: Task | undefined;
    let after = owner.after;
    for (let read = 0; !head && read < MAX_STALE_PER_OWNER; read += HEAD_PAGE) {
      const entries = await this.deps.tasks.queued(owner.tenant.owner, HEAD_PAGE, after);
      for (const entry of entries) {
        const task = await this.deps.tasks.get(entry.id);
        if (isHead(task)) {
          head = task;
          break;
        }
        after = entry.ticket; // left the queue: the index has not caught up yet
      }
      if (entries.length < HEAD_PAGE) break;
    }
    if (owner.hint && (!head || owner.hint !== head.id)) {
      const hinted = await this.deps.tasks.get(owner.hint);
      if (isHead(hinted) && (!head || hinted.queueTicket! < head.queueTicket!)) head = hinted;
      if (!isHead(hinted)) owner.hint = undefined;
    }
    return head ?? null;
  }

  /** Past the current head: the next read starts after its ticket. */
  private moveOn(owner: Waiting): void {
    const head = owner.headTask;
    if (head) {
      owner.after = head.queueTicket;
      if (owner.hint === head.id) owner.hint = undefined;
    }
    owner.headTask = undefined;
  }

  /** A free slot for the task, trying them from a random one so that concurrent dispatchers mostly differ. */
  private async takeSlot(free: Slot[], task: Task, now: Date): Promise<Slot | undefined> {
    const deadline = new Date(now.getTime() + this.deps.generationTimeoutSeconds * 1000).toISOString();
    const offset = Math.floor(Math.random() * free.length);
    for (let i = 0; i < free.length; i++) {
      const slot = free[(offset + i) % free.length]!;
      if (await this.deps.capacity.take(slot.index, { id: task.id, owner: task.owner, deadline }, now.getTime())) return slot;
    }
    return undefined;
  }

  /** Fails a queued task that waited past its queue deadline (the lifecycle takes it out of its queue). */
  private async expire(task: Task): Promise<void> {
    const waited = describeDuration(Date.parse(task.deadline) - Date.parse(task.createdAt));
    await this.deps.tasks.transition(task.id, {
      to: 'failed',
      failure: {
        code: 'deadline_exceeded',
        reason: `The generation waited more than ${waited} for an upstream slot. Try again later.`,
      },
    });
    log({ level: 'warn', msg: 'queued task expired', taskId: task.id, owner: task.owner });
  }
}

/** "24 hours", "90 minutes", "40 seconds": the largest unit that describes it in whole numbers, roughly. */
export function describeDuration(ms: number): string {
  const seconds = Math.round(ms / 1000);
  if (seconds >= 2 * 3600) return `${Math.round(seconds / 3600)} hours`;
  if (seconds >= 2 * 60) return `${Math.round(seconds / 60)} minutes`;
  return `${seconds} seconds`;
}
