import { afterEach, describe, expect, it, vi } from 'vitest';
import { readFileSync } from 'node:fs';
import { LumaVideoClient as BrowserClient, sniffImageType, type FileAccess } from '../../../client/src/client.ts';
import { DownloadIntegrityError, LumaVideoApiError } from '../../../client/src/errors.ts';
import { CLIENT_VERSION } from '../../../client/src/version.ts';
import { exampleGenerations } from '../../../functions/commons/domain/openapi-examples.ts';
import type { Generation } from '../../../client/src/types.ts';

const BASE = 'https://abc.execute-api.eu-west-1.amazonaws.com/prod';
const PENDING = exampleGenerations.pending!.value as Generation;
const PROCESSING = exampleGenerations.processing!.value as Generation;
const QUEUED = exampleGenerations.queued!.value as Generation;
const COMPLETED = exampleGenerations.completed!.value as Generation;

interface Call {
  url: string;
  method: string;
  headers: Record<string, string>;
  body?: unknown;
  at: number;
}

/** A fetch that answers from a script, one answer per call, and records every call. */
function scripted(...answers: (Response | Error | (() => Response))[]) {
  const calls: Call[] = [];
  const fetch = (async (input: string | URL, init: RequestInit = {}) => {
    calls.push({ url: String(input), method: init.method ?? 'GET', headers: { ...(init.headers as Record<string, string>) }, body: init.body, at: Date.now() });
    const answer = answers.shift();
    if (!answer) throw new Error(`unexpected call ${init.method} ${input}`);
    if (answer instanceof Error) throw answer;
    return typeof answer === 'function' ? answer() : answer;
  }) as typeof globalThis.fetch;
  return { fetch, calls };
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', 'x-request-id': 'req-9', ...headers } });

afterEach(() => vi.useRealTimers());

describe('requests', () => {
  it('resolves paths under a stage path, and sends the key to the API only', async () => {
    const { fetch, calls } = scripted(json(200, PENDING));
    const client = new BrowserClient({ baseUrl: BASE, apiKey: 'k1', fetch });
    await client.getGeneration(PENDING.id);
    expect(calls[0]!.url).toBe(`${BASE}/luma/generations/${PENDING.id}`);
    expect(calls[0]!.headers.authorization).toBe('Bearer k1');
  });

  it('retries a create through 503 and a lost connection, with one Idempotency-Key', async () => {
    const { fetch, calls } = scripted(json(503, { error: { code: 'service_unavailable', message: 'busy' } }, { 'retry-after': '0' }), new TypeError('fetch failed'), json(200, PENDING));
    const client = new BrowserClient({ baseUrl: BASE, apiKey: 'k1', fetch });
    await expect(client.createGeneration({ user_prompt: 'A flamingo' })).resolves.toEqual(PENDING);
    expect(calls).toHaveLength(3);
    const keys = new Set(calls.map((call) => call.headers['idempotency-key']));
    expect(keys.size).toBe(1);
    expect([...keys][0]).toMatch(/^[0-9a-f-]{36}$/);
    expect(JSON.parse(String(calls[0]!.body))).toEqual({ user_prompt: 'A flamingo' });
  });

  it('does not retry a refusal: a 400 is a LumaVideoApiError with the code, the details and the request id', async () => {
    const details = [{ field: 'aspect_ratio', message: 'must be one of …' }];
    const { fetch, calls } = scripted(json(400, { error: { code: 'invalid_request', message: 'The request body is invalid.', details } }));
    const error = await new BrowserClient({ baseUrl: BASE, apiKey: 'k1', fetch }).createGeneration({ user_prompt: 'hi' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LumaVideoApiError);
    expect(error).toMatchObject({ status: 400, code: 'invalid_request', details, requestId: 'req-9', message: 'The request body is invalid.' });
    expect(calls).toHaveLength(1);
  });

  it('gives up after maxRetries and answers the last refusal, with its Retry-After', async () => {
    const limited = () => json(429, { error: { code: 'rate_limited', message: 'slow down' } }, { 'retry-after': '0' });
    const { fetch, calls } = scripted(limited, limited, limited);
    const error = await new BrowserClient({ baseUrl: BASE, apiKey: 'k1', fetch, maxRetries: 2 }).getGeneration('x').catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 429, code: 'rate_limited', retryAfterSeconds: 0 });
    expect(calls).toHaveLength(3);
  });
});

describe('waitForCompletion', () => {
  it('polls with backoff (1 s, ×1.5, up to 5 s), starting again on a change, and reports each poll', async () => {
    vi.useFakeTimers();
    const answers = [QUEUED, QUEUED, QUEUED, QUEUED, QUEUED, PROCESSING, PROCESSING, COMPLETED].map((g) => () => json(200, g));
    const { fetch, calls } = scripted(...answers);
    const client = new BrowserClient({ baseUrl: BASE, apiKey: 'k1', fetch });
    const states: string[] = [];
    const done = client.waitForCompletion(PENDING.id, { onProgress: ({ state, queuePosition }) => states.push(`${state}${queuePosition ? `#${queuePosition}` : ''}`) });
    await vi.runAllTimersAsync();
    await expect(done).resolves.toEqual(COMPLETED);
    const gaps = calls.slice(1).map((call, i) => call.at - calls[i]!.at);
    expect(gaps).toEqual([1000, 1500, 2250, 3375, 5000, 1000, 1500]);
    expect(states).toEqual(['pending#3', 'pending#3', 'pending#3', 'pending#3', 'pending#3', 'processing', 'processing', 'completed']);
  });

  it('stops when its signal is aborted, with the signal’s reason', async () => {
    vi.useFakeTimers();
    const { fetch } = scripted(() => json(200, PROCESSING));
    const controller = new AbortController();
    const waiting = new BrowserClient({ baseUrl: BASE, apiKey: 'k1', fetch }).waitForCompletion(PROCESSING.id, { signal: controller.signal });
    const outcome = expect(waiting).rejects.toThrow('stop now');
    await vi.advanceTimersByTimeAsync(10);
    controller.abort(new Error('stop now'));
    await outcome;
  });

  it('gives up after timeoutMs with a TimeoutError', async () => {
    vi.useFakeTimers();
    const { fetch } = scripted(...Array.from({ length: 10 }, () => () => json(200, PROCESSING)));
    const waiting = new BrowserClient({ baseUrl: BASE, apiKey: 'k1', fetch }).waitForCompletion(PROCESSING, { timeoutMs: 3000 });
    const outcome = expect(waiting).rejects.toMatchObject({ name: 'TimeoutError' });
    await vi.runAllTimersAsync();
    await outcome;
  });
});

describe('upload and download', () => {
  it('uploads bytes: announces their sniffed type and size, then PUTs them to the bucket without the key', async () => {
    const png = readFileSync(new URL('../../fixtures/media/tiny.png', import.meta.url));
    const ticket = { upload_url: 'https://bucket.example/inputs/uploads/u1?X-Amz-Signature=s', method: 'PUT', headers: { 'content-type': 'image/png', 'content-length': String(png.length) }, image_url: 'upload:u1' };
    const { fetch, calls } = scripted(json(200, ticket), new Response(null, { status: 200 }));
    const answer = await new BrowserClient({ baseUrl: BASE, apiKey: 'k1', fetch }).upload(new Uint8Array(png));
    expect(answer.image_url).toBe('upload:u1');
    expect(JSON.parse(String(calls[0]!.body))).toEqual({ content_type: 'image/png', size_bytes: png.length });
    expect(calls[1]).toMatchObject({ url: ticket.upload_url, method: 'PUT', headers: { 'content-type': 'image/png' } });
    expect(calls[1]!.headers.authorization).toBeUndefined();
  });

  it('knows PNG, JPEG and WebP by their first bytes', () => {
    const fixture = (name: string) => new Uint8Array(readFileSync(new URL(`../../fixtures/media/${name}`, import.meta.url)));
    expect(sniffImageType(fixture('tiny.png'))).toBe('image/png');
    expect(sniffImageType(fixture('tiny.webp'))).toBe('image/webp');
    expect(sniffImageType(new Uint8Array([0xff, 0xd8, 0xff, 0xe0]))).toBe('image/jpeg');
    expect(sniffImageType(new TextEncoder().encode('GIF89a'))).toBeUndefined();
  });

  it('removes a downloaded file whose SHA-256 is not the gateway’s', async () => {
    const removed: string[] = [];
    const files: FileAccess = {
      readFile: async () => new Uint8Array(),
      save: async () => ({ bytes: COMPLETED.video!.size_bytes, sha256: '00'.repeat(32) }),
      remove: async (path) => void removed.push(path),
    };
    const { fetch, calls } = scripted(new Response('not the video'));
    const client = new BrowserClient({ baseUrl: BASE, apiKey: 'k1', fetch, files });
    await expect(client.download(COMPLETED, '/tmp/out.mp4')).rejects.toBeInstanceOf(DownloadIntegrityError);
    expect(removed).toEqual(['/tmp/out.mp4']);
    expect(calls[0]!.url).toBe(COMPLETED.video!.url);
    expect(calls[0]!.headers.authorization).toBeUndefined();
  });

  it('refuses to download what has no video yet', async () => {
    const { fetch } = scripted();
    await expect(new BrowserClient({ baseUrl: BASE, apiKey: 'k1', fetch }).download(PENDING, '/tmp/x.mp4')).rejects.toThrow(/pending: it has no video/);
  });
});

it('the package’s version is the CLI’s', () => {
  const manifest = JSON.parse(readFileSync(new URL('../../../client/package.json', import.meta.url), 'utf8')) as { version: string };
  expect(CLIENT_VERSION).toBe(manifest.version);
});
