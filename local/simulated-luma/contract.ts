/**
 * The Luma Dream Machine API contract the simulator speaks: the accepted values, the `detail` messages,
 * the shapes of a request and a Generation, and the submit validation. Pure: no I/O.
 */

export const LUMA_VIDEO_MODELS = ['ray-2', 'ray-flash-2'] as const;
export const LUMA_ASPECT_RATIOS = ['1:1', '16:9', '9:16', '4:3', '3:4', '21:9', '9:21'] as const;
export const LUMA_RESOLUTIONS = ['540p', '720p', '1080p', '4k'] as const;
export const LUMA_DURATIONS = ['5s', '9s'] as const;
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

export type GenerationState = 'queued' | 'dreaming' | 'completed' | 'failed';

export type LumaKeyframe = { type: 'image'; url: string } | { type: 'generation'; id: string };

/** The validated body; extra fields are kept so the echo in `request` is faithful. */
export interface LumaVideoRequest {
  model: (typeof LUMA_VIDEO_MODELS)[number];
  prompt: string;
  aspect_ratio?: (typeof LUMA_ASPECT_RATIOS)[number];
  loop?: boolean;
  keyframes?: { frame0?: LumaKeyframe; frame1?: LumaKeyframe };
  callback_url?: string;
  resolution?: string;
  duration?: string;
  [extra: string]: unknown;
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
  request: LumaVideoRequest;
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
    checkEnum('duration', body.duration, LUMA_DURATIONS);
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

function checkLoopWithEndFrame(loop: unknown, keyframes: unknown): string | undefined {
  const hasEndFrame = isPlainObject(keyframes) && !isAbsent(keyframes.frame1);
  return loop === true && hasEndFrame ? DETAIL_LOOP_END_FRAME : undefined;
}

/** Parses `?limit=&offset=`; Luma's defaults are limit 10 and offset 0. */
export function parsePagination(params: URLSearchParams): { ok: true; limit: number; offset: number } | { ok: false; detail: string } {
  const limit = parseNonNegativeInt(params.get('limit'), 10);
  const offset = parseNonNegativeInt(params.get('offset'), 0);
  if (limit === undefined || limit < 1 || limit > 100) return { ok: false, detail: 'limit must be an integer between 1 and 100' };
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
