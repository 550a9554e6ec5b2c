/**
 * A generation's state as a pure function of the time since it was created, and its rendering as Luma's
 * Generation object.
 */
import { SIM_FAILURE_REASON, SIM_SLOW_FACTOR, parseSimDirectives } from './directives.ts';
import type { GenerationState, LumaAssets, LumaGeneration, LumaVideoRequest } from './contract.ts';

export type SimOutcome = 'complete' | 'fail';

export interface SimTiming {
  timeScale: number;
  queuedSeconds: number;
  dreamingSeconds: number;
}

/** What is persisted per generation; everything else is derived from it. */
export interface SimGenerationRecord {
  id: string;
  created_at: string;
  request: LumaVideoRequest;
  outcome: SimOutcome;
  /** Set when the failure is not the [sim:fail] one (an injected generation_fail). */
  failure_reason?: string;
}

/** Phase lengths in milliseconds for one generation, after scaling and [sim:slow]. */
export function phaseDurationsMs(timing: SimTiming, slow: boolean): { queuedMs: number; dreamingMs: number } {
  const slowFactor = slow ? SIM_SLOW_FACTOR : 1;
  return {
    queuedMs: timing.queuedSeconds * timing.timeScale * 1000,
    dreamingMs: timing.dreamingSeconds * timing.timeScale * slowFactor * 1000,
  };
}

export function generationStateAt(record: SimGenerationRecord, nowMs: number, timing: SimTiming): GenerationState {
  const elapsedMs = nowMs - Date.parse(record.created_at);
  const { queuedMs, dreamingMs } = phaseDurationsMs(timing, parseSimDirectives(record.request.prompt).slow);
  if (elapsedMs < queuedMs) return 'queued';
  if (elapsedMs < queuedMs + dreamingMs) return 'dreaming';
  return record.outcome === 'fail' ? 'failed' : 'completed';
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
    failure_reason: state === 'failed' ? (record.failure_reason ?? SIM_FAILURE_REASON) : null,
    created_at: record.created_at,
    model: record.request.model,
    assets: state === 'completed' ? assetUrls(baseUrl, record.id) : null,
    request: record.request,
  };
}
