/**
 * The list query and its cursor, pure: what a client may ask for, and that a cursor names a position in the
 * caller's own list and nothing else (the store reads the caller's partition whatever the cursor says).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeCursor, encodeCursor, isListPosition, LIST_LIMIT_DEFAULT, LIST_LIMIT_MAX, parseListQuery, statusesOf } from '../../../functions/commons/domain/generation-list.ts';
import { arrivalOrder } from '../../../functions/commons/domain/task.ts';

const POSITION = '2026-11-30T12:00:00.123Z#0b6f1c1e-2f4a-4c39-9a53-1d2e3f4a5b6c';

const position = fc
  .record({ at: fc.date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2999-12-31T23:59:59Z'), noInvalidDate: true }), id: fc.uuid() })
  .map(({ at, id }) => arrivalOrder({ createdAt: at.toISOString(), id }));

describe('the cursor', () => {
  it('names exactly the position it was made from, and is URL-safe', () => {
    fc.assert(
      fc.property(position, (at) => {
        const cursor = encodeCursor(at);
        expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
        expect(decodeCursor(cursor)).toBe(at);
      }),
    );
  });

  it('is a position only: it names no owner, and carries nothing else', () => {
    expect(JSON.parse(Buffer.from(encodeCursor(POSITION), 'base64url').toString('utf8'))).toEqual({ after: POSITION });
  });

  it('is refused when it is not one the API made: junk, truncated, re-encoded, padded, smuggling fields, or naming no valid position', () => {
    const cursor = encodeCursor(POSITION);
    const encode = (value: unknown) => Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
    for (const bad of [
      '',
      'x',
      'not a cursor',
      cursor.slice(0, -2),
      `${cursor}=`,
      Buffer.from(JSON.stringify({ after: POSITION })).toString('base64'), // + and / spellings are not ours
      encode({ after: POSITION, owner: 'own_bob' }),
      encode({ after: POSITION.replace('#', '#x') }),
      encode({ after: '2026-13-45T12:00:00.123Z#0b6f1c1e-2f4a-4c39-9a53-1d2e3f4a5b6c' }),
      encode({ after: 42 }),
      encode([POSITION]),
      encode(null),
      encode({ after: `TASKS#own_bob#${POSITION}` }),
      'A'.repeat(500),
    ]) {
      expect(decodeCursor(bad), bad).toBeUndefined();
    }
  });

  it('refuses to encode anything but a position', () => {
    expect(() => encodeCursor('own_bob')).toThrow(TypeError);
    expect(isListPosition(POSITION)).toBe(true);
    expect(isListPosition(POSITION.toUpperCase())).toBe(false);
  });
});

describe('the list query', () => {
  const parse = (query: Record<string, string[]>) => parseListQuery(query);
  const issues = (query: Record<string, string[]>) => {
    const result = parse(query);
    if (result.ok) throw new Error(`accepted: ${JSON.stringify(query)}`);
    return result.issues;
  };

  it('defaults to the first page of 20, every state', () => {
    expect(parse({})).toEqual({ ok: true, page: { limit: LIST_LIMIT_DEFAULT } });
    expect([LIST_LIMIT_DEFAULT, LIST_LIMIT_MAX]).toEqual([20, 100]);
  });

  it('takes a limit from 1 to 100, a cursor it made, and ignores parameters it does not know', () => {
    expect(parse({ limit: ['1'], cursor: [encodeCursor(POSITION)], utm_source: ['x', 'y'] })).toEqual({ ok: true, page: { limit: 1, after: POSITION } });
    expect(parse({ limit: ['100'] })).toEqual({ ok: true, page: { limit: 100 } });
  });

  it.each([['0'], ['101'], ['-1'], ['1.5'], ['1e2'], [' 5'], ['ten'], [''], ['010'], ['99999999999999999999']])('refuses limit=%s, naming the field', (limit) => {
    expect(issues({ limit: [limit] })).toEqual([{ field: 'limit', message: 'must be a whole number from 1 to 100' }]);
  });

  it('refuses a parameter given twice, a bad cursor and a bad state, each with its own line', () => {
    expect(issues({ limit: ['5', '6'], cursor: ['nope'], state: ['done'] })).toEqual([
      { field: 'limit', message: 'limit may be given once' },
      { field: 'cursor', message: 'is not a cursor this API returned' },
      { field: 'state', message: 'must be one or more of pending, processing, completed, failed, submitted, succeed, separated by commas' },
    ]);
  });

  it('filters by the public states the GET answer shows, in either of its vocabularies, one or several', () => {
    const statuses = (state: string) => {
      const result = parse({ state: [state] });
      return result.ok ? result.page.statuses : result.issues;
    };
    expect(statuses('pending')).toEqual(['accepted', 'submitted']);
    expect(statuses('processing')).toEqual(['dreaming', 'copying']);
    expect(statuses('completed')).toEqual(['completed']);
    expect(statuses('failed')).toEqual(['failed']);
    // data.task_status's words for the same states
    expect(statuses('submitted')).toEqual(statuses('pending'));
    expect(statuses('succeed')).toEqual(statuses('completed'));
    expect(statuses('pending,processing')).toEqual(['accepted', 'submitted', 'dreaming', 'copying']);
    expect(statuses('failed, failed')).toEqual(['failed']);
    for (const bad of ['', ',', 'pending,', 'PENDING', 'accepted', 'dreaming', 'queued', 'constructor', '__proto__']) {
      expect(parse({ state: [bad] }).ok, bad).toBe(false);
    }
  });

  it('maps every status to exactly one public state', () => {
    const all = ['pending', 'processing', 'completed', 'failed'].flatMap(statusesOf);
    expect(all.sort()).toEqual(['accepted', 'completed', 'copying', 'dreaming', 'failed', 'submitted']);
  });
});
