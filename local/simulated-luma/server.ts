/**
 * The simulator's server: its options, checked; its state loaded from the state file; its routes on a
 * loopback port; and its orderly close.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { closeServer as closeListener, listenOnLoopback } from '../loopback-http.ts';
import { DEFAULT_ASSETS_DIR, serveAsset } from './assets.ts';
import { CALLBACK_RETRY_DELAY_MS, CALLBACK_TIMEOUT_MS, CallbackScheduler } from './callbacks.ts';
import { DETAIL_INVALID_API_KEY } from './contract.ts';
import { countActive, persist, scheduleCallbacks, type SimClock, type SimContext, type SimCreatedGeneration, type SimRead, type SimulatedLumaStats } from './context.ts';
import { emptyFaultCounts, mulberry32, validatedFaults, type SimulatedLumaFaults } from './faults.ts';
import {
  addForeignGeneration,
  addOtherClientsHistory,
  handleCreate,
  handleDelete,
  handleGet,
  handleList,
  type ForeignGenerationOptions,
  type ForeignGenerationRequest,
} from './generations.ts';
import { HttpError, hasValidBearer, matchRoute, sendJson } from './http.ts';
import { loadRecords } from './state-file.ts';
import type { SimTiming } from './timeline.ts';

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

export interface SimulatedLuma {
  readonly baseUrl: string;
  /** The seed of the fault PRNG (the given one, or the random one picked at start). */
  readonly seed: number;
  /** Counters tests assert on; a snapshot. */
  stats(): SimulatedLumaStats;
  /** Every generation this instance created through HTTP, in creation order (deleted ones included); as long as `stats().creates`. */
  generations(): SimCreatedGeneration[];
  /** Every GET of one of those generations, in order: when it came, and the state it answered. */
  reads(id: string): SimRead[];
  /**
   * Adds a generation made by another client of the account (for tests): listed, persisted and called
   * back like any other, but not ours. `request.model` defaults to ray-2; Luma's defaults fill the rest.
   * Returns its id.
   */
  addForeignGeneration(request: ForeignGenerationRequest, options?: ForeignGenerationOptions): string;
  close(): Promise<void>;
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

function validatedRetryDelay(options: SimulatedLumaOptions): number {
  const delay = options.callbackRetryDelayMs ?? CALLBACK_RETRY_DELAY_MS;
  if (!Number.isFinite(delay) || delay < 0) throw new Error('SimulatedLuma: callbackRetryDelayMs must be a finite number >= 0');
  return delay;
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
      assetsHeld: 0,
      maxConcurrent: 0,
      injected: emptyFaultCounts(),
      callbacks: { sent: 0, failed: 0, skipped: 0 },
    },
    persistChain: Promise.resolve(),
    faults: validatedFaults(options),
    random: () => 0,
    created: [],
    reads: new Map(),
    otherClients: options.otherClients ?? true,
    sendsCallbacks: options.callbacks ?? true,
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
  // Loopback only: the simulator must never be reachable from other hosts.
  ctx.baseUrl = await listenOnLoopback(server, options.port ?? 0);
  // After a restart, only the changes still to come are called back; those that happened while the
  // simulator was down are not sent late.
  const startedMs = ctx.clock.now();
  for (const record of ctx.records.values()) scheduleCallbacks(ctx, record, startedMs);

  return {
    baseUrl: ctx.baseUrl,
    seed: ctx.faults.seed,
    stats: () => ({ ...ctx.counters, injected: { ...ctx.counters.injected }, callbacks: { ...ctx.counters.callbacks } }),
    generations: () => ctx.created.map((entry) => ({ ...entry })),
    reads: (id) => [...(ctx.reads.get(id) ?? [])],
    addForeignGeneration: (request, foreignOptions) => addForeignGeneration(ctx, request, foreignOptions),
    close: () => closeServer(server, ctx),
  };
}

async function closeServer(server: Server, ctx: SimContext): Promise<void> {
  // At once: keep-alive sockets from fetch would otherwise hold close() open for seconds.
  await closeListener(server, 0);
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
