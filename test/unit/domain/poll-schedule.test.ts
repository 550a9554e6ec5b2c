import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  DEFAULT_POLL_SCHEDULE as S,
  generationKindKey,
  isPollDue,
  nextPoll,
  priorSeconds,
  progressOf,
  typicalSeconds,
  waitSecondsUntil,
  withCompletion,
  type PollContext,
  type PollProgress,
} from '../../../functions/commons/domain/poll-schedule.ts';

const T0 = Date.parse('2026-11-25T12:00:00Z');
const s = (seconds: number) => T0 + seconds * 1000;
const DEADLINE = s(1800);

/**
 * Plays a generation that the upstream finishes at `finishSeconds` against the schedule, as the workflow
 * would: a read whenever one is due, plus one right after each callback (at `callbacks`, if they come).
 * Returns every read's time (seconds since submit) and the first read that saw the end.
 */
function play(finishSeconds: number, context: PollContext, callbacks: number[] = []) {
  const progress: PollProgress = { submittedAt: T0, reads: 0, deadline: DEADLINE };
  const reads: number[] = [];
  const read = (at: number) => {
    reads.push((at - T0) / 1000);
    progress.reads += 1;
    progress.lastReadAt = at;
    return at >= s(finishSeconds);
  };
  const pending = [...callbacks].sort((a, b) => a - b).map(s);
  for (;;) {
    const next = nextPoll(progress, context);
    const callbackAt = pending[0];
    if (callbackAt !== undefined && callbackAt <= next.at) {
      pending.shift();
      if (read(callbackAt)) return { reads, sawEndAt: (callbackAt - T0) / 1000 };
      continue;
    }
    if (!isPollDue(next, next.at)) return { reads, sawEndAt: undefined }; // the ceiling or the deadline
    if (read(next.at)) return { reads, sawEndAt: (next.at - T0) / 1000 };
  }
}

describe('nextPoll while callbacks are expected', () => {
  const context: PollContext = { callbacksExpected: true, typicalSeconds: 180 };

  it('reads once a fallback interval after the last read, whoever made it', () => {
    expect(nextPoll({ submittedAt: T0, reads: 0, deadline: DEADLINE }, context)).toEqual({ at: s(60), reason: 'callback-fallback' });
    expect(nextPoll({ submittedAt: T0, lastReadAt: s(10), reads: 1, deadline: DEADLINE }, context).at).toBe(s(70));
  });

  it('costs a 3-minute generation at most 4 reads, its callbacks’ reads included', () => {
    // Luma calls back on dreaming (after its queue) and on completion.
    const { reads, sawEndAt } = play(180, context, [10, 180]);
    expect(sawEndAt).toBe(180);
    expect(reads).toEqual([10, 70, 130, 180]);
  });

  it('loses at most one fallback interval to a lost callback', () => {
    fc.assert(
      fc.property(fc.integer({ min: 5, max: 1700 }), (finish) => {
        const { sawEndAt } = play(finish, context, []); // every callback lost
        expect(sawEndAt! - finish).toBeLessThanOrEqual(S.callbackFallbackSeconds);
      }),
    );
  });
});

describe('nextPoll without callbacks (adaptive)', () => {
  const context: PollContext = { callbacksExpected: false, typicalSeconds: 180 };

  it('reads first near the typical time, then at short intervals', () => {
    const first = nextPoll({ submittedAt: T0, reads: 0, deadline: DEADLINE }, context);
    expect(first).toEqual({ at: s(162), reason: 'first' });
    expect(nextPoll({ submittedAt: T0, lastReadAt: s(162), reads: 1, deadline: DEADLINE }, context)).toEqual({ at: s(165), reason: 'interval' });
  });

  it('sees a generation that ends around its typical time within one short interval; an early one at the first read', () => {
    for (const finish of [163.5, 170, 179.9, 180, 185]) {
      const { sawEndAt } = play(finish, context);
      expect(sawEndAt! - finish).toBeLessThanOrEqual(S.minIntervalSeconds);
    }
    expect(play(150, context)).toEqual({ reads: [162], sawEndAt: 162 });
  });

  it('lets the interval grow with lateness, up to its ceiling', () => {
    const at = (lastRead: number) => (nextPoll({ submittedAt: T0, lastReadAt: s(lastRead), reads: 5, deadline: DEADLINE }, context).at - s(lastRead)) / 1000;
    expect(at(175)).toBe(3);
    expect(at(220)).toBe(3 + 40 * S.lateGrowth);
    expect(at(1000)).toBe(S.maxIntervalSeconds);
  });

  it('reads a generation that never ends at most maxPollsPerTask times, and never after its deadline', () => {
    fc.assert(
      fc.property(fc.integer({ min: 5, max: 900 }), fc.integer({ min: 60, max: 7200 }), (typical, deadlineSeconds) => {
        const progress: PollProgress = { submittedAt: T0, reads: 0, deadline: s(deadlineSeconds) };
        for (;;) {
          const next = nextPoll(progress, { callbacksExpected: false, typicalSeconds: typical });
          expect(next.at).toBeLessThanOrEqual(progress.deadline);
          if (!isPollDue(next, next.at)) break;
          expect(next.at).toBeGreaterThan(progress.lastReadAt ?? -Infinity);
          progress.reads += 1;
          progress.lastReadAt = next.at;
        }
        expect(progress.reads).toBeLessThanOrEqual(S.maxPollsPerTask);
      }),
    );
  });

  it('stops at the ceiling: the next turn is the deadline, without a read', () => {
    const next = nextPoll({ submittedAt: T0, lastReadAt: s(200), reads: S.maxPollsPerTask, deadline: DEADLINE }, context);
    expect(next).toEqual({ at: DEADLINE, reason: 'ceiling' });
    expect(isPollDue(next, DEADLINE + 1)).toBe(false);
  });
});

describe('isPollDue and waitSecondsUntil', () => {
  it('treats a read up to a second early as due (whole-second waits start before they are computed)', () => {
    const next = { at: s(60), reason: 'callback-fallback' as const };
    expect(isPollDue(next, s(59.2))).toBe(true);
    expect(isPollDue(next, s(58.5), s(59))).toBe(false);
  });

  it('treats a read as due once half its interval has passed, however late its wait began (the local time scale)', () => {
    const next = { at: s(60), reason: 'callback-fallback' as const };
    expect(isPollDue(next, s(31), s(0))).toBe(true);
    expect(isPollDue(next, s(29), s(0))).toBe(false);
  });

  it('reads a task on the gateway clock: its instants over the time scale', () => {
    const base = { deadline: '2026-11-25T12:30:00Z', history: [{ status: 'submitted' as const, at: '2026-11-25T12:00:00Z' }] };
    expect(progressOf({ ...base, upstreamReads: 2, upstreamReadAt: '2026-11-25T12:00:01Z' }, 0.01)).toEqual({
      submittedAt: T0 / 0.01,
      lastReadAt: (T0 + 1000) / 0.01,
      reads: 2,
      deadline: s(1800) / 0.01,
    });
    // A read before the current generation was submitted (a resubmit) is not this generation's.
    expect(progressOf({ ...base, upstreamReads: 1, upstreamReadAt: '2026-11-25T11:59:00Z' })).toEqual({ submittedAt: T0, reads: 1, deadline: s(1800) });
    expect(progressOf({ deadline: base.deadline, history: [] })).toBeUndefined();
  });

  it('waits whole seconds, at least 1, never less than asked', () => {
    expect(waitSecondsUntil(s(60), s(0.4))).toBe(60);
    expect(waitSecondsUntil(s(1), s(5))).toBe(1);
  });
});

describe('the typical time of a kind of generation', () => {
  it('starts at the prior, which scales with model, resolution and duration', () => {
    expect(priorSeconds({ model: 'ray-2', resolution: '720p', duration: '5s' }, 120)).toBe(120);
    expect(priorSeconds({ model: 'ray-2', resolution: '1080p', duration: '9s' }, 120)).toBeCloseTo(324);
    expect(priorSeconds({ model: 'ray-flash-2', resolution: '540p', duration: '5s' }, 120)).toBeCloseTo(36);
    expect(typicalSeconds([], 120)).toBe(120);
  });

  it('follows a steady run of completions, and one odd generation does not move it', () => {
    const steady = Array<number>(10).fill(180);
    expect(typicalSeconds(steady, 120)).toBe(180);
    expect(typicalSeconds([...steady, 1500], 120)).toBe(180);
    expect(typicalSeconds([200], 120)).toBe(120); // one completion against a prior worth three
  });

  it('keeps the most recent completions, ignoring nonsense', () => {
    let recent: number[] = [];
    for (let i = 1; i <= 25; i++) recent = withCompletion(recent, i);
    expect(recent).toEqual(Array.from({ length: 20 }, (_, i) => i + 6));
    expect(withCompletion(recent, Number.NaN)).toEqual(recent);
    expect(withCompletion([], 12.345)).toEqual([12.3]);
  });

  it('keys kinds by model, resolution and duration', () => {
    expect(generationKindKey({ model: 'ray-2', resolution: '720p', duration: '5s' })).toBe('ray-2/720p/5s');
    expect(generationKindKey({ model: 'ray-2' })).toBe('ray-2/-/-');
  });
});
