/**
 * A clock a test controls, for the simulated upstream (`SimulatedLumaOptions.clock`): it follows the system
 * clock until frozen; frozen, it stands still (every generation stays where it is) and moves only when the
 * test advances it; thawed, it runs on with the system clock, from where it stood or from the system
 * clock's time, whichever is later: it never runs backwards. Tests wait on this clock, never on a race
 * with the wall clock.
 */
import type { SimClock } from '../../local/simulated-luma.ts';

export class TestClock implements SimClock {
  #frozenAt: number | undefined;
  /** How far ahead of the system clock it runs, after being advanced past it and thawed. */
  #ahead = 0;

  constructor(options: { frozen?: boolean } = {}) {
    if (options.frozen) this.freeze();
  }

  now(): number {
    return this.#frozenAt ?? Date.now() + this.#ahead;
  }

  /** Stops the clock where it is. */
  freeze(): this {
    this.#frozenAt ??= this.now();
    return this;
  }

  /** Moves a frozen clock forward. */
  advance(ms: number): void {
    if (this.#frozenAt === undefined) throw new Error('Only a frozen clock can be advanced');
    this.#frozenAt += ms;
  }

  /** Runs on again: a jump forward by the time it stood still, unless it was advanced further. */
  thaw(): void {
    if (this.#frozenAt === undefined) return;
    this.#ahead = Math.max(0, this.#frozenAt - Date.now());
    this.#frozenAt = undefined;
  }
}
