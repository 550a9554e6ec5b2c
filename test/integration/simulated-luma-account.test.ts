/**
 * The simulated Luma API as a shared account sees it, with servers of its own: callbacks received by a
 * receiver on 127.0.0.1, and submits whose answer is lost although the generation was created.
 * Every wait is for an event (a POST arriving, a counter reaching a value), never for a duration.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TestClock } from '../support/clock.ts';
import { eventually } from '../support/eventually.ts';
import {
  CALLBACK_RETRY_DELAY_MS,
  CALLBACK_TIMEOUT_MS,
  CALLBACK_TRIES,
  OTHER_CLIENT_CALLBACK_URL,
  isLoopbackUrl,
  startSimulatedLuma,
} from '../../local/simulated-luma.ts';
import type { GenerationState, LumaGeneration, SimulatedLuma, SimulatedLumaOptions } from '../../local/simulated-luma.ts';
import { LumaProvider } from '../../functions/commons/providers/luma.ts';

const API_KEY = 'account-test-key';
const PROMPT = 'A lantern floating over a dark lake';
// Dreaming starts 50 ms after the create and never ends within a test.
const DREAMING_FOREVER: Partial<SimulatedLumaOptions> = { queuedSeconds: 0.05, dreamingSeconds: 1000, timeScale: 1 };
// Dreaming at 50 ms, done at 100 ms.
const QUICK: Partial<SimulatedLumaOptions> = { queuedSeconds: 0.05, dreamingSeconds: 0.05, timeScale: 1 };

const running: Array<{ close(): Promise<void> }> = [];
let workDir: string;

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'simulated-luma-account-'));
});

afterEach(async () => {
  for (const thing of running.splice(0).reverse()) await thing.close();
});

afterAll(async () => {
  await rm(workDir, { recursive: true, force: true });
});

async function startSim(overrides: Partial<SimulatedLumaOptions> = {}): Promise<SimulatedLuma> {
  const sim = await startSimulatedLuma({ apiKey: API_KEY, queuedSeconds: 1000, dreamingSeconds: 1000, ...overrides });
  running.push(sim);
  return sim;
}

function submit(sim: SimulatedLuma, body: unknown, init: RequestInit = {}): Promise<Response> {
  return fetch(`${sim.baseUrl}/generations/video`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${API_KEY}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
    ...init,
  });
}

async function create(sim: SimulatedLuma, body: Record<string, unknown>): Promise<LumaGeneration> {
  const res = await submit(sim, { model: 'ray-2', ...body });
  expect(res.status).toBe(201);
  return (await res.json()) as LumaGeneration;
}

async function getGeneration(sim: SimulatedLuma, id: string): Promise<LumaGeneration> {
  const res = await fetch(`${sim.baseUrl}/generations/${id}`, { headers: { Authorization: `Bearer ${API_KEY}` } });
  expect(res.status).toBe(200);
  return (await res.json()) as LumaGeneration;
}

async function listAll(sim: SimulatedLuma): Promise<LumaGeneration[]> {
  const res = await fetch(`${sim.baseUrl}/generations?limit=100`, { headers: { Authorization: `Bearer ${API_KEY}` } });
  expect(res.status).toBe(200);
  return ((await res.json()) as { generations: LumaGeneration[] }).generations;
}

/** The simulator's counters change inside it, with no event to wait on: checked on every turn of the timers. */
const until = eventually;

// ---------------------------------------------------------------------------
// A callback receiver on 127.0.0.1
// ---------------------------------------------------------------------------

interface ReceivedPost {
  path: string;
  method: string;
  headers: IncomingHttpHeaders;
  text: string;
  body: LumaGeneration;
}

interface Receiver {
  url: string;
  posts: ReceivedPost[];
  /** Resolves with the first POST (already received or still to come) that matches. */
  next(match: (post: ReceivedPost) => boolean): Promise<ReceivedPost>;
  statesOf(id: string): GenerationState[];
  close(): Promise<void>;
}

/** `answer` decides each POST's status (and may hold it: return a promise). */
async function startReceiver(answer: (post: ReceivedPost, posts: ReceivedPost[]) => number | Promise<number> = () => 204): Promise<Receiver> {
  const posts: ReceivedPost[] = [];
  const waiters: Array<{ match: (post: ReceivedPost) => boolean; resolve: (post: ReceivedPost) => void }> = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', async () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const post: ReceivedPost = { path: req.url ?? '', method: req.method ?? '', headers: req.headers, text, body: JSON.parse(text) as LumaGeneration };
      posts.push(post);
      for (const waiter of [...waiters]) {
        if (waiter.match(post)) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve(post);
        }
      }
      res.writeHead(await answer(post, posts));
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
  const receiver: Receiver = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    posts,
    next: (match) => {
      const seen = posts.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve) => waiters.push({ match, resolve }));
    },
    statesOf: (id) => posts.filter((post) => post.body.id === id).map((post) => post.body.state),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
  running.push(receiver);
  return receiver;
}

const isState = (id: string, state: GenerationState) => (post: ReceivedPost) => post.body.id === id && post.body.state === state;

// ---------------------------------------------------------------------------
// Callbacks
// ---------------------------------------------------------------------------

describe('isLoopbackUrl', () => {
  it.each([
    'http://127.0.0.1:8080/cb',
    'http://127.1.2.3/cb',
    'https://localhost:9/cb',
    'http://LOCALHOST/cb',
    'http://[::1]:9/cb',
    'http://2130706433/cb', // 127.0.0.1, spelled as one number
    'http://0x7f.1/cb',
  ])('%s is loopback', (url) => expect(isLoopbackUrl(url)).toBe(true));

  it.each([
    OTHER_CLIENT_CALLBACK_URL,
    'https://hooks.example.com/luma',
    'http://127.0.0.1.nip.io/cb',
    'http://localhost.example.com/cb',
    'http://[::ffff:127.0.0.1]/cb', // loopback in fact, but not one of the three forms: never contacted
    'http://0.0.0.0/cb',
    'http://10.0.0.1/cb',
    'ftp://127.0.0.1/cb',
    'not a url',
  ])('%s is not', (url) => expect(isLoopbackUrl(url)).toBe(false));
});

describe('callbacks', () => {
  it('POSTs the generation, as GET renders it, on the change to dreaming and to completed; unsigned JSON', async () => {
    expect({ CALLBACK_TRIES, CALLBACK_RETRY_DELAY_MS, CALLBACK_TIMEOUT_MS }).toEqual({ CALLBACK_TRIES: 3, CALLBACK_RETRY_DELAY_MS: 100, CALLBACK_TIMEOUT_MS: 5000 });
    const receiver = await startReceiver();
    const sim = await startSim({ ...QUICK, otherClients: false });
    const callbackUrl = `${receiver.url}/luma/callbacks?task=t-1`;
    const created = await create(sim, { prompt: PROMPT, callback_url: callbackUrl });

    const completed = await receiver.next(isState(created.id, 'completed'));
    const dreaming = await receiver.next(isState(created.id, 'dreaming'));
    await until(() => sim.stats().callbacks.sent === 2, 'two callbacks counted as sent');

    expect(receiver.statesOf(created.id).sort()).toEqual(['completed', 'dreaming']);
    for (const post of [dreaming, completed]) {
      expect(post).toMatchObject({ method: 'POST', path: '/luma/callbacks?task=t-1' });
      expect(post.headers['content-type']).toBe('application/json');
      expect(post.headers.authorization).toBeUndefined();
      expect(Object.keys(post.headers).filter((name) => /signature|hmac/i.test(name))).toEqual([]);
    }
    expect(completed.body).toEqual(await getGeneration(sim, created.id));
    expect(dreaming.body).toEqual({ ...completed.body, state: 'dreaming', assets: null });
    expect(completed.body.request.callback_url).toBe(callbackUrl);
    expect(sim.stats().callbacks).toEqual({ sent: 2, failed: 0, skipped: 0 });
  });

  it('[sim:fail]: dreaming, then failed with the reason', async () => {
    const receiver = await startReceiver();
    const sim = await startSim({ ...QUICK, otherClients: false });
    const created = await create(sim, { prompt: `${PROMPT} [sim:fail]`, callback_url: `${receiver.url}/cb` });
    const failed = await receiver.next(isState(created.id, 'failed'));
    await receiver.next(isState(created.id, 'dreaming'));
    expect(failed.body).toMatchObject({ state: 'failed', failure_reason: 'Contains blacklisted words', assets: null });
    await until(() => sim.stats().callbacks.sent === 2, 'two callbacks counted as sent');
  });

  it('tries again after a 500: 500, 500, then 204 is exactly three POSTs of the same body, counted once as sent', async () => {
    const receiver = await startReceiver((_post, posts) => (posts.length <= 2 ? 500 : 204));
    const sim = await startSim({ ...DREAMING_FOREVER, otherClients: false });
    const created = await create(sim, { prompt: PROMPT, callback_url: `${receiver.url}/cb` });
    await until(() => sim.stats().callbacks.sent === 1, 'the callback counted as sent');
    expect(receiver.posts).toHaveLength(3);
    expect(receiver.statesOf(created.id)).toEqual(['dreaming', 'dreaming', 'dreaming']);
    expect(new Set(receiver.posts.map((post) => post.text)).size).toBe(1);
    expect(sim.stats().callbacks).toEqual({ sent: 1, failed: 0, skipped: 0 });
  });

  it('gives up after three failed tries, and counts the callback as failed', async () => {
    const receiver = await startReceiver(() => 500);
    const sim = await startSim({ ...DREAMING_FOREVER, otherClients: false, callbackRetryDelayMs: 10 });
    await create(sim, { prompt: PROMPT, callback_url: `${receiver.url}/cb` });
    await until(() => sim.stats().callbacks.failed === 1, 'the callback counted as failed');
    expect(receiver.posts).toHaveLength(3);
    expect(sim.stats().callbacks).toEqual({ sent: 0, failed: 1, skipped: 0 });
  });

  it('never contacts a callback_url whose host is not loopback, and counts each change as skipped', async () => {
    const sim = await startSim({ ...QUICK, otherClients: false });
    const created = await create(sim, { prompt: PROMPT, callback_url: 'https://hooks.example.com/luma?task=t-2' });
    await until(() => sim.stats().callbacks.skipped === 2, 'two callbacks skipped');
    expect((await getGeneration(sim, created.id)).state).toBe('completed');
    // A try would have failed (no such host here), so nothing was attempted.
    expect(sim.stats().callbacks).toEqual({ sent: 0, failed: 0, skipped: 2 });
  });

  it('skips the callbacks of the twins that carry another client\'s callback_url', async () => {
    const receiver = await startReceiver();
    const sim = await startSim(QUICK);
    const first = await create(sim, { prompt: PROMPT, callback_url: `${receiver.url}/cb` });
    const second = await create(sim, { prompt: PROMPT, callback_url: `${receiver.url}/cb` });
    const twins = (await listAll(sim)).filter((g) => g.request.prompt === PROMPT && g.id !== first.id && g.id !== second.id);
    expect(twins.map((twin) => twin.request.callback_url).sort()).toEqual([OTHER_CLIENT_CALLBACK_URL, null].sort());
    await until(() => sim.stats().callbacks.sent === 4 && sim.stats().callbacks.skipped === 2, 'ours sent, the twin\'s skipped');
    expect(new Set(receiver.posts.map((post) => post.body.id))).toEqual(new Set([first.id, second.id]));
  });

  it('close() cancels the callbacks still to come and waits for the one in flight', async () => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const receiver = await startReceiver(async () => {
      await released;
      return 204;
    });
    const sim = await startSimulatedLuma({ apiKey: API_KEY, ...DREAMING_FOREVER, otherClients: false });
    const created = await create(sim, { prompt: PROMPT, callback_url: `${receiver.url}/cb` });
    await receiver.next(isState(created.id, 'dreaming'));

    const closing = sim.close().then(() => 'closed');
    const pending = new Promise((resolve) => setImmediate(() => resolve('pending')));
    expect(await Promise.race([closing, pending])).toBe('pending');
    release();
    expect(await closing).toBe('closed');
    expect(sim.stats().callbacks).toEqual({ sent: 1, failed: 0, skipped: 0 });
  });

  it('after a restart, calls back the changes still to come, not those that happened while it was down', async () => {
    const receiver = await startReceiver();
    const stateFile = join(workDir, 'callbacks-restart.json');
    const first = await startSim({ ...DREAMING_FOREVER, otherClients: false, stateFile });
    const created = await create(first, { prompt: PROMPT, callback_url: `${receiver.url}/cb` });
    await receiver.next(isState(created.id, 'dreaming'));
    await until(() => first.stats().callbacks.sent === 1, 'the dreaming callback counted');
    await first.close();

    // The restarted simulator's clock stands still while it starts, with a dreaming phase that ends 50 ms
    // after that instant: the change to dreaming lies in its past (not sent again), the change to
    // completed in its future (sent once the clock moves on), however long the restart takes.
    const clock = new TestClock({ frozen: true });
    const dreamingSeconds = (clock.now() + 50 - Date.parse(created.created_at)) / 1000 - DREAMING_FOREVER.queuedSeconds!;
    const second = await startSim({ ...DREAMING_FOREVER, dreamingSeconds, otherClients: false, stateFile, clock });
    clock.thaw();
    await receiver.next(isState(created.id, 'completed'));
    await until(() => second.stats().callbacks.sent === 1, 'the completed callback counted');
    expect(receiver.statesOf(created.id)).toEqual(['dreaming', 'completed']);
    expect(second.stats().callbacks).toEqual({ sent: 1, failed: 0, skipped: 0 });
  });
});

// ---------------------------------------------------------------------------
// Ambiguous submits: created upstream, answer lost
// ---------------------------------------------------------------------------

describe('submits whose answer is lost', () => {
  it('[sim:lost:1]: the generation is made (listed, running, called back) but no answer arrives; the next submit gets its 201', async () => {
    const receiver = await startReceiver();
    const sim = await startSim(QUICK);
    const prompt = `${PROMPT} [sim:lost:1]`;
    const body = { model: 'ray-2', prompt, callback_url: `${receiver.url}/cb?task=t-lost` };

    await expect(submit(sim, body)).rejects.toThrow(/fetch failed/);
    expect(sim.generations()).toHaveLength(1);
    const lost = sim.generations()[0]!;
    expect(lost.prompt).toBe(prompt);
    const listed = (await listAll(sim)).filter((g) => g.request.prompt === prompt);
    // Ours and another client's twin: only the callback_url tells which is ours.
    expect(listed.map((g) => g.id)).toContain(lost.id);
    expect(listed.filter((g) => g.request.callback_url === body.callback_url).map((g) => g.id)).toEqual([lost.id]);
    await receiver.next(isState(lost.id, 'completed'));

    const again = await submit(sim, body);
    expect(again.status).toBe(201);
    expect(((await again.json()) as LumaGeneration).id).not.toBe(lost.id);
    expect(sim.stats()).toMatchObject({ creates: 2, rejected: 0 });
    expect(sim.stats().injected.submit_lost).toBe(0);
  });

  it('[sim:hang-created:1]: the generation is made, then the request is held and dropped without an answer', async () => {
    const sim = await startSim({ ...DREAMING_FOREVER, hangMs: 50 });
    const prompt = `${PROMPT} [sim:hang-created:1]`;
    await expect(submit(sim, { model: 'ray-2', prompt })).rejects.toThrow(/fetch failed/);
    const [held] = sim.generations();
    expect(held?.prompt).toBe(prompt);
    expect((await getGeneration(sim, held!.id)).state).toBe('dreaming');

    // A client that gives up first (here: once the generation exists) gets no answer, and the generation
    // exists all the same.
    const slowSim = await startSim({ ...DREAMING_FOREVER, hangMs: 60_000 });
    const giveUp = new AbortController();
    const attempt = submit(slowSim, { model: 'ray-2', prompt }, { signal: giveUp.signal });
    await until(() => slowSim.generations().length === 1, 'the held create to be made');
    giveUp.abort();
    await expect(attempt).rejects.toMatchObject({ name: 'AbortError' });
    expect(slowSim.generations()).toHaveLength(1);

    expect((await submit(sim, { model: 'ray-2', prompt })).status).toBe(201);
    expect(sim.stats().creates).toBe(2);
  });

  it('submit_lost (injected at random): created upstream, socket destroyed without an answer', async () => {
    const sim = await startSim({ faultRate: 1, faults: ['submit_lost'] });
    for (let i = 0; i < 3; i++) await expect(submit(sim, { model: 'ray-2', prompt: `${PROMPT} ${i}` })).rejects.toThrow(/fetch failed/);
    const ids = sim.generations().map((g) => g.id);
    expect(ids).toHaveLength(3);
    const listed = new Set((await listAll(sim)).map((g) => g.id));
    for (const id of ids) expect(listed.has(id)).toBe(true);
    expect(sim.stats()).toMatchObject({ creates: 3, injected: expect.objectContaining({ submit_lost: 3 }) });
    // An invalid submit is answered as usual: there was nothing to lose.
    expect((await submit(sim, { model: 'ray-2' })).status).toBe(400);
    expect(sim.stats().injected.submit_lost).toBe(3);
  });
});

// ---------------------------------------------------------------------------
// The gateway's Luma adapter reads what the simulator writes
// ---------------------------------------------------------------------------

describe('the gateway\'s Luma adapter against the simulator', () => {
  it('reads created_at with microseconds: findByMarker finds a lost generation by its marker and creation time', async () => {
    const sim = await startSim({ ...DREAMING_FOREVER });
    const provider = new LumaProvider({ baseUrl: sim.baseUrl, model: 'ray-2', apiKey: async () => API_KEY });
    const since = new Date();
    const marker = 'https://gw.example/luma/upstream-callbacks/0b4f1c2e-1111-4000-8000-000000000001/' + 'k'.repeat(43);
    const request = { prompt: `${PROMPT} [sim:lost:1]`, aspectRatio: '16:9', marker };
    await expect(provider.submit(request)).rejects.toThrow(/could not be reached/);
    const [lost] = sim.generations();
    expect(lost!.createdAt).toMatch(/\.\d{6}Z$/);
    // Date.parse(created_at) >= since - skew is what the adapter filters on: a NaN would find nothing.
    // The other client's twin, made a millisecond earlier with the same request, is not ours.
    expect((await provider.findByMarker(marker, since)).map((g) => g.id)).toEqual([lost!.id]);
    expect(await provider.findByMarker(marker, new Date(Date.now() + 3_600_000))).toEqual([]);
  });
});
