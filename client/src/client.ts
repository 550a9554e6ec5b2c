/**
 * A client of the gateway's API for Node.js 20+ and browsers: `fetch` only, no AWS and no gateway code.
 * Every request is safe to repeat (a create carries an Idempotency-Key), so transient failures (no
 * connection, 429, 502, 503, 504, an Idempotency-Key still being served) are retried with capped, jittered
 * exponential backoff, honouring `Retry-After`. Files are read and written through `FileAccess`, which the
 * Node entry point (index.ts) supplies; in a browser, pass a Blob to `upload` and a WritableStream to
 * `download`.
 */
import { DownloadIntegrityError, GenerationFailedError, LumaVideoApiError } from './errors.ts';
import { TERMINAL_STATES, type Generation, type GenerationList, type GenerationRequest, type GenerationState, type UploadTicket } from './types.ts';

/** What the Node entry point plugs in; a browser has none. */
export interface FileAccess {
  readFile(path: string): Promise<Uint8Array>;
  /** Writes the stream to `path`, counting and hashing (SHA-256, hex) what passes. */
  save(body: ReadableStream<Uint8Array>, path: string): Promise<{ bytes: number; sha256: string }>;
  remove(path: string): Promise<void>;
}

export interface LumaVideoClientOptions {
  /** The gateway's base URL: `http://127.0.0.1:3000`, or a deployed stack's `ApiUrl` (`https://…/prod/`). */
  baseUrl: string;
  apiKey: string;
  /** Retries of a transient failure, per request. @default 4 */
  maxRetries?: number;
  /** @default globalThis.fetch */
  fetch?: typeof fetch;
  files?: FileAccess;
}

export interface RequestOptions {
  signal?: AbortSignal;
}

export interface Progress {
  generation: Generation;
  state: GenerationState;
  /** While the task waits for an upstream slot: its place among the caller's own queued tasks. */
  queuePosition: number | null;
  /** Since the wait began. */
  elapsedMs: number;
}

export interface WaitOptions extends RequestOptions {
  /** Called after every poll, the first before any wait. */
  onProgress?: (progress: Progress) => void;
  /** The first pause between polls, in ms; it grows by `backoff` up to `maxIntervalMs`, and starts again on a change. @default 1000 */
  intervalMs?: number;
  /** @default 5000 */
  maxIntervalMs?: number;
  /** @default 1.5 */
  backoff?: number;
  /** Gives up (rejects with a TimeoutError) after this long. @default no limit */
  timeoutMs?: number;
}

export interface ListOptions extends RequestOptions {
  /** 1 to 100. @default the gateway's, 20 */
  limit?: number;
  cursor?: string;
  state?: GenerationState;
}

export interface UploadOptions extends RequestOptions {
  /** @default sniffed from the bytes (PNG, JPEG, WebP) or the Blob's type */
  contentType?: string;
}

export interface DownloadResult {
  generation: Generation;
  bytes: number;
  /** Hex SHA-256 of what was written (when saving to a path), checked against the gateway's. */
  sha256?: string;
}

const RETRIED_STATUSES = new Set([429, 502, 503, 504]);
const MAX_RETRY_AFTER_MS = 60_000;

export class LumaVideoClient {
  readonly baseUrl: string;
  readonly #apiKey: string;
  readonly #fetch: typeof fetch;
  readonly #maxRetries: number;
  readonly #files: FileAccess | undefined;

  constructor(options: LumaVideoClientOptions) {
    if (!options.baseUrl) throw new TypeError('baseUrl is required');
    if (!options.apiKey) throw new TypeError('apiKey is required');
    // A base without a trailing slash would lose its last segment (a stage, `/prod`) when paths resolve against it.
    this.baseUrl = options.baseUrl.endsWith('/') ? options.baseUrl : `${options.baseUrl}/`;
    this.#apiKey = options.apiKey;
    this.#fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.#maxRetries = options.maxRetries ?? 4;
    this.#files = options.files;
  }

  /** `POST /luma/generations`. A fresh Idempotency-Key makes the retries of this call create one task at most. */
  async createGeneration(request: GenerationRequest, options: RequestOptions & { idempotencyKey?: string } = {}): Promise<Generation> {
    const idempotencyKey = options.idempotencyKey ?? crypto.randomUUID();
    return this.#json('POST', 'luma/generations', { body: request, headers: { 'idempotency-key': idempotencyKey }, signal: options.signal });
  }

  getGeneration(id: string, options: RequestOptions = {}): Promise<Generation> {
    return this.#json('GET', `luma/generations/${encodeURIComponent(id)}`, options);
  }

  /** One page of the caller's generations, newest first; pass `next_cursor` back as `cursor` for the next. */
  listGenerations(options: ListOptions = {}): Promise<GenerationList> {
    const query = new URLSearchParams();
    if (options.limit !== undefined) query.set('limit', String(options.limit));
    if (options.cursor !== undefined) query.set('cursor', options.cursor);
    if (options.state !== undefined) query.set('state', options.state);
    const search = query.size > 0 ? `?${query}` : '';
    return this.#json('GET', `luma/generations${search}`, { signal: options.signal });
  }

  /** Every generation of the caller, newest first, page after page. */
  async *generations(options: Omit<ListOptions, 'cursor'> = {}): AsyncGenerator<Generation> {
    let cursor: string | undefined;
    do {
      const page = await this.listGenerations({ ...options, cursor });
      yield* page.data;
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
  }

  /** `POST /luma/generations/{id}/cancel`: the generation, now `failed` with `failure_code: "cancelled"`. */
  cancel(id: string, options: RequestOptions = {}): Promise<Generation> {
    return this.#json('POST', `luma/generations/${encodeURIComponent(id)}/cancel`, options);
  }

  /** `DELETE /luma/generations/{id}`: a finished generation and its stored files. */
  async delete(id: string, options: RequestOptions = {}): Promise<void> {
    await this.#send('DELETE', `luma/generations/${encodeURIComponent(id)}`, options);
  }

  /**
   * Uploads a keyframe (`POST /luma/uploads`, then the PUT it asks for) and answers the ticket: send its
   * `image_url` as a generation's `image_url` or `image_end_url`. `data` is bytes, a Blob, or (in Node) a path.
   */
  async upload(data: Uint8Array | Blob | string, options: UploadOptions = {}): Promise<UploadTicket> {
    const bytes: Uint8Array | Blob = typeof data === 'string' ? await this.#requireFiles('upload a path').readFile(data) : data;
    const size = bytes instanceof Blob ? bytes.size : bytes.byteLength;
    const head = bytes instanceof Blob ? new Uint8Array(await bytes.slice(0, 16).arrayBuffer()) : bytes.subarray(0, 16);
    const contentType = options.contentType ?? sniffImageType(head) ?? (bytes instanceof Blob && bytes.type ? bytes.type : undefined);
    if (!contentType) throw new TypeError('Cannot tell the image type: pass contentType (image/png, image/jpeg or image/webp).');
    const ticket = await this.#json<UploadTicket>('POST', 'luma/uploads', { body: { content_type: contentType, size_bytes: size }, signal: options.signal });
    // Content-Length is the body's own: fetch sets it (a browser refuses to be told it).
    const put = () =>
      this.#fetch(ticket.upload_url, { method: 'PUT', headers: { 'content-type': ticket.headers['content-type'] }, body: bytes as Blob, signal: options.signal });
    const response = await this.#retrying(put, options.signal);
    // Read to its end (S3 answers an empty body): a body left unread is a request the browser reports aborted.
    const answer = await response.text();
    if (!response.ok) throw new LumaVideoApiError(response.status, answer, response.headers);
    return ticket;
  }

  /** Polls until the generation is `completed` or `failed`, and answers it as it ended (it never throws for `failed`). */
  async waitForCompletion(generation: string | Generation, options: WaitOptions = {}): Promise<Generation> {
    const { signal, onProgress, timeoutMs } = options;
    const first = options.intervalMs ?? 1000;
    const max = options.maxIntervalMs ?? 5000;
    const started = Date.now();
    let current = typeof generation === 'string' ? await this.getGeneration(generation, { signal }) : generation;
    let interval = first;
    for (;;) {
      onProgress?.({ generation: current, state: current.state, queuePosition: current.queue_position, elapsedMs: Date.now() - started });
      if (TERMINAL_STATES.includes(current.state)) return current;
      if (timeoutMs !== undefined && Date.now() - started + interval > timeoutMs) {
        throw Object.assign(new Error(`Generation ${current.id} is still ${current.state} after ${timeoutMs} ms.`), { name: 'TimeoutError' });
      }
      await sleep(interval, signal);
      const next = await this.getGeneration(current.id, { signal });
      const changed = next.state !== current.state || next.queue_position !== current.queue_position;
      interval = changed ? first : Math.min(max, interval * (options.backoff ?? 1.5));
      current = next;
    }
  }

  /** Creates a generation and waits for it: the completed generation, or a GenerationFailedError. */
  async generate(request: GenerationRequest, options: WaitOptions & { idempotencyKey?: string } = {}): Promise<Generation> {
    const created = await this.createGeneration(request, options);
    const done = await this.waitForCompletion(created, options);
    if (done.state === 'failed') throw new GenerationFailedError(done);
    return done;
  }

  /**
   * Saves a completed generation's video to `to` (a path, in Node; or a WritableStream). Saved to a path,
   * its size and SHA-256 are checked against the gateway's record, and a file that differs is removed.
   * A link that has expired (presigned for an hour by default) is renewed once.
   */
  async download(generation: string | Generation, to: string | WritableStream<Uint8Array>, options: RequestOptions = {}): Promise<DownloadResult> {
    const { signal } = options;
    let current = typeof generation === 'string' ? await this.getGeneration(generation, { signal }) : generation;
    const fetchVideo = async () => {
      if (current.state !== 'completed' || !current.video) throw new Error(`Generation ${current.id} is ${current.state}: it has no video.`);
      // A presigned link carries its own authorization: the API key is never sent to the bucket.
      return this.#retrying(() => this.#fetch(current.video!.url, { signal }), signal);
    };
    let response = await fetchVideo();
    if (response.status === 403 && typeof generation !== 'string') {
      current = await this.getGeneration(current.id, { signal });
      response = await fetchVideo();
    }
    if (!response.ok || !response.body) throw new LumaVideoApiError(response.status, await response.text(), response.headers);
    const video = current.video!;
    if (typeof to !== 'string') {
      let bytes = 0;
      const count = new TransformStream<Uint8Array, Uint8Array>({ transform: (chunk, out) => ((bytes += chunk.byteLength), out.enqueue(chunk)) });
      await response.body.pipeThrough(count).pipeTo(to, { signal });
      return { generation: current, bytes };
    }
    const files = this.#requireFiles('save to a path');
    const saved = await files.save(response.body, to);
    if (saved.bytes !== video.size_bytes || saved.sha256 !== video.sha256) {
      await files.remove(to);
      throw new DownloadIntegrityError(
        `The video of ${current.id} arrived as ${saved.bytes} bytes with SHA-256 ${saved.sha256}; the gateway stored ${video.size_bytes} bytes with ${video.sha256}. Nothing was kept.`,
      );
    }
    return { generation: current, ...saved };
  }

  #requireFiles(what: string): FileAccess {
    if (!this.#files) throw new TypeError(`This client has no file access to ${what}: use the Node entry point, or pass bytes and streams.`);
    return this.#files;
  }

  async #json<T>(method: string, path: string, options: { body?: unknown; headers?: Record<string, string>; signal?: AbortSignal }): Promise<T> {
    return (await this.#send(method, path, options)) as T;
  }

  async #send(method: string, path: string, options: { body?: unknown; headers?: Record<string, string>; signal?: AbortSignal }): Promise<unknown> {
    const url = new URL(path, this.baseUrl);
    const headers: Record<string, string> = { authorization: `Bearer ${this.#apiKey}`, accept: 'application/json', ...options.headers };
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    const body = options.body === undefined ? undefined : JSON.stringify(options.body);
    const response = await this.#retrying(() => this.#fetch(url, { method, headers, body, signal: options.signal }), options.signal, true);
    const text = await response.text();
    const parsed = text && /\bjson\b/.test(response.headers.get('content-type') ?? '') ? (JSON.parse(text) as unknown) : text || undefined;
    if (!response.ok) throw new LumaVideoApiError(response.status, parsed, response.headers);
    return parsed;
  }

  /** Runs `attempt` until it answers something final, waiting between tries; the last answer is returned as it is. */
  async #retrying(attempt: () => Promise<Response>, signal: AbortSignal | undefined, api = false): Promise<Response> {
    for (let retry = 0; ; retry++) {
      let response: Response;
      try {
        response = await attempt();
      } catch (error) {
        // fetch rejects with a TypeError when no answer came (refused, reset, DNS); an abort is final.
        if (signal?.aborted || !(error instanceof TypeError) || retry >= this.#maxRetries) throw error;
        await sleep(backoffMs(retry), signal);
        continue;
      }
      const inProgress = api && response.status === 409 && (await isInProgress(response.clone()));
      if ((!RETRIED_STATUSES.has(response.status) && !inProgress) || retry >= this.#maxRetries) return response;
      await response.body?.cancel();
      const retryAfter = Number(response.headers.get('retry-after'));
      const wait = response.headers.has('retry-after') && Number.isFinite(retryAfter) ? Math.min(retryAfter * 1000, MAX_RETRY_AFTER_MS) : backoffMs(retry);
      await sleep(wait, signal);
    }
  }
}

async function isInProgress(response: Response): Promise<boolean> {
  try {
    return ((await response.json()) as { error?: { code?: string } })?.error?.code === 'idempotency_in_progress';
  } catch {
    return false;
  }
}

/** Full jitter over 0.5 s doubling, capped at 8 s. */
function backoffMs(retry: number): number {
  return Math.random() * Math.min(8000, 500 * 2 ** retry);
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** The image types the gateway takes, from their first bytes. */
export function sniffImageType(head: Uint8Array): 'image/png' | 'image/jpeg' | 'image/webp' | undefined {
  const starts = (...bytes: number[]) => bytes.every((byte, index) => head[index] === byte);
  if (starts(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)) return 'image/png';
  if (starts(0xff, 0xd8, 0xff)) return 'image/jpeg';
  const ascii = (from: number, to: number) => String.fromCharCode(...head.subarray(from, to));
  if (ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WEBP') return 'image/webp';
  return undefined;
}
