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
 * Deliberate differences from the real service: keyframe URLs are never fetched
 * and callback_url is accepted but never called, so a simulated run never
 * contacts any host other than the caller.
 */
import { randomUUID } from 'node:crypto';
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

const DEFAULT_ASSETS_DIR = fileURLToPath(new URL('./assets/', import.meta.url));
const STATE_FILE_VERSION = 1;

// ---------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------

export interface SimulatedLumaOptions {
  apiKey: string;
  timeScale?: number; // default 1
  queuedSeconds?: number; // default 10
  dreamingSeconds?: number; // default 60
  port?: number; // default 0 (free port)
  assetsDir?: string; // default: local/assets next to this file
  stateFile?: string;
}

export interface SimulatedLumaStats {
  creates: number;
  rejected: number;
  polls: number;
  downloads: number;
  maxConcurrent: number;
}

export interface SimulatedLuma {
  readonly baseUrl: string;
  /** Counters tests assert on: creates accepted, submits rejected, gets, asset downloads, and the max number of generations that were queued or dreaming at once. */
  stats(): SimulatedLumaStats;
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
    failure_reason: state === 'failed' ? SIM_FAILURE_REASON : null,
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
    counters: { creates: 0, rejected: 0, polls: 0, downloads: 0, maxConcurrent: 0 },
    persistChain: Promise.resolve(),
  };
  if (ctx.stateFile) {
    for (const record of await loadRecords(ctx.stateFile)) ctx.records.set(record.id, record);
  }
  ctx.counters.maxConcurrent = countActive(ctx, Date.now());

  const server = createServer((req, res) => void handleRequest(ctx, req, res));
  await listen(server, options.port ?? 0);
  ctx.baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    baseUrl: ctx.baseUrl,
    stats: () => ({ ...ctx.counters }),
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
  try {
    request = admitSubmit(ctx, parseJson(await readBody(req, MAX_BODY_BYTES)));
  } catch (error) {
    if (error instanceof HttpError) ctx.counters.rejected += 1;
    throw error;
  }
  const directives = parseSimDirectives(request.prompt);
  const record: SimGenerationRecord = {
    id: randomUUID(),
    created_at: new Date().toISOString(),
    request,
    outcome: directives.fail ? 'fail' : 'complete',
  };
  ctx.records.set(record.id, record);
  try {
    await persist(ctx);
  } catch (error) {
    // An unpersisted generation would vanish on restart; refuse it instead.
    ctx.records.delete(record.id);
    throw error;
  }
  ctx.counters.creates += 1;
  // Generations only become active when created, so sampling here sees every peak.
  ctx.counters.maxConcurrent = Math.max(ctx.counters.maxConcurrent, countActive(ctx, Date.now()));
  sendJson(res, 201, renderGeneration(record, Date.now(), ctx.timing, ctx.baseUrl));
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
