/**
 * The `[sim:…]` prompt directives that select a deterministic scenario (see the top of simulated-luma.ts).
 * A directive is plain prompt text to the real service; an unknown `[sim:fail:<key>]` is no directive at all.
 */
import { LUMA_FAILURE_REASONS, type LumaFailureReason, type LumaFailureReasonKey } from './contract.ts';

export const SIM_DIRECTIVE_FAIL = '[sim:fail]';
export const SIM_DIRECTIVE_REJECT = '[sim:reject]';
export const SIM_DIRECTIVE_SLOW = '[sim:slow]';
/** Matches `[sim:fail]` and `[sim:fail:<key>]`; capture group 1 is the key, if any. */
export const SIM_DIRECTIVE_FAIL_PATTERN = /\[sim:fail(?::([a-z_]+))?\]/g;
/** Matches `[sim:busy:N]`; capture group 1 is N. */
export const SIM_DIRECTIVE_BUSY_PATTERN = /\[sim:busy:(\d{1,3})\]/;
/** Matches `[sim:lost:N]`; capture group 1 is N. */
export const SIM_DIRECTIVE_LOST_PATTERN = /\[sim:lost:(\d{1,3})\]/;
/** Matches `[sim:fail-first:N]`; capture group 1 is N. */
export const SIM_DIRECTIVE_FAIL_FIRST_PATTERN = /\[sim:fail-first:(\d{1,3})\]/;
/** Matches `[sim:hang-created:N]`; capture group 1 is N. */
export const SIM_DIRECTIVE_HANG_CREATED_PATTERN = /\[sim:hang-created:(\d{1,3})\]/;

/** Builds the `[sim:busy:N]` directive, so tests need not spell it by hand. */
export function simBusyDirective(failures: number): string {
  return `[sim:busy:${failures}]`;
}
/** Builds `[sim:fail:<key>]`. */
export function simFailDirective(key: LumaFailureReasonKey): string {
  return `[sim:fail:${key}]`;
}
/** Builds `[sim:lost:N]`. */
export function simLostDirective(times: number): string {
  return `[sim:lost:${times}]`;
}
/** Builds `[sim:hang-created:N]`. */
export function simHangCreatedDirective(times: number): string {
  return `[sim:hang-created:${times}]`;
}

/** The reason `[sim:fail]` (without a key) gives. */
export const SIM_FAILURE_REASON: LumaFailureReason = LUMA_FAILURE_REASONS.blacklisted;
export const SIM_SLOW_FACTOR = 100;

export interface SimDirectives {
  /** Set by `[sim:fail]` or `[sim:fail:<key>]`: the generation is created, then fails with this reason. */
  failureReason: LumaFailureReason | undefined;
  reject: boolean;
  slow: boolean;
  /** How many submits of this exact prompt answer 503 before one succeeds (0 = none). */
  busyFailures: number;
  /** How many creates of this exact prompt are made upstream but get no answer: the socket is destroyed. */
  lostAnswers: number;
  /** How many creates of this exact prompt are made upstream, then held without an answer and dropped. */
  heldAnswers: number;
  /** How many generations of this exact prompt fail on the upstream's side ("Job failed") before one completes. */
  failFirst: number;
}

export function parseSimDirectives(prompt: string): SimDirectives {
  const count = (pattern: RegExp) => Number(pattern.exec(prompt)?.[1] ?? 0);
  return {
    failureReason: failureReasonOf(prompt),
    reject: prompt.includes(SIM_DIRECTIVE_REJECT),
    slow: prompt.includes(SIM_DIRECTIVE_SLOW),
    busyFailures: count(SIM_DIRECTIVE_BUSY_PATTERN),
    lostAnswers: count(SIM_DIRECTIVE_LOST_PATTERN),
    heldAnswers: count(SIM_DIRECTIVE_HANG_CREATED_PATTERN),
    failFirst: count(SIM_DIRECTIVE_FAIL_FIRST_PATTERN),
  };
}

function failureReasonOf(prompt: string): LumaFailureReason | undefined {
  for (const [, key] of prompt.matchAll(SIM_DIRECTIVE_FAIL_PATTERN)) {
    if (key === undefined) return SIM_FAILURE_REASON;
    if (Object.hasOwn(LUMA_FAILURE_REASONS, key)) return LUMA_FAILURE_REASONS[key as LumaFailureReasonKey];
  }
  return undefined;
}
