/**
 * Luma's callbacks: when a generation has a callback_url, the Generation is POSTed to it on each change
 * to dreaming, completed and failed; 3 tries 100 ms apart, 5 s each, unsigned, `Content-Type:
 * application/json`. A try succeeds on a 2xx answer; a redirect is not followed (a failed try).
 *
 * Deliberate difference: only loopback URLs (127.0.0.0/8, `localhost`, `[::1]`) are called. Any other
 * host is never contacted, so a simulated run reaches nothing beyond this machine; such a callback is
 * counted as skipped, each time one would have been sent.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { MAX_TIMER_MS } from '../time-scale.ts';

export const CALLBACK_TRIES = 3;
export const CALLBACK_RETRY_DELAY_MS = 100;
export const CALLBACK_TIMEOUT_MS = 5_000;

export interface CallbackCounters {
  /** Callbacks answered 2xx (on any try). */
  sent: number;
  /** Callbacks that failed all their tries. */
  failed: number;
  /** Callbacks not sent because the URL's host is not loopback. */
  skipped: number;
}

/** True when the URL's host is this machine: 127.0.0.0/8, `localhost` or `[::1]` (after URL normalisation). */
export function isLoopbackUrl(url: string): boolean {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return false;
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return false;
  const host = parsed.hostname;
  // WHATWG URL parsing already turned 2130706433, 0x7f.1 and the like into dotted decimal.
  return host === 'localhost' || host === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

export interface CallbackSettings {
  retryDelayMs: number;
  timeoutMs: number;
  /** The simulator's clock: a change is called back once it reads at least the change's instant. */
  now: () => number;
}

/** Timers for the changes still to come, and the deliveries in flight. */
export class CallbackScheduler {
  readonly #settings: CallbackSettings;
  readonly #counters: CallbackCounters;
  readonly #timers = new Map<string, Set<{ timer: NodeJS.Timeout }>>();
  readonly #inFlight = new Set<Promise<void>>();
  readonly #pauses = new Set<() => void>();
  #closed = false;

  constructor(settings: CallbackSettings, counters: CallbackCounters) {
    this.#settings = settings;
    this.#counters = counters;
  }

  /**
   * At `atMs` (epoch ms), POSTs `body()` to `url`. `body` is rendered when the time comes, so it is the
   * generation as it is at that change.
   */
  scheduleAt(generationId: string, atMs: number, url: string, body: () => unknown): void {
    if (this.#closed) return;
    const handles = this.#timers.get(generationId) ?? new Set();
    this.#timers.set(generationId, handles);
    const handle = { timer: undefined as unknown as NodeJS.Timeout };
    const arm = () => {
      const waitMs = atMs - this.#settings.now();
      handle.timer = setTimeout(
        () => {
          if (atMs - this.#settings.now() > 0) return arm();
          handles.delete(handle);
          if (handles.size === 0) this.#timers.delete(generationId);
          this.#fire(url, body);
        },
        // A change beyond a timer's longest delay is waited for in several steps.
        Math.min(Math.max(0, waitMs), MAX_TIMER_MS),
      );
    };
    handles.add(handle);
    arm();
  }

  /** Forgets the callbacks a generation still had coming (it was deleted). */
  cancel(generationId: string): void {
    for (const handle of this.#timers.get(generationId) ?? []) clearTimeout(handle.timer);
    this.#timers.delete(generationId);
  }

  /** Cancels every timer and pending retry, then waits for the tries in flight. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const id of [...this.#timers.keys()]) this.cancel(id);
    for (const wake of this.#pauses) wake();
    await Promise.allSettled([...this.#inFlight]);
  }

  #fire(url: string, body: () => unknown): void {
    if (!isLoopbackUrl(url)) {
      this.#counters.skipped += 1;
      return;
    }
    const delivery = this.#deliver(url, JSON.stringify(body()));
    this.#inFlight.add(delivery);
    void delivery.finally(() => this.#inFlight.delete(delivery));
  }

  async #deliver(url: string, body: string): Promise<void> {
    for (let attempt = 1; attempt <= CALLBACK_TRIES; attempt++) {
      if (await postOnce(url, body, this.#settings.timeoutMs)) {
        this.#counters.sent += 1;
        return;
      }
      if (attempt < CALLBACK_TRIES && !(await this.#pause(this.#settings.retryDelayMs))) return; // closed: abandoned
    }
    this.#counters.failed += 1;
  }

  /** Waits `ms`; resolves false instead when close() comes first. */
  #pause(ms: number): Promise<boolean> {
    if (this.#closed) return Promise.resolve(false);
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.#pauses.delete(wake);
        resolve(false);
      };
      const timer = setTimeout(() => {
        this.#pauses.delete(wake);
        resolve(true);
      }, ms);
      this.#pauses.add(wake);
    });
  }
}

/** One try: true on a 2xx answer; false on any other answer, a connection error or the timeout. */
function postOnce(url: string, body: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const send = url.startsWith('https:') ? httpsRequest : httpRequest;
    // A fresh connection each time (agent: false), closed after the answer: nothing lingers after close().
    const request = send(url, { method: 'POST', agent: false, headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) } }, (response) => {
      const status = response.statusCode ?? 0;
      resolve(status >= 200 && status < 300);
      response.resume(); // the answer's body is not read
    });
    const deadline = setTimeout(() => request.destroy(new Error('callback timed out')), timeoutMs);
    request.once('error', () => resolve(false));
    // Whatever ended the try; a no-op once the answer resolved it.
    request.once('close', () => {
      clearTimeout(deadline);
      resolve(false);
    });
    request.end(body);
  });
}
