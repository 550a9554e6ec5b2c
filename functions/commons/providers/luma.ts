/**
 * The official Luma Dream Machine API (https://docs.lumalabs.ai). A small fetch client rather than the
 * `lumaai` SDK: we need the raw status, `detail` and `Retry-After` of every answer to classify it, the
 * SDK's own retries and timeouts would fight the workflow's, and this keeps the bundles small.
 */
import { TransientUpstreamError, UpstreamRejectedError } from '../errors.ts';
import { classifyUpstreamFailure, isAccountProblem } from '../domain/failure.ts';
import { GENERATION_OPTIONS } from '../domain/luma-options.ts';
import type { ProviderRequest, UpstreamGeneration, UpstreamState, VideoProvider } from './provider.ts';

export interface LumaOptions {
  baseUrl: string;
  /** The deployment's defaults, sent when a request has none of its own (tasks recorded before they were kept). */
  model: string;
  /** @default GENERATION_OPTIONS.resolution.fallback (720p) */
  resolution?: string;
  /** @default GENERATION_OPTIONS.duration.fallback (5s) */
  duration?: string;
  apiKey: () => Promise<string>;
  timeoutMs?: number;
}

/** The part of Luma's Generation object we read. */
interface LumaGeneration {
  id?: unknown;
  state?: unknown;
  failure_reason?: unknown;
  created_at?: unknown;
  assets?: { video?: unknown; image?: unknown } | null;
  /** The create request, echoed: what `findSubmitted` matches on. */
  request?: {
    model?: unknown;
    prompt?: unknown;
    aspect_ratio?: unknown;
    loop?: unknown;
    keyframes?: { frame0?: unknown; frame1?: unknown } | null;
  } | null;
}

/** How far back, before an attempt began, a generation may have been created (clocks differ). */
const FIND_CLOCK_SKEW_MS = 60_000;
/** Luma lists newest first; a crashed attempt is minutes old at most, so one page is plenty. */
const FIND_PAGE_SIZE = 100;

const STATES: readonly UpstreamState[] = ['queued', 'dreaming', 'completed', 'failed'];
/**
 * Once the upstream refuses the gateway's key, every task would get the same answer: for this long the
 * container answers every call with that refusal at once, instead of sending a known-bad key again.
 */
export const KEY_REFUSAL_HOLD_MS = 60_000;
const RETRYABLE_STATUSES = new Set([408, 409, 425, 429]);

export class LumaProvider implements VideoProvider {
  readonly name = 'luma';
  readonly model: string;
  readonly #resolution: string;
  readonly #duration: string;
  readonly #baseUrl: string;
  readonly #apiKey: () => Promise<string>;
  readonly #timeoutMs: number;
  #keyRefused?: { error: UpstreamRejectedError; until: number };

  constructor(options: LumaOptions) {
    this.model = options.model;
    this.#resolution = options.resolution ?? GENERATION_OPTIONS.resolution.fallback;
    this.#duration = options.duration ?? GENERATION_OPTIONS.duration.fallback;
    this.#baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.#apiKey = options.apiKey;
    this.#timeoutMs = options.timeoutMs ?? 10_000;
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
    };
    return toUpstreamGeneration(await this.#call('POST', '/generations/video', body));
  }

  async get(upstreamId: string): Promise<UpstreamGeneration> {
    return toUpstreamGeneration(await this.#call('GET', `/generations/${encodeURIComponent(upstreamId)}`));
  }

  async findSubmitted(request: ProviderRequest, since: Date): Promise<UpstreamGeneration | undefined> {
    const page = (await this.#call('GET', `/generations?limit=${FIND_PAGE_SIZE}&offset=0`)) as { generations?: unknown } | null;
    const generations = Array.isArray(page?.generations) ? (page.generations as LumaGeneration[]) : [];
    const earliest = since.getTime() - FIND_CLOCK_SKEW_MS;
    const matches = generations
      .filter((generation) => Date.parse(String(generation.created_at)) >= earliest && this.#sameRequest(generation, request))
      .sort((a, b) => Date.parse(String(a.created_at)) - Date.parse(String(b.created_at)));
    // The oldest match since the attempt: the one that attempt created.
    return matches[0] && toUpstreamGeneration(matches[0]);
  }

  #sameRequest(generation: LumaGeneration, request: ProviderRequest): boolean {
    const sent = generation.request;
    return (
      !!sent &&
      sent.prompt === request.prompt &&
      (sent.model === undefined || sent.model === this.model) &&
      // Without an aspect ratio of ours, the upstream echoes its default: anything matches.
      (request.aspectRatio === undefined || sent.aspect_ratio === request.aspectRatio) &&
      Boolean(sent.loop) === Boolean(request.loop) &&
      // Keyframe links are presigned anew on every attempt: only their presence can be compared.
      Boolean(sent.keyframes?.frame0) === Boolean(request.frame0Url) &&
      Boolean(sent.keyframes?.frame1) === Boolean(request.frame1Url)
    );
  }

  async #call(method: string, path: string, body?: unknown): Promise<LumaGeneration | null> {
    if (this.#keyRefused && Date.now() < this.#keyRefused.until) throw this.#keyRefused.error;
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
      throw new TransientUpstreamError(`The upstream could not be reached (${describeFetchError(error)}).`, { cause: error });
    }
    const text = await response.text().catch(() => '');
    if (response.ok) {
      try {
        return JSON.parse(text) as LumaGeneration | null;
      } catch (error) {
        throw new TransientUpstreamError(`The upstream answered ${response.status} with a body that is not JSON.`, { cause: error });
      }
    }
    const error = classifyErrorResponse(response.status, detailOf(text), response.headers.get('retry-after'));
    if (response.status === 401 || response.status === 403) {
      this.#keyRefused = { error: error as UpstreamRejectedError, until: Date.now() + KEY_REFUSAL_HOLD_MS };
    }
    throw error;
  }
}

/** Maps an upstream error answer to our errors: what to retry, what to give up on, and what to tell whom. */
export function classifyErrorResponse(status: number, detail: string | undefined, retryAfter: string | null) {
  const what = detail ? `: ${detail}` : '';
  if (RETRYABLE_STATUSES.has(status) || status >= 500) {
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

export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, (date - now) / 1000);
}

function describeFetchError(error: unknown): string {
  if (error instanceof Error && error.name === 'TimeoutError') return 'timed out';
  const cause = (error as { cause?: { code?: string } })?.cause;
  return cause?.code ?? (error instanceof Error ? error.message : 'unknown error');
}

function toUpstreamGeneration(raw: LumaGeneration | null): UpstreamGeneration {
  if (!raw || typeof raw !== 'object' || typeof raw.id !== 'string' || !STATES.includes(raw.state as UpstreamState)) {
    throw new TransientUpstreamError('The upstream answered with a generation the gateway cannot read.');
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
