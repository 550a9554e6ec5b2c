/**
 * Simulated Luma Dream Machine API, used by `npm start` when no real upstream is
 * configured and by tests. It speaks the same HTTP API as
 * https://api.lumalabs.ai/dream-machine/v1 (the base URL is http://127.0.0.1:<port>),
 * so the gateway's Luma adapter cannot tell the difference. Where the real behaviour is not
 * documented, it does the stricter of the plausible things, and says so where it does.
 *
 * A generation's state is a pure function of the time since it was created:
 *   queued    for queuedSeconds   * timeScale
 *   dreaming  for dreamingSeconds * timeScale
 *   completed (or failed, see [sim:fail]) afterwards.
 * Deriving state from created_at, rather than running timers, is what lets
 * in-flight generations keep progressing across a restart when `stateFile` is set. Time is read from
 * `clock` (the system clock unless a test passes its own), so a test can walk a timeline step by step
 * or hold every generation where it is.
 *
 * What a Generation looks like: `created_at` has microseconds (`2025-05-16T18:53:39.062856Z`), and
 * `request` echoes the create body with Luma's defaults filled in (generation_type "video", aspect_ratio
 * "16:9", loop false, keyframes/callback_url/concepts null, resolution "720p" — Luma's real default is
 * undocumented — and duration "5s"); fields Luma does not know are not echoed.
 *
 * A shared account (otherClients, SIM_OTHER_CLIENTS=0|1, default 1). A Luma key is the account's: other
 * apps, the web app and other gateways create with it too, and GET /generations?limit&offset lists them
 * all, newest first (limit 100 by default and at most; above: 400). So at start (when the account holds
 * no other client's generation yet) it already has 20 completed generations other clients made during
 * the last hour, with common prompts: the README's, "A flamingo", "a cat playing piano", "hello world
 * video"…, some with keyframes (their own URLs, never fetched), without callback_url or with theirs.
 * And every create that comes through HTTP has a twin: another client's generation with the same
 * prompt, model, aspect_ratio, loop, resolution, duration and keyframes (present where ours are, with
 * their URLs), but without our callback_url (none, or theirs), created 1 ms before ours and following
 * a normal timeline whatever the [sim:…] directives say. A gateway that finds its generation in the
 * list by what the request says picks the stranger's; only callback_url is ours per request.
 * Other clients' generations are listed, persisted (`foreign: true`), called back, and deletable, but
 * they are not in `generations()` or `stats().creates` (`stats().foreignCreates` counts them), and they
 * do not take concurrencyLimit slots: on a real account they would — lowering SIM_MAX_CONCURRENT
 * simulates that. `addForeignGeneration()` adds one, for tests.
 *
 * Callbacks, like Luma's: for a generation with a callback_url, the Generation (exactly as GET renders
 * it at the instant of the change) is POSTed on each change to dreaming, completed and failed; 3 tries
 * `callbackRetryDelayMs` apart (default 100 ms, real time, not scaled: Luma's), 5 s each, unsigned,
 * Content-Type: application/json; a 2xx is success, a redirect is not followed. The timers are set at
 * create; after a restart from the state file, for the changes still to come only: those that happened
 * while the simulator was down are not sent late. close() cancels every timer and waits for the tries in
 * flight. `stats().callbacks`: sent (a 2xx came back), failed (all 3 tries failed), skipped (see below).
 *
 * Deterministic scenarios, selected by a directive anywhere in the prompt:
 *   [sim:fail]         created (201), then queued -> dreaming -> failed, failure_reason
 *                      "Contains blacklisted words".
 *   [sim:fail:<key>]   the same with another of Luma's reasons (LUMA_FAILURE_REASONS), verbatim:
 *                      blacklisted        "Contains blacklisted words"
 *                      frame_moderation   "Frame moderation failed"
 *                      prompt_moderation  "Advanced prompt moderation failed"
 *                      unreadable_frames  "Failed to read user input frames"
 *                      job_failed         "Job failed"
 *                      dispatch_error     "Error dispatching job"
 *                      Moderation is reported this way, as a failed generation, as Luma's docs describe;
 *                      an unknown key is no directive.
 *   [sim:reject]       the submit answers 400 {"detail":"Prompt moderation failed"} (the create-time path).
 *   [sim:busy:N]       the first N submits carrying that exact prompt answer 503
 *                      {"detail":"Service temporarily unavailable"}; the next one succeeds.
 *   [sim:lost:N]       the first N creates carrying that exact prompt are made upstream (stored, listed,
 *                      running, called back) but their answer is lost: the socket is destroyed without
 *                      a byte. The next one gets its 201.
 *   [sim:hang-created:N]  the same, but the request is held for hangMs * timeScale, then dropped (a
 *                      timeout after the create).
 *   [sim:fail-first:N] the first N generations carrying that exact prompt fail with "Job failed" (a fault
 *                      on Luma's side, which the gateway answers with a new submit); later ones complete.
 *   [sim:slow]         the dreaming phase lasts 100 times longer (deadline tests).
 * The per-prompt counts of [sim:busy:N], [sim:lost:N], [sim:hang-created:N] and [sim:fail-first:N] are
 * not persisted.
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
 *     submit_lost       the generation IS created (like [sim:lost:N]), and the socket is destroyed
 *                       without an answer.
 *     poll_5xx          GET /generations/{id} answers 500, 502 or 503 (the generation is unaffected).
 *     poll_429          GET /generations/{id} answers 429, Retry-After: 1 (the generation is unaffected).
 *     download_cut      an asset GET sends the headers with the full Content-Length and part of the body
 *                       (at least one byte, never all), then destroys the socket.
 *     download_garbage  an asset GET answers 200 Content-Type: text/html with an HTML page.
 *     generation_fail   decided at create time: the generation is created (201) but ends `failed`
 *                       with failure_reason "Job failed" or "Error dispatching job" (drawn).
 *   SIM_HANG_MS         hangMs            default 30000: how long submit_timeout and [sim:hang-created:N]
 *                                         hold a request (times timeScale; at timeScale 1 it outlasts a
 *                                         10 s client timeout).
 *   SIM_MAX_CONCURRENT  concurrencyLimit  integer >= 1, default unlimited: like Luma's account limit, a
 *                                         create while this many of our generations are queued or dreaming
 *                                         answers 429 {"detail":"Too many concurrent generations"},
 *                                         Retry-After: 1, and creates nothing.
 *   SIM_SEED            seed              integer, default random: seeds the PRNG (mulberry32) that decides
 *                                         every fault, so the same requests in the same order meet the same
 *                                         faults. The seed in use is `SimulatedLuma.seed`.
 *   SIM_OTHER_CLIENTS   otherClients      0 or 1, default 1: the shared account above.
 * A submit is handled in this order: body cap (413), injected transport fault (submit_5xx/429/timeout),
 * validation and [sim:reject]/[sim:busy:N], the concurrency limit, the create (with generation_fail, and
 * its twin), then the answer: sent, or lost/held ([sim:lost:N], [sim:hang-created:N], submit_lost).
 *
 * Deliberate differences from the real service, so that a simulated run never contacts any host other
 * than this machine: keyframe URLs are never fetched, and a callback_url whose host is not loopback
 * (127.0.0.0/8, `localhost`, `[::1]`) is never called — each callback it would have had is counted in
 * `stats().callbacks.skipped` (other clients' callback URLs included).
 *
 * The parts (the API contract, directives, timeline, faults, other clients, persistence, callbacks and
 * HTTP plumbing) live in ./simulated-luma/; the server is here, and everything public is exported from here.
 */
import { randomInt, randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import {
  DETAIL_BUSY,
  DETAIL_INTERNAL,
  DETAIL_INVALID_API_KEY,
  DETAIL_MODERATION,
  DETAIL_NOT_FOUND,
  DETAIL_RATE_LIMIT,
  DETAIL_TOO_MANY_CONCURRENT,
  MAX_BODY_BYTES,
  LUMA_FAILURE_REASONS,
  createdAtMicros,
  formatCreatedAt,
  isOneOf,
  parsePagination,
  validateGenerationRequest,
  withLumaDefaults,
} from './simulated-luma/contract.ts';
import type { LumaEchoedRequest, LumaRequestFields, LumaVideoRequest } from './simulated-luma/contract.ts';
import { parseSimDirectives } from './simulated-luma/directives.ts';
import {
  DEFAULT_HANG_MS,
  DOWNLOAD_FAULT_KINDS,
  FAULT_5XX_STATUSES,
  FAULT_KINDS,
  GARBAGE_HTML,
  POLL_FAULT_KINDS,
  INJECTED_FAILURE_REASONS,
  SUBMIT_FAULT_KINDS,
  cutLength,
  drawFault,
  mulberry32,
  pick,
} from './simulated-luma/faults.ts';
import type { FaultKind, SimulatedLumaFaults } from './simulated-luma/faults.ts';
import { HttpError, hasValidBearer, matchRoute, parseJson, readBody, sendJson, sendNoContent } from './simulated-luma/http.ts';
import { CALLBACK_RETRY_DELAY_MS, CALLBACK_TIMEOUT_MS, CallbackScheduler, type CallbackCounters } from './simulated-luma/callbacks.ts';
import { OTHER_CLIENTS_HISTORY, historyRequest, twinRequest } from './simulated-luma/other-clients.ts';
import { loadRecords, writeRecordsAtomically } from './simulated-luma/persistence.ts';
import { generationStateAt, isActiveState, phaseDurationsMs, renderGeneration, stateChangesMs } from './simulated-luma/timeline.ts';
import type { SimGenerationRecord, SimOutcome, SimTiming } from './simulated-luma/timeline.ts';

// The parts live in ./simulated-luma/; everything public is exported from here, as before the split.
export * from './simulated-luma/contract.ts';
export * from './simulated-luma/directives.ts';
export * from './simulated-luma/faults.ts';
export { CALLBACK_RETRY_DELAY_MS, CALLBACK_TIMEOUT_MS, CALLBACK_TRIES, isLoopbackUrl, type CallbackCounters } from './simulated-luma/callbacks.ts';
export { matchRoute, type RouteMatch } from './simulated-luma/http.ts';
export { OTHER_CLIENT_CALLBACK_URL, OTHER_CLIENT_FRAME_URLS, OTHER_CLIENTS_HISTORY, README_PROMPT } from './simulated-luma/other-clients.ts';
export * from './simulated-luma/timeline.ts';

const DEFAULT_ASSETS_DIR = fileURLToPath(new URL('./assets/', import.meta.url));

// ---------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------

export interface SimulatedLumaOptions extends SimulatedLumaFaults {
  apiKey: string;
  timeScale?: number; // default 1
  queuedSeconds?: number; // default 10
  dreamingSeconds?: number; // default 60
  port?: number; // default 0 (free port)
  assetsDir?: string; // default: local/assets next to this file
  stateFile?: string;
  /** The pause between two tries of a callback, in real milliseconds (not scaled, like Luma's). @default 100 */
  callbackRetryDelayMs?: number;
  /**
   * Where "now" comes from: every timeline, created_at and peak count reads it. Tests pass one they
   * control, to walk a timeline step by step or to hold every generation where it is. Callbacks fire once
   * this clock has reached their instant, checked on real timers. @default the system clock
   */
  clock?: SimClock;
}

/** The simulator's source of the current time, in epoch milliseconds. */
export interface SimClock {
  now(): number;
}

export interface SimulatedLumaStats {
  /** Generations created through HTTP by this instance; `generations()` lists them. */
  creates: number;
  /** Generations other clients of the account made: the history at start, the twins, addForeignGeneration. */
  foreignCreates: number;
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
  /** Callbacks, one per state change of a generation with a callback_url (ours and other clients'). */
  callbacks: CallbackCounters;
}

/** One generation created by this instance, for matching the gateway's tasks to upstream generations. */
export interface SimCreatedGeneration {
  id: string;
  prompt: string;
  outcome: SimOutcome;
  /** The generation's created_at. */
  createdAt: string;
}

export type ForeignGenerationRequest = Omit<LumaRequestFields, 'model'> & { model?: LumaRequestFields['model'] };

export interface ForeignGenerationOptions {
  /** @default now */
  createdAt?: Date;
  /** @default 'complete' */
  outcome?: SimOutcome;
  /** The reason a `fail` outcome reports. @default 'Job failed' */
  failureReason?: string;
}

export interface SimulatedLuma {
  readonly baseUrl: string;
  /** The seed of the fault PRNG (the given one, or the random one picked at start). */
  readonly seed: number;
  /** Counters tests assert on; a snapshot. */
  stats(): SimulatedLumaStats;
  /** Every generation this instance created through HTTP, in creation order (deleted ones included); as long as `stats().creates`. */
  generations(): SimCreatedGeneration[];
  /**
   * Adds a generation made by another client of the account (for tests): listed, persisted and called
   * back like any other, but not ours. `request.model` defaults to ray-2; Luma's defaults fill the rest.
   * Returns its id.
   */
  addForeignGeneration(request: ForeignGenerationRequest, options?: ForeignGenerationOptions): string;
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------
// Settings
// ---------------------------------------------------------------------------

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

function validatedRetryDelay(options: SimulatedLumaOptions): number {
  const delay = options.callbackRetryDelayMs ?? CALLBACK_RETRY_DELAY_MS;
  if (!Number.isFinite(delay) || delay < 0) throw new Error('SimulatedLuma: callbackRetryDelayMs must be a finite number >= 0');
  return delay;
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
  clock: SimClock;
  timing: SimTiming;
  assetsDir: string;
  stateFile: string | undefined;
  baseUrl: string;
  records: Map<string, SimGenerationRecord>;
  /** The last created_at handed out, in microseconds: each create gets a later one. */
  lastCreatedMicros: number;
  /** 503s already served per exact prompt, for [sim:busy:N]. */
  busyServed: Map<string, number>;
  /** Answers already lost or held per exact prompt, for [sim:lost:N] and [sim:hang-created:N]. */
  lostServed: Map<string, number>;
  /** Generations already failed per exact prompt, for [sim:fail-first:N]. */
  failFirstServed: Map<string, number>;
  heldServed: Map<string, number>;
  counters: SimulatedLumaStats;
  persistChain: Promise<void>;
  faults: FaultSettings;
  /** The fault PRNG; every fault decision draws from it, in request order. */
  random: () => number;
  created: SimCreatedGeneration[];
  otherClients: boolean;
  callbacks: CallbackScheduler;
}

export async function startSimulatedLuma(options: SimulatedLumaOptions): Promise<SimulatedLuma> {
  if (!options.apiKey) throw new Error('SimulatedLuma: apiKey is required');
  const ctx: SimContext = {
    apiKey: options.apiKey,
    clock: options.clock ?? Date,
    timing: validatedTiming(options),
    assetsDir: options.assetsDir ?? DEFAULT_ASSETS_DIR,
    stateFile: options.stateFile,
    baseUrl: '',
    records: new Map(),
    lastCreatedMicros: 0,
    busyServed: new Map(),
    lostServed: new Map(),
    failFirstServed: new Map(),
    heldServed: new Map(),
    counters: {
      creates: 0,
      foreignCreates: 0,
      rejected: 0,
      rejectedConcurrency: 0,
      polls: 0,
      downloads: 0,
      maxConcurrent: 0,
      injected: emptyFaultCounts(),
      callbacks: { sent: 0, failed: 0, skipped: 0 },
    },
    persistChain: Promise.resolve(),
    faults: validatedFaults(options),
    random: () => 0,
    created: [],
    otherClients: options.otherClients ?? true,
    callbacks: undefined as unknown as CallbackScheduler,
  };
  ctx.callbacks = new CallbackScheduler(
    { retryDelayMs: validatedRetryDelay(options), timeoutMs: CALLBACK_TIMEOUT_MS, now: () => ctx.clock.now() },
    ctx.counters.callbacks,
  );
  ctx.random = mulberry32(ctx.faults.seed);
  if (ctx.stateFile) {
    for (const record of await loadRecords(ctx.stateFile)) ctx.records.set(record.id, record);
  }
  ctx.counters.maxConcurrent = countActive(ctx, ctx.clock.now());
  if (ctx.otherClients && ![...ctx.records.values()].some((record) => record.foreign)) {
    addOtherClientsHistory(ctx, ctx.clock.now());
    await persist(ctx);
  }

  const server = createServer((req, res) => void handleRequest(ctx, req, res));
  await listen(server, options.port ?? 0);
  ctx.baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // After a restart, only the changes still to come are called back; those that happened while the
  // simulator was down are not sent late.
  const startedMs = ctx.clock.now();
  for (const record of ctx.records.values()) scheduleCallbacks(ctx, record, startedMs);

  return {
    baseUrl: ctx.baseUrl,
    seed: ctx.faults.seed,
    stats: () => ({ ...ctx.counters, injected: { ...ctx.counters.injected }, callbacks: { ...ctx.counters.callbacks } }),
    generations: () => ctx.created.map((entry) => ({ ...entry })),
    addForeignGeneration: (request, foreignOptions) => addForeignGeneration(ctx, request, foreignOptions),
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
  await ctx.callbacks.close();
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
  const nowMs = ctx.clock.now();
  if (countActive(ctx, nowMs) >= ctx.faults.concurrencyLimit) {
    ctx.counters.rejectedConcurrency += 1;
    return sendJson(res, 429, { detail: DETAIL_TOO_MANY_CONCURRENT }, { 'Retry-After': '1' });
  }
  const injectedFailure = fault === 'generation_fail';
  const directives = parseSimDirectives(request.prompt);
  const failureReason = injectedFailure
    ? pick(INJECTED_FAILURE_REASONS, ctx.random())
    : takeOne(ctx.failFirstServed, request.prompt, directives.failFirst)
      ? LUMA_FAILURE_REASONS.job_failed
      : directives.failureReason;
  const createdMicros = nextCreatedMicros(ctx, nowMs);
  const record: SimGenerationRecord = {
    id: randomUUID(),
    created_at: formatCreatedAt(createdMicros),
    request: withLumaDefaults(request),
    outcome: failureReason === undefined ? 'complete' : 'fail',
    ...(failureReason !== undefined && { failure_reason: failureReason }),
  };
  // Another client sent the same request a millisecond earlier, without our callback_url.
  const twin = ctx.otherClients ? newForeignRecord(twinRequest(record.request, ctx.counters.foreignCreates), createdMicros - 1000) : undefined;
  if (twin) ctx.records.set(twin.id, twin);
  ctx.records.set(record.id, record);
  // Generations only become active when created, so the count at each creation instant, taken from
  // the stored timelines (ended ones excluded), sees every peak exactly.
  const activeNow = countActive(ctx, nowMs);
  try {
    await persist(ctx);
  } catch (error) {
    // An unpersisted generation would vanish on restart; refuse it instead.
    ctx.records.delete(record.id);
    if (twin) ctx.records.delete(twin.id);
    throw error;
  }
  if (twin) {
    ctx.counters.foreignCreates += 1;
    scheduleCallbacks(ctx, twin, Date.parse(twin.created_at));
  }
  scheduleCallbacks(ctx, record, Date.parse(record.created_at));
  ctx.counters.creates += 1;
  if (injectedFailure) ctx.counters.injected.generation_fail += 1;
  ctx.counters.maxConcurrent = Math.max(ctx.counters.maxConcurrent, activeNow);
  ctx.created.push({ id: record.id, prompt: request.prompt, outcome: record.outcome, createdAt: record.created_at });
  const answer = answerOfCreate(ctx, request.prompt, fault);
  if (answer === 'lost') return void res.destroy();
  if (answer === 'held') return holdThenDrop(ctx, res);
  sendJson(res, 201, renderGeneration(record, nowMs, ctx.timing, ctx.baseUrl));
}

/**
 * What becomes of the 201 of a generation just created: sent, lost ([sim:lost:N], submit_lost: the
 * socket is destroyed without a byte) or held ([sim:hang-created:N]: dropped after hangMs * timeScale).
 */
function answerOfCreate(ctx: SimContext, prompt: string, fault: FaultKind | undefined): 'sent' | 'lost' | 'held' {
  if (fault === 'submit_lost') ctx.counters.injected.submit_lost += 1;
  const directives = parseSimDirectives(prompt);
  if (takeOne(ctx.lostServed, prompt, directives.lostAnswers)) return 'lost';
  if (takeOne(ctx.heldServed, prompt, directives.heldAnswers)) return 'held';
  return fault === 'submit_lost' ? 'lost' : 'sent';
}

/** Counts one more use of a per-prompt scenario that applies `limit` times; false once they are used up. */
function takeOne(served: Map<string, number>, prompt: string, limit: number): boolean {
  const count = served.get(prompt) ?? 0;
  if (count >= limit) return false;
  served.set(prompt, count + 1);
  return true;
}

/**
 * Luma's created_at has microseconds. The millisecond part is `nowMs`, which the timeline runs on; the
 * rest comes from the monotonic clock, and each create gets a later instant than the one before.
 */
function nextCreatedMicros(ctx: SimContext, nowMs: number): number {
  const subMillisecond = Math.floor((performance.now() % 1) * 1000);
  ctx.lastCreatedMicros = Math.max(nowMs * 1000 + subMillisecond, ctx.lastCreatedMicros + 1);
  return ctx.lastCreatedMicros;
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
  const status = pick(FAULT_5XX_STATUSES, ctx.random());
  sendJson(res, status, { detail: DETAIL_INTERNAL });
}

/** submit_timeout: never answers; drops the connection after hangMs * timeScale (or when the client or close() does). */
function hang(ctx: SimContext, res: ServerResponse): void {
  ctx.counters.injected.submit_timeout += 1;
  holdThenDrop(ctx, res);
}

function holdThenDrop(ctx: SimContext, res: ServerResponse): void {
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
  if (takeOne(ctx.busyServed, prompt, directives.busyFailures)) throw new HttpError(503, DETAIL_BUSY);
  return validation.request;
}

function handleList(ctx: SimContext, url: URL, res: ServerResponse): void {
  const page = parsePagination(url.searchParams);
  if (!page.ok) throw new HttpError(400, page.detail);
  const now = ctx.clock.now();
  // The whole account, newest first (Luma does not document the order; newest first is what it shows).
  // A stable sort of the reversed insertion order keeps equal instants latest-stored first.
  const newestFirst = [...ctx.records.values()]
    .reverse()
    .sort((a, b) => createdAtMicros(b.created_at) - createdAtMicros(a.created_at));
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
  sendJson(res, 200, renderGeneration(record, ctx.clock.now(), ctx.timing, ctx.baseUrl));
}

async function handleDelete(ctx: SimContext, res: ServerResponse, id: string): Promise<void> {
  if (!ctx.records.delete(id)) throw new HttpError(404, DETAIL_NOT_FOUND);
  ctx.callbacks.cancel(id);
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
  if (!record || generationStateAt(record, ctx.clock.now(), ctx.timing) !== 'completed') {
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

/** Schedules the callbacks of the record's state changes at or after `sinceMs`, if it has a callback_url. */
function scheduleCallbacks(ctx: SimContext, record: SimGenerationRecord, sinceMs: number): void {
  const url = record.request.callback_url;
  if (!url) return;
  for (const change of stateChangesMs(record, ctx.timing)) {
    if (change.atMs < sinceMs) continue;
    // Rendered as GET renders it at the instant of the change, however late the timer fires.
    ctx.callbacks.scheduleAt(record.id, change.atMs, url, () => renderGeneration(record, change.atMs, ctx.timing, ctx.baseUrl));
  }
}

/**
 * Our generations queued or dreaming at `nowMs`. Other clients' are left out: on a real account they
 * take the same slots, which lowering SIM_MAX_CONCURRENT simulates.
 */
function countActive(ctx: SimContext, nowMs: number): number {
  let active = 0;
  for (const record of ctx.records.values()) {
    if (!record.foreign && isActiveState(generationStateAt(record, nowMs, ctx.timing))) active += 1;
  }
  return active;
}

// ---------------------------------------------------------------------------
// Other clients of the account
// ---------------------------------------------------------------------------

function newForeignRecord(request: LumaEchoedRequest, createdMicros: number, outcome: SimOutcome = 'complete', failureReason?: string): SimGenerationRecord {
  return {
    id: randomUUID(),
    created_at: formatCreatedAt(createdMicros),
    request,
    outcome,
    ...(outcome === 'fail' && { failure_reason: failureReason ?? LUMA_FAILURE_REASONS.job_failed }),
    foreign: true,
  };
}

/** What other clients made during the last hour, all finished by `nowMs` whatever the time scale. */
function addOtherClientsHistory(ctx: SimContext, nowMs: number): void {
  const { queuedMs, dreamingMs } = phaseDurationsMs(ctx.timing, false);
  OTHER_CLIENTS_HISTORY.forEach((entry, index) => {
    const createdMs = nowMs - queuedMs - dreamingMs - entry.minutesAgo * 60_000;
    // A fixed, plausible sub-millisecond part: the history is the same on every start.
    const record = newForeignRecord(historyRequest(entry), Math.floor(createdMs) * 1000 + ((index * 7919) % 1000));
    ctx.records.set(record.id, record);
    ctx.counters.foreignCreates += 1;
  });
}

function addForeignGeneration(ctx: SimContext, request: ForeignGenerationRequest, options: ForeignGenerationOptions = {}): string {
  const validation = validateGenerationRequest({ model: 'ray-2', ...request });
  if (!validation.ok) throw new Error(`addForeignGeneration: ${validation.detail}`);
  const createdMicros = options.createdAt ? options.createdAt.getTime() * 1000 : nextCreatedMicros(ctx, ctx.clock.now());
  if (!Number.isFinite(createdMicros)) throw new Error('addForeignGeneration: createdAt is not a valid date');
  const record = newForeignRecord(withLumaDefaults(validation.request), createdMicros, options.outcome ?? 'complete', options.failureReason);
  ctx.records.set(record.id, record);
  ctx.counters.foreignCreates += 1;
  scheduleCallbacks(ctx, record, ctx.clock.now());
  persist(ctx).catch((error: unknown) => console.error('[simulated-luma] could not persist a foreign generation', error));
  return record.id;
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
