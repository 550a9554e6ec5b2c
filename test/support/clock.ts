/**
 * A clock a test controls, for the simulated upstream (`SimulatedLumaOptions.clock`): it follows the system
 * clock until frozen; frozen, it stands still (every generation stays where it is) and moves only when the
 * test advances it; thawed, it follows the system clock again. Tests wait on this clock, never on a race
 * with the wall clock.
 */
import type { SimClock } from '../../local/simulated-luma.ts';

export class TestClock implements SimClock {
  #frozenAt: number | undefined;

  constructor(options: { frozen?: boolean } = {}) {
    if (options.frozen) this.freeze();
  }

  now(): number {
    return this.#frozenAt ?? Date.now();
  }

  /** Stops the clock where it is. */
  freeze(): this {
    this.#frozenAt ??= Date.now();
    return this;
  }

  /** Moves a frozen clock forward. */
  advance(ms: number): void {
    if (this.#frozenAt === undefined) throw new Error('Only a frozen clock can be advanced');
    this.#frozenAt += ms;
  }

  /** Follows the system clock again: a jump forward by the time it stood still. */
  thaw(): void {
    if (this.#frozenAt !== undefined && this.#frozenAt > Date.now()) throw new Error('A clock advanced past the system clock cannot thaw: it would run backwards');
    this.#frozenAt = undefined;
  }
}
