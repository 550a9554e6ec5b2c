/**
 * A generation's state as a pure function of the time since it was created, and its rendering as Luma's
 * Generation object.
 */
import { SIM_SLOW_FACTOR, parseSimDirectives } from './directives.ts';
import { LUMA_FAILURE_REASONS } from './contract.ts';
import type { GenerationState, LumaAssets, LumaEchoedRequest, LumaGeneration } from './contract.ts';

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
    queuedMs: timing.queuedSeconds * timing.timeScale * 1000,
    dreamingMs: timing.dreamingSeconds * timing.timeScale * slowFactor * 1000,
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
