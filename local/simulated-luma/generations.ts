/**
 * The generations API of the simulator: create (with its faults and scenarios, and another client's twin),
 * list, get and delete; and the generations other clients of the account make.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { TimeScale } from '../time-scale.ts';
import {
  DETAIL_BUSY,
  DETAIL_DELETE_IN_PROGRESS,
  DETAIL_MODERATION,
  DETAIL_NOT_FOUND,
  DETAIL_TOO_MANY_CONCURRENT,
  LUMA_FAILURE_REASONS,
  MAX_BODY_BYTES,
  createdAtMicros,
  formatCreatedAt,
  parsePagination,
  validateGenerationRequest,
  withLumaDefaults,
  type LumaEchoedRequest,
  type LumaRequestFields,
  type LumaVideoRequest,
} from './contract.ts';
import { countActive, nextCreatedMicros, persist, pickFault, scheduleCallbacks, sendInjectedError, type SimContext } from './context.ts';
import { INJECTED_FAILURE_REASONS, POLL_FAULT_KINDS, SUBMIT_FAULT_KINDS, pick, type FaultKind } from './faults.ts';
import { HttpError, parseJson, readBody, sendJson, sendNoContent } from './http.ts';
import { OTHER_CLIENTS_HISTORY, historyRequest, twinRequest } from './other-clients.ts';
import {
  generationStateAt,
  isActiveState,
  parseSimDirectives,
  phaseDurationsMs,
  renderGeneration,
  type SimGenerationRecord,
  type SimOutcome,
} from './timeline.ts';

export type ForeignGenerationRequest = Omit<LumaRequestFields, 'model'> & { model?: LumaRequestFields['model'] };

export interface ForeignGenerationOptions {
  /** @default now */
  createdAt?: Date;
  /** @default 'complete' */
  outcome?: SimOutcome;
  /** The reason a `fail` outcome reports. @default 'Job failed' */
  failureReason?: string;
}

export async function handleCreate(ctx: SimContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
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
  ctx.reads.set(record.id, []);
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

/** submit_timeout: never answers; drops the connection after hangMs * timeScale (or when the client or close() does). */
function hang(ctx: SimContext, res: ServerResponse): void {
  ctx.counters.injected.submit_timeout += 1;
  holdThenDrop(ctx, res);
}

function holdThenDrop(ctx: SimContext, res: ServerResponse): void {
  const timer = setTimeout(() => res.destroy(), new TimeScale(ctx.timing.timeScale).ms(ctx.faults.hangMs));
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

export function handleList(ctx: SimContext, url: URL, res: ServerResponse): void {
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

export function handleGet(ctx: SimContext, res: ServerResponse, id: string): void {
  ctx.counters.polls += 1;
  const fault = pickFault(ctx, POLL_FAULT_KINDS);
  if (fault) return sendInjectedError(ctx, res, fault);
  const record = ctx.records.get(id);
  if (!record) throw new HttpError(404, DETAIL_NOT_FOUND);
  const now = ctx.clock.now();
  const generation = renderGeneration(record, now, ctx.timing, ctx.baseUrl);
  ctx.reads.get(id)?.push({ atMs: now, state: generation.state });
  sendJson(res, 200, generation);
}

/**
 * Luma documents DELETE /generations/{id} (204) but not what it does to a generation still in progress.
 * The simulator does the stricter thing: it refuses (400), and the generation runs on to its end, taking
 * its place in the concurrency limit meanwhile; a finished one is deleted.
 */
export async function handleDelete(ctx: SimContext, res: ServerResponse, id: string): Promise<void> {
  const record = ctx.records.get(id);
  if (!record) throw new HttpError(404, DETAIL_NOT_FOUND);
  if (isActiveState(generationStateAt(record, ctx.clock.now(), ctx.timing))) throw new HttpError(400, DETAIL_DELETE_IN_PROGRESS);
  ctx.records.delete(id);
  ctx.callbacks.cancel(id);
  await persist(ctx);
  sendNoContent(res);
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
export function addOtherClientsHistory(ctx: SimContext, nowMs: number): void {
  const { queuedMs, dreamingMs } = phaseDurationsMs(ctx.timing, false);
  OTHER_CLIENTS_HISTORY.forEach((entry, index) => {
    const createdMs = nowMs - queuedMs - dreamingMs - entry.minutesAgo * 60_000;
    // A fixed, plausible sub-millisecond part: the history is the same on every start.
    const record = newForeignRecord(historyRequest(entry), Math.floor(createdMs) * 1000 + ((index * 7919) % 1000));
    ctx.records.set(record.id, record);
    ctx.counters.foreignCreates += 1;
  });
}

export function addForeignGeneration(ctx: SimContext, request: ForeignGenerationRequest, options: ForeignGenerationOptions = {}): string {
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
