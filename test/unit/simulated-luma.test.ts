/**
 * The simulated Luma API's pure parts: prompt directives, request validation, the timeline, created_at,
 * routing and pagination, and the fault helpers. No server, no files: test/integration/simulated-luma.test.ts
 * covers the simulator over HTTP.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DETAIL_LOOP_END_FRAME,
  FAULT_KINDS,
  LUMA_FAILURE_REASONS,
  SIM_DIRECTIVE_FAIL,
  SIM_DIRECTIVE_HOLD_ASSETS,
  SIM_DIRECTIVE_REJECT,
  SIM_DIRECTIVE_SLOW,
  createdAtMicros,
  cutLength,
  drawFault,
  formatCreatedAt,
  generationStateAt,
  matchRoute,
  mulberry32,
  parsePagination,
  parseSimDirectives,
  phaseDurationsMs,
  simBusyDirective,
  simFailDirective,
  simulatedLumaFaultsFromEnv,
  validateGenerationRequest,
  withLumaDefaults,
} from '../../local/simulated-luma.ts';
import type { GenerationState, LumaFailureReasonKey, SimGenerationRecord, SimTiming } from '../../local/simulated-luma.ts';

const PROMPT = 'a paper boat drifting down a rainy street';

describe('parseSimDirectives', () => {
  it('finds every directive anywhere in the prompt', () => {
    expect(
      parseSimDirectives(
        `a cat ${SIM_DIRECTIVE_FAIL} ${SIM_DIRECTIVE_SLOW} ${simBusyDirective(3)} [sim:lost:2] [sim:hang-created:4] [sim:fail-first:5] ${SIM_DIRECTIVE_HOLD_ASSETS}`,
      ),
    ).toEqual({
      failureReason: 'Contains blacklisted words',
      reject: false,
      slow: true,
      holdAssets: true,
      busyFailures: 3,
      lostAnswers: 2,
      heldAnswers: 4,
      failFirst: 5,
    });
    expect(parseSimDirectives(`${SIM_DIRECTIVE_REJECT} a cat`).reject).toBe(true);
  });

  it('[sim:fail:<key>] picks the reason; an unknown key is no directive', () => {
    for (const key of Object.keys(LUMA_FAILURE_REASONS) as LumaFailureReasonKey[]) {
      expect(parseSimDirectives(`a cat ${simFailDirective(key)}`).failureReason).toBe(LUMA_FAILURE_REASONS[key]);
    }
    expect(parseSimDirectives('a cat [sim:fail:nope]').failureReason).toBeUndefined();
    expect(parseSimDirectives('a cat [sim:fail:nope] [sim:fail:job_failed]').failureReason).toBe('Job failed');
  });

  it('treats ordinary prompts as no directive', () => {
    expect(parseSimDirectives('a cat [sim:busy:x] [sim] sim:fail [sim:lost] [sim:hang-created:] [sim:fail-first] [sim:hold-asset]')).toEqual({
      failureReason: undefined,
      reject: false,
      slow: false,
      holdAssets: false,
      busyFailures: 0,
      lostAnswers: 0,
      heldAnswers: 0,
      failFirst: 0,
    });
  });
});

describe('validateGenerationRequest', () => {
  const valid = { model: 'ray-2', prompt: PROMPT };

  it('accepts a full, well-formed request and echoes it', () => {
    const body = {
      model: 'ray-flash-2',
      prompt: PROMPT,
      aspect_ratio: '9:21',
      loop: false,
      keyframes: { frame0: { type: 'image', url: 'https://example.com/a.jpg' }, frame1: { type: 'generation', id: 'abc' } },
      callback_url: 'https://example.com/cb',
      resolution: '720p',
      duration: '5s',
    };
    expect(validateGenerationRequest(body)).toEqual({ ok: true, request: body });
  });

  it('treats explicit nulls on optional fields as absent', () => {
    const body = { ...valid, aspect_ratio: null, loop: null, keyframes: null, callback_url: null };
    expect(validateGenerationRequest(body).ok).toBe(true);
  });

  it.each([
    ['not an object', [1, 2], /JSON object/],
    ['null body', null, /JSON object/],
    ['missing model', { prompt: PROMPT }, 'Model is required'],
    ['unknown model', { ...valid, model: 'ray-1-6' }, /Invalid model/],
    ['missing prompt', { model: 'ray-2' }, 'Prompt is required'],
    ['blank prompt', { ...valid, prompt: '   ' }, 'Prompt is required'],
    ['non-string prompt', { ...valid, prompt: 42 }, 'Prompt is required'],
    ['short prompt', { ...valid, prompt: 'ab' }, /Prompt is too short/],
    ['long prompt', { ...valid, prompt: 'x'.repeat(5001) }, /Prompt is too long/],
    ['bad aspect ratio', { ...valid, aspect_ratio: '2:1' }, /aspect_ratio/],
    ['non-boolean loop', { ...valid, loop: 'yes' }, /loop must be a boolean/],
    ['loop with end frame', { ...valid, loop: true, keyframes: { frame1: { type: 'image', url: 'https://e.com/a.jpg' } } }, DETAIL_LOOP_END_FRAME],
    ['keyframes not an object', { ...valid, keyframes: 'x' }, /keyframes must be an object/],
    ['unknown keyframe', { ...valid, keyframes: { frame2: { type: 'image', url: 'https://e.com/a.jpg' } } }, /Unknown keyframe/],
    ['ftp keyframe url', { ...valid, keyframes: { frame0: { type: 'image', url: 'ftp://e.com/a.jpg' } } }, /url must be an http\(s\) URL/],
    ['relative keyframe url', { ...valid, keyframes: { frame0: { type: 'image', url: '/a.jpg' } } }, /url must be an http\(s\) URL/],
    ['unknown keyframe type', { ...valid, keyframes: { frame0: { type: 'video', url: 'https://e.com/a.mp4' } } }, /type must be/],
    ['generation keyframe without id', { ...valid, keyframes: { frame0: { type: 'generation' } } }, /id is required/],
    ['bad callback url', { ...valid, callback_url: 'javascript:alert(1)' }, /callback_url/],
    ['bad resolution', { ...valid, resolution: '8k' }, /resolution/],
    ['bad duration', { ...valid, duration: 5 }, /duration/],
  ])('rejects %s', (_name, body, detail) => {
    const result = validateGenerationRequest(body);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    if (typeof detail === 'string') expect(result.detail).toBe(detail);
    else expect(result.detail).toMatch(detail);
  });

  it('counts characters, not UTF-16 units, for the length limits', () => {
    expect(validateGenerationRequest({ ...valid, prompt: '🎬'.repeat(5000) }).ok).toBe(true);
    expect(validateGenerationRequest({ ...valid, prompt: '🎬🎬' }).ok).toBe(false);
  });
});

describe('generationStateAt', () => {
  const timing: SimTiming = { timeScale: 0.5, queuedSeconds: 10, dreamingSeconds: 60 };
  const t0 = Date.parse('2025-01-01T00:00:00.000Z');
  const record = (prompt: string, outcome: SimGenerationRecord['outcome'] = 'complete'): SimGenerationRecord => ({
    id: 'id',
    created_at: formatCreatedAt(t0 * 1000),
    request: withLumaDefaults({ model: 'ray-2', prompt }),
    outcome,
  });

  it('walks queued -> dreaming -> completed on the scaled clock', () => {
    expect(generationStateAt(record(PROMPT), t0, timing)).toBe('queued');
    expect(generationStateAt(record(PROMPT), t0 + 4_999, timing)).toBe('queued');
    expect(generationStateAt(record(PROMPT), t0 + 5_000, timing)).toBe('dreaming');
    expect(generationStateAt(record(PROMPT), t0 + 34_999, timing)).toBe('dreaming');
    expect(generationStateAt(record(PROMPT), t0 + 35_000, timing)).toBe('completed');
  });

  it('ends in failed when the outcome is fail', () => {
    expect(generationStateAt(record(PROMPT, 'fail'), t0 + 35_000, timing)).toBe('failed');
  });

  it('stretches only the dreaming phase for [sim:slow]', () => {
    expect(phaseDurationsMs(timing, true)).toEqual({ queuedMs: 5_000, dreamingMs: 3_000_000 });
    expect(generationStateAt(record(`${PROMPT} ${SIM_DIRECTIVE_SLOW}`), t0 + 35_000, timing)).toBe('dreaming');
  });

  it('treats a creation time in the future (clock skew) as queued', () => {
    expect(generationStateAt(record(PROMPT), t0 - 1_000, timing)).toBe('queued');
  });

  it('never moves backwards in time', () => {
    const order: GenerationState[] = ['queued', 'dreaming', 'completed'];
    fc.assert(
      fc.property(fc.nat(200_000), fc.nat(200_000), fc.boolean(), (a, b, slow) => {
        const r = record(slow ? `${PROMPT} ${SIM_DIRECTIVE_SLOW}` : PROMPT);
        const early = generationStateAt(r, t0 + Math.min(a, b), timing);
        const late = generationStateAt(r, t0 + Math.max(a, b), timing);
        return order.indexOf(early) <= order.indexOf(late);
      }),
    );
  });
});

describe('created_at', () => {
  it('has six fractional digits, like Luma\'s, and parses back to the microsecond', () => {
    expect(formatCreatedAt(Date.UTC(2025, 4, 16, 18, 53, 39, 62) * 1000 + 856)).toBe('2025-05-16T18:53:39.062856Z');
    expect(createdAtMicros('2025-05-16T18:53:39.062856Z')).toBe(Date.UTC(2025, 4, 16, 18, 53, 39, 62) * 1000 + 856);
    expect(createdAtMicros('2025-05-16T18:53:39.062Z')).toBe(Date.UTC(2025, 4, 16, 18, 53, 39, 62) * 1000);
    expect(createdAtMicros('2025-05-16T18:53:39Z')).toBe(Date.UTC(2025, 4, 16, 18, 53, 39) * 1000);
    expect(createdAtMicros('yesterday')).toBeNaN();
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 4_102_444_800_000_000 }), (micros) => createdAtMicros(formatCreatedAt(micros)) === micros),
    );
  });

  it('is read by Date.parse (what the gateway\'s Luma adapter uses) to the millisecond', () => {
    expect(Date.parse('2025-05-16T18:53:39.062856Z')).toBe(Date.UTC(2025, 4, 16, 18, 53, 39, 62));
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 4_102_444_800_000_000 }), (micros) => Date.parse(formatCreatedAt(micros)) === Math.floor(micros / 1000)),
    );
  });
});

describe('matchRoute and parsePagination', () => {
  it('routes like the Luma API', () => {
    expect(matchRoute('POST', '/generations/video')).toMatchObject({ kind: 'found', action: 'create' });
    expect(matchRoute('POST', '/generations')).toMatchObject({ kind: 'found', action: 'create' });
    expect(matchRoute('GET', '/generations/abc')).toEqual({ kind: 'found', action: 'get', params: ['abc'] });
    expect(matchRoute('GET', '/generations/video')).toMatchObject({ kind: 'method-not-allowed', allow: ['POST'] });
    expect(matchRoute('GET', '/assets/abc/video.mp4')).toMatchObject({ kind: 'found', action: 'asset', params: ['abc', 'video.mp4'] });
    expect(matchRoute('GET', '/assets/abc/other.bin')).toEqual({ kind: 'not-found' });
    expect(matchRoute('GET', '/generations/%E0%A4%A')).toEqual({ kind: 'not-found' });
  });

  it('parses pagination with Luma defaults and bounds', () => {
    expect(parsePagination(new URLSearchParams(''))).toEqual({ ok: true, limit: 100, offset: 0 });
    expect(parsePagination(new URLSearchParams('limit=100'))).toEqual({ ok: true, limit: 100, offset: 0 });
    expect(parsePagination(new URLSearchParams('limit=5&offset=7'))).toEqual({ ok: true, limit: 5, offset: 7 });
    for (const bad of ['limit=0', 'limit=101', 'limit=-1', 'limit=abc', 'offset=-2', 'offset=1.5']) {
      expect(parsePagination(new URLSearchParams(bad)).ok).toBe(false);
    }
  });
});

describe('fault helpers', () => {
  it('mulberry32 is deterministic per seed and stays in [0, 1)', () => {
    fc.assert(
      fc.property(fc.integer(), (seed) => {
        const a = mulberry32(seed);
        const b = mulberry32(seed);
        for (let i = 0; i < 20; i++) {
          const x = a();
          if (x !== b() || x < 0 || x >= 1) return false;
        }
        return true;
      }),
    );
    const first = Array.from({ length: 5 }, mulberry32(1));
    const other = Array.from({ length: 5 }, mulberry32(2));
    expect(first).not.toEqual(other);
  });

  it('drawFault: rate 0 or no candidate never faults and draws nothing; rate 1 always picks a candidate', () => {
    let draws = 0;
    const counting = () => {
      draws += 1;
      return 0.5;
    };
    expect(drawFault(counting, 0, ['poll_5xx'])).toBeUndefined();
    expect(drawFault(counting, 1, [])).toBeUndefined();
    expect(draws).toBe(0);
    fc.assert(
      fc.property(fc.integer(), fc.subarray([...FAULT_KINDS], { minLength: 1 }), (seed, candidates) => {
        const random = mulberry32(seed);
        for (let i = 0; i < 10; i++) {
          const kind = drawFault(random, 1, candidates);
          if (kind === undefined || !candidates.includes(kind)) return false;
        }
        return true;
      }),
    );
  });

  it('drawFault faults about `rate` of the requests and spreads the kinds', () => {
    const random = mulberry32(7);
    const seen = new Map<string, number>();
    for (let i = 0; i < 10_000; i++) {
      const kind = drawFault(random, 0.3, ['submit_5xx', 'submit_429']) ?? 'none';
      seen.set(kind, (seen.get(kind) ?? 0) + 1);
    }
    expect(seen.get('none')! / 10_000).toBeCloseTo(0.7, 1);
    expect(seen.get('submit_5xx')! / 10_000).toBeCloseTo(0.15, 1);
    expect(seen.get('submit_429')! / 10_000).toBeCloseTo(0.15, 1);
  });

  it('cutLength keeps at least one byte and never all of them', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 10_000_000 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (size, u) => {
        const n = cutLength(size, u);
        return Number.isInteger(n) && n >= 1 && n < size;
      }),
    );
  });

  it('reads the npm start variables', () => {
    expect(simulatedLumaFaultsFromEnv({})).toEqual({});
    expect(simulatedLumaFaultsFromEnv({ SIM_FAULT_RATE: '', SIM_FAULTS: ' ', SIM_SEED: '' })).toEqual({});
    expect(
      simulatedLumaFaultsFromEnv({
        SIM_FAULT_RATE: '0.25',
        SIM_FAULTS: 'submit_5xx, download_cut,',
        SIM_HANG_MS: '1500',
        SIM_MAX_CONCURRENT: '5',
        SIM_SEED: '-42',
        SIM_OTHER_CLIENTS: '0',
      }),
    ).toEqual({ faultRate: 0.25, faults: ['submit_5xx', 'download_cut'], hangMs: 1500, concurrencyLimit: 5, seed: -42, otherClients: false });
    expect(simulatedLumaFaultsFromEnv({ SIM_OTHER_CLIENTS: '1' })).toEqual({ otherClients: true });
    expect(() => simulatedLumaFaultsFromEnv({ SIM_OTHER_CLIENTS: 'yes' })).toThrow(/SIM_OTHER_CLIENTS/);
    expect(() => simulatedLumaFaultsFromEnv({ SIM_FAULT_RATE: '1.5' })).toThrow(/SIM_FAULT_RATE/);
    expect(() => simulatedLumaFaultsFromEnv({ SIM_FAULT_RATE: 'often' })).toThrow(/SIM_FAULT_RATE/);
    expect(() => simulatedLumaFaultsFromEnv({ SIM_FAULTS: 'submit_5xx,poll_404' })).toThrow(/poll_404/);
    expect(() => simulatedLumaFaultsFromEnv({ SIM_MAX_CONCURRENT: '0' })).toThrow(/SIM_MAX_CONCURRENT/);
    expect(() => simulatedLumaFaultsFromEnv({ SIM_MAX_CONCURRENT: '2.5' })).toThrow(/SIM_MAX_CONCURRENT/);
    expect(() => simulatedLumaFaultsFromEnv({ SIM_SEED: '1e3' })).toThrow(/SIM_SEED/);
    expect(() => simulatedLumaFaultsFromEnv({ SIM_HANG_MS: '-1' })).toThrow(/SIM_HANG_MS/);
  });
});
