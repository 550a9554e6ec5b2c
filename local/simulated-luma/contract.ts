/**
 * The Luma Dream Machine API contract the simulator speaks: the accepted values, the `detail` messages,
 * the shapes of a request and a Generation, and the submit validation. Pure: no I/O. The accepted models,
 * aspect ratios, resolutions and durations are the gateway's one list of Luma's values (luma-options.ts).
 */
import { LUMA_ASPECT_RATIOS, LUMA_DURATIONS, LUMA_MODELS as LUMA_VIDEO_MODELS, LUMA_RESOLUTIONS } from '../../functions/commons/domain/luma-options.ts';

export const PROMPT_MIN_LENGTH = 3;
export const PROMPT_MAX_LENGTH = 5000;
export const MAX_BODY_BYTES = 1024 * 1024;

export const DETAIL_INVALID_API_KEY = 'Invalid API key';
export const DETAIL_NOT_FOUND = 'Generation not found';
export const DETAIL_MODERATION = 'Prompt moderation failed';
export const DETAIL_BUSY = 'Service temporarily unavailable';
export const DETAIL_LOOP_END_FRAME = 'Loop is not supported for end frame';
export const DETAIL_INTERNAL = 'Internal server error';
export const DETAIL_RATE_LIMIT = 'Rate limit exceeded';
export const DETAIL_TOO_MANY_CONCURRENT = 'Too many concurrent generations';
/** Deleting a generation still queued or dreaming: see handleDelete for why the simulator refuses it. */
export const DETAIL_DELETE_IN_PROGRESS = 'Generation is still in progress; it can be deleted once it has completed or failed';

/**
 * Luma's `failure_reason` texts, verbatim from its docs and public code. The keys name them in
 * `[sim:fail:<key>]`. Moderation is reported this way, as a generation that fails after a 201.
 */
export const LUMA_FAILURE_REASONS = {
  blacklisted: 'Contains blacklisted words',
  frame_moderation: 'Frame moderation failed',
  prompt_moderation: 'Advanced prompt moderation failed',
  unreadable_frames: 'Failed to read user input frames',
  job_failed: 'Job failed',
  dispatch_error: 'Error dispatching job',
} as const;
export type LumaFailureReasonKey = keyof typeof LUMA_FAILURE_REASONS;
export type LumaFailureReason = (typeof LUMA_FAILURE_REASONS)[LumaFailureReasonKey];

export type GenerationState = 'queued' | 'dreaming' | 'completed' | 'failed';

export type LumaKeyframe = { type: 'image'; url: string } | { type: 'generation'; id: string };
export type LumaKeyframes = { frame0?: LumaKeyframe | null; frame1?: LumaKeyframe | null };
export type LumaConcept = { key: string };

/** The fields of a create body that Luma knows. */
export interface LumaRequestFields {
  model: (typeof LUMA_VIDEO_MODELS)[number];
  prompt: string;
  aspect_ratio?: (typeof LUMA_ASPECT_RATIOS)[number] | null;
  loop?: boolean | null;
  keyframes?: LumaKeyframes | null;
  callback_url?: string | null;
  resolution?: (typeof LUMA_RESOLUTIONS)[number] | null;
  duration?: (typeof LUMA_DURATIONS)[number] | null;
  concepts?: LumaConcept[] | null;
}

/** The validated body, as sent (extra fields included; the echo drops them). */
export interface LumaVideoRequest extends LumaRequestFields {
  [extra: string]: unknown;
}

/** `request` in a Generation: the create body with Luma's defaults filled in. */
export interface LumaEchoedRequest {
  generation_type: 'video';
  model: (typeof LUMA_VIDEO_MODELS)[number];
  prompt: string;
  aspect_ratio: (typeof LUMA_ASPECT_RATIOS)[number];
  loop: boolean;
  keyframes: LumaKeyframes | null;
  callback_url: string | null;
  resolution: (typeof LUMA_RESOLUTIONS)[number];
  duration: (typeof LUMA_DURATIONS)[number];
  concepts: LumaConcept[] | null;
}

/**
 * The values Luma echoes for fields left out. `aspect_ratio` "16:9", `loop` false and `duration` "5s" are
 * documented; the default `resolution` is not, "720p" is a guess.
 */
export const LUMA_REQUEST_DEFAULTS = { aspect_ratio: '16:9', loop: false, resolution: '720p', duration: '5s' } as const;

/**
 * The echo of a validated request. Fields Luma does not know are dropped: its echo is its own parsed
 * request model, not the body (inferred, not documented; the stricter of the two for a client that
 * would hide a marker in an extra field).
 */
export function withLumaDefaults(request: LumaRequestFields): LumaEchoedRequest {
  return {
    generation_type: 'video',
    model: request.model,
    prompt: request.prompt,
    aspect_ratio: request.aspect_ratio ?? LUMA_REQUEST_DEFAULTS.aspect_ratio,
    loop: request.loop ?? LUMA_REQUEST_DEFAULTS.loop,
    keyframes: request.keyframes ?? null,
    callback_url: request.callback_url ?? null,
    resolution: request.resolution ?? LUMA_REQUEST_DEFAULTS.resolution,
    duration: request.duration ?? LUMA_REQUEST_DEFAULTS.duration,
    concepts: request.concepts ?? null,
  };
}

export type ValidationResult = { ok: true; request: LumaVideoRequest } | { ok: false; detail: string };

export interface LumaAssets {
  video: string;
  image: string;
  progress_video: null;
}

export interface LumaGeneration {
  id: string;
  generation_type: 'video';
  state: GenerationState;
  failure_reason: string | null;
  created_at: string;
  model: string;
  assets: LumaAssets | null;
  request: LumaEchoedRequest;
}

/** Luma's created_at: ISO 8601 in UTC with microseconds, like `2025-05-16T18:53:39.062856Z`. */
export function formatCreatedAt(epochMicros: number): string {
  const micros = Math.floor(epochMicros);
  const iso = new Date(Math.floor(micros / 1000)).toISOString(); // …T18:53:39.062Z
  return `${iso.slice(0, -1)}${String(((micros % 1000) + 1000) % 1000).padStart(3, '0')}Z`;
}

/** The instant of a created_at in microseconds since the epoch (any number of fractional digits), or NaN. */
export function createdAtMicros(createdAt: string): number {
  const match = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(createdAt);
  if (!match) return Number.NaN;
  const wholeSecondMs = Date.parse(`${match[1]}${match[3]}`);
  return wholeSecondMs * 1000 + Number((match[2] ?? '').padEnd(6, '0').slice(0, 6));
}


/** Checks a submit body the way Luma does; the first problem found wins. */
export function validateGenerationRequest(body: unknown): ValidationResult {
  if (!isPlainObject(body)) return { ok: false, detail: 'Request body must be a JSON object' };
  const detail =
    checkModel(body.model) ??
    checkPrompt(body.prompt) ??
    checkEnum('aspect_ratio', body.aspect_ratio, LUMA_ASPECT_RATIOS) ??
    checkOptionalBoolean('loop', body.loop) ??
    checkKeyframes(body.keyframes) ??
    checkLoopWithEndFrame(body.loop, body.keyframes) ??
    checkOptionalHttpUrl('callback_url', body.callback_url) ??
    checkEnum('resolution', body.resolution, LUMA_RESOLUTIONS) ??
    checkEnum('duration', body.duration, LUMA_DURATIONS) ??
    checkConcepts(body.concepts);
  if (detail !== undefined) return { ok: false, detail };
  return { ok: true, request: body as LumaVideoRequest };
}

function checkModel(model: unknown): string | undefined {
  if (model === undefined || model === null || model === '') return 'Model is required';
  if (!isOneOf(model, LUMA_VIDEO_MODELS)) {
    return `Invalid model ${JSON.stringify(model)}. Supported models: ${LUMA_VIDEO_MODELS.join(', ')}`;
  }
  return undefined;
}

function checkPrompt(prompt: unknown): string | undefined {
  if (typeof prompt !== 'string' || prompt.trim() === '') return 'Prompt is required';
  // Luma counts characters (code points), not UTF-16 units.
  const length = Array.from(prompt).length;
  if (length < PROMPT_MIN_LENGTH) return `Prompt is too short (minimum ${PROMPT_MIN_LENGTH} characters)`;
  if (length > PROMPT_MAX_LENGTH) return `Prompt is too long (maximum ${PROMPT_MAX_LENGTH} characters)`;
  return undefined;
}

function checkEnum(field: string, value: unknown, allowed: readonly string[]): string | undefined {
  if (isAbsent(value) || isOneOf(value, allowed)) return undefined;
  return `Invalid ${field} ${JSON.stringify(value)}. Supported values: ${allowed.join(', ')}`;
}

function checkOptionalBoolean(field: string, value: unknown): string | undefined {
  return isAbsent(value) || typeof value === 'boolean' ? undefined : `${field} must be a boolean`;
}

function checkOptionalHttpUrl(field: string, value: unknown): string | undefined {
  return isAbsent(value) || isHttpUrl(value) ? undefined : `${field} must be an http(s) URL`;
}

function checkKeyframes(keyframes: unknown): string | undefined {
  if (isAbsent(keyframes)) return undefined;
  if (!isPlainObject(keyframes)) return 'keyframes must be an object';
  for (const [name, frame] of Object.entries(keyframes)) {
    if (name !== 'frame0' && name !== 'frame1') return `Unknown keyframe ${JSON.stringify(name)}; expected frame0 or frame1`;
    const problem = checkKeyframe(name, frame);
    if (problem !== undefined) return problem;
  }
  return undefined;
}

function checkKeyframe(name: string, frame: unknown): string | undefined {
  if (isAbsent(frame)) return undefined;
  if (!isPlainObject(frame)) return `Keyframe ${name} must be an object`;
  if (frame.type === 'image') {
    return isHttpUrl(frame.url) ? undefined : `Keyframe ${name} url must be an http(s) URL`;
  }
  if (frame.type === 'generation') {
    return typeof frame.id === 'string' && frame.id !== '' ? undefined : `Keyframe ${name} id is required`;
  }
  return `Keyframe ${name} type must be "image" or "generation"`;
}

function checkConcepts(concepts: unknown): string | undefined {
  if (isAbsent(concepts)) return undefined;
  const valid = Array.isArray(concepts) && concepts.every((concept) => isPlainObject(concept) && typeof concept.key === 'string' && concept.key !== '');
  return valid ? undefined : 'concepts must be a list of {"key": "..."}';
}

function checkLoopWithEndFrame(loop: unknown, keyframes: unknown): string | undefined {
  const hasEndFrame = isPlainObject(keyframes) && !isAbsent(keyframes.frame1);
  return loop === true && hasEndFrame ? DETAIL_LOOP_END_FRAME : undefined;
}

/** The list's page size when `limit` is not given, and the largest one allowed (above it: 400). */
export const LIST_DEFAULT_LIMIT = 100;
export const LIST_MAX_LIMIT = 100;

/** Parses `?limit=&offset=`; Luma's defaults are limit 100 and offset 0. */
export function parsePagination(params: URLSearchParams): { ok: true; limit: number; offset: number } | { ok: false; detail: string } {
  const limit = parseNonNegativeInt(params.get('limit'), LIST_DEFAULT_LIMIT);
  const offset = parseNonNegativeInt(params.get('offset'), 0);
  if (limit === undefined || limit < 1 || limit > LIST_MAX_LIMIT) {
    return { ok: false, detail: `limit must be an integer between 1 and ${LIST_MAX_LIMIT}` };
  }
  if (offset === undefined) return { ok: false, detail: 'offset must be a non-negative integer' };
  return { ok: true, limit, offset };
}

function parseNonNegativeInt(raw: string | null, fallback: number): number | undefined {
  if (raw === null || raw === '') return fallback;
  return /^\d{1,9}$/.test(raw) ? Number(raw) : undefined;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// Luma's schema treats explicit nulls on optional fields as "not given".
export function isAbsent(value: unknown): boolean {
  return value === undefined || value === null;
}

export function isOneOf<T extends string>(value: unknown, allowed: readonly T[]): value is T {
  return typeof value === 'string' && (allowed as readonly string[]).includes(value);
}

export function isHttpUrl(value: unknown): boolean {
  if (typeof value !== 'string') return false;
  try {
    const url = new URL(value);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '';
  } catch {
    return false;
  }
}
