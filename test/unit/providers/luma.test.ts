import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, it, expect } from 'vitest';
import { KEY_REFUSAL_HOLD_MS, LumaProvider, classifyErrorResponse, parseRetryAfter } from '../../../functions/commons/providers/luma.ts';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { cachedSecret } from '../../../functions/commons/adapters/secret.ts';
import { TransientUpstreamError, UpstreamRejectedError } from '../../../functions/commons/errors.ts';
import { classifyUpstreamFailure } from '../../../functions/commons/domain/failure.ts';
import { failureFromError } from '../../../functions/record-failure/failure-from-error.ts';

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

// --------------------------------------------------------------------------------------- classifyErrorResponse

describe('classifyErrorResponse', () => {
  it.each([400, 422])('%i: the request was at fault; the client sees the same status', (status) => {
    const error = classifyErrorResponse(status, 'Prompt is required', null);
    expect(error).toBeInstanceOf(UpstreamRejectedError);
    expect(error).toMatchObject({ status, failureCode: 'upstream_rejected', code: 'upstream_rejected', retryable: false });
    expect(error.message).toContain(`HTTP ${status}`);
    expect(error.message).toContain('Prompt is required');
  });

  it.each([401, 403])('%i: the gateway’s key was refused; 502 and a message for the operator', (status) => {
    const error = classifyErrorResponse(status, 'Invalid token', null);
    expect(error).toBeInstanceOf(UpstreamRejectedError);
    expect(error).toMatchObject({ status: 502, failureCode: 'upstream_rejected', retryable: false });
    expect(error.message).toMatch(/API key/);
    expect(error.message).not.toContain('Invalid token');
  });

  it('404: permanent, 502', () => {
    const error = classifyErrorResponse(404, undefined, null);
    expect(error).toBeInstanceOf(UpstreamRejectedError);
    expect(error).toMatchObject({ status: 502, failureCode: 'upstream_rejected' });
  });

  it.each([408, 409, 425, 429, 500, 502, 503, 504])('%i: transient', (status) => {
    const error = classifyErrorResponse(status, 'busy', null);
    expect(error).toBeInstanceOf(TransientUpstreamError);
    expect(error).toMatchObject({ retryable: true, status: 503, code: 'upstream_unavailable', retryAfterSeconds: undefined });
    expect(error.message).toBe(`The upstream answered ${status}: busy.`);
  });

  it('429 with Retry-After in seconds', () => {
    expect(classifyErrorResponse(429, undefined, '30')).toMatchObject({ retryAfterSeconds: 30 });
    expect(classifyErrorResponse(503, undefined, '0')).toMatchObject({ retryAfterSeconds: 0 });
  });

  it('429 with Retry-After as an HTTP-date', () => {
    const inTwoMinutes = new Date(Date.now() + 120_000).toUTCString();
    const { retryAfterSeconds } = classifyErrorResponse(429, undefined, inTwoMinutes) as TransientUpstreamError;
    expect(retryAfterSeconds).toBeGreaterThan(115);
    expect(retryAfterSeconds).toBeLessThanOrEqual(120);
    const past = new Date(Date.now() - 60_000).toUTCString();
    expect(classifyErrorResponse(429, undefined, past)).toMatchObject({ retryAfterSeconds: 0 });
    expect(classifyErrorResponse(429, undefined, 'soon')).toMatchObject({ retryAfterSeconds: undefined });
  });

  it.each(['Prompt failed moderation', 'Frame moderation failed', 'Prompt contains blacklisted words', 'NSFW content detected'])(
    'a moderation detail (%s) gives failureCode moderation',
    (detail) => {
      for (const status of [400, 422]) {
        expect(classifyErrorResponse(status, detail, null)).toMatchObject({ status, failureCode: 'moderation', code: 'moderation' });
      }
    },
  );

  it('405 "Method Not Allowed" is not moderation', () => {
    expect(classifyErrorResponse(405, 'Method Not Allowed', null)).toMatchObject({ failureCode: 'upstream_rejected' });
  });

  it.each([
    'Prompt not allowed',
    'Prompt not allowed: it may infringe intellectual property',
    'Request refused: copyrighted character',
    'Trademark detected in prompt',
    'Prompt not allowed (IP)',
    'Advanced prompt moderation failed',
    'Contains blacklisted words',
  ])('a refused prompt (%s) at submit is moderation, answered with the client’s own 400', (detail) => {
    expect(classifyErrorResponse(400, detail, null)).toMatchObject({ status: 400, failureCode: 'moderation' });
  });

  describe('the operator’s account, not the request, is at fault: 502 upstream_rejected with a hint for the operator', () => {
    it.each([
      [402, 'Payment required'],
      [402, undefined],
      [400, 'Insufficient credits'],
      [403, 'Not enough credits to run this generation'],
      [400, 'Your credit balance is too low'],
      [400, 'Billing issue: update your payment method'],
      [422, 'This feature requires a higher plan'],
      [400, 'No active subscription'],
      [400, 'Model ray-flash-2 is not available for this account'],
      [400, 'model ray-2 not allowed for your plan'],
      [403, 'You do not have access to this model'],
      [422, 'Resolution 4k is not available for your tier'],
    ])('%i %j', (status, detail) => {
      const error = classifyErrorResponse(status, detail, null);
      expect(error).toBeInstanceOf(UpstreamRejectedError);
      expect(error).toMatchObject({ status: 502, failureCode: 'upstream_rejected', retryable: false });
      expect(error.message).toMatch(/The operator must check the upstream account's credits and plan/);
      expect(error.message).not.toMatch(/API key/);
      expect(error.message).toContain(`HTTP ${status}`);
      if (detail) expect(error.message).toContain(detail);
    });

    it('a request the client got wrong stays the client’s 400, without the operator hint', () => {
      for (const detail of ['Prompt is required', 'Loop is not supported for end frame', 'Invalid aspect_ratio "2:1"']) {
        const error = classifyErrorResponse(400, detail, null);
        expect(error).toMatchObject({ status: 400, failureCode: 'upstream_rejected' });
        expect(error.message).not.toMatch(/operator/i);
      }
    });
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2025-05-23T07:05:23.000Z');
  it('reads seconds and HTTP-dates against the given clock', () => {
    expect(parseRetryAfter('120', now)).toBe(120);
    expect(parseRetryAfter('Fri, 23 May 2025 07:06:23 GMT', now)).toBe(60);
    expect(parseRetryAfter('Fri, 23 May 2025 07:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter(null, now)).toBeUndefined();
    expect(parseRetryAfter('', now)).toBeUndefined();
    expect(parseRetryAfter('later', now)).toBeUndefined();
  });
});

// ---------------------------------------------------------------------------------------- classifyUpstreamFailure

describe('classifyUpstreamFailure', () => {
  it.each([
    'Prompt failed moderation',
    'frame moderation failed',
    'Your prompt contains blacklisted words',
    'This content is not allowed',
    'Unsafe content',
    'nsfw',
    'Inappropriate image',
  ])('%s → moderation', (reason) => {
    expect(classifyUpstreamFailure(reason)).toEqual({ code: 'moderation', reason });
  });

  it.each(['Internal error', 'GPU out of memory'])('%s → upstream_failed', (reason) => {
    expect(classifyUpstreamFailure(reason)).toEqual({ code: 'upstream_failed', reason });
  });

  describe('Luma’s own failure reasons', () => {
    it.each([
      ['Contains blacklisted words', 'moderation'],
      ['Frame moderation failed', 'moderation'],
      ['Advanced prompt moderation failed', 'moderation'],
      ['Prompt not allowed', 'moderation'],
      ['Prompt not allowed: intellectual property', 'moderation'],
      ['The prompt references copyrighted material', 'moderation'],
      ['Trademarked content', 'moderation'],
      ['Prompt refused (IP)', 'moderation'],
      ['Job failed', 'upstream_failed'],
      ['Error dispatching job', 'upstream_failed'],
    ] as const)('%s → %s', (reason, code) => {
      expect(classifyUpstreamFailure(reason).code).toBe(code);
    });

    it.each(['Job failed', 'Error dispatching job', 'job failed: worker lost'])('%s is a fault upstream a new submit may not meet: resubmittable', (reason) => {
      expect(classifyUpstreamFailure(reason)).toEqual({ code: 'upstream_failed', reason, resubmittable: true });
    });

    it('no other failure is resubmittable', () => {
      for (const reason of ['Internal error', 'Contains blacklisted words', 'Failed to read user input frames', 'Prompt not allowed', undefined]) {
        expect(classifyUpstreamFailure(reason).resubmittable).toBeUndefined();
      }
    });

    it('"IP" means intellectual property only as a word, and not an IP address', () => {
      expect(classifyUpstreamFailure('Could not resolve IP address of the worker').code).toBe('upstream_failed');
      expect(classifyUpstreamFailure('Pipeline stalled').code).toBe('upstream_failed');
    });
  });

  describe('an unreadable keyframe: whose link was it?', () => {
    const UNREADABLE = 'Failed to read user input frames';

    it.each([[[]], [['url']], [['url', 'url']], [['url', 'stored']]] as const)(
      'with keyframes %j (a client URL among them): the client’s to fix, upstream_rejected, with a hint',
      (kinds) => {
        const failure = classifyUpstreamFailure(UNREADABLE, kinds);
        expect(failure.code).toBe('upstream_rejected');
        expect(failure.reason).toMatch(/^Failed to read user input frames .*keyframe URLs are public images/);
      },
    );

    it.each([[['stored']], [['stored', 'stored']]] as const)('with keyframes %j, all stored by the gateway: internal, naming its presigned link', (kinds) => {
      const failure = classifyUpstreamFailure(UNREADABLE, kinds);
      expect(failure.code).toBe('internal');
      expect(failure.reason).toMatch(/^Failed to read user input frames/);
      expect(failure.reason).toMatch(/gateway's presigned link/);
      expect(failure.reason).not.toMatch(/public images/);
    });

    it('the keyframe kinds change nothing else', () => {
      expect(classifyUpstreamFailure('Frame moderation failed', ['stored']).code).toBe('moderation');
      expect(classifyUpstreamFailure('Job failed', ['stored']).code).toBe('upstream_failed');
    });
  });

  it('a failure that names the operator’s account is upstream_rejected, with a hint for the operator', () => {
    const failure = classifyUpstreamFailure('Insufficient credits');
    expect(failure.code).toBe('upstream_rejected');
    expect(failure.reason).toMatch(/^Insufficient credits .*operator/);
  });

  it('trims the reason, and explains a missing one', () => {
    expect(classifyUpstreamFailure('  Internal error \n')).toEqual({ code: 'upstream_failed', reason: 'Internal error' });
    for (const missing of [undefined, '', '   ']) {
      const failure = classifyUpstreamFailure(missing);
      expect(failure.code).toBe('upstream_failed');
      expect(failure.reason).toMatch(/without a reason/);
    }
  });
});

// -------------------------------------------------------------------------------------------- failureFromError

describe('failureFromError', () => {
  const cause = (errorType: string, errorMessage: unknown) => JSON.stringify({ errorType, errorMessage, trace: ['at x'] });

  it('TransientUpstreamError → upstream_unavailable, quoting the last message', () => {
    const failure = failureFromError({ Error: 'TransientUpstreamError', Cause: cause('TransientUpstreamError', 'The upstream answered 503.') });
    expect(failure.code).toBe('upstream_unavailable');
    expect(failure.reason).toBe('The upstream kept failing after several retries (last: The upstream answered 503.). Try again later.');
  });

  it.each(['TransientDownloadError', 'DownloadFailedError'])('%s → download_failed, quoting the message', (name) => {
    expect(failureFromError({ Error: name, Cause: cause(name, 'The file is not an MP4.') })).toEqual({
      code: 'download_failed',
      reason: 'The finished video could not be stored: The file is not an MP4.',
    });
  });

  it('TransientAwsError → internal, quoting our own message (service and error name only)', () => {
    const message = 'DynamoDB answered ProvisionedThroughputExceededException through every retry; the step will be tried again.';
    const failure = failureFromError({ Error: 'TransientAwsError', Cause: cause('TransientAwsError', message) });
    expect(failure.code).toBe('internal');
    expect(failure.reason).toContain(`(last: ${message})`);
  });

  it('States.Timeout → deadline_exceeded', () => {
    expect(failureFromError({ Error: 'States.Timeout', Cause: '' }).code).toBe('deadline_exceeded');
  });

  it.each(['TypeError', 'States.TaskFailed', 'Lambda.Unknown', 'Sandbox.Timedout', 'InvalidTransitionError'])(
    '%s → internal, by name only',
    (name) => {
      const failure = failureFromError({ Error: name, Cause: cause(name, 'secret stack details /var/task/index.mjs') });
      expect(failure.code).toBe('internal');
      expect(failure.reason).toContain(`(${name})`);
      expect(failure.reason).not.toContain('secret stack details');
    },
  );

  it('no error at all → internal, named unknown', () => {
    for (const caught of [undefined, {}]) {
      const failure = failureFromError(caught);
      expect(failure.code).toBe('internal');
      expect(failure.reason).toContain('(unknown)');
    }
  });

  it('caps a long error name', () => {
    const failure = failureFromError({ Error: 'E'.repeat(10_000) });
    expect(failure.reason).toContain('E'.repeat(100));
    expect(failure.reason).not.toContain('E'.repeat(101));
  });

  it.each([
    ['not JSON', 'Task timed out after 30.00 seconds'],
    ['JSON without errorMessage', '{"errorType":"X"}'],
    ['a non-string errorMessage', cause('X', { nested: true })],
    ['JSON null', 'null'],
    ['a JSON string', '"just text"'],
    ['empty', ''],
  ])('a malformed Cause (%s) is ignored, not echoed, and does not throw', (_name, malformed) => {
    expect(failureFromError({ Error: 'TransientUpstreamError', Cause: malformed })).toEqual({
      code: 'upstream_unavailable',
      reason: 'The upstream kept failing after several retries. Try again later.',
    });
    expect(failureFromError({ Error: 'DownloadFailedError', Cause: malformed })).toEqual({
      code: 'download_failed',
      reason: 'The finished video could not be stored.',
    });
  });
});
