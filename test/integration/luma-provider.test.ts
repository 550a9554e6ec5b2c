/**
 * LumaProvider against a local HTTP server on 127.0.0.1 that records each request and answers as told:
 * the requests it sends, how it reads answers and errors, a refused key, transport failures. The pure
 * classification of answers and failures is in test/unit/providers/luma.test.ts.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, it, expect } from 'vitest';
import { KEY_REFUSAL_HOLD_MS, LumaProvider } from '../../functions/commons/providers/luma.ts';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { cachedSecret } from '../../functions/commons/adapters/secret.ts';
import { TransientUpstreamError, UpstreamRejectedError } from '../../functions/commons/errors.ts';

// ------------------------------------------------------------------------------------------------ test server

interface Recorded {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

interface Answer {
  status: number;
  body?: string;
  headers?: Record<string, string>;
  /** Never answer: the client must time out. */
  hang?: boolean;
}

const API_KEY = 'luma-secret-key-0123456789';
const BASE_PATH = '/dream-machine/v1';

let server: Server;
let baseUrl: string;
const requests: Recorded[] = [];
let answer: Answer = { status: 500 };

const json = (status: number, value: unknown, headers?: Record<string, string>): Answer => ({
  status,
  body: JSON.stringify(value),
  headers: { 'content-type': 'application/json', ...headers },
});

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      if (answer.hang) return;
      res.writeHead(answer.status, answer.headers);
      res.end(answer.body ?? '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}${BASE_PATH}/`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

beforeEach(() => {
  requests.length = 0;
  answer = { status: 500 };
});

const provider = (options: { timeoutMs?: number; url?: string } = {}) =>
  new LumaProvider({ baseUrl: options.url ?? baseUrl, model: 'ray-2', apiKey: async () => API_KEY, timeoutMs: options.timeoutMs ?? 2000 });

const GENERATION = {
  id: 'd1f2a3b4-0000-4000-8000-000000000001',
  state: 'queued',
  failure_reason: null,
  created_at: '2025-05-23T07:05:23.342Z',
  model: 'ray-2',
  assets: null,
  request: {},
};

async function caught(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

// ----------------------------------------------------------------------------------------------------- submit

describe('LumaProvider.submit', () => {
  it('POSTs the mapped body to /generations/video with the Bearer key, and reads the 201', async () => {
    answer = json(201, GENERATION);
    const generation = await provider().submit({
      prompt: 'a paper boat',
      aspectRatio: '9:16',
      loop: true,
      frame0Url: 'https://bucket.example/start.png?sig=1',
      frame1Url: 'https://bucket.example/end.jpg?sig=2',
    });
    expect(generation).toEqual({ id: GENERATION.id, state: 'queued', failureReason: undefined, videoUrl: undefined, imageUrl: undefined });

    expect(requests).toHaveLength(1);
    const [request] = requests;
    expect(request.method).toBe('POST');
    expect(request.url).toBe(`${BASE_PATH}/generations/video`);
    expect(request.headers.authorization).toBe(`Bearer ${API_KEY}`);
    expect(request.headers['content-type']).toBe('application/json');
    expect(request.headers.accept).toBe('application/json');
    expect(JSON.parse(request.body)).toEqual({
      model: 'ray-2',
      prompt: 'a paper boat',
      resolution: '720p',
      duration: '5s',
      aspect_ratio: '9:16',
      loop: true,
      keyframes: {
        frame0: { type: 'image', url: 'https://bucket.example/start.png?sig=1' },
        frame1: { type: 'image', url: 'https://bucket.example/end.jpg?sig=2' },
      },
    });
  });

  it('always sends model, resolution and duration: the configured defaults when the request has none', async () => {
    answer = json(201, GENERATION);
    await provider().submit({ prompt: 'just a prompt' });
    expect(JSON.parse(requests[0].body)).toEqual({ model: 'ray-2', prompt: 'just a prompt', resolution: '720p', duration: '5s' });

    const configured = new LumaProvider({ baseUrl, model: 'ray-flash-2', resolution: '1080p', duration: '9s', apiKey: async () => API_KEY });
    await configured.submit({ prompt: 'just a prompt' });
    expect(JSON.parse(requests[1].body)).toEqual({ model: 'ray-flash-2', prompt: 'just a prompt', resolution: '1080p', duration: '9s' });
  });

  it('the request’s own model, resolution and duration win over the defaults', async () => {
    answer = json(201, GENERATION);
    await provider().submit({ prompt: 'p', model: 'ray-flash-2', resolution: '4k', duration: '9s', aspectRatio: '21:9' });
    expect(JSON.parse(requests[0].body)).toEqual({ model: 'ray-flash-2', prompt: 'p', resolution: '4k', duration: '9s', aspect_ratio: '21:9' });
  });

  it('sends loop: false, and a lone end frame as frame1', async () => {
    answer = json(201, GENERATION);
    await provider().submit({ prompt: 'p', loop: false, frame1Url: 'https://x.example/e.png' });
    expect(JSON.parse(requests[0].body)).toEqual({
      model: 'ray-2',
      prompt: 'p',
      resolution: '720p',
      duration: '5s',
      loop: false,
      keyframes: { frame1: { type: 'image', url: 'https://x.example/e.png' } },
    });
  });

  it('asks for the key on each call', async () => {
    answer = json(201, GENERATION);
    let calls = 0;
    const rotating = new LumaProvider({ baseUrl, model: 'ray-flash-2', apiKey: async () => `key-number-${++calls}-abcdefgh` });
    await rotating.submit({ prompt: 'p' });
    await rotating.submit({ prompt: 'p' });
    expect(requests.map((r) => r.headers.authorization)).toEqual(['Bearer key-number-1-abcdefgh', 'Bearer key-number-2-abcdefgh']);
    expect(JSON.parse(requests[0].body).model).toBe('ray-flash-2');
  });

  it('maps a 400 with a detail to an UpstreamRejectedError the client sees as 400', async () => {
    answer = json(400, { detail: 'Loop is not supported for end frame' });
    const error = await caught(provider().submit({ prompt: 'p' }));
    expect(error).toBeInstanceOf(UpstreamRejectedError);
    expect(error).toMatchObject({ status: 400, failureCode: 'upstream_rejected', retryable: false, name: 'UpstreamRejectedError' });
    expect((error as Error).message).toContain('Loop is not supported for end frame');
  });

  it('joins FastAPI-style validation errors into one line', async () => {
    answer = json(422, { detail: [{ loc: ['body', 'prompt'], msg: 'field required' }, { msg: 'too long' }] });
    const error = await caught(provider().submit({ prompt: 'p' }));
    expect(error).toMatchObject({ status: 422, failureCode: 'upstream_rejected' });
    expect((error as Error).message).toContain('field required; too long');
  });

  it('maps a moderation refusal to failureCode moderation', async () => {
    answer = json(400, { detail: 'Prompt failed moderation' });
    expect(await caught(provider().submit({ prompt: 'p' }))).toMatchObject({ status: 400, failureCode: 'moderation', code: 'moderation' });
  });

  it('maps 429 with Retry-After to a TransientUpstreamError carrying the wait', async () => {
    answer = json(429, { detail: 'Too many requests' }, { 'retry-after': '7' });
    const error = await caught(provider().submit({ prompt: 'p' }));
    expect(error).toBeInstanceOf(TransientUpstreamError);
    expect(error).toMatchObject({ retryable: true, retryAfterSeconds: 7, status: 503, name: 'TransientUpstreamError' });
  });

  it('does not echo an HTML error page', async () => {
    answer = { status: 502, body: '<html><body>Bad Gateway from nginx at 10.0.0.1</body></html>', headers: { 'content-type': 'text/html' } };
    const error = await caught(provider().submit({ prompt: 'p' }));
    expect(error).toBeInstanceOf(TransientUpstreamError);
    expect((error as Error).message).toBe('The upstream answered 502.');
  });

  it('does not echo the upstream’s detail on 401', async () => {
    answer = json(401, { detail: `Invalid API key ${API_KEY}` });
    const error = await caught(provider().submit({ prompt: 'p' }));
    expect(error).toMatchObject({ status: 502, failureCode: 'upstream_rejected' });
    expect((error as Error).message).not.toContain(API_KEY);
  });

  it('after the upstream refuses the key, answers further calls with that refusal without sending the key again', async () => {
    const luma = provider();
    answer = json(401, { detail: 'Invalid API key' });
    const first = await caught(luma.submit({ prompt: 'p' }));
    const sent = requests.length;
    answer = json(201, { id: 'g-1', state: 'queued' }); // even if the key were fixed upstream meanwhile
    const second = await caught(luma.get('g-1'));
    expect(second).toBe(first);
    expect(requests.length).toBe(sent);
  });

  it('a refused key is forgotten at once: the first call after the hold reads the secret again and sends the new key', async () => {
    const stored = { value: 'luma-old-key-0123456789', reads: 0 };
    const client = { send: async () => (stored.reads++, { SecretString: stored.value }) } as unknown as SecretsManagerClient;
    let now = 1_000_000;
    const key = cachedSecret(client, 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:luma-key', { clock: () => new Date(now) });
    const luma = new LumaProvider({ baseUrl, model: 'ray-2', apiKey: key, forgetApiKey: key.forget, clock: () => new Date(now), timeoutMs: 2000 });

    answer = json(401, { detail: 'Invalid API key' });
    await caught(luma.get('g-1'));
    stored.value = 'luma-new-key-0123456789'; // the operator's put-secret-value
    answer = json(200, { ...GENERATION, id: 'g-1' });
    now += KEY_REFUSAL_HOLD_MS - 1;
    await caught(luma.get('g-1')); // still held: nothing sent, nothing read
    expect(requests).toHaveLength(1);
    expect(stored.reads).toBe(1);
    now += 1;
    await expect(luma.get('g-1')).resolves.toMatchObject({ id: 'g-1' });
    expect(requests.map((r) => r.headers.authorization)).toEqual(['Bearer luma-old-key-0123456789', 'Bearer luma-new-key-0123456789']);
  });

  it('a 200 with a body that is not JSON is transient', async () => {
    answer = { status: 200, body: 'OK', headers: { 'content-type': 'text/plain' } };
    expect(await caught(provider().submit({ prompt: 'p' }))).toBeInstanceOf(TransientUpstreamError);
    answer = { status: 201, body: '' };
    expect(await caught(provider().submit({ prompt: 'p' }))).toBeInstanceOf(TransientUpstreamError);
  });

  it.each([
    ['no id', { state: 'queued' }],
    ['a numeric id', { id: 42, state: 'queued' }],
    ['an unknown state', { id: 'x', state: 'pending' }],
    ['an array', []],
    ['a string', 'queued'],
  ])('a 2xx generation with %s is transient', async (_name, body) => {
    answer = json(201, body);
    expect(await caught(provider().submit({ prompt: 'p' }))).toBeInstanceOf(TransientUpstreamError);
  });

  it('a 2xx with a JSON null body is transient', async () => {
    answer = json(201, null);
    expect(await caught(provider().submit({ prompt: 'p' }))).toBeInstanceOf(TransientUpstreamError);
  });

  it('a redirect is not followed', async () => {
    answer = { status: 302, headers: { location: 'http://169.254.169.254/latest/meta-data/' } };
    expect(await caught(provider().submit({ prompt: 'p' }))).toBeInstanceOf(TransientUpstreamError);
    expect(requests).toHaveLength(1);
  });
});

// -------------------------------------------------------------------------------------------------------- get

describe('LumaProvider.get', () => {
  it('GETs /generations/{id} and maps the assets', async () => {
    answer = json(200, {
      ...GENERATION,
      state: 'completed',
      assets: { video: 'https://cdn.lumalabs.ai/v.mp4', image: 'https://cdn.lumalabs.ai/v.jpg', progress_video: 'https://x/p.mp4' },
    });
    const generation = await provider().get(GENERATION.id);
    expect(generation).toEqual({
      id: GENERATION.id,
      state: 'completed',
      failureReason: undefined,
      videoUrl: 'https://cdn.lumalabs.ai/v.mp4',
      imageUrl: 'https://cdn.lumalabs.ai/v.jpg',
    });
    const [request] = requests;
    expect(request.method).toBe('GET');
    expect(request.url).toBe(`${BASE_PATH}/generations/${GENERATION.id}`);
    expect(request.headers.authorization).toBe(`Bearer ${API_KEY}`);
    expect(request.headers['content-type']).toBeUndefined();
    expect(request.body).toBe('');
  });

  it('encodes the id into one path segment', async () => {
    answer = json(200, GENERATION);
    await provider().get('../admin?x=1');
    expect(requests[0].url).toBe(`${BASE_PATH}/generations/..%2Fadmin%3Fx%3D1`);
  });

  it('reads each state and the failure reason', async () => {
    for (const state of ['queued', 'dreaming', 'completed', 'failed'] as const) {
      answer = json(200, { ...GENERATION, state, failure_reason: state === 'failed' ? 'Failed to read user input frames' : null });
      const generation = await provider().get(GENERATION.id);
      expect(generation.state).toBe(state);
      expect(generation.failureReason).toBe(state === 'failed' ? 'Failed to read user input frames' : undefined);
    }
  });

  it('treats empty or non-string asset values as absent', async () => {
    answer = json(200, { ...GENERATION, state: 'completed', assets: { video: '', image: 42 } });
    expect(await provider().get(GENERATION.id)).toMatchObject({ state: 'completed', videoUrl: undefined, imageUrl: undefined });
  });

  it('maps 404 to a permanent UpstreamRejectedError (502 to the client)', async () => {
    answer = json(404, { detail: 'Generation not found' });
    const error = await caught(provider().get('missing'));
    expect(error).toBeInstanceOf(UpstreamRejectedError);
    expect(error).toMatchObject({ status: 502, failureCode: 'upstream_rejected' });
  });
});

// ------------------------------------------------------------------------------------------ transport failures

describe('LumaProvider.delete', () => {
  it('DELETEs /generations/{id} with the Bearer key and reads the 204 (no body)', async () => {
    answer = { status: 204 };
    await expect(provider().delete(GENERATION.id)).resolves.toBeUndefined();
    expect(requests).toHaveLength(1);
    expect(requests[0]).toMatchObject({ method: 'DELETE', url: `${BASE_PATH}/generations/${GENERATION.id}`, body: '' });
    expect(requests[0]!.headers.authorization).toBe(`Bearer ${API_KEY}`);
  });

  it('a generation already gone (404) is deleted as far as the gateway is concerned', async () => {
    answer = json(404, { detail: 'Generation not found' });
    await expect(provider().delete(GENERATION.id)).resolves.toBeUndefined();
  });

  it('a refusal (a generation still in progress) is a permanent UpstreamRejectedError quoting the upstream', async () => {
    answer = json(400, { detail: 'Generation is still in progress' });
    const error = await caught(provider().delete(GENERATION.id));
    expect(error).toBeInstanceOf(UpstreamRejectedError);
    expect((error as Error).message).toContain('Generation is still in progress');
  });

  it('a 5xx or 429 is transient, as for any call', async () => {
    for (const status of [503, 429]) {
      answer = json(status, { detail: 'busy' });
      expect(await caught(provider().delete(GENERATION.id))).toBeInstanceOf(TransientUpstreamError);
    }
  });
});

describe('LumaProvider: transport failures', () => {
  it('connection refused is transient', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const error = await caught(provider({ url: `http://127.0.0.1:${port}/v1` }).submit({ prompt: 'p' }));
    expect(error).toBeInstanceOf(TransientUpstreamError);
    expect((error as Error).message).toContain('ECONNREFUSED');
  });

  it('a timeout is transient', async () => {
    answer = { status: 200, hang: true };
    const error = await caught(provider({ timeoutMs: 150 }).get('slow'));
    expect(error).toBeInstanceOf(TransientUpstreamError);
    expect((error as Error).message).toContain('timed out');
  });

  it('a failing key lookup surfaces as itself (a gateway fault, not an unreachable upstream) and sends nothing', async () => {
    const broken = new LumaProvider({ baseUrl, model: 'ray-2', apiKey: async () => Promise.reject(new Error('secrets down')) });
    const error = await caught(broken.submit({ prompt: 'p' }));
    expect(error).not.toBeInstanceOf(TransientUpstreamError);
    expect((error as Error).message).toBe('secrets down');
    expect(requests).toHaveLength(0);
  });
});
