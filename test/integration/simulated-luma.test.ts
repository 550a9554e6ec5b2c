/**
 * The simulated Luma API over HTTP on 127.0.0.1: creates, the timeline walked on a clock the test holds,
 * assets, listing, auth and routing, the state file, the shared account, fault injection and the
 * concurrency limit. Its pure parts are in test/unit/simulated-luma.test.ts.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TestClock } from '../support/clock.ts';
import { eventually } from '../support/eventually.ts';
import {
  DETAIL_BUSY,
  DETAIL_DELETE_IN_PROGRESS,
  DETAIL_INTERNAL,
  DETAIL_INVALID_API_KEY,
  DETAIL_LOOP_END_FRAME,
  DETAIL_MODERATION,
  DETAIL_NOT_FOUND,
  DETAIL_RATE_LIMIT,
  DETAIL_TOO_MANY_CONCURRENT,
  FAULT_KINDS,
  INJECTED_FAILURE_REASONS,
  LUMA_FAILURE_REASONS,
  MAX_BODY_BYTES,
  OTHER_CLIENTS_HISTORY,
  OTHER_CLIENT_CALLBACK_URL,
  README_PROMPT,
  SIM_DIRECTIVE_FAIL,
  SIM_DIRECTIVE_HOLD_ASSETS,
  SIM_DIRECTIVE_REJECT,
  SIM_DIRECTIVE_SLOW,
  SIM_FAILURE_REASON,
  createdAtMicros,
  formatCreatedAt,
  simBusyDirective,
  simFailDirective,
  startSimulatedLuma,
} from '../../local/simulated-luma.ts';
import type {
  FaultKind,
  GenerationState,
  LumaFailureReasonKey,
  LumaGeneration,
  SimGenerationRecord,
  SimulatedLuma,
  SimulatedLumaOptions,
} from '../../local/simulated-luma.ts';

const API_KEY = 'test-key';
const PROMPT = 'a paper boat drifting down a rainy street';
/**
 * Timelines are walked on a clock the test holds (frozen, moved by pollToTerminal), never raced against
 * the wall clock: every state is seen however busy the machine is. 200 ms (of that clock) per phase.
 */
const FAST = (): Partial<SimulatedLumaOptions> => ({ queuedSeconds: 1, dreamingSeconds: 1, timeScale: 0.2, clock: new TestClock({ frozen: true }) });
// Long phases for tests that must not see a generation finish.
const FROZEN: Partial<SimulatedLumaOptions> = { queuedSeconds: 1000, dreamingSeconds: 1000 };
/** How far pollToTerminal moves the clock between two GETs: shorter than any phase here. */
const POLL_STEP_MS = 10;
const POLL_MAX_STEPS = 10_000;

let workDir: string;
let assetsDir: string;
let videoBytes: Buffer;
let imageBytes: Buffer;
const running: SimulatedLuma[] = [];
const clocks = new WeakMap<SimulatedLuma, TestClock>();

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'simulated-luma-'));
  assetsDir = join(workDir, 'assets');
  videoBytes = randomBytes(4096);
  imageBytes = randomBytes(777);
  await mkdir(assetsDir);
  await writeFile(join(assetsDir, 'sample.mp4'), videoBytes);
  await writeFile(join(assetsDir, 'sample.jpg'), imageBytes);
});

afterEach(async () => {
  await Promise.all(running.splice(0).map((sim) => sim.close()));
});

afterAll(async () => {
  await rm(workDir, { recursive: true, force: true });
});

async function startSim(overrides: Partial<SimulatedLumaOptions> = {}): Promise<SimulatedLuma> {
  const sim = await startSimulatedLuma({ apiKey: API_KEY, assetsDir, ...FROZEN, ...overrides });
  running.push(sim);
  if (overrides.clock instanceof TestClock) clocks.set(sim, overrides.clock);
  return sim;
}

function authHeaders(extra: Record<string, string> = {}): Record<string, string> {
  return { Authorization: `Bearer ${API_KEY}`, ...extra };
}

function submit(sim: SimulatedLuma, body: unknown, path = '/generations/video'): Promise<Response> {
  return fetch(`${sim.baseUrl}${path}`, {
    method: 'POST',
    headers: authHeaders({ 'Content-Type': 'application/json' }),
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

async function create(sim: SimulatedLuma, prompt = PROMPT): Promise<LumaGeneration> {
  const res = await submit(sim, { model: 'ray-2', prompt });
  expect(res.status).toBe(201);
  return (await res.json()) as LumaGeneration;
}

async function getGeneration(sim: SimulatedLuma, id: string): Promise<LumaGeneration> {
  const res = await fetch(`${sim.baseUrl}/generations/${id}`, { headers: authHeaders() });
  expect(res.status).toBe(200);
  return (await res.json()) as LumaGeneration;
}

/**
 * GETs the generation, moving the sim's frozen clock a step between GETs, until a terminal state; returns
 * the distinct states seen, in order (starting from `initial`).
 */
async function pollToTerminal(
  sim: SimulatedLuma,
  id: string,
  initial: GenerationState[] = [],
): Promise<{ states: GenerationState[]; last: LumaGeneration; polls: number }> {
  const clock = clocks.get(sim);
  if (!clock) throw new Error('pollToTerminal walks the clock of a sim started with a frozen TestClock');
  const states = [...initial];
  for (let step = 0; step < POLL_MAX_STEPS; step++) {
    const generation = await getGeneration(sim, id);
    if (states.at(-1) !== generation.state) states.push(generation.state);
    if (generation.state === 'completed' || generation.state === 'failed') return { states, last: generation, polls: step + 1 };
    clock.advance(POLL_STEP_MS);
  }
  throw new Error(`generation ${id} stuck in ${states.at(-1)} after ${POLL_MAX_STEPS} steps of its clock`);
}

async function expectDetail(res: Response, status: number, detail: string | RegExp): Promise<void> {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toContain('application/json');
  const body = (await res.json()) as { detail: string };
  if (typeof detail === 'string') expect(body.detail).toBe(detail);
  else expect(body.detail).toMatch(detail);
}

// ---------------------------------------------------------------------------
// Over HTTP
// ---------------------------------------------------------------------------

describe('simulated Luma over HTTP', () => {
  it('listens on loopback only', async () => {
    const sim = await startSim();
    expect(sim.baseUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('creates a generation: 201, queued, the request echoed with Luma\'s defaults, created_at in microseconds', async () => {
    const sim = await startSim();
    const body = { model: 'ray-2', prompt: PROMPT, aspect_ratio: '9:16', loop: false, unknown_field: 'dropped' };
    const before = Date.now();
    const res = await submit(sim, body);
    expect(res.status).toBe(201);
    const generation = (await res.json()) as LumaGeneration;
    expect(generation).toMatchObject({ generation_type: 'video', state: 'queued', failure_reason: null, model: 'ray-2', assets: null });
    expect(generation.request).toEqual({
      generation_type: 'video',
      model: 'ray-2',
      prompt: PROMPT,
      aspect_ratio: '9:16',
      loop: false,
      keyframes: null,
      callback_url: null,
      resolution: '720p',
      duration: '5s',
      concepts: null,
    });
    expect(generation.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(generation.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    // What the gateway's adapter does with it (Date.parse in functions/commons/providers/luma.ts).
    const parsed = Date.parse(generation.created_at);
    expect(parsed).toBeGreaterThanOrEqual(before);
    expect(parsed).toBeLessThanOrEqual(Date.now());
  });

  it('echoes every field given, and fills in only the absent ones', async () => {
    const sim = await startSim();
    const keyframes = { frame0: { type: 'image', url: 'https://example.com/a.jpg' }, frame1: { type: 'generation', id: 'g-1' } };
    const body = {
      model: 'ray-flash-2',
      prompt: PROMPT,
      keyframes,
      callback_url: 'http://127.0.0.1:9/cb',
      resolution: '1080p',
      duration: '9s',
      concepts: [{ key: 'dolly_zoom' }],
    };
    const generation = (await (await submit(sim, body)).json()) as LumaGeneration;
    expect(generation.request).toEqual({ ...body, generation_type: 'video', aspect_ratio: '16:9', loop: false });
    await expectDetail(await submit(sim, { model: 'ray-2', prompt: PROMPT, concepts: ['dolly_zoom'] }), 400, /concepts/);
  });

  it('accepts the older POST /generations alias', async () => {
    const sim = await startSim();
    const res = await submit(sim, { model: 'ray-flash-2', prompt: PROMPT }, '/generations');
    expect(res.status).toBe(201);
    expect(((await res.json()) as LumaGeneration).state).toBe('queued');
  });

  it('progresses queued -> dreaming -> completed and serves the assets', async () => {
    const sim = await startSim(FAST());
    const created = await create(sim);
    const { states, last, polls } = await pollToTerminal(sim, created.id, [created.state]);
    expect(states).toEqual(['queued', 'dreaming', 'completed']);
    expect(last.failure_reason).toBeNull();
    expect(last.assets).toEqual({
      video: `${sim.baseUrl}/assets/${created.id}/video.mp4`,
      image: `${sim.baseUrl}/assets/${created.id}/thumbnail.jpg`,
      progress_video: null,
    });

    // Asset links are unauthenticated, like Luma's CDN URLs.
    const video = await fetch(last.assets!.video);
    expect(video.status).toBe(200);
    expect(video.headers.get('content-type')).toBe('video/mp4');
    expect(video.headers.get('content-length')).toBe(String(videoBytes.length));
    expect(Buffer.from(await video.arrayBuffer()).equals(videoBytes)).toBe(true);

    const image = await fetch(last.assets!.image);
    expect(image.status).toBe(200);
    expect(image.headers.get('content-type')).toBe('image/jpeg');
    expect(image.headers.get('content-length')).toBe(String(imageBytes.length));
    expect(Buffer.from(await image.arrayBuffer()).equals(imageBytes)).toBe(true);

    const head = await fetch(last.assets!.video, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(videoBytes.length));

    expect(sim.stats()).toMatchObject({ creates: 1, rejected: 0, downloads: 2, maxConcurrent: 1, polls });
  });

  it('404s assets of unknown or unfinished generations', async () => {
    const sim = await startSim();
    const created = await create(sim);
    await expectDetail(await fetch(`${sim.baseUrl}/assets/${created.id}/video.mp4`), 404, /not found/i);
    await expectDetail(await fetch(`${sim.baseUrl}/assets/nope/thumbnail.jpg`), 404, /not found/i);
    expect(sim.stats().downloads).toBe(0);
  });

  it('answers 500 when the sample asset file is missing', async () => {
    const sim = await startSim({ ...FAST(), timeScale: 0.01, assetsDir: join(workDir, 'no-such-dir') });
    const created = await create(sim);
    const { last } = await pollToTerminal(sim, created.id);
    await expectDetail(await fetch(last.assets!.video), 500, /sample\.mp4/);
  });

  it('404s unknown generations', async () => {
    const sim = await startSim();
    const res = await fetch(`${sim.baseUrl}/generations/00000000-0000-4000-8000-000000000000`, { headers: authHeaders() });
    await expectDetail(res, 404, DETAIL_NOT_FOUND);
  });

  it('lists newest first with pagination, and deletes', async () => {
    const clock = new TestClock({ frozen: true });
    const sim = await startSim({ otherClients: false, clock });
    const ids: string[] = [];
    for (const n of [1, 2, 3]) ids.push((await create(sim, `${PROMPT} #${n}`)).id);

    const page1 = await fetch(`${sim.baseUrl}/generations?limit=2&offset=0`, { headers: authHeaders() });
    expect(page1.status).toBe(200);
    const body1 = (await page1.json()) as { generations: LumaGeneration[]; count: number; limit: number; offset: number };
    expect(body1).toMatchObject({ count: 2, limit: 2, offset: 0 });
    expect(body1.generations.map((g) => g.id)).toEqual([ids[2], ids[1]]);

    const page2 = (await (await fetch(`${sim.baseUrl}/generations?limit=2&offset=2`, { headers: authHeaders() })).json()) as {
      generations: LumaGeneration[];
    };
    expect(page2.generations.map((g) => g.id)).toEqual([ids[0]]);

    await expectDetail(await fetch(`${sim.baseUrl}/generations?limit=zero`, { headers: authHeaders() }), 400, /limit/);

    // Still queued: refused (Luma does not say; the stricter), and it runs on.
    await expectDetail(await fetch(`${sim.baseUrl}/generations/${ids[0]}`, { method: 'DELETE', headers: authHeaders() }), 400, DETAIL_DELETE_IN_PROGRESS);
    expect((await getGeneration(sim, ids[0]!)).state).toBe('queued');
    clock.advance(2_000_001); // past both phases of 1000 s
    expect((await getGeneration(sim, ids[0]!)).state).toBe('completed');
    const deleted = await fetch(`${sim.baseUrl}/generations/${ids[0]}`, { method: 'DELETE', headers: authHeaders() });
    expect(deleted.status).toBe(204);
    expect(await deleted.text()).toBe('');
    await expectDetail(await fetch(`${sim.baseUrl}/generations/${ids[0]}`, { headers: authHeaders() }), 404, DETAIL_NOT_FOUND);
    await expectDetail(await fetch(`${sim.baseUrl}/generations/${ids[0]}`, { method: 'DELETE', headers: authHeaders() }), 404, DETAIL_NOT_FOUND);
  });

  it('tracks the peak number of active generations', async () => {
    const sim = await startSim();
    await Promise.all([create(sim, `${PROMPT} a`), create(sim, `${PROMPT} b`), create(sim, `${PROMPT} c`)]);
    expect(sim.stats()).toMatchObject({ creates: 3, maxConcurrent: 3 });
  });

  describe('directives', () => {
    it('[sim:fail] goes queued -> dreaming -> failed', async () => {
      const sim = await startSim(FAST());
      const created = await create(sim, `${PROMPT} ${SIM_DIRECTIVE_FAIL}`);
      const { states, last } = await pollToTerminal(sim, created.id, [created.state]);
      expect(states).toEqual(['queued', 'dreaming', 'failed']);
      expect(last.failure_reason).toBe('Contains blacklisted words');
      expect(SIM_FAILURE_REASON).toBe('Contains blacklisted words');
      expect(last.assets).toBeNull();
      expect((await fetch(`${sim.baseUrl}/assets/${created.id}/video.mp4`)).status).toBe(404);
    });

    it('[sim:fail:<key>] is created (201), then fails with Luma\'s reason, verbatim', async () => {
      const sim = await startSim(QUICK());
      // Restated, not imported: these are Luma's texts, and a change to the catalogue must fail here.
      const expected: [key: LumaFailureReasonKey, reason: string][] = [
        ['blacklisted', 'Contains blacklisted words'],
        ['frame_moderation', 'Frame moderation failed'],
        ['prompt_moderation', 'Advanced prompt moderation failed'],
        ['unreadable_frames', 'Failed to read user input frames'],
        ['job_failed', 'Job failed'],
        ['dispatch_error', 'Error dispatching job'],
      ];
      expect(LUMA_FAILURE_REASONS).toEqual(Object.fromEntries(expected));
      for (const [key, reason] of expected) {
        const created = await create(sim, `${PROMPT} ${simFailDirective(key)}`);
        expect(created).toMatchObject({ state: 'queued', failure_reason: null });
        expect((await pollToTerminal(sim, created.id)).last).toMatchObject({ state: 'failed', failure_reason: reason, assets: null });
      }
      expect(sim.stats()).toMatchObject({ creates: 6, rejected: 0 });
    });

    it('[sim:reject] answers 400 moderation failure', async () => {
      const sim = await startSim();
      await expectDetail(await submit(sim, { model: 'ray-2', prompt: `${PROMPT} ${SIM_DIRECTIVE_REJECT}` }), 400, DETAIL_MODERATION);
      expect(sim.stats()).toMatchObject({ creates: 0, rejected: 1 });
    });

    it('[sim:busy:N] answers 503 N times for that exact prompt, then succeeds', async () => {
      const sim = await startSim();
      const prompt = `${PROMPT} ${simBusyDirective(2)}`;
      await expectDetail(await submit(sim, { model: 'ray-2', prompt }), 503, DETAIL_BUSY);
      // A different prompt has its own counter.
      await expectDetail(await submit(sim, { model: 'ray-2', prompt: `${prompt}!` }), 503, DETAIL_BUSY);
      await expectDetail(await submit(sim, { model: 'ray-2', prompt }), 503, DETAIL_BUSY);
      expect((await submit(sim, { model: 'ray-2', prompt })).status).toBe(201);
      expect((await submit(sim, { model: 'ray-2', prompt })).status).toBe(201);
      expect(sim.stats()).toMatchObject({ creates: 2, rejected: 3 });
    });

    it('[sim:slow] keeps dreaming after a normal generation completed', async () => {
      const sim = await startSim(FAST());
      const normal = await create(sim);
      const slow = await create(sim, `${PROMPT} ${SIM_DIRECTIVE_SLOW}`);
      const { last } = await pollToTerminal(sim, normal.id);
      expect(last.state).toBe('completed');
      expect((await getGeneration(sim, slow.id)).state).toBe('dreaming');
    });

    it('[sim:hold-assets] answers an asset 60 s (scaled) after completion, and a download begun to its end, deleted or not', async () => {
      const clock = new TestClock({ frozen: true });
      const sim = await startSim({ ...FAST(), clock }); // 0.2 s queued, 0.2 s dreaming
      const held = await create(sim, `${PROMPT} ${SIM_DIRECTIVE_HOLD_ASSETS}`);
      const plain = await create(sim);
      clock.advance(400);
      const done = await getGeneration(sim, held.id);
      expect(done.state).toBe('completed');
      expect((await fetch(`${sim.baseUrl}/assets/${plain.id}/video.mp4`)).status).toBe(200); // only the directive's are held
      const download = fetch(done.assets!.video);
      await eventually(() => sim.stats().assetsHeld === 1, 'the asset request to be held');
      // Finished, so it may be deleted; the transfer already asked for is still answered.
      expect((await fetch(`${sim.baseUrl}/generations/${held.id}`, { method: 'DELETE', headers: authHeaders() })).status).toBe(204);
      clock.advance(60_000 * 0.2 - 1);
      await new Promise((resolve) => setTimeout(resolve, 50)); // several of the hold's checks of the clock
      expect(sim.stats().downloads).toBe(1); // the plain one's: still held a millisecond short
      clock.advance(1);
      const response = await download;
      expect(response.status).toBe(200);
      expect(Buffer.from(await response.arrayBuffer()).equals(videoBytes)).toBe(true);
      await expectDetail(await fetch(done.assets!.video), 404, /not found/i);
    });
  });

  describe('validation over HTTP', () => {
    const valid = { model: 'ray-2', prompt: PROMPT };
    it.each([
      ['non-JSON body', 'not json {', /valid JSON/],
      ['JSON array', '[1]', /JSON object/],
      ['missing model', { prompt: PROMPT }, 'Model is required'],
      ['unknown model', { ...valid, model: 'dream-9' }, /Invalid model/],
      ['missing prompt', { model: 'ray-2' }, 'Prompt is required'],
      ['too short prompt', { ...valid, prompt: 'hi' }, /Prompt is too short/],
      ['too long prompt', { ...valid, prompt: 'y'.repeat(5001) }, /Prompt is too long/],
      ['bad aspect ratio', { ...valid, aspect_ratio: '5:4' }, /aspect_ratio/],
      ['loop with end frame', { ...valid, loop: true, keyframes: { frame1: { type: 'generation', id: 'g' } } }, DETAIL_LOOP_END_FRAME],
      ['file keyframe url', { ...valid, keyframes: { frame0: { type: 'image', url: 'file:///etc/passwd' } } }, /http\(s\)/],
    ])('answers 400 for %s', async (_name, body, detail) => {
      const sim = await startSim();
      await expectDetail(await submit(sim, body), 400, detail);
      expect(sim.stats()).toMatchObject({ creates: 0, rejected: 1 });
    });

    it('answers 413 for a body over the cap', async () => {
      const sim = await startSim();
      const res = await submit(sim, JSON.stringify({ ...valid, pad: 'z'.repeat(MAX_BODY_BYTES) }));
      await expectDetail(res, 413, /exceeds/);
    });
  });

  describe('auth and routing', () => {
    it('requires the bearer API key on every API route', async () => {
      const sim = await startSim();
      const created = await create(sim);
      const attempts: Array<[string, RequestInit]> = [
        ['/generations/video', { method: 'POST', body: JSON.stringify({ model: 'ray-2', prompt: PROMPT }) }],
        ['/generations', { method: 'POST', body: JSON.stringify({ model: 'ray-2', prompt: PROMPT }) }],
        ['/generations', { method: 'GET' }],
        [`/generations/${created.id}`, { method: 'GET' }],
        [`/generations/${created.id}`, { method: 'DELETE' }],
      ];
      for (const [path, init] of attempts) {
        await expectDetail(await fetch(`${sim.baseUrl}${path}`, init), 401, DETAIL_INVALID_API_KEY);
        const wrongKey = { ...init, headers: { Authorization: 'Bearer wrong-key' } };
        await expectDetail(await fetch(`${sim.baseUrl}${path}`, wrongKey), 401, DETAIL_INVALID_API_KEY);
        const notBearer = { ...init, headers: { Authorization: API_KEY } };
        await expectDetail(await fetch(`${sim.baseUrl}${path}`, notBearer), 401, DETAIL_INVALID_API_KEY);
      }
      // The unauthorised DELETE must not have removed it.
      expect((await getGeneration(sim, created.id)).id).toBe(created.id);
      expect(sim.stats().creates).toBe(1);
    });

    it('answers 404 JSON for unknown routes and 405 JSON for wrong methods', async () => {
      const sim = await startSim();
      await expectDetail(await fetch(`${sim.baseUrl}/nope`, { headers: authHeaders() }), 404, /not found/i);
      await expectDetail(await fetch(`${sim.baseUrl}/generations/a/b`, { headers: authHeaders() }), 404, /not found/i);
      const put = await fetch(`${sim.baseUrl}/generations`, { method: 'PUT', headers: authHeaders() });
      expect(put.headers.get('allow')).toBe('POST, GET');
      await expectDetail(put, 405, /method not allowed/i);
      await expectDetail(await fetch(`${sim.baseUrl}/generations/video`, { headers: authHeaders() }), 405, /method not allowed/i);
      await expectDetail(await fetch(`${sim.baseUrl}/assets/x/video.mp4`, { method: 'POST' }), 405, /method not allowed/i);
    });
  });

  describe('persistence', () => {
    it('keeps in-flight generations progressing across a restart', async () => {
      const stateFile = join(workDir, 'persist', 'luma-state.json');
      // One frozen clock for both runs: nothing progresses while the simulator restarts.
      const timing = { queuedSeconds: 1, dreamingSeconds: 1, timeScale: 0.3, clock: new TestClock({ frozen: true }) };
      const first = await startSim({ ...timing, stateFile });
      // Finished before the others are created (only a finished generation can be deleted).
      const gone = await create(first, `${PROMPT} deleted`);
      timing.clock.advance(700);
      const ok = await create(first);
      const failing = await create(first, `${PROMPT} ${SIM_DIRECTIVE_FAIL}`);
      expect((await fetch(`${first.baseUrl}/generations/${gone.id}`, { method: 'DELETE', headers: authHeaders() })).status).toBe(204);
      await first.close();

      const saved = JSON.parse(await readFile(stateFile, 'utf8')) as { generations: SimGenerationRecord[] };
      const ours = saved.generations.filter((g) => !g.foreign);
      expect(ours.map((g) => g.id)).toEqual([ok.id, failing.id]);
      expect(ours[0]).toEqual({ id: ok.id, created_at: ok.created_at, request: ok.request, outcome: 'complete' });
      // Other clients' generations are kept too: the history, and a twin of each of the three creates.
      expect(saved.generations.filter((g) => g.foreign)).toHaveLength(OTHER_CLIENTS_HISTORY.length + 3);
      expect(await readdir(join(workDir, 'persist'))).toEqual(['luma-state.json']);

      const second = await startSim({ ...timing, stateFile });
      const resumed = await getGeneration(second, ok.id);
      expect(resumed.created_at).toBe(ok.created_at);
      expect(['queued', 'dreaming']).toContain(resumed.state);
      expect((await pollToTerminal(second, ok.id)).last.state).toBe('completed');
      const failed = (await pollToTerminal(second, failing.id)).last;
      expect(failed).toMatchObject({ state: 'failed', failure_reason: SIM_FAILURE_REASON });
      await expectDetail(await fetch(`${second.baseUrl}/generations/${gone.id}`, { headers: authHeaders() }), 404, DETAIL_NOT_FOUND);
      expect((await fetch(`${second.baseUrl}/assets/${ok.id}/video.mp4`)).status).toBe(200);
    });

    it('keeps nothing without a stateFile', async () => {
      const first = await startSim();
      const created = await create(first);
      await first.close();
      const second = await startSim();
      await expectDetail(await fetch(`${second.baseUrl}/generations/${created.id}`, { headers: authHeaders() }), 404, DETAIL_NOT_FOUND);
    });

    it('upgrades a version 1 state file (an earlier npm start\'s) instead of refusing it', async () => {
      const stateFile = join(workDir, 'v1.json');
      const createdAt = new Date(Date.now() - 60_000).toISOString();
      const v1 = [
        { id: 'v1-ok', created_at: createdAt, request: { model: 'ray-2', prompt: PROMPT, loop: true }, outcome: 'complete' },
        { id: 'v1-fail', created_at: createdAt, request: { model: 'ray-2', prompt: `${PROMPT} [sim:fail]` }, outcome: 'fail' },
        { id: 'v1-injected', created_at: createdAt, request: { model: 'ray-2', prompt: PROMPT }, outcome: 'fail', failure_reason: 'Internal error during generation' },
      ];
      await writeFile(stateFile, JSON.stringify({ version: 1, generations: v1 }));
      const sim = await startSim({ ...QUICK(), stateFile });
      expect(await getGeneration(sim, 'v1-ok')).toMatchObject({
        state: 'completed',
        created_at: createdAt.replace('Z', '000Z'),
        request: { generation_type: 'video', prompt: PROMPT, loop: true, aspect_ratio: '16:9', callback_url: null, concepts: null },
      });
      expect(await getGeneration(sim, 'v1-fail')).toMatchObject({ state: 'failed', failure_reason: 'Contains blacklisted words' });
      expect(await getGeneration(sim, 'v1-injected')).toMatchObject({ state: 'failed', failure_reason: 'Job failed' });
    });

    it('refuses to start on a state file of an unknown version', async () => {
      const stateFile = join(workDir, 'v9.json');
      await writeFile(stateFile, '{"version":9,"generations":[]}');
      await expect(startSimulatedLuma({ apiKey: API_KEY, stateFile })).rejects.toThrow(/unexpected format/);
    });

    it('refuses to start on a damaged state file', async () => {
      const stateFile = join(workDir, 'damaged.json');
      await writeFile(stateFile, '{"version":2,"generations":[{"id":1}]}');
      await expect(startSimulatedLuma({ apiKey: API_KEY, stateFile })).rejects.toThrow(/invalid generation/);
    });
  });
});

// ---------------------------------------------------------------------------
// The shared account: other clients' generations
// ---------------------------------------------------------------------------

interface ListPage {
  generations: LumaGeneration[];
  has_more: boolean;
  count: number;
  limit: number;
  offset: number;
}

async function listPage(sim: SimulatedLuma, query = ''): Promise<ListPage> {
  const res = await fetch(`${sim.baseUrl}/generations${query}`, { headers: authHeaders() });
  expect(res.status).toBe(200);
  return (await res.json()) as ListPage;
}

function expectNewestFirst(generations: LumaGeneration[]): void {
  const instants = generations.map((g) => createdAtMicros(g.created_at));
  expect(instants).toEqual([...instants].sort((a, b) => b - a));
}

describe('the shared account', () => {
  it('already holds other clients\' completed generations of the last hour, the README prompt among them', async () => {
    const sim = await startSim();
    const before = Date.now();
    const page = await listPage(sim); // no limit: Luma's default, 100
    expect(page).toMatchObject({ limit: 100, offset: 0, count: OTHER_CLIENTS_HISTORY.length, has_more: false });
    expectNewestFirst(page.generations);
    const prompts = page.generations.map((g) => g.request.prompt);
    expect(prompts).toEqual(OTHER_CLIENTS_HISTORY.map((entry) => entry.request.prompt).reverse());
    // The README's example session sends this very prompt: a gateway that matches by prompt meets strangers.
    expect(await readFile(new URL('../../README.md', import.meta.url), 'utf8')).toContain(`"user_prompt": "${README_PROMPT}`);
    for (const prompt of [README_PROMPT, 'A flamingo', 'a cat playing piano', 'hello world video']) expect(prompts).toContain(prompt);
    for (const generation of page.generations) {
      expect(generation.state).toBe('completed');
      expect(generation.created_at).toMatch(/\.\d{6}Z$/);
      // FROZEN timing: one whole timeline (2000 s) plus up to an hour.
      expect(Date.parse(generation.created_at)).toBeGreaterThan(before - 2_000_000 - 3_600_000);
      expect(Date.parse(generation.created_at)).toBeLessThan(before - 2_000_000);
      expect([null, OTHER_CLIENT_CALLBACK_URL]).toContain(generation.request.callback_url);
      for (const frame of Object.values(generation.request.keyframes ?? {})) {
        expect(frame).toMatchObject({ type: 'image', url: expect.stringMatching(/^https:\/\/cdn\.other-client\.example\//) });
      }
    }
    const listedWith = (has: (request: LumaGeneration['request']) => boolean) => page.generations.filter((g) => has(g.request)).length;
    const historyWith = (has: (request: (typeof OTHER_CLIENTS_HISTORY)[number]['request']) => boolean) => OTHER_CLIENTS_HISTORY.filter((e) => has(e.request)).length;
    expect(listedWith((r) => r.keyframes !== null)).toBe(historyWith((r) => r.keyframes !== undefined));
    expect(listedWith((r) => r.callback_url === OTHER_CLIENT_CALLBACK_URL)).toBe(historyWith((r) => r.callback_url === OTHER_CLIENT_CALLBACK_URL));
    // Not ours: not in generations() nor in creates.
    expect(sim.generations()).toEqual([]);
    expect(sim.stats()).toMatchObject({ creates: 0, foreignCreates: OTHER_CLIENTS_HISTORY.length });
  });

  it('shadows each create with another client\'s identical request, a millisecond earlier, without our callback_url', async () => {
    const sim = await startSim(QUICK());
    const prompt = `${README_PROMPT} ${SIM_DIRECTIVE_FAIL}`;
    const body = {
      model: 'ray-flash-2',
      prompt,
      aspect_ratio: '21:9',
      loop: false,
      resolution: '1080p',
      duration: '9s',
      keyframes: { frame0: { type: 'image', url: 'https://our-bucket.example/inputs/t1/frame0.png?X-Amz-Signature=abc' } },
      callback_url: 'http://127.0.0.1:9/callbacks/task-1',
    };
    const res = await submit(sim, body);
    expect(res.status).toBe(201);
    const ours = (await res.json()) as LumaGeneration;

    const [first, second] = (await listPage(sim)).generations;
    expect(first!.id).toBe(ours.id);
    const twin = second!;
    expect(createdAtMicros(twin.created_at)).toBe(createdAtMicros(ours.created_at) - 1000);
    expect(twin.request).toMatchObject({ prompt, model: 'ray-flash-2', aspect_ratio: '21:9', loop: false, resolution: '1080p', duration: '9s' });
    expect(twin.request.keyframes).toEqual({ frame0: { type: 'image', url: 'https://cdn.other-client.example/frame.png' } });
    expect([null, OTHER_CLIENT_CALLBACK_URL]).toContain(twin.request.callback_url);

    // The adversarial case: matching on what the request says picks the stranger's generation, which
    // runs a normal timeline (it completes) while ours fails.
    const sameRequest = (await listPage(sim)).generations.filter((g) => g.request.prompt === prompt && g.request.aspect_ratio === '21:9');
    expect(sameRequest.map((g) => g.id)).toEqual([ours.id, twin.id]);
    expect((await pollToTerminal(sim, ours.id)).last.state).toBe('failed');
    expect((await pollToTerminal(sim, twin.id)).last.state).toBe('completed');
    // Only the callback_url tells them apart.
    expect(sameRequest.filter((g) => g.request.callback_url === body.callback_url).map((g) => g.id)).toEqual([ours.id]);

    expect(sim.generations().map((g) => g.id)).toEqual([ours.id]);
    expect(sim.stats()).toMatchObject({ creates: 1, foreignCreates: OTHER_CLIENTS_HISTORY.length + 1, maxConcurrent: 1 });
  });

  it('pages the whole account: limit 100 by default and at most, then has_more and offset', async () => {
    const sim = await startSim();
    for (let i = 0; i < 85; i++) sim.addForeignGeneration({ prompt: `${PROMPT} from elsewhere ${i}` });
    const total = OTHER_CLIENTS_HISTORY.length + 85;
    const first = await listPage(sim);
    expect(first).toMatchObject({ count: 100, limit: 100, offset: 0, has_more: true });
    const rest = await listPage(sim, '?offset=100');
    expect(rest).toMatchObject({ count: total - 100, has_more: false });
    const all = [...first.generations, ...rest.generations];
    expect(new Set(all.map((g) => g.id)).size).toBe(total);
    expectNewestFirst(all);
    await expectDetail(await fetch(`${sim.baseUrl}/generations?limit=101`, { headers: authHeaders() }), 400, /limit/);
  });

  it('addForeignGeneration: listed by created_at, failing if asked, persisted, and not added again on restart', async () => {
    const stateFile = join(workDir, 'foreign', 'state.json');
    const quick = QUICK(); // one clock across the restart: it never runs backwards
    const sim = await startSim({ ...quick, stateFile });
    const tenMinutesAgo = new Date(Date.now() - 600_000);
    const id = sim.addForeignGeneration(
      { prompt: 'A flamingo', aspect_ratio: '9:16', callback_url: OTHER_CLIENT_CALLBACK_URL },
      { createdAt: tenMinutesAgo, outcome: 'fail', failureReason: LUMA_FAILURE_REASONS.frame_moderation },
    );
    const failing = sim.addForeignGeneration({ prompt: 'A flamingo' }, { outcome: 'fail' });
    expect(() => sim.addForeignGeneration({ prompt: 'ab' })).toThrow(/too short/);
    expect(await getGeneration(sim, id)).toMatchObject({
      state: 'failed',
      failure_reason: 'Frame moderation failed',
      model: 'ray-2',
      created_at: formatCreatedAt(tenMinutesAgo.getTime() * 1000),
      request: { prompt: 'A flamingo', aspect_ratio: '9:16', callback_url: OTHER_CLIENT_CALLBACK_URL, loop: false },
    });
    expect((await pollToTerminal(sim, failing)).last).toMatchObject({ state: 'failed', failure_reason: 'Job failed' });
    const listed = (await listPage(sim)).generations;
    expectNewestFirst(listed);
    expect(listed[0]!.id).toBe(failing);
    expect(listed.map((g) => g.id)).toContain(id);
    expect(sim.stats()).toMatchObject({ creates: 0, foreignCreates: OTHER_CLIENTS_HISTORY.length + 2 });
    await sim.close();

    const saved = JSON.parse(await readFile(stateFile, 'utf8')) as { version: number; generations: SimGenerationRecord[] };
    expect(saved.version).toBe(2);
    expect(saved.generations.find((g) => g.id === id)).toMatchObject({ foreign: true, outcome: 'fail', failure_reason: 'Frame moderation failed' });
    expect(saved.generations.every((g) => g.foreign === true)).toBe(true);

    const restarted = await startSim({ ...quick, stateFile });
    expect((await listPage(restarted)).generations.map((g) => g.id).sort()).toEqual(listed.map((g) => g.id).sort());
    expect(restarted.stats().foreignCreates).toBe(0);
  });

  it('other clients\' generations do not take our concurrency slots', async () => {
    const sim = await startSim({ concurrencyLimit: 1 });
    for (let i = 0; i < 3; i++) sim.addForeignGeneration({ prompt: `${PROMPT} theirs ${i}` });
    const ours = await create(sim);
    expect(ours.state).toBe('queued');
    await expectDetail(await submit(sim, { model: 'ray-2', prompt: `${PROMPT} again` }), 429, DETAIL_TOO_MANY_CONCURRENT);
    expect(sim.stats()).toMatchObject({ creates: 1, rejectedConcurrency: 1, maxConcurrent: 1 });
  });

  it('otherClients: false is an account of our own: empty at start, no twins', async () => {
    const sim = await startSim({ otherClients: false });
    expect((await listPage(sim)).generations).toEqual([]);
    const ours = await create(sim);
    expect((await listPage(sim)).generations).toEqual([ours]);
    expect(sim.stats().foreignCreates).toBe(0);
  });
});

// ---------------------------------------------------------------------------
// Fault injection and the concurrency limit
// ---------------------------------------------------------------------------

const NO_FAULTS = Object.fromEntries(FAULT_KINDS.map((kind) => [kind, 0])) as Record<FaultKind, number>;
const injectedCounts = (counts: Partial<Record<FaultKind, number>>) => ({ ...NO_FAULTS, ...counts });
/** Every eligible request gets a fault of this one kind. */
const only = (kind: FaultKind, extra: Partial<SimulatedLumaOptions> = {}): Partial<SimulatedLumaOptions> => ({
  faultRate: 1,
  faults: [kind],
  ...extra,
});
// A generation done in 40 ms of its frozen clock, for fault tests that only need it finished.
const QUICK = (): Partial<SimulatedLumaOptions> => ({ queuedSeconds: 1, dreamingSeconds: 1, timeScale: 0.02, clock: new TestClock({ frozen: true }) });
// Generations that live 500 ms of their frozen clock: active until pollToTerminal moves it on.
const SHORT_LIVED = (): Partial<SimulatedLumaOptions> => ({ queuedSeconds: 1, dreamingSeconds: 1, timeScale: 0.25, clock: new TestClock({ frozen: true }) });

/** Reads a body until it ends or fails; returns what arrived and the error, if any. */
async function readUntilError(res: Response): Promise<{ bytes: Buffer; error: unknown }> {
  const reader = res.body!.getReader();
  const chunks: Buffer[] = [];
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return { bytes: Buffer.concat(chunks), error: undefined };
      chunks.push(Buffer.from(value));
    }
  } catch (error) {
    return { bytes: Buffer.concat(chunks), error };
  }
}

async function listAll(sim: SimulatedLuma): Promise<LumaGeneration[]> {
  const res = await fetch(`${sim.baseUrl}/generations?limit=100`, { headers: authHeaders() });
  expect(res.status).toBe(200);
  return ((await res.json()) as { generations: LumaGeneration[] }).generations;
}

describe('fault options', () => {
  it('refuses invalid options', async () => {
    await expect(startSimulatedLuma({ apiKey: API_KEY, faultRate: 2 })).rejects.toThrow(/faultRate/);
    await expect(startSimulatedLuma({ apiKey: API_KEY, faults: ['nope' as FaultKind] })).rejects.toThrow(/fault kind/);
    await expect(startSimulatedLuma({ apiKey: API_KEY, concurrencyLimit: 0 })).rejects.toThrow(/concurrencyLimit/);
    await expect(startSimulatedLuma({ apiKey: API_KEY, seed: 0.5 })).rejects.toThrow(/seed/);
  });
});

describe('fault injection over HTTP', () => {
  it('submit_5xx answers 500/502/503 and creates nothing, even for [sim:…] prompts', async () => {
    const sim = await startSim(only('submit_5xx'));
    const account = await listAll(sim);
    const prompts = [PROMPT, `${PROMPT} ${SIM_DIRECTIVE_REJECT}`, `${PROMPT} ${simBusyDirective(1)}`, `${PROMPT} 4`, `${PROMPT} 5`, `${PROMPT} 6`];
    for (const prompt of prompts) {
      const res = await submit(sim, { model: 'ray-2', prompt });
      expect([500, 502, 503]).toContain(res.status);
      await expectDetail(res, res.status, DETAIL_INTERNAL);
    }
    expect(await listAll(sim)).toEqual(account);
    expect(sim.generations()).toEqual([]);
    expect(sim.stats()).toMatchObject({ creates: 0, rejected: 0, rejectedConcurrency: 0, injected: injectedCounts({ submit_5xx: 6 }) });
  });

  it('submit_429 answers 429 with Retry-After and creates nothing', async () => {
    const sim = await startSim(only('submit_429'));
    const account = await listAll(sim);
    for (let i = 0; i < 3; i++) {
      const res = await submit(sim, { model: 'ray-2', prompt: PROMPT });
      expect(res.headers.get('retry-after')).toBe('1');
      await expectDetail(res, 429, DETAIL_RATE_LIMIT);
    }
    expect(await listAll(sim)).toEqual(account);
    expect(sim.stats()).toMatchObject({ creates: 0, rejected: 0, injected: injectedCounts({ submit_429: 3 }) });
  });

  it('submit_timeout never answers: the client gives up, and nothing is created', async () => {
    const sim = await startSim(only('submit_timeout', { hangMs: 20_000 }));
    const account = await listAll(sim);
    const giveUp = new AbortController();
    const attempt = fetch(`${sim.baseUrl}/generations/video`, {
      method: 'POST',
      headers: authHeaders({ 'Content-Type': 'application/json' }),
      body: JSON.stringify({ model: 'ray-2', prompt: PROMPT }),
      signal: giveUp.signal,
    });
    // The client gives up once the simulator holds its request, not after a guess at how long that takes.
    await eventually(() => sim.stats().injected.submit_timeout === 1, 'the simulator to hold the submit');
    giveUp.abort();
    await expect(attempt).rejects.toMatchObject({ name: 'AbortError' });
    expect(await listAll(sim)).toEqual(account);
    expect(sim.stats()).toMatchObject({ creates: 0, rejected: 0, injected: injectedCounts({ submit_timeout: 1 }) });
  });

  it('submit_timeout holds the request for hangMs * timeScale, then drops the connection without an answer', async () => {
    // Held 200 ms; unscaled, 1,000 s, which the client's own 60 s limit would end with a TimeoutError instead.
    const sim = await startSim(only('submit_timeout', { hangMs: 1_000_000, timeScale: 0.0002 }));
    const started = performance.now();
    const attempt = fetch(`${sim.baseUrl}/generations/video`, {
      method: 'POST',
      headers: authHeaders({ 'Content-Type': 'application/json' }),
      body: JSON.stringify({ model: 'ray-2', prompt: PROMPT }),
      signal: AbortSignal.timeout(60_000),
    });
    await expect(attempt).rejects.toThrow(/fetch failed/);
    // A timer never fires early, so this lower bound does not race the wall clock (1 ms for its rounding).
    expect(performance.now() - started).toBeGreaterThanOrEqual(199);
    expect(sim.stats()).toMatchObject({ creates: 0, injected: injectedCounts({ submit_timeout: 1 }) });
  });

  it('close() drops a held submit at once, without waiting for its hang to end', async () => {
    // Held for an hour: longer than the test's own limit, so only close() can end it in time.
    const sim = await startSimulatedLuma({ apiKey: API_KEY, assetsDir, ...only('submit_timeout', { hangMs: 3_600_000 }) });
    let outcome: 'held' | 'answered' | 'dropped' = 'held';
    const attempt = submit(sim, { model: 'ray-2', prompt: PROMPT }).then(
      () => void (outcome = 'answered'),
      () => void (outcome = 'dropped'),
    );
    await eventually(() => sim.stats().injected.submit_timeout === 1, 'the simulator to hold the submit');
    expect(outcome).toBe('held');
    await sim.close();
    await attempt;
    expect(outcome).toBe('dropped');
  });

  it.each([
    ['poll_5xx' as const, [500, 502, 503], DETAIL_INTERNAL],
    ['poll_429' as const, [429], DETAIL_RATE_LIMIT],
  ])('%s answers an error to GET /generations/{id}, and the generation is unaffected', async (kind, statuses, detail) => {
    const sim = await startSim(only(kind));
    const created = await create(sim);
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${sim.baseUrl}/generations/${created.id}`, { headers: authHeaders() });
      expect(statuses).toContain(res.status);
      if (res.status === 429) expect(res.headers.get('retry-after')).toBe('1');
      await expectDetail(res, res.status, detail);
    }
    expect((await listAll(sim))[0]).toEqual(created);
    expect(sim.stats()).toMatchObject({ creates: 1, polls: 3, injected: injectedCounts({ [kind]: 3 }) });
  });

  it('download_cut sends the full Content-Length, then part of the body, then breaks', async () => {
    const sim = await startSim(only('download_cut', QUICK()));
    const { last } = await pollToTerminal(sim, (await create(sim)).id);
    for (const [url, expected] of [
      [last.assets!.video, videoBytes],
      [last.assets!.image, imageBytes],
    ] as const) {
      const res = await fetch(url);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-length')).toBe(String(expected.length));
      const { bytes, error } = await readUntilError(res);
      // The connection ended mid-body: undici fails the read with "terminated" (the cause says how it closed).
      expect(error).toMatchObject({ name: 'TypeError', message: 'terminated' });
      expect(bytes.length).toBeLessThan(expected.length);
      expect(bytes.equals(expected.subarray(0, bytes.length))).toBe(true);
    }
    // HEAD is not a download: never faulted, never counted.
    const head = await fetch(last.assets!.video, { method: 'HEAD' });
    expect(head.headers.get('content-length')).toBe(String(videoBytes.length));
    expect(sim.stats()).toMatchObject({ downloads: 2, injected: injectedCounts({ download_cut: 2 }) });
  });

  it('download_garbage answers 200 with an HTML page', async () => {
    const sim = await startSim(only('download_garbage', QUICK()));
    const { last } = await pollToTerminal(sim, (await create(sim)).id);
    const res = await fetch(last.assets!.video);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    const text = await res.text();
    expect(res.headers.get('content-length')).toBe(String(Buffer.byteLength(text)));
    expect(text).toMatch(/<html/i);
    expect(sim.stats()).toMatchObject({ downloads: 1, injected: injectedCounts({ download_garbage: 1 }) });
  });

  it('generation_fail creates the generation, which then fails with a Luma-side reason, across a restart too', async () => {
    const stateFile = join(workDir, 'generation-fail', 'state.json');
    const quick = QUICK(); // one clock across the restart: it never runs backwards
    const sim = await startSim(only('generation_fail', { ...quick, stateFile }));
    const created = await create(sim);
    expect(created).toMatchObject({ state: 'queued', failure_reason: null });
    const { last } = await pollToTerminal(sim, created.id);
    expect(last).toMatchObject({ state: 'failed', assets: null });
    expect(INJECTED_FAILURE_REASONS).toEqual(['Job failed', 'Error dispatching job']);
    expect(INJECTED_FAILURE_REASONS).toContain(last.failure_reason);
    expect((await fetch(`${sim.baseUrl}/assets/${created.id}/video.mp4`)).status).toBe(404);
    expect(sim.generations()).toEqual([{ id: created.id, prompt: PROMPT, outcome: 'fail', createdAt: created.created_at }]);
    expect(sim.stats()).toMatchObject({ creates: 1, injected: injectedCounts({ generation_fail: 1 }) });
    await sim.close();

    const restarted = await startSim({ ...quick, stateFile });
    expect(await getGeneration(restarted, created.id)).toMatchObject({ state: 'failed', failure_reason: last.failure_reason });
  });

  it('injects nothing at rate 0 (the default), whatever the kinds', async () => {
    for (const options of [{ faults: [...FAULT_KINDS] }, { faultRate: 0, faults: [...FAULT_KINDS] }]) {
      const sim = await startSim({ ...QUICK(), ...options });
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) ids.push((await create(sim, `${PROMPT} ${i}`)).id);
      for (const id of ids) {
        const { last } = await pollToTerminal(sim, id);
        expect(last.state).toBe('completed');
        const video = await fetch(last.assets!.video);
        expect(Buffer.from(await video.arrayBuffer()).equals(videoBytes)).toBe(true);
      }
      expect(sim.stats()).toMatchObject({ creates: 5, downloads: 5, injected: NO_FAULTS });
    }
  });

  it('replays the same faults for the same seed, and counts them exactly', async () => {
    const run = async (seed: number) => {
      const sim = await startSim({
        seed,
        faultRate: 0.5,
        faults: ['submit_5xx', 'submit_429', 'generation_fail', 'poll_5xx', 'poll_429'],
      });
      expect(sim.seed).toBe(seed);
      const sequence: string[] = [];
      for (let i = 0; i < 16; i++) {
        const res = await submit(sim, { model: 'ray-2', prompt: `${PROMPT} ${i}` });
        if (res.status !== 201) {
          sequence.push(`submit ${res.status}`);
          continue;
        }
        const { id } = (await res.json()) as LumaGeneration;
        sequence.push(`submit 201 ${sim.generations().find((g) => g.id === id)!.outcome}`);
        sequence.push(`poll ${(await fetch(`${sim.baseUrl}/generations/${id}`, { headers: authHeaders() })).status}`);
      }
      await sim.close();
      return { sequence, stats: sim.stats(), generations: sim.generations() };
    };
    const first = await run(20_240_611);
    const again = await run(20_240_611);
    const other = await run(7);

    expect(again.sequence).toEqual(first.sequence);
    expect(again.stats).toEqual(first.stats);
    expect(again.generations.map(({ prompt, outcome }) => ({ prompt, outcome }))).toEqual(
      first.generations.map(({ prompt, outcome }) => ({ prompt, outcome })),
    );
    expect(other.sequence).not.toEqual(first.sequence);

    for (const { sequence, stats, generations } of [first, other]) {
      const count = (pattern: RegExp) => sequence.filter((entry) => pattern.test(entry)).length;
      expect(new Set(sequence).size).toBeGreaterThan(3);
      expect(stats).toEqual({
        creates: count(/^submit 201/),
        foreignCreates: OTHER_CLIENTS_HISTORY.length + count(/^submit 201/),
        rejected: 0,
        rejectedConcurrency: 0,
        polls: count(/^poll/),
        downloads: 0,
        assetsHeld: 0,
        maxConcurrent: count(/^submit 201/),
        injected: injectedCounts({
          submit_5xx: count(/^submit 5\d\d/),
          submit_429: count(/^submit 429/),
          generation_fail: count(/^submit 201 fail/),
          poll_5xx: count(/^poll 5\d\d/),
          poll_429: count(/^poll 429/),
        }),
        callbacks: { sent: 0, failed: 0, skipped: 0 },
      });
      expect(generations).toHaveLength(stats.creates);
    }
  });

  it('picks a random seed by default', async () => {
    const sim = await startSim();
    expect(Number.isSafeInteger(sim.seed)).toBe(true);
  });
});

describe('concurrency limit', () => {
  it('answers 429 at the limit, and accepts again once a generation completes', async () => {
    const sim = await startSim({ ...SHORT_LIVED(), concurrencyLimit: 2 });
    const normal = await create(sim, `${PROMPT} normal`);
    const slow = await create(sim, `${PROMPT} ${SIM_DIRECTIVE_SLOW}`);
    const refused = await submit(sim, { model: 'ray-2', prompt: `${PROMPT} third` });
    expect(refused.headers.get('retry-after')).toBe('1');
    await expectDetail(refused, 429, DETAIL_TOO_MANY_CONCURRENT);
    expect(sim.stats()).toMatchObject({ creates: 2, rejected: 0, rejectedConcurrency: 1 });

    expect((await pollToTerminal(sim, normal.id)).last.state).toBe('completed');
    const third = await create(sim, `${PROMPT} third`);
    await expectDetail(await submit(sim, { model: 'ray-2', prompt: `${PROMPT} fourth` }), 429, DETAIL_TOO_MANY_CONCURRENT);

    expect(sim.stats()).toMatchObject({ creates: 3, rejected: 0, rejectedConcurrency: 2, maxConcurrent: 2, injected: NO_FAULTS });
    expect(sim.generations()).toEqual([
      { id: normal.id, prompt: `${PROMPT} normal`, outcome: 'complete', createdAt: normal.created_at },
      { id: slow.id, prompt: `${PROMPT} ${SIM_DIRECTIVE_SLOW}`, outcome: 'complete', createdAt: slow.created_at },
      { id: third.id, prompt: `${PROMPT} third`, outcome: 'complete', createdAt: third.created_at },
    ]);
  });

  it('lets exactly `limit` of many simultaneous creates through', async () => {
    const sim = await startSim({ concurrencyLimit: 3 });
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => submit(sim, { model: 'ray-2', prompt: `${PROMPT} ${i}` })));
    const statuses = results.map((res) => res.status).sort();
    expect(statuses).toEqual([201, 201, 201, ...Array(7).fill(429)]);
    expect(sim.stats()).toMatchObject({ creates: 3, rejectedConcurrency: 7, maxConcurrent: 3 });
    expect(sim.generations()).toHaveLength(3);
  });

  it('does not count generations that ended by time in the peak', async () => {
    const sim = await startSim(SHORT_LIVED());
    const early = await Promise.all([create(sim, `${PROMPT} a`), create(sim, `${PROMPT} b`)]);
    for (const generation of early) await pollToTerminal(sim, generation.id);
    await create(sim, `${PROMPT} c`);
    await create(sim, `${PROMPT} d`);
    expect(sim.stats()).toMatchObject({ creates: 4, maxConcurrent: 2 });
    await create(sim, `${PROMPT} e`);
    expect(sim.stats()).toMatchObject({ creates: 5, maxConcurrent: 3 });
    expect(sim.generations().map((g) => g.prompt)).toEqual(['a', 'b', 'c', 'd', 'e'].map((x) => `${PROMPT} ${x}`));
  });
});
