/**
 * The upstream's limits as pure rules. Luma allows a number of generations in flight and a number of
 * creates a minute per account (10 and 20 on the Build tier), and answers 429 beyond: the gateway keeps
 * below both. Who gets a free slot is fair-share.ts's rule.
 */

export interface CapacityLimits {
  maxConcurrent: number;
  maxCreatesPerMinute: number;
}

export interface Slot {
  index: number;
  holder?: string;
  /** The holder's owner, so that the running tasks of each owner are counted from the slots alone. */
  owner?: string;
  /** Epoch ms after which a holder that never released is presumed gone. */
  leaseUntil?: number;
  /** Epoch ms when the holder took it: a holder not admitted a while after is a dispatcher that died between the two. */
  takenAt?: number;
}

export function isFree(slot: Slot, now: number): boolean {
  return !slot.holder || (slot.leaseUntil ?? 0) < now;
}

/** Tasks running upstream (holding a slot) per owner. Slots taken before slots named their owner count for nobody. */
export function runningByOwner(slots: readonly Slot[], now: number): Map<string, number> {
  const running = new Map<string, number>();
  for (const slot of slots) {
    if (isFree(slot, now) || slot.owner === undefined) continue;
    running.set(slot.owner, (running.get(slot.owner) ?? 0) + 1);
  }
  return running;
}

/** Creates are counted in fixed one-minute windows. */
export function rateWindow(now: number): { key: string; secondsLeft: number; expiresAt: number } {
  const start = Math.floor(now / 60_000) * 60_000;
  return { key: String(start), secondsLeft: Math.ceil((start + 60_000 - now) / 1000), expiresAt: Math.floor(start / 1000) + 3600 };
}
