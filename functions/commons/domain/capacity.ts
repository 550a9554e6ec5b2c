/**
 * The upstream's limits as pure rules. Luma allows a number of generations in flight and a number of
 * creates a minute per account (10 and 20 on the Build tier), and answers 429 beyond: the gateway keeps
 * below both, and serves waiting tasks first come, first served.
 */

export interface CapacityLimits {
  maxConcurrent: number;
  maxCreatesPerMinute: number;
}

export interface Slot {
  index: number;
  holder?: string;
  /** Epoch ms after which a holder that never released is presumed gone. */
  leaseUntil?: number;
}

export function isFree(slot: Slot, now: number): boolean {
  return !slot.holder || (slot.leaseUntil ?? 0) < now;
}

/**
 * First come, first served: a task may take a slot only while fewer tasks are ahead of it than there are
 * free slots, so a newcomer never overtakes a task that has been waiting.
 */
export function mayTakeSlot(waitingAhead: number, freeSlots: number): boolean {
  return waitingAhead < freeSlots;
}

/** Creates are counted in fixed one-minute windows. */
export function rateWindow(now: number): { key: string; secondsLeft: number; expiresAt: number } {
  const start = Math.floor(now / 60_000) * 60_000;
  return { key: String(start), secondsLeft: Math.ceil((start + 60_000 - now) / 1000), expiresAt: Math.floor(start / 1000) + 3600 };
}

/** Why a task is not submitted now, and when it is worth asking again. */
export type Admission =
  | { admitted: true }
  | { admitted: false; reason: 'queue' | 'rate' | 'busy'; position: number; retryAfterSeconds?: number };
