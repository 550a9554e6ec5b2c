/**
 * A generation over time, a pure function of its record and the clock: the `[sim:…]` prompt directives that
 * select a deterministic scenario (see the top of simulated-luma.ts), the state at any instant, the instants
 * it changes (the callbacks' schedule), and its rendering as Luma's Generation object.
 *
 * A directive is plain prompt text to the real service; an unknown `[sim:fail:<key>]` is no directive at all.
 */
import { scaledMs } from '../time-scale.ts';
import { LUMA_FAILURE_REASONS, type LumaFailureReason, type LumaFailureReasonKey } from './contract.ts';
import type { GenerationState, LumaAssets, LumaEchoedRequest, LumaGeneration } from './contract.ts';

// ---------------------------------------------------------------------------
// Directives
// ---------------------------------------------------------------------------

export const SIM_DIRECTIVE_FAIL = '[sim:fail]';
export const SIM_DIRECTIVE_REJECT = '[sim:reject]';
export const SIM_DIRECTIVE_SLOW = '[sim:slow]';
export const SIM_DIRECTIVE_HOLD_ASSETS = '[sim:hold-assets]';
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
/** How long `[sim:hold-assets]` holds an asset request after the generation completed, before scaling. */
export const SIM_ASSET_HOLD_SECONDS = 60;

export interface SimDirectives {
  /** Set by `[sim:fail]` or `[sim:fail:<key>]`: the generation is created, then fails with this reason. */
  failureReason: LumaFailureReason | undefined;
  reject: boolean;
  slow: boolean;
  /** `[sim:hold-assets]`: the assets answer only SIM_ASSET_HOLD_SECONDS (scaled) after completion, like a slow CDN. */
  holdAssets: boolean;
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
    holdAssets: prompt.includes(SIM_DIRECTIVE_HOLD_ASSETS),
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

// ---------------------------------------------------------------------------
// State over time
// ---------------------------------------------------------------------------

export type SimOutcome = 'complete' | 'fail';

export interface SimTiming {
  timeScale: number;
  queuedSeconds: number;
  dreamingSeconds: number;
}

/** What is persisted per generation; everything else is derived from it. */
export interface SimGenerationRecord {
  id: string;
  /** Luma's format, with microseconds. */
  created_at: string;
  /** The request as Luma echoes it, defaults filled in. */
  request: LumaEchoedRequest;
  outcome: SimOutcome;
  /** The reason a `fail` outcome reports. */
  failure_reason?: string;
  /** Made by another client of the account: not counted in creates, concurrency or generations(). */
  foreign?: true;
}

/** Phase lengths in milliseconds for one generation, after scaling and [sim:slow]. */
export function phaseDurationsMs(timing: SimTiming, slow: boolean): { queuedMs: number; dreamingMs: number } {
  const slowFactor = slow ? SIM_SLOW_FACTOR : 1;
  return {
    queuedMs: scaledMs(timing.queuedSeconds, timing.timeScale),
    dreamingMs: scaledMs(timing.dreamingSeconds * slowFactor, timing.timeScale),
  };
}

/** Another client's prompt is not ours to interpret: its generations follow the normal timeline. */
function recordPhasesMs(record: SimGenerationRecord, timing: SimTiming): { queuedMs: number; dreamingMs: number } {
  return phaseDurationsMs(timing, !record.foreign && parseSimDirectives(record.request.prompt).slow);
}

export function generationStateAt(record: SimGenerationRecord, nowMs: number, timing: SimTiming): GenerationState {
  const elapsedMs = nowMs - Date.parse(record.created_at);
  const { queuedMs, dreamingMs } = recordPhasesMs(record, timing);
  if (elapsedMs < queuedMs) return 'queued';
  if (elapsedMs < queuedMs + dreamingMs) return 'dreaming';
  return record.outcome === 'fail' ? 'failed' : 'completed';
}

/**
 * The instants (epoch ms) at which the generation changes to dreaming and then to its end state: the
 * changes Luma calls back for. A phase of zero length is skipped, as nobody could ever see it.
 */
export function stateChangesMs(record: SimGenerationRecord, timing: SimTiming): { state: GenerationState; atMs: number }[] {
  const createdMs = Date.parse(record.created_at);
  const { queuedMs, dreamingMs } = recordPhasesMs(record, timing);
  const changes: { state: GenerationState; atMs: number }[] = [];
  if (dreamingMs > 0) changes.push({ state: 'dreaming', atMs: createdMs + queuedMs });
  changes.push({ state: record.outcome === 'fail' ? 'failed' : 'completed', atMs: createdMs + queuedMs + dreamingMs });
  return changes;
}

/**
 * From when (epoch ms) the generation's assets are answered: at once, or SIM_ASSET_HOLD_SECONDS (scaled)
 * after it completed, for `[sim:hold-assets]` (not for another client's generation).
 */
export function assetsAnsweredFromMs(record: SimGenerationRecord, timing: SimTiming): number {
  const completedMs = stateChangesMs(record, timing).at(-1)!.atMs;
  const hold = !record.foreign && parseSimDirectives(record.request.prompt).holdAssets;
  return hold ? completedMs + scaledMs(SIM_ASSET_HOLD_SECONDS, timing.timeScale) : completedMs;
}

export function isActiveState(state: GenerationState): boolean {
  return state === 'queued' || state === 'dreaming';
}

export function assetUrls(baseUrl: string, id: string): LumaAssets {
  return {
    video: `${baseUrl}/assets/${id}/video.mp4`,
    image: `${baseUrl}/assets/${id}/thumbnail.jpg`,
    progress_video: null,
  };
}

/** The Generation object as Luma returns it at time `nowMs`. */
export function renderGeneration(record: SimGenerationRecord, nowMs: number, timing: SimTiming, baseUrl: string): LumaGeneration {
  const state = generationStateAt(record, nowMs, timing);
  return {
    id: record.id,
    generation_type: 'video',
    state,
    failure_reason: state === 'failed' ? (record.failure_reason ?? LUMA_FAILURE_REASONS.job_failed) : null,
    created_at: record.created_at,
    model: record.request.model,
    assets: state === 'completed' ? assetUrls(baseUrl, record.id) : null,
    request: record.request,
  };
}
