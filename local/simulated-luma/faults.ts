/**
 * Fault injection: the kinds, the seeded PRNG that decides them, and the `npm start` variables that set them.
 * Pure: no I/O.
 */
import { randomInt } from 'node:crypto';
import { LUMA_FAILURE_REASONS, isOneOf } from './contract.ts';
import { SETTINGS } from '../../functions/commons/settings/catalogue.ts';
import { SettingsReader } from '../../functions/commons/settings/reader.ts';

/** Every kind of fault the simulator can inject (see the top of simulated-luma.ts). */
export const FAULT_KINDS = [
  'submit_5xx',
  'submit_429',
  'submit_timeout',
  'submit_lost',
  'poll_5xx',
  'poll_429',
  'download_cut',
  'download_garbage',
  'generation_fail',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];
/** The kinds that apply to each kind of request. */
export const SUBMIT_FAULT_KINDS: readonly FaultKind[] = ['submit_5xx', 'submit_429', 'submit_timeout', 'submit_lost', 'generation_fail'];
export const POLL_FAULT_KINDS: readonly FaultKind[] = ['poll_5xx', 'poll_429'];
export const DOWNLOAD_FAULT_KINDS: readonly FaultKind[] = ['download_cut', 'download_garbage'];
export const FAULT_5XX_STATUSES = [500, 502, 503] as const;
/** The reasons an injected generation_fail reports, one drawn per generation: Luma's own faults. */
export const INJECTED_FAILURE_REASONS = [LUMA_FAILURE_REASONS.job_failed, LUMA_FAILURE_REASONS.dispatch_error] as const;
export const DEFAULT_HANG_MS = SETTINGS.simHangMs.default;
export const GARBAGE_HTML = '<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1><p>cloudflare</p></body></html>\n';

/**
 * Fault injection, the concurrency limit and the account's other clients; each field is set by the
 * `npm start` variable named beside it.
 */
export interface SimulatedLumaFaults {
  /** SIM_FAULT_RATE: 0..1, default 0. */
  faultRate?: number;
  /** SIM_FAULTS: the kinds that may be injected, default all. */
  faults?: readonly FaultKind[];
  /** SIM_HANG_MS: how long submit_timeout holds a request before dropping it, before timeScale; default 30 000. */
  hangMs?: number;
  /** SIM_MAX_CONCURRENT: at most this many generations queued or dreaming at once; default unlimited. */
  concurrencyLimit?: number;
  /** SIM_SEED: seeds the fault PRNG; default random. */
  seed?: number;
  /** SIM_OTHER_CLIENTS (0 or 1): the account is shared with other clients; default true. */
  otherClients?: boolean;
  /** SIM_CALLBACKS (0 or 1): callbacks are sent, as Luma sends them; 0: none, as if every one were lost. Default true. */
  callbacks?: boolean;
}

/** mulberry32: a small, fast, seedable PRNG; returns numbers in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Decides one request's fault: one draw for whether (probability `rate`), one more for which of
 * `candidates` when there is one. Draws nothing when no fault is possible, so a rate of 0 leaves the
 * sequence untouched.
 */
export function drawFault(random: () => number, rate: number, candidates: readonly FaultKind[]): FaultKind | undefined {
  if (rate <= 0 || candidates.length === 0) return undefined;
  if (random() >= rate) return undefined;
  return pick(candidates, random());
}

/** Picks one of `choices` with one draw (`u` in [0, 1)). */
export function pick<T>(choices: readonly T[], u: number): T {
  return choices[Math.min(choices.length - 1, Math.floor(u * choices.length))]!;
}

/** How many bytes download_cut sends of a `size`-byte asset: at least one, never all (`u` in [0, 1)). */
export function cutLength(size: number, u: number): number {
  if (size < 2) return 0;
  return Math.min(size - 1, Math.max(1, Math.floor(size * (0.1 + 0.8 * u))));
}

/**
 * Reads SIM_FAULT_RATE, SIM_FAULTS, SIM_HANG_MS, SIM_MAX_CONCURRENT, SIM_SEED, SIM_OTHER_CLIENTS and SIM_CALLBACKS (the
 * settings catalogue's bounds); unset or empty means the default.
 */
export function simulatedLumaFaultsFromEnv(env: Record<string, string | undefined>): SimulatedLumaFaults {
  const settings = SettingsReader.env(env);
  const faults: SimulatedLumaFaults = {};
  const faultRate = settings.number('simFaultRate');
  if (faultRate !== undefined) faults.faultRate = faultRate;
  const list = settings.list('simFaults') ?? [];
  const unknown = list.filter((kind) => !isOneOf(kind, FAULT_KINDS));
  if (unknown.length > 0) throw new Error(`SIM_FAULTS: unknown fault kind(s) ${unknown.join(', ')}; known: ${FAULT_KINDS.join(', ')}.`);
  if (list.length > 0) faults.faults = list as FaultKind[];
  const hangMs = settings.number('simHangMs');
  if (hangMs !== undefined) faults.hangMs = hangMs;
  const concurrencyLimit = settings.number('simMaxConcurrent');
  if (concurrencyLimit !== undefined) faults.concurrencyLimit = concurrencyLimit;
  const seed = settings.number('simSeed');
  if (seed !== undefined) faults.seed = seed;
  const otherClients = settings.choice('simOtherClients');
  if (otherClients !== undefined) faults.otherClients = otherClients === '1';
  const callbacks = settings.choice('simCallbacks');
  if (callbacks !== undefined) faults.callbacks = callbacks === '1';
  return faults;
}

/** The fault options, checked, with their defaults. */
export interface FaultSettings {
  rate: number;
  kinds: ReadonlySet<FaultKind>;
  hangMs: number;
  concurrencyLimit: number;
  seed: number;
}

export function validatedFaults(options: SimulatedLumaFaults): FaultSettings {
  const rate = options.faultRate ?? 0;
  if (!Number.isFinite(rate) || rate < 0 || rate > 1) throw new Error('SimulatedLuma: faultRate must be a number from 0 to 1');
  const kinds = options.faults ?? FAULT_KINDS;
  for (const kind of kinds) {
    if (!isOneOf(kind, FAULT_KINDS)) throw new Error(`SimulatedLuma: unknown fault kind ${JSON.stringify(kind)}`);
  }
  const hangMs = options.hangMs ?? DEFAULT_HANG_MS;
  if (!Number.isFinite(hangMs) || hangMs < 0) throw new Error('SimulatedLuma: hangMs must be a finite number >= 0');
  const limit = options.concurrencyLimit ?? Infinity;
  if (limit !== Infinity && (!Number.isInteger(limit) || limit < 1)) {
    throw new Error('SimulatedLuma: concurrencyLimit must be an integer >= 1 (or unset for no limit)');
  }
  const seed = options.seed ?? randomInt(2 ** 32);
  if (!Number.isSafeInteger(seed)) throw new Error('SimulatedLuma: seed must be an integer');
  return { rate, kinds: new Set(kinds), hangMs, concurrencyLimit: limit, seed };
}

export function emptyFaultCounts(): Record<FaultKind, number> {
  return Object.fromEntries(FAULT_KINDS.map((kind) => [kind, 0])) as Record<FaultKind, number>;
}
