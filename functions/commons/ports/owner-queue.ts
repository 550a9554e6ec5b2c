/**
 * The owners' queues for upstream slots: each owner's counters (tickets handed out, tasks waiting, tasks
 * served) and its share (weight, running cap), and which owners have tasks waiting. The queued tasks
 * themselves are listed by the task store (`queued`), in ticket order.
 */
import type { KeyLimits } from '../domain/api-key.ts';
import type { Tenant } from '../domain/fair-share.ts';

export interface OwnerRecord extends Tenant {
  tickets: number;
  waiting: number;
  served: number;
  lastEnqueuedAt?: string;
}

export interface OwnerQueue {
  /** How long a task may wait in its queue: its queue deadline is its arrival plus this. */
  readonly timeoutSeconds: number;
  /**
   * Takes the owner's next ticket for a task about to be recorded, unless the owner has `maxQueued` tasks
   * waiting (TooManyRequestsError, with a Retry-After). Sets the owner's weight and running cap from the
   * enqueuing key's limits. If the task is then not recorded, `dequeue` gives the place back.
   */
  enqueue(owner: string, limits: KeyLimits): Promise<{ ticket: number; served: number }>;
  /**
   * One of the owner's tasks left its queue: admitted (`servedAt`, the owner's turn for fair share), failed
   * while queued, or never recorded after its ticket was taken.
   */
  dequeue(owner: string, servedAt?: Date): Promise<void>;
  /** The owners with tasks waiting, with their weights and caps, read consistently. */
  waitingOwners(): Promise<OwnerRecord[]>;
  /** The owner's counters and settings, read consistently; undefined for an owner that never queued. */
  get(owner: string): Promise<OwnerRecord | undefined>;
  /** A queued task's place among its owner's own queued tasks (fair-share.ts's queuePosition). */
  position(owner: string, ticket: number): Promise<number>;
  /**
   * Repairs what a crash between a queue's counter and its task left behind: an owner counted as waiting
   * whose queue is empty is set back to nothing waiting. Returns the owners repaired.
   */
  repair(queueIsEmpty: (owner: string) => Promise<boolean>): Promise<number>;
}
