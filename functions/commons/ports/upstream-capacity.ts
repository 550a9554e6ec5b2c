/**
 * The upstream account's capacity, which the gateway keeps below: a fixed number of slots, each held by at
 * most one task, and the creates a minute.
 */
import type { CapacityLimits, Slot } from '../domain/capacity.ts';

export interface UpstreamCapacity {
  readonly limits: CapacityLimits;
  /**
   * Takes the slot for the task if it is free; false when someone was faster. Its lease lasts until the
   * task's generation deadline, and a margin. Never idempotent for a holder: two dispatchers admitting
   * one task take two slots, and the one that loses gives back its own.
   */
  take(index: number, holder: { id: string; owner: string; deadline: string }, now?: number): Promise<boolean>;
  /** Frees whichever slot the task holds; true when one was freed, false when it held none. */
  release(taskId: string): Promise<boolean>;
  /** Frees this one slot if the task holds it: a dispatcher that lost a race gives back only what it took. */
  giveBack(index: number, taskId: string): Promise<boolean>;
  /** Every slot, its holder and the holder's owner, read consistently. */
  slots(): Promise<Slot[]>;
  /**
   * Counts one create in the current minute's window, unless the window is full. Submits ask this just
   * before creating: an admitted task whose create would exceed the upstream's rate waits, keeping its slot.
   */
  countCreate(now?: number): Promise<{ allowed: boolean; secondsLeft: number }>;
}
