/** A webhook delivery's runs, its retries with backoff and jitter for at least the window, and its ledger. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { LEDGER_ATTEMPTS, MAX_RETRY_SECONDS, beginRun, isRunInProgress, recordAttempt, retryDelaySeconds, type AttemptOutcome, type Delivery } from '../../../functions/commons/domain/webhook-delivery.ts';
import { deliveryView } from '../../../functions/commons/domain/delivery-view.ts';

const DAY = 86_400;
const T0 = new Date('2026-11-30T12:00:00.000Z');
const START = { id: 'msg_0b6f1c1e-2f4a-4c39-9a53-1d2e3f4a5b6c_4', taskId: '0b6f1c1e-2f4a-4c39-9a53-1d2e3f4a5b6c', owner: 'own_1', type: 'generation.completed' as const };
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000);
const failed: AttemptOutcome = { statusCode: 503, latencyMs: 12 };

/** Runs a delivery against a receiver that answers `outcome(attempt)`, as the workflow would: attempt, wait, attempt. */
function run(outcome: (attempt: number) => AttemptOutcome, random: () => number, windowSeconds = DAY) {
  let delivery = beginRun(undefined, { ...START, run: 1 }, T0)!;
  let clock = 0;
  const times: number[] = [];
  for (let attempt = 1; attempt < 1000; attempt++) {
    times.push(clock);
    const result = recordAttempt(delivery, outcome(attempt), at(clock), windowSeconds, random());
    delivery = result.delivery;
    if (result.step.next === 'done') return { delivery, times };
    clock += result.step.waitSeconds;
  }
  throw new Error('never ended');
}

describe('retryDelaySeconds: exponential backoff with jitter', () => {
  it('doubles from 5 s up to an hour, jittered between half and all of it, in whole seconds', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 60 }), fc.double({ min: 0, max: 0.999999, noNaN: true }), (failures, random) => {
        const base = Math.min(MAX_RETRY_SECONDS, 5 * 2 ** (failures - 1));
        const delay = retryDelaySeconds(failures, random);
        expect(Number.isInteger(delay)).toBe(true);
        expect(delay).toBeGreaterThanOrEqual(Math.max(1, Math.floor(base / 2)));
        expect(delay).toBeLessThanOrEqual(base);
      }),
    );
    expect([1, 2, 3, 4].map((failures) => retryDelaySeconds(failures, 0.999999))).toEqual([5, 10, 20, 40]);
  });
});

describe('a run', () => {
  it('ends at the first 2xx: delivered', () => {
    const { delivery, times } = run((attempt) => (attempt < 3 ? failed : { statusCode: 204, latencyMs: 3 }), () => 0.5);
    expect(delivery).toMatchObject({ status: 'delivered', attemptCount: 3 });
    expect(delivery.attempts.map((attempt) => attempt.statusCode)).toEqual([503, 503, 204]);
    expect(times.length).toBe(3);
    expect(delivery.nextAttemptAt).toBeUndefined();
  });

  it('against a receiver that never takes it, retries for at least the window, then gives up: failed', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 31 }), (seed) => {
        let state = seed;
        const random = () => ((state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
        const { delivery, times } = run((attempt) => (attempt % 2 ? failed : { error: 'timed out after 5 s', latencyMs: 5000 }), random);
        expect(delivery.status).toBe('failed');
        // The last attempt is at or after the window's end, and the one before it was within it.
        expect(times.at(-1)!).toBeGreaterThanOrEqual(DAY);
        expect(times.at(-2)!).toBeLessThan(DAY);
        // No wait is longer than an hour, so it ends within an hour after the window.
        expect(times.at(-1)!).toBeLessThanOrEqual(DAY + MAX_RETRY_SECONDS);
      }),
      { numRuns: 50 },
    );
  });

  it('treats a redirect and any other non-2xx answer as a failure to retry', () => {
    for (const statusCode of [301, 302, 400, 404, 410, 500]) {
      const result = recordAttempt(beginRun(undefined, { ...START, run: 1 }, T0)!, { statusCode, latencyMs: 1 }, T0, DAY, 0);
      expect(result.step.next, String(statusCode)).toBe('wait');
    }
  });

  it('keeps each attempt: when, what came back, how long it took', () => {
    const first = beginRun(undefined, { ...START, run: 1 }, T0)!;
    const { delivery } = recordAttempt(first, { error: 'ECONNREFUSED', latencyMs: 1.6 }, at(1), DAY, 0);
    expect(deliveryView(delivery)).toEqual({
      id: START.id,
      type: 'generation.completed',
      status: 'pending',
      run: 1,
      attempt_count: 1,
      next_attempt_at: at(1 + 3).toISOString(),
      attempts: [{ run: 1, attempt: 1, at: at(1).toISOString(), status_code: null, error: 'ECONNREFUSED', latency_ms: 2 }],
    });
  });

  it('keeps the latest attempts only, counting them all', () => {
    const { delivery } = run((attempt) => (attempt <= 150 ? failed : { statusCode: 200, latencyMs: 1 }), () => 0, 10 * DAY);
    expect(delivery.attemptCount).toBe(151);
    expect(delivery.attempts).toHaveLength(LEDGER_ATTEMPTS);
    expect(delivery.attempts.at(-1)!.attempt).toBe(151);
  });
});

describe('runs: the first, and one per retry', () => {
  it('a retry begins a new run on the same ledger, keeping the earlier attempts', () => {
    const { delivery } = run(() => ({ statusCode: 200, latencyMs: 1 }), () => 0);
    const second = beginRun(delivery, { ...START, run: 2 }, at(100))!;
    expect(second).toMatchObject({ run: 2, status: 'pending', attemptCount: 1, runStartedAt: at(100).toISOString() });
    expect(second.attempts).toEqual(delivery.attempts);
    const { delivery: after } = recordAttempt(second, { statusCode: 200, latencyMs: 1 }, at(101), DAY, 0);
    expect(after.attempts.map(({ run, attempt }) => [run, attempt])).toEqual([
      [1, 1],
      [2, 1],
    ]);
  });

  it('a run that has begun is not begun again, nor an older one', () => {
    const first: Delivery = beginRun(undefined, { ...START, run: 2 }, T0)!;
    expect(beginRun(first, { ...START, run: 2 }, at(1))).toBeUndefined();
    expect(beginRun(first, { ...START, run: 1 }, at(1))).toBeUndefined();
  });

  it('a run is in progress while pending, unless its workflow was lost long past its window', () => {
    const pending = beginRun(undefined, { ...START, run: 1 }, T0)!;
    expect(isRunInProgress(pending, at(DAY), DAY)).toBe(true);
    expect(isRunInProgress(pending, at(DAY + 2 * 3600), DAY)).toBe(false);
    const { delivery } = recordAttempt(pending, { statusCode: 200, latencyMs: 1 }, T0, DAY, 0);
    expect(isRunInProgress(delivery, T0, DAY)).toBe(false);
  });
});
