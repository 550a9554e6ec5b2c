/**
 * Simulated Luma Dream Machine API, used by `npm start` when no real upstream is
 * configured and by tests. It speaks the same HTTP API as
 * https://api.lumalabs.ai/dream-machine/v1 (the base URL is http://127.0.0.1:<port>),
 * so the gateway's Luma adapter cannot tell the difference.
 *
 * A generation's state is a pure function of the time since it was created:
 *   queued    for queuedSeconds   * timeScale
 *   dreaming  for dreamingSeconds * timeScale
 *   completed (or failed, see [sim:fail]) afterwards.
 * Deriving state from created_at, rather than running timers, is what lets
 * in-flight generations keep progressing across a restart when `stateFile` is set.
 *
 * Deterministic scenarios, selected by a directive anywhere in the prompt:
 *   [sim:fail]    queued -> dreaming -> failed, failure_reason "Prompt contains blacklisted words".
 *   [sim:reject]  the submit answers 400 {"detail":"Prompt moderation failed"}.
 *   [sim:busy:N]  the first N submits carrying that exact prompt answer 503
 *                 {"detail":"Service temporarily unavailable"}; the next one succeeds.
 *   [sim:slow]    the dreaming phase lasts 100 times longer (deadline tests).
 *
 * Fault injection and an account-style concurrency limit, for load and chaos runs. Options, and the
 * `npm start` environment variables that set them (read by simulatedLumaFaultsFromEnv):
 *   SIM_FAULT_RATE      faultRate         0..1, default 0: the probability that a request gets an
 *                                         injected fault. Every submit, GET /generations/{id} and asset
 *                                         GET is eligible, [sim:…] prompts included; the kind is picked
 *                                         uniformly among the enabled kinds that apply to that request.
 *   SIM_FAULTS          faults            comma list of the kinds that may be injected, default all:
 *     submit_5xx        the submit answers 500, 502 or 503 {"detail":"Internal server error"}; nothing is created.
 *     submit_429        the submit answers 429 {"detail":"Rate limit exceeded"}, Retry-After: 1; nothing is created.
 *     submit_timeout    the submit gets no answer: it is held for hangMs * timeScale, then the connection
 *                       is dropped; nothing is created.
 *     poll_5xx          GET /generations/{id} answers 500, 502 or 503 (the generation is unaffected).
 *     poll_429          GET /generations/{id} answers 429, Retry-After: 1 (the generation is unaffected).
 *     download_cut      an asset GET sends the headers with the full Content-Length and part of the body
 *                       (at least one byte, never all), then destroys the socket.
 *     download_garbage  an asset GET answers 200 Content-Type: text/html with an HTML page.
 *     generation_fail   decided at create time: the generation is created (201) but ends `failed`
 *                       with failure_reason "Internal error during generation".
 *   SIM_HANG_MS         hangMs            default 30000: how long submit_timeout holds a request
 *                                         (times timeScale; at timeScale 1 it outlasts a 10 s client timeout).
 *   SIM_MAX_CONCURRENT  concurrencyLimit  integer >= 1, default unlimited: like Luma's account limit, a
 *                                         create while this many generations are queued or dreaming
 *                                         answers 429 {"detail":"Too many concurrent generations"},
 *                                         Retry-After: 1, and creates nothing.
 *   SIM_SEED            seed              integer, default random: seeds the PRNG (mulberry32) that decides
 *                                         every fault, so the same requests in the same order meet the same
 *                                         faults. The seed in use is `SimulatedLuma.seed`.
 * A submit is handled in this order: body cap (413), injected transport fault (submit_5xx/429/timeout),
 * validation and [sim:reject]/[sim:busy:N], the concurrency limit, then the create (with generation_fail).
 *
 * Deliberate differences from the real service: keyframe URLs are never fetched
 * and callback_url is accepted but never called, so a simulated run never
 * contacts any host other than the caller.
 */
import { randomInt, randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';

// ---------------------------------------------------------------------------
// Public constants
// ---------------------------------------------------------------------------

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

/** Every kind of fault the simulator can inject (see the top of this file). */
export const FAULT_KINDS = [
  'submit_5xx',
  'submit_429',
  'submit_timeout',
  'poll_5xx',
  'poll_429',
  'download_cut',
  'download_garbage',
  'generation_fail',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];
/** The kinds that apply to each kind of request. */
export const SUBMIT_FAULT_KINDS: readonly FaultKind[] = ['submit_5xx', 'submit_429', 'submit_timeout', 'generation_fail'];
export const POLL_FAULT_KINDS: readonly FaultKind[] = ['poll_5xx', 'poll_429'];
export const DOWNLOAD_FAULT_KINDS: readonly FaultKind[] = ['download_cut', 'download_garbage'];
export const FAULT_5XX_STATUSES = [500, 502, 503] as const;
export const SIM_INTERNAL_FAILURE_REASON = 'Internal error during generation';
export const DEFAULT_HANG_MS = 30_000;
export const GARBAGE_HTML = '<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1><p>cloudflare</p></body></html>\n';

const DEFAULT_ASSETS_DIR = fileURLToPath(new URL('./assets/', import.meta.url));
const STATE_FILE_VERSION = 1;

// ---------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------

/** Fault injection and the concurrency limit; each field is set by the `npm start` variable named beside it. */
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
}

export interface SimulatedLumaOptions extends SimulatedLumaFaults {
  apiKey: string;
  timeScale?: number; // default 1
  queuedSeconds?: number; // default 10
  dreamingSeconds?: number; // default 60
  port?: number; // default 0 (free port)
  assetsDir?: string; // default: local/assets next to this file
  stateFile?: string;
}

export interface SimulatedLumaStats {
  /** Generations created (201) by this instance; `generations()` lists them. */
  creates: number;
  /** Submits refused by the body cap, validation, [sim:reject] or [sim:busy:N] (not injected faults, not the concurrency limit). */
  rejected: number;
  /** Submits refused with 429 by the concurrency limit. */
  rejectedConcurrency: number;
  /** Authenticated GET /generations/{id}, including those answered with an injected fault. */
  polls: number;
  /** Asset GETs of completed generations, including those answered with an injected fault (HEADs are not counted). */
  downloads: number;
  /** The most generations that were queued or dreaming at the same instant. */
  maxConcurrent: number;
  /** Faults injected, per kind. */
  injected: Record<FaultKind, number>;
}

/** One generation created by this instance, for matching the gateway's tasks to upstream generations. */
export interface SimCreatedGeneration {
  id: string;
  prompt: string;
  outcome: SimOutcome;
  /** The generation's created_at. */
  createdAt: string;
}

export interface SimulatedLuma {
  readonly baseUrl: string;
  /** The seed of the fault PRNG (the given one, or the random one picked at start). */
  readonly seed: number;
  /** Counters tests assert on; a snapshot. */
  stats(): SimulatedLumaStats;
  /** Every generation this instance created, in creation order (deleted ones included); as long as `stats().creates`. */
  generations(): SimCreatedGeneration[];
  close(): Promise<void>;
}

export type GenerationState = 'queued' | 'dreaming' | 'completed' | 'failed';
export type SimOutcome = 'complete' | 'fail';

export interface SimDirectives {
  fail: boolean;
  reject: boolean;
  slow: boolean;
  /** How many submits of this exact prompt answer 503 before one succeeds (0 = none). */
  busyFailures: number;
}

export interface SimTiming {
  timeScale: number;
  queuedSeconds: number;
  dreamingSeconds: number;
}

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

/** What is persisted per generation; everything else is derived from it. */
export interface SimGenerationRecord {
  id: string;
  created_at: string;
  request: LumaVideoRequest;
  outcome: SimOutcome;
  /** Set when the failure is not the [sim:fail] one (an injected generation_fail). */
  failure_reason?: string;
}

// ---------------------------------------------------------------------------
// Pure parts: directives, validation, state over time, rendering
// ---------------------------------------------------------------------------

export function parseSimDirectives(prompt: string): SimDirectives {
  const busy = SIM_DIRECTIVE_BUSY_PATTERN.exec(prompt);
  return {
    fail: prompt.includes(SIM_DIRECTIVE_FAIL),
    reject: prompt.includes(SIM_DIRECTIVE_REJECT),
    slow: prompt.includes(SIM_DIRECTIVE_SLOW),
    busyFailures: busy ? Number(busy[1]) : 0,
  };
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

// ---------------------------------------------------------------------------
// Pure parts: faults
// ---------------------------------------------------------------------------

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
  return candidates[Math.min(candidates.length - 1, Math.floor(random() * candidates.length))];
}

/** How many bytes download_cut sends of a `size`-byte asset: at least one, never all (`u` in [0, 1)). */
export function cutLength(size: number, u: number): number {
  if (size < 2) return 0;
  return Math.min(size - 1, Math.max(1, Math.floor(size * (0.1 + 0.8 * u))));
}

/** Reads SIM_FAULT_RATE, SIM_FAULTS, SIM_HANG_MS, SIM_MAX_CONCURRENT and SIM_SEED; unset or empty means the default. */
export function simulatedLumaFaultsFromEnv(env: Record<string, string | undefined>): SimulatedLumaFaults {
  const faults: SimulatedLumaFaults = {};
  const raw = (name: string) => {
    const value = env[name]?.trim();
    return value === undefined || value === '' ? undefined : value;
  };
  const rate = raw('SIM_FAULT_RATE');
  if (rate !== undefined) {
    const value = Number(rate);
    if (!Number.isFinite(value) || value < 0 || value > 1) throw new Error(`SIM_FAULT_RATE must be a number from 0 to 1, not "${rate}".`);
    faults.faultRate = value;
  }
  const kinds = raw('SIM_FAULTS');
  if (kinds !== undefined) {
    const list = kinds.split(',').map((kind) => kind.trim()).filter(Boolean);
    const unknown = list.filter((kind) => !isOneOf(kind, FAULT_KINDS));
    if (unknown.length > 0) throw new Error(`SIM_FAULTS: unknown fault kind(s) ${unknown.join(', ')}; known: ${FAULT_KINDS.join(', ')}.`);
    if (list.length > 0) faults.faults = list as FaultKind[];
  }
  const hang = raw('SIM_HANG_MS');
  if (hang !== undefined) {
    const value = Number(hang);
    if (!Number.isFinite(value) || value < 0) throw new Error(`SIM_HANG_MS must be a non-negative number, not "${hang}".`);
    faults.hangMs = value;
  }
  const limit = raw('SIM_MAX_CONCURRENT');
  if (limit !== undefined) {
    if (!/^\d{1,9}$/.test(limit) || Number(limit) < 1) throw new Error(`SIM_MAX_CONCURRENT must be an integer of at least 1, not "${limit}".`);
    faults.concurrencyLimit = Number(limit);
  }
  const seed = raw('SIM_SEED');
  if (seed !== undefined) {
    if (!/^-?\d{1,15}$/.test(seed)) throw new Error(`SIM_SEED must be an integer, not "${seed}".`);
    faults.seed = Number(seed);
  }
  return faults;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// Luma's schema treats explicit nulls on optional fields as "not given".
function isAbsent(value: unknown): boolean {
  return value === undefined || value === null;
}

function isOneOf<T extends string>(value: unknown, allowed: readonly T[]): value is T {
  return typeof value === 'string' && (allowed as readonly string[]).includes(value);
}

function isHttpUrl(value: unknown): boolean {
  if (typeof value !== 'string') return false;
  try {
    const url = new URL(value);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '';
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------
// Persistence
// ---------------------------------------------------------------------------

async function loadRecords(stateFile: string): Promise<SimGenerationRecord[]> {
  let text: string;
  try {
    text = await readFile(stateFile, 'utf8');
  } catch (error) {
    if (isErrnoCode(error, 'ENOENT')) return [];
    throw error;
  }
  // Fail loudly on a damaged file: silently starting empty would make every
  // in-flight generation look like a 404 to the gateway.
  const parsed: unknown = JSON.parse(text);
  if (!isPlainObject(parsed) || parsed.version !== STATE_FILE_VERSION || !Array.isArray(parsed.generations)) {
    throw new Error(`Simulated Luma state file ${stateFile} has an unexpected format`);
  }
  return parsed.generations.map((entry, index) => toRecord(entry, `${stateFile} entry ${index}`));
}

function toRecord(entry: unknown, where: string): SimGenerationRecord {
  const valid =
    isPlainObject(entry) &&
    typeof entry.id === 'string' &&
    typeof entry.created_at === 'string' &&
    !Number.isNaN(Date.parse(entry.created_at)) &&
    (entry.outcome === 'complete' || entry.outcome === 'fail') &&
    (entry.failure_reason === undefined || typeof entry.failure_reason === 'string') &&
    validateGenerationRequest(entry.request).ok;
  if (!valid) throw new Error(`Simulated Luma state file: invalid generation at ${where}`);
  return entry as unknown as SimGenerationRecord;
}

let tempFileCounter = 0;

/** Writes to a sibling temp file then renames, so a crash never leaves half a file. */
async function writeRecordsAtomically(stateFile: string, records: SimGenerationRecord[]): Promise<void> {
  await mkdir(dirname(stateFile), { recursive: true });
  const tempFile = `${stateFile}.${process.pid}.${++tempFileCounter}.tmp`;
  const body = JSON.stringify({ version: STATE_FILE_VERSION, generations: records });
  try {
    await writeFile(tempFile, body, 'utf8');
    await rename(tempFile, stateFile);
  } catch (error) {
    await unlink(tempFile).catch(() => undefined);
    throw error;
  }
}

function isErrnoCode(error: unknown, code: string): boolean {
  return isPlainObject(error) && error.code === code;
}

// ---------------------------------------------------------------------------
// HTTP plumbing
// ---------------------------------------------------------------------------

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly detail: string,
  ) {
    super(detail);
  }
}

type RouteAction = 'ping' | 'create' | 'list' | 'get' | 'delete' | 'asset';

interface RouteSpec {
  pattern: RegExp;
  methods: Partial<Record<string, RouteAction>>;
}

// Order matters: /generations/video must win over /generations/{id}.
const ROUTES: RouteSpec[] = [
  { pattern: /^\/ping$/, methods: { GET: 'ping' } },
  { pattern: /^\/generations\/video$/, methods: { POST: 'create' } },
  { pattern: /^\/generations$/, methods: { POST: 'create', GET: 'list' } },
  { pattern: /^\/generations\/([^/]+)$/, methods: { GET: 'get', DELETE: 'delete' } },
  { pattern: /^\/assets\/([^/]+)\/(video\.mp4|thumbnail\.jpg)$/, methods: { GET: 'asset', HEAD: 'asset' } },
];

export type RouteMatch =
  | { kind: 'found'; action: RouteAction; params: string[] }
  | { kind: 'not-found' }
  | { kind: 'method-not-allowed'; allow: string[] };

export function matchRoute(method: string, pathname: string): RouteMatch {
  for (const route of ROUTES) {
    const match = route.pattern.exec(pathname);
    if (!match) continue;
    const action = route.methods[method];
    if (action === undefined) return { kind: 'method-not-allowed', allow: Object.keys(route.methods) };
    const params = match.slice(1).map(safeDecode);
    if (params.includes(undefined)) return { kind: 'not-found' };
    return { kind: 'found', action, params: params as string[] };
  }
  return { kind: 'not-found' };
}

function safeDecode(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

function sendJson(res: ServerResponse, status: number, payload: unknown, headers: Record<string, string> = {}): void {
  const body = JSON.stringify(payload);
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(body),
    ...headers,
  });
  res.end(body);
}

function sendNoContent(res: ServerResponse): void {
  res.writeHead(204);
  res.end();
}

function hasValidBearer(req: IncomingMessage, apiKey: string): boolean {
  const match = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '');
  return match !== null && match[1]!.trim() === apiKey;
}

/**
 * Reads the whole body but keeps at most `limit` bytes. An oversized body is
 * drained rather than cut off, so the client reliably sees the 413 instead of
 * a reset connection while it is still writing.
 */
async function readBody(req: IncomingMessage, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let received = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    received += chunk.length;
    if (received <= limit) chunks.push(chunk);
  }
  if (received > limit) throw new HttpError(413, `Request body exceeds ${limit} bytes`);
  return Buffer.concat(chunks).toString('utf8');
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new HttpError(400, 'Request body must be valid JSON');
  }
}

function validatedTiming(options: SimulatedLumaOptions): SimTiming {
  const timing: SimTiming = {
    timeScale: options.timeScale ?? 1,
    queuedSeconds: options.queuedSeconds ?? 10,
    dreamingSeconds: options.dreamingSeconds ?? 60,
  };
  for (const [name, value] of Object.entries(timing)) {
    if (!Number.isFinite(value) || value < 0) throw new Error(`SimulatedLuma: ${name} must be a finite number >= 0`);
  }
  return timing;
}

interface FaultSettings {
  rate: number;
  kinds: ReadonlySet<FaultKind>;
  hangMs: number;
  concurrencyLimit: number;
  seed: number;
}

function validatedFaults(options: SimulatedLumaFaults): FaultSettings {
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

function emptyFaultCounts(): Record<FaultKind, number> {
  return Object.fromEntries(FAULT_KINDS.map((kind) => [kind, 0])) as Record<FaultKind, number>;
}

// ---------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------

interface SimContext {
  apiKey: string;
  timing: SimTiming;
  assetsDir: string;
  stateFile: string | undefined;
  baseUrl: string;
  /** Insertion order is creation order, which the list endpoint relies on. */
  records: Map<string, SimGenerationRecord>;
  /** 503s already served per exact prompt, for [sim:busy:N]. */
  busyServed: Map<string, number>;
  counters: SimulatedLumaStats;
  persistChain: Promise<void>;
  faults: FaultSettings;
  /** The fault PRNG; every fault decision draws from it, in request order. */
  random: () => number;
  created: SimCreatedGeneration[];
}

export async function startSimulatedLuma(options: SimulatedLumaOptions): Promise<SimulatedLuma> {
  if (!options.apiKey) throw new Error('SimulatedLuma: apiKey is required');
  const ctx: SimContext = {
    apiKey: options.apiKey,
    timing: validatedTiming(options),
    assetsDir: options.assetsDir ?? DEFAULT_ASSETS_DIR,
    stateFile: options.stateFile,
    baseUrl: '',
    records: new Map(),
    busyServed: new Map(),
    counters: { creates: 0, rejected: 0, rejectedConcurrency: 0, polls: 0, downloads: 0, maxConcurrent: 0, injected: emptyFaultCounts() },
    persistChain: Promise.resolve(),
    faults: validatedFaults(options),
    random: () => 0,
    created: [],
  };
  ctx.random = mulberry32(ctx.faults.seed);
  if (ctx.stateFile) {
    for (const record of await loadRecords(ctx.stateFile)) ctx.records.set(record.id, record);
  }
  ctx.counters.maxConcurrent = countActive(ctx, Date.now());

  const server = createServer((req, res) => void handleRequest(ctx, req, res));
  await listen(server, options.port ?? 0);
  ctx.baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    baseUrl: ctx.baseUrl,
    seed: ctx.faults.seed,
    stats: () => ({ ...ctx.counters, injected: { ...ctx.counters.injected } }),
    generations: () => ctx.created.map((entry) => ({ ...entry })),
    close: () => closeServer(server, ctx),
  };
}

function listen(server: Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    // Loopback only: the simulator must never be reachable from other hosts.
    server.listen({ host: '127.0.0.1', port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

async function closeServer(server: Server, ctx: SimContext): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  // Keep-alive sockets from fetch would otherwise hold close() open for seconds.
  server.closeAllConnections();
  await closed;
  await ctx.persistChain;
}

async function handleRequest(ctx: SimContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  try {
    await dispatch(ctx, req, res);
  } catch (error) {
    if (error instanceof HttpError) {
      sendJson(res, error.status, { detail: error.detail }, error.status === 413 ? { Connection: 'close' } : {});
      return;
    }
    console.error('[simulated-luma] unexpected error', error);
    if (!res.headersSent) sendJson(res, 500, { detail: 'Internal server error' });
    else res.destroy();
  }
}

async function dispatch(ctx: SimContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://127.0.0.1');
  const route = matchRoute(req.method ?? 'GET', url.pathname);
  if (route.kind === 'not-found') return sendJson(res, 404, { detail: 'Not Found' });
  if (route.kind === 'method-not-allowed') {
    return sendJson(res, 405, { detail: 'Method Not Allowed' }, { Allow: route.allow.join(', ') });
  }
  // Asset URLs stand in for Luma's CDN links, which are not authenticated.
  if (route.action === 'asset') return serveAsset(ctx, req, res, route.params[0]!, route.params[1]!);
  if (!hasValidBearer(req, ctx.apiKey)) return sendJson(res, 401, { detail: DETAIL_INVALID_API_KEY });

  switch (route.action) {
    case 'ping':
      return sendJson(res, 200, { message: 'pong' });
    case 'create':
      return handleCreate(ctx, req, res);
    case 'list':
      return handleList(ctx, url, res);
    case 'get':
      return handleGet(ctx, res, route.params[0]!);
    case 'delete':
      return handleDelete(ctx, res, route.params[0]!);
  }
}

async function handleCreate(ctx: SimContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  let request: LumaVideoRequest;
  let fault: FaultKind | undefined;
  try {
    const body = await readBody(req, MAX_BODY_BYTES);
    fault = pickFault(ctx, SUBMIT_FAULT_KINDS);
    if (fault === 'submit_5xx' || fault === 'submit_429') return sendInjectedError(ctx, res, fault);
    if (fault === 'submit_timeout') return hang(ctx, res);
    request = admitSubmit(ctx, parseJson(body));
  } catch (error) {
    if (error instanceof HttpError) ctx.counters.rejected += 1;
    throw error;
  }
  // From here to records.set nothing awaits, so concurrent creates cannot both take the last slot.
  const nowMs = Date.now();
  if (countActive(ctx, nowMs) >= ctx.faults.concurrencyLimit) {
    ctx.counters.rejectedConcurrency += 1;
    return sendJson(res, 429, { detail: DETAIL_TOO_MANY_CONCURRENT }, { 'Retry-After': '1' });
  }
  const injectedFailure = fault === 'generation_fail';
  const directives = parseSimDirectives(request.prompt);
  const record: SimGenerationRecord = {
    id: randomUUID(),
    created_at: new Date(nowMs).toISOString(),
    request,
    outcome: directives.fail || injectedFailure ? 'fail' : 'complete',
    ...(injectedFailure && { failure_reason: SIM_INTERNAL_FAILURE_REASON }),
  };
  ctx.records.set(record.id, record);
  // Generations only become active when created, so the count at each creation instant, taken from
  // the stored timelines (ended ones excluded), sees every peak exactly.
  const activeNow = countActive(ctx, nowMs);
  try {
    await persist(ctx);
  } catch (error) {
    // An unpersisted generation would vanish on restart; refuse it instead.
    ctx.records.delete(record.id);
    throw error;
  }
  ctx.counters.creates += 1;
  if (injectedFailure) ctx.counters.injected.generation_fail += 1;
  ctx.counters.maxConcurrent = Math.max(ctx.counters.maxConcurrent, activeNow);
  ctx.created.push({ id: record.id, prompt: request.prompt, outcome: record.outcome, createdAt: record.created_at });
  sendJson(res, 201, renderGeneration(record, nowMs, ctx.timing, ctx.baseUrl));
}

/** Draws this request's fault among the enabled kinds that apply to it. */
function pickFault(ctx: SimContext, applicable: readonly FaultKind[]): FaultKind | undefined {
  const candidates = applicable.filter((kind) => ctx.faults.kinds.has(kind));
  return drawFault(ctx.random, ctx.faults.rate, candidates);
}

/** Answers an injected *_5xx (500, 502 or 503, drawn) or *_429 fault, and counts it. */
function sendInjectedError(ctx: SimContext, res: ServerResponse, kind: FaultKind): void {
  ctx.counters.injected[kind] += 1;
  if (kind.endsWith('_429')) return sendJson(res, 429, { detail: DETAIL_RATE_LIMIT }, { 'Retry-After': '1' });
  const status = FAULT_5XX_STATUSES[Math.min(FAULT_5XX_STATUSES.length - 1, Math.floor(ctx.random() * FAULT_5XX_STATUSES.length))]!;
  sendJson(res, status, { detail: DETAIL_INTERNAL });
}

/** submit_timeout: never answers; drops the connection after hangMs * timeScale (or when the client or close() does). */
function hang(ctx: SimContext, res: ServerResponse): void {
  ctx.counters.injected.submit_timeout += 1;
  const timer = setTimeout(() => res.destroy(), ctx.faults.hangMs * ctx.timing.timeScale);
  res.once('close', () => clearTimeout(timer));
}

/** Validation, then the [sim:reject] and [sim:busy:N] scenarios; throws HttpError on refusal. */
function admitSubmit(ctx: SimContext, body: unknown): LumaVideoRequest {
  const validation = validateGenerationRequest(body);
  if (!validation.ok) throw new HttpError(400, validation.detail);
  const { prompt } = validation.request;
  const directives = parseSimDirectives(prompt);
  if (directives.reject) throw new HttpError(400, DETAIL_MODERATION);
  const served = ctx.busyServed.get(prompt) ?? 0;
  if (served < directives.busyFailures) {
    ctx.busyServed.set(prompt, served + 1);
    throw new HttpError(503, DETAIL_BUSY);
  }
  return validation.request;
}

function handleList(ctx: SimContext, url: URL, res: ServerResponse): void {
  const page = parsePagination(url.searchParams);
  if (!page.ok) throw new HttpError(400, page.detail);
  const now = Date.now();
  // Luma lists newest first.
  const newestFirst = [...ctx.records.values()].reverse();
  const slice = newestFirst.slice(page.offset, page.offset + page.limit);
  sendJson(res, 200, {
    generations: slice.map((record) => renderGeneration(record, now, ctx.timing, ctx.baseUrl)),
    has_more: page.offset + slice.length < newestFirst.length,
    count: slice.length,
    limit: page.limit,
    offset: page.offset,
  });
}

function handleGet(ctx: SimContext, res: ServerResponse, id: string): void {
  ctx.counters.polls += 1;
  const fault = pickFault(ctx, POLL_FAULT_KINDS);
  if (fault) return sendInjectedError(ctx, res, fault);
  const record = ctx.records.get(id);
  if (!record) throw new HttpError(404, DETAIL_NOT_FOUND);
  sendJson(res, 200, renderGeneration(record, Date.now(), ctx.timing, ctx.baseUrl));
}

async function handleDelete(ctx: SimContext, res: ServerResponse, id: string): Promise<void> {
  if (!ctx.records.delete(id)) throw new HttpError(404, DETAIL_NOT_FOUND);
  await persist(ctx);
  sendNoContent(res);
}

const ASSET_FILES: Record<string, { file: string; contentType: string }> = {
  'video.mp4': { file: 'sample.mp4', contentType: 'video/mp4' },
  'thumbnail.jpg': { file: 'sample.jpg', contentType: 'image/jpeg' },
};

async function serveAsset(ctx: SimContext, req: IncomingMessage, res: ServerResponse, id: string, name: string): Promise<void> {
  const record = ctx.records.get(id);
  // Like a CDN link that does not exist yet: nothing to serve until completed.
  if (!record || generationStateAt(record, Date.now(), ctx.timing) !== 'completed') {
    throw new HttpError(404, 'Asset not found');
  }
  const asset = ASSET_FILES[name]!;
  const path = join(ctx.assetsDir, asset.file);
  const size = await fileSize(path);
  if (size === undefined) throw new HttpError(500, `Simulator sample asset missing: ${asset.file}`);
  const fault = req.method === 'HEAD' ? undefined : pickFault(ctx, DOWNLOAD_FAULT_KINDS);
  if (fault === 'download_garbage') {
    ctx.counters.downloads += 1;
    ctx.counters.injected.download_garbage += 1;
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Content-Length': Buffer.byteLength(GARBAGE_HTML) });
    return void res.end(GARBAGE_HTML);
  }
  if (fault === 'download_cut') {
    ctx.counters.downloads += 1;
    ctx.counters.injected.download_cut += 1;
    return sendCutAsset(res, await readFile(path), asset.contentType, ctx.random());
  }
  res.writeHead(200, { 'Content-Type': asset.contentType, 'Content-Length': size });
  if (req.method === 'HEAD') return void res.end();
  ctx.counters.downloads += 1;
  try {
    await pipeline(createReadStream(path), res);
  } catch {
    // The client went away mid-download; nothing useful can be sent anymore.
    res.destroy();
  }
}

/** download_cut: the full Content-Length, part of the body, then the socket is destroyed. */
function sendCutAsset(res: ServerResponse, data: Buffer, contentType: string, u: number): void {
  res.writeHead(200, { 'Content-Type': contentType, 'Content-Length': data.length });
  const keep = cutLength(data.length, u);
  if (keep === 0) {
    res.flushHeaders();
    setImmediate(() => res.destroy());
    return;
  }
  // The callback runs once the bytes are handed to the socket, so the client does receive them.
  res.write(data.subarray(0, keep), () => res.destroy());
}

async function fileSize(path: string): Promise<number | undefined> {
  try {
    const info = await stat(path);
    return info.isFile() ? info.size : undefined;
  } catch {
    return undefined;
  }
}

function countActive(ctx: SimContext, nowMs: number): number {
  let active = 0;
  for (const record of ctx.records.values()) {
    if (isActiveState(generationStateAt(record, nowMs, ctx.timing))) active += 1;
  }
  return active;
}

/**
 * Queues a snapshot write behind any write in progress. The snapshot is taken
 * when the write runs, so concurrent creates can never overwrite each other.
 */
function persist(ctx: SimContext): Promise<void> {
  const stateFile = ctx.stateFile;
  if (!stateFile) return Promise.resolve();
  const write = ctx.persistChain.then(() => writeRecordsAtomically(stateFile, [...ctx.records.values()]));
  ctx.persistChain = write.catch(() => undefined);
  return write;
}
