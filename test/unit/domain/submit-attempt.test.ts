import { describe, expect, it } from 'vitest';
import { adoptionSearchSince, beginAttempt, endAttempt, mayDuplicate } from '../../../functions/commons/domain/submit-attempt.ts';
import { newTask, type Task } from '../../../functions/commons/domain/task.ts';

const at = (seconds: number) => new Date(Date.parse('2026-11-29T10:00:00Z') + seconds * 1000);
const task = (marker = true): Task =>
  newTask({
    id: '0b4f1c2e-1111-4000-8000-000000000001',
    owner: 'o',
    request: { prompt: 'p' },
    provider: 'luma',
    model: 'ray-2',
    now: at(0),
    timeoutSeconds: 600,
    upstreamMarker: marker ? 'https://gw.example/luma/upstream-callbacks/x/y' : undefined,
  });

describe('submit attempts', () => {
  it('one submitter at a time, until the lease runs out', () => {
    const first = beginAttempt(task(), at(1), 60_000)!;
    expect(beginAttempt(first, at(30), 60_000)).toBeUndefined();
    // The first submitter died: its lease ran out, and the next attempt takes a lease of its own.
    expect(beginAttempt(first, at(62), 60_000)).toMatchObject({ submitAttemptedAt: at(62).toISOString(), submitLeaseUntil: at(122).toISOString(), ambiguousSince: at(1).toISOString() });
    expect(beginAttempt({ ...task(), status: 'submitted' }, at(1), 60_000)).toBeUndefined();
  });

  it('a first attempt searches nothing', () => {
    expect(adoptionSearchSince(beginAttempt(task(), at(1), 60_000)!)).toBeUndefined();
  });

  it('after a clear end nothing is searched; after an ambiguous one, from that attempt’s start', () => {
    const clear = endAttempt(beginAttempt(task(), at(1), 60_000)!, 'clear');
    expect(adoptionSearchSince(beginAttempt(clear, at(2), 60_000)!)).toBeUndefined();
    const ambiguous = endAttempt(beginAttempt(task(), at(5), 60_000)!, 'ambiguous');
    expect(adoptionSearchSince(beginAttempt(ambiguous, at(6), 60_000)!)).toEqual(at(5));
  });

  it('an attempt whose submitter died counts as ambiguous, from its start', () => {
    const died = beginAttempt(task(), at(3), 60_000)!;
    expect(adoptionSearchSince(beginAttempt(died, at(70), 60_000)!)).toEqual(at(3));
  });

  it('a later clear end keeps the earliest ambiguity, and a later ambiguity does not move it', () => {
    let current = endAttempt(beginAttempt(task(), at(1), 60_000)!, 'ambiguous');
    current = endAttempt(beginAttempt(current, at(2), 60_000)!, 'clear');
    current = endAttempt(beginAttempt(current, at(3), 60_000)!, 'ambiguous');
    expect(current.submitAttemptOutcome).toBe('ambiguous');
    expect(adoptionSearchSince(current)).toEqual(at(1));
  });

  it('ending an attempt gives the lease back and counts as a write', () => {
    const begun = beginAttempt(task(), at(1), 60_000)!;
    const ended = endAttempt(begun, 'clear');
    expect(ended.submitLeaseUntil).toBeUndefined();
    expect(ended.version).toBe(begun.version + 1);
  });

  it('without a marker nothing is ever searched, and a repeat after ambiguity is a possible duplicate', () => {
    const ambiguous = endAttempt(beginAttempt(task(false), at(1), 60_000)!, 'ambiguous');
    const again = beginAttempt(ambiguous, at(2), 60_000)!;
    expect(adoptionSearchSince(again)).toBeUndefined();
    expect(mayDuplicate(again)).toBe(true);
    expect(mayDuplicate(beginAttempt(task(false), at(1), 60_000)!)).toBe(false);
  });
});
