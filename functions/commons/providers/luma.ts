/**
 * The official Luma Dream Machine API (https://docs.lumalabs.ai). A small fetch client rather than the
 * `lumaai` SDK: we need the raw status, `detail` and `Retry-After` of every answer to classify it, the
 * SDK's own retries and timeouts would fight the workflow's, and this keeps the bundles small.
 */
import { TransientUpstreamError, UpstreamRejectedError } from '../errors.ts';
import { classifyUpstreamFailure, isAccountProblem } from '../domain/failure.ts';
import { GENERATION_OPTIONS } from '../domain/luma-options.ts';
import { systemClock, type Clock } from '../clock.ts';
import { describeNetworkError, isTransientHttpStatus } from '../outbound-http.ts';
import type { ProviderRequest, UpstreamGeneration, UpstreamState, VideoProvider } from '../ports/video-provider.ts';

export interface LumaOptions {
  baseUrl: string;
  /** The deployment's defaults, sent when a request has none of its own (tasks recorded before they were kept). */
  model: string;
  /** @default GENERATION_OPTIONS.resolution.fallback (720p) */
  resolution?: string;
  /** @default GENERATION_OPTIONS.duration.fallback (5s) */
  duration?: string;
  apiKey: () => Promise<string>;
  /**
   * Drops the key `apiKey` holds (adapters/secret.ts `forget`): called as soon as the upstream refuses it,
   * so the first call after the refusal's hold reads the secret again, and a key the operator put meanwhile
   * is used at once rather than when the cache would have expired.
   */
  forgetApiKey?: () => void;
  timeoutMs?: number;
  /** For the refusal's hold. @default the system's */
  clock?: Clock;
}

/** The part of Luma's Generation object we read. */
interface LumaGeneration {
  id?: unknown;
  state?: unknown;
  failure_reason?: unknown;
  created_at?: unknown;
  assets?: { video?: unknown; image?: unknown } | null;
  /** The create request, echoed with Luma's defaults filled in; `callback_url` carries our marker. */
  request?: { callback_url?: unknown } | null;
}

/** A list page as Luma returns it. */
interface LumaPage {
  generations?: unknown;
  has_more?: unknown;
}

/** How far back, before an attempt began, a generation may have been created (clocks differ). */
const FIND_CLOCK_SKEW_MS = 60_000;
const FIND_PAGE_SIZE = 100;
/**
 * The list is account-wide and its order is not documented: a search reads at most this many pages
 * (1,000 generations) rather than stopping where newest-first order would say it may.
 */
const FIND_MAX_PAGES = 10;

const STATES: readonly UpstreamState[] = ['queued', 'dreaming', 'completed', 'failed'];
/**
 * Once the upstream refuses the gateway's key, every task would get the same answer: for this long the
 * container answers every call with that refusal at once, instead of sending a known-bad key again. The
 * first call after it reads the secret afresh.
 */
export const KEY_REFUSAL_HOLD_MS = 60_000;

export class LumaProvider implements VideoProvider {
  readonly name = 'luma';
  readonly model: string;
  readonly #resolution: string;
  readonly #duration: string;
  readonly #baseUrl: string;
  readonly #apiKey: () => Promise<string>;
  readonly #forgetApiKey: () => void;
  readonly #timeoutMs: number;
  readonly #clock: Clock;
  #keyRefused?: { error: UpstreamRejectedError; until: number };

  constructor(options: LumaOptions) {
    this.model = options.model;
    this.#resolution = options.resolution ?? GENERATION_OPTIONS.resolution.fallback;
    this.#duration = options.duration ?? GENERATION_OPTIONS.duration.fallback;
    this.#baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.#apiKey = options.apiKey;
    this.#forgetApiKey = options.forgetApiKey ?? (() => undefined);
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    this.#clock = options.clock ?? systemClock;
  }

  async submit(request: ProviderRequest): Promise<UpstreamGeneration> {
    const keyframes = {
      ...(request.frame0Url && { frame0: { type: 'image', url: request.frame0Url } }),
      ...(request.frame1Url && { frame1: { type: 'image', url: request.frame1Url } }),
    };
    // Resolution and duration always: Luma's own defaults are undocumented, and they decide quality and cost.
    const body = {
      model: request.model ?? this.model,
      prompt: request.prompt,
      resolution: request.resolution ?? this.#resolution,
      duration: request.duration ?? this.#duration,
      ...(request.aspectRatio && { aspect_ratio: request.aspectRatio }),
      ...(request.loop !== undefined && { loop: request.loop }),
      ...(Object.keys(keyframes).length > 0 && { keyframes }),
      ...(request.marker && { callback_url: request.marker }),
    };
    return toUpstreamGeneration(await this.#call('POST', '/generations/video', body), { created: true });
  }

  async get(upstreamId: string): Promise<UpstreamGeneration> {
    return toUpstreamGeneration(await this.#call('GET', `/generations/${encodeURIComponent(upstreamId)}`));
  }

  /** Luma answers 204; a generation it no longer has (404) is deleted as far as we are concerned. */
  async delete(upstreamId: string): Promise<void> {
    await this.#call('DELETE', `/generations/${encodeURIComponent(upstreamId)}`);
  }

  async findByMarker(marker: string, since: Date): Promise<UpstreamGeneration[]> {
    const earliest = since.getTime() - FIND_CLOCK_SKEW_MS;
    const found: LumaGeneration[] = [];
    for (let page = 0; page < FIND_MAX_PAGES; page++) {
      const path = `/generations?limit=${FIND_PAGE_SIZE}&offset=${page * FIND_PAGE_SIZE}`;
      const answer = (await this.#call('GET', path)) as LumaPage | null;
      const generations = Array.isArray(answer?.generations) ? (answer.generations as LumaGeneration[]) : [];
      for (const generation of generations) {
        // Exactly our marker, nothing like it: the list is shared with every client of the account.
        if (generation?.request?.callback_url === marker && Date.parse(String(generation.created_at)) >= earliest) found.push(generation);
      }
      if (generations.length < FIND_PAGE_SIZE || answer?.has_more === false) break;
    }
    // Oldest first: a copy of our marker made by someone who read it in the list can only come later.
    const unique = [...new Map(found.map((generation) => [generation.id, generation])).values()];
    return unique
      .sort((a, b) => Date.parse(String(a.created_at)) - Date.parse(String(b.created_at)))
      .map((generation) => toUpstreamGeneration(generation));
  }

  async #call(method: string, path: string, body?: unknown): Promise<LumaGeneration | null> {
    if (this.#keyRefused && this.#clock().getTime() < this.#keyRefused.until) throw this.#keyRefused.error;
    // Outside the try below: a key that cannot be read is the gateway's fault, not an unreachable upstream.
    const apiKey = await this.#apiKey();
    let response: Response;
    try {
      response = await fetch(this.#baseUrl + path, {
        method,
        headers: {
          authorization: `Bearer ${apiKey}`,
          accept: 'application/json',
          ...(body !== undefined && { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        redirect: 'error',
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (error) {
      throw new TransientUpstreamError(`The upstream could not be reached (${describeNetworkError(error)}).`, {
        cause: error,
        ambiguous: method === 'POST' && mayHaveArrived(error),
      });
    }
    let text: string;
    try {
      text = await response.text();
    } catch (error) {
      // The answer was cut: a success we could not read may still have created something.
      if (response.ok) throw new TransientUpstreamError(`The upstream's ${response.status} answer was cut.`, { cause: error, ambiguous: method === 'POST' });
      text = '';
    }
    // A delete's answer has no body to read; a 404 means there is nothing left to delete.
    if (method === 'DELETE' && (response.ok || response.status === 404)) return null;
    if (response.ok) {
      try {
        return JSON.parse(text) as LumaGeneration | null;
      } catch (error) {
        throw new TransientUpstreamError(`The upstream answered ${response.status} with a body that is not JSON.`, {
          cause: error,
          ambiguous: method === 'POST',
        });
      }
    }
    const error = classifyErrorResponse(response.status, detailOf(text), response.headers.get('retry-after'));
    if (response.status === 401 || response.status === 403) {
      this.#keyRefused = { error: error as UpstreamRejectedError, until: this.#clock().getTime() + KEY_REFUSAL_HOLD_MS };
      this.#forgetApiKey(); // after the hold, the secret is read again: the operator may have fixed it
    }
    throw error;
  }
}

/** Maps an upstream error answer to our errors: what to retry, what to give up on, and what to tell whom. */
export function classifyErrorResponse(status: number, detail: string | undefined, retryAfter: string | null) {
  const what = detail ? `: ${detail}` : '';
  if (isTransientHttpStatus(status)) {
    return new TransientUpstreamError(`The upstream answered ${status}${what}.`, {
      retryAfterSeconds: parseRetryAfter(retryAfter),
      rateLimited: status === 429,
    });
  }
  // A 403 may also be about the account (its credits or plan) rather than the key: told apart below.
  if (status === 401 || (status === 403 && !isAccountProblem(detail))) {
    return new UpstreamRejectedError(
      `The upstream refused the gateway's API key (HTTP ${status}). The operator must update the upstream API key secret.`,
      { status: 502, failureCode: 'upstream_rejected' },
    );
  }
  const failure = classifyUpstreamFailure(detail ?? `The upstream rejected the request (HTTP ${status}).`);
  if (failure.code === 'moderation') {
    return new UpstreamRejectedError(`The upstream rejected the request (HTTP ${status})${what}`, {
      status: status === 400 || status === 422 ? status : 502,
      failureCode: 'moderation',
    });
  }
  // The operator's account (credits, plan, a model it may not use): not the client's request to fix, so not its 400.
  if (status === 402 || isAccountProblem(detail)) {
    return new UpstreamRejectedError(
      `The upstream refused the gateway's account (HTTP ${status})${what}. The operator must check the upstream account's ` +
        'credits and plan, and offer only models it may use (upstreamModel, allowedModels).',
      { status: 502, failureCode: 'upstream_rejected' },
    );
  }
  return new UpstreamRejectedError(`The upstream rejected the request (HTTP ${status})${what}`, {
    status: status === 400 || status === 422 ? status : 502,
    failureCode: 'upstream_rejected',
  });
}

/** Luma answers `{"detail": "..."}`, sometimes a list of FastAPI validation errors. Never echo more than a line. */
function detailOf(text: string): string | undefined {
  try {
    const detail = (JSON.parse(text) as { detail?: unknown }).detail;
    if (typeof detail === 'string') return detail.slice(0, 500);
    if (Array.isArray(detail)) {
      return detail
        .map((item) => (typeof item?.msg === 'string' ? item.msg : JSON.stringify(item)))
        .join('; ')
        .slice(0, 500);
    }
  } catch {
    // Not JSON: an HTML error page from a proxy tells the user nothing.
  }
  return undefined;
}

export function parseRetryAfter(value: string | null, now = systemClock().getTime()): number | undefined {
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, (date - now) / 1000);
}

/** Errors raised before a byte of the request could leave: nothing can have been created. */
const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_INVALID_ARG']);

/**
 * Whether a failed request may have reached the upstream. Only a failure to connect proves it did not;
 * a timeout or a connection cut after connecting may come after the upstream acted on it.
 */
function mayHaveArrived(error: unknown): boolean {
  const code = (error as { cause?: { code?: string } })?.cause?.code;
  if (code && NOT_SENT_CODES.has(code)) return false;
  const causeMessage = String((error as { cause?: { message?: unknown } })?.cause?.message ?? '');
  return !/certificate|self[- ]signed|ERR_TLS/i.test(causeMessage + (code ?? ''));
}

function toUpstreamGeneration(raw: LumaGeneration | null, { created = false } = {}): UpstreamGeneration {
  if (!raw || typeof raw !== 'object' || typeof raw.id !== 'string' || !STATES.includes(raw.state as UpstreamState)) {
    // After a create, an unreadable success may still stand for a generation made upstream.
    throw new TransientUpstreamError('The upstream answered with a generation the gateway cannot read.', { ambiguous: created });
  }
  const asString = (value: unknown) => (typeof value === 'string' && value ? value : undefined);
  return {
    id: raw.id,
    state: raw.state as UpstreamState,
    failureReason: asString(raw.failure_reason),
    videoUrl: asString(raw.assets?.video),
    imageUrl: asString(raw.assets?.image),
  };
}
