/**
 * The `[sim:…]` prompt directives that select a deterministic scenario (see the top of simulated-luma.ts).
 */

export const SIM_DIRECTIVE_FAIL = '[sim:fail]';
export const SIM_DIRECTIVE_REJECT = '[sim:reject]';
export const SIM_DIRECTIVE_SLOW = '[sim:slow]';
/** Matches `[sim:busy:N]`; capture group 1 is N. */
export const SIM_DIRECTIVE_BUSY_PATTERN = /\[sim:busy:(\d{1,3})\]/;
/** Builds the `[sim:busy:N]` directive, so tests need not spell it by hand. */
export function simBusyDirective(failures: number): string {
  return `[sim:busy:${failures}]`;
}

export const SIM_FAILURE_REASON = 'Prompt contains blacklisted words';
export const SIM_SLOW_FACTOR = 100;

export interface SimDirectives {
  fail: boolean;
  reject: boolean;
  slow: boolean;
  /** How many submits of this exact prompt answer 503 before one succeeds (0 = none). */
  busyFailures: number;
}

export function parseSimDirectives(prompt: string): SimDirectives {
  const busy = SIM_DIRECTIVE_BUSY_PATTERN.exec(prompt);
  return {
    fail: prompt.includes(SIM_DIRECTIVE_FAIL),
    reject: prompt.includes(SIM_DIRECTIVE_REJECT),
    slow: prompt.includes(SIM_DIRECTIVE_SLOW),
    busyFailures: busy ? Number(busy[1]) : 0,
  };
}
