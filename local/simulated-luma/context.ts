/**
 * One simulator's state, shared by its request handlers: the records, the counters, the fault PRNG, the
 * callbacks and the state file; and what every handler does with it (the public counters' shape included).
 */
import type { ServerResponse } from 'node:http';
import type { CallbackCounters, CallbackScheduler } from './callbacks.ts';
import { DETAIL_INTERNAL, DETAIL_RATE_LIMIT } from './contract.ts';
import { FAULT_5XX_STATUSES, drawFault, pick, type FaultKind, type FaultSettings } from './faults.ts';
import { sendJson } from './http.ts';
import { writeRecordsAtomically } from './state-file.ts';
import { generationStateAt, isActiveState, renderGeneration, stateChangesMs, type SimGenerationRecord, type SimOutcome, type SimTiming } from './timeline.ts';

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
  /** Asset requests held by [sim:hold-assets] (counted when the hold begins). */
  assetsHeld: number;
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

/** A GET of one of our generations: when it came (the simulator's clock, epoch ms) and what state it answered. */
export interface SimRead {
  atMs: number;
  state: string;
}

export interface SimContext {
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
  /** Every GET of each of our generations, by id: `npm run bench` counts the polls. */
  reads: Map<string, SimRead[]>;
  otherClients: boolean;
  /** False: no callback is ever sent (SIM_CALLBACKS=0). */
  sendsCallbacks: boolean;
  callbacks: CallbackScheduler;
}

/**
 * Luma's created_at has microseconds. The millisecond part is `nowMs`, which the timeline runs on; the
 * rest comes from the monotonic clock, and each create gets a later instant than the one before.
 */
export function nextCreatedMicros(ctx: SimContext, nowMs: number): number {
  const subMillisecond = Math.floor((performance.now() % 1) * 1000);
  ctx.lastCreatedMicros = Math.max(nowMs * 1000 + subMillisecond, ctx.lastCreatedMicros + 1);
  return ctx.lastCreatedMicros;
}

/** Draws this request's fault among the enabled kinds that apply to it. */
export function pickFault(ctx: SimContext, applicable: readonly FaultKind[]): FaultKind | undefined {
  const candidates = applicable.filter((kind) => ctx.faults.kinds.has(kind));
  return drawFault(ctx.random, ctx.faults.rate, candidates);
}

/** Answers an injected *_5xx (500, 502 or 503, drawn) or *_429 fault, and counts it. */
export function sendInjectedError(ctx: SimContext, res: ServerResponse, kind: FaultKind): void {
  ctx.counters.injected[kind] += 1;
  if (kind.endsWith('_429')) return sendJson(res, 429, { detail: DETAIL_RATE_LIMIT }, { 'Retry-After': '1' });
  const status = pick(FAULT_5XX_STATUSES, ctx.random());
  sendJson(res, status, { detail: DETAIL_INTERNAL });
}

/** Schedules the callbacks of the record's state changes at or after `sinceMs`, if it has a callback_url. */
export function scheduleCallbacks(ctx: SimContext, record: SimGenerationRecord, sinceMs: number): void {
  const url = record.request.callback_url;
  if (!url || !ctx.sendsCallbacks) return;
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
export function countActive(ctx: SimContext, nowMs: number): number {
  let active = 0;
  for (const record of ctx.records.values()) {
    if (!record.foreign && isActiveState(generationStateAt(record, nowMs, ctx.timing))) active += 1;
  }
  return active;
}

/**
 * Queues a snapshot write behind any write in progress. The snapshot is taken
 * when the write runs, so concurrent creates can never overwrite each other.
 */
export function persist(ctx: SimContext): Promise<void> {
  const stateFile = ctx.stateFile;
  if (!stateFile) return Promise.resolve();
  const write = ctx.persistChain.then(() => writeRecordsAtomically(stateFile, [...ctx.records.values()]));
  ctx.persistChain = write.catch(() => undefined);
  return write;
}
