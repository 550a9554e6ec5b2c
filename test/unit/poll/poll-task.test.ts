/**
 * The waits the poll hands the state machine. A callback task's TimeoutSecondsPath must select a positive
 * integer: anything else fails the execution with States.Runtime, which no Catch sees (REFERENCE.md §3).
 */
import { describe, expect, it } from 'vitest';
import { pollTask, takeTurn, type PollDeps, type PollInput } from '../../../functions/poll/poll-task.ts';
import { newTask, withUpstreamRead, type Task } from '../../../functions/commons/domain/task.ts';
import { DEFAULT_POLL_SCHEDULE } from '../../../functions/commons/domain/poll-schedule.ts';
import { TransientUpstreamError } from '../../../functions/commons/errors.ts';
import { parseRetryAfter } from '../../../functions/commons/providers/luma.ts';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { LumaProvider } from '../../../functions/commons/providers/luma.ts';
import { cachedSecret } from '../../../functions/commons/adapters/secret.ts';
import { UPSTREAM_KEY_PLACEHOLDER_SECRET } from '../../../functions/commons/domain/upstream-key.ts';
import type { TaskStore } from '../../../functions/commons/ports/task-store.ts';
import type { VideoProvider } from '../../../functions/commons/ports/video-provider.ts';

const NOW = new Date('2026-11-29T10:00:00Z');
const ago = (seconds: number) => new Date(NOW.getTime() - seconds * 1000).toISOString();
const ID = '0b4f1c2e-1111-4000-8000-000000000001';
const MARKER = `https://gw.example/luma/upstream-callbacks/${ID}/token`;

/**
 * An accepted task here is admitted (it holds a slot): the poll submits it. Any other was submitted
 * `submittedSecondsAgo` ago, and last read `readSecondsAgo` ago if given.
 */
function task(status: Task['status'], options: { marker?: boolean; submittedSecondsAgo?: number; readSecondsAgo?: number } = {}): Task {
  const base = newTask({ id: ID, owner: 'o', request: { prompt: 'a prompt' }, provider: 'luma', model: 'ray-2', now: NOW, timeoutSeconds: 1800 });
  if (status === 'accepted') return { ...base, admittedAt: NOW.toISOString() };
  const submitted = ago(options.submittedSecondsAgo ?? 60);
  return {
    ...base,
    status,
    upstreamId: 'gen-1',
    admittedAt: NOW.toISOString(),
    ...(options.marker && { upstreamMarker: MARKER }),
    history: [...base.history, { status: 'submitted', at: submitted }],
    ...(options.readSecondsAgo !== undefined && { upstreamReads: 1, upstreamReadAt: ago(options.readSecondsAgo) }),
  };
}

/** Only what these paths touch; anything else is a test bug and throws. */
type CreateWindow = { allowed: boolean; secondsLeft: number };

function deps(current: Task, overrides: { get?: VideoProvider['get']; window?: CreateWindow } = {}): PollDeps {
  const unexpected = (what: string) => () => {
    throw new Error(`unexpected call: ${what}`);
  };
  return {
    tasks: {
      get: async () => current,
      // A repeat of the status the task has is all these paths may ask for (the store makes it a no-op).
      transition: async (_id: string, change: { to: string }) => {
        if (change.to !== current.status) throw new Error(`unexpected transition to ${change.to}`);
        return { task: current, changed: false };
      },
      noteUpstreamRead: async (_id: string, at: Date) => (current = withUpstreamRead(current, at.toISOString())),
    } as unknown as TaskStore,
    provider: { name: 'luma', model: 'ray-2', get: overrides.get ?? unexpected('get'), submit: unexpected('submit'), findByMarker: unexpected('findByMarker'), delete: unexpected('delete') },
    capacity: { countCreate: async () => overrides.window ?? { allowed: true, secondsLeft: 60 } },
    dispatcher: { admitAlone: unexpected('admitAlone') },
    workflow: { wake: unexpected('wake') },
    durations: { recent: async () => [], record: unexpected('record') },
    polling: { schedule: DEFAULT_POLL_SCHEDULE, callbacks: true, priorSeconds: 120, timeScale: 1 },
    media: {} as PollDeps['media'],
    upstreamClaims: {} as PollDeps['upstreamClaims'],
    keyframeUrlExpirySeconds: 3600,
    upstreamResubmits: 1,
    clock: () => NOW,
  };
}

/** A wait that ran out (its Catch set `woke`), entered with `waitSeconds`. */
const woke = (waitSeconds: number): PollInput => ({ taskId: ID, taskToken: 'token', waitSeconds, woke: { Error: 'States.Timeout' } });

const rateLimited = (retryAfterSeconds: number | undefined) => async () => {
  throw new TransientUpstreamError('The upstream answered 429.', { rateLimited: true, retryAfterSeconds });
};

describe('pollTask: every waitSeconds is a whole number of seconds', () => {
  it.each([
    ['a Retry-After of 12.5 seconds', 12.5, 13],
    ['a Retry-After given as an HTTP date 61.2 s ahead', parseRetryAfter(new Date(NOW.getTime() + 61_200).toUTCString(), NOW.getTime() - 200), 62],
    ['a Retry-After of a day', 86_400, 3600],
  ])('a 429 while following the upstream with %s waits a whole number of seconds, capped', async (_, retryAfter, wait) => {
    // Adaptive polling (no marker), a read due now: the 429's Retry-After outweighs the next short interval.
    const result = await pollTask(woke(3), deps(task('submitted', { submittedSecondsAgo: 130, readSecondsAgo: 4 }), { get: rateLimited(retryAfter) }));
    expect(result).toMatchObject({ next: 'wait', waitSeconds: wait, hold: false });
  });

  it('a create window used up waits until it ends, rounded up to whole seconds', async () => {
    const result = await pollTask(woke(60), deps(task('accepted'), { window: { allowed: false, secondsLeft: 17.25 } }));
    expect(result).toMatchObject({ next: 'wait', waitSeconds: 18, hold: false });
  });
});

describe('pollTask: when to read the upstream', () => {
  it('a generation still dreaming, with callbacks expected, keeps the fallback wait it was entered with', async () => {
    const result = await pollTask(woke(60), deps(task('dreaming', { marker: true }), { get: async () => ({ id: 'gen-1', state: 'queued' }) }));
    expect(result).toMatchObject({ next: 'wait', waitSeconds: 60, hold: true });
  });

  it('without callbacks, a read near the typical time is followed by a short interval', async () => {
    const result = await pollTask(woke(3), deps(task('dreaming', { submittedSecondsAgo: 108 }), { get: async () => ({ id: 'gen-1', state: 'dreaming' }) }));
    expect(result).toMatchObject({ next: 'wait', hold: true, waitSeconds: 3 });
  });

  it('a wait another turn or a callback aimed is kept as it is, without a read', async () => {
    const result = await pollTask({ taskId: ID, taskToken: 'token', waitSeconds: 42 }, deps(task('dreaming', { marker: true })));
    expect(result).toMatchObject({ next: 'wait', waitSeconds: 42, hold: true });
  });

  it('a wait that ran out long before its read is due (a callback read in between) waits on without a read', async () => {
    const result = await pollTask(woke(60), deps(task('dreaming', { marker: true, submittedSecondsAgo: 60, readSecondsAgo: 5 })));
    expect(result).toMatchObject({ next: 'wait', waitSeconds: 55, hold: false });
  });
});

describe('pollTask: the placeholder still in the upstream key secret', () => {
  it('fails a waiting task with upstream_rejected, naming the secret to set, without calling the upstream', async () => {
    const secret = { send: async () => ({ SecretString: UPSTREAM_KEY_PLACEHOLDER_SECRET }) } as unknown as SecretsManagerClient;
    const apiKey = cachedSecret(secret, 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:UpstreamKey3C2B1A9F-Qx7Zk2Wm9Vb4-AbCdEf');
    // Nothing listens on port 9 here: a request would end as a transient connection error, not as the refusal below.
    const upstream = new LumaProvider({ baseUrl: 'http://127.0.0.1:9/never-called', model: 'ray-2', apiKey, forgetApiKey: apiKey.forget });
    const changes: unknown[] = [];
    const accepted = task('accepted');
    const base = deps(accepted, {});
    const result = await pollTask(
      woke(60),
      {
        ...base,
        provider: upstream,
        tasks: {
          get: async () => accepted,
          claimSubmit: async () => ({ claimed: true, task: { ...accepted, submitAttemptedAt: NOW.toISOString() } }),
          transition: async (_id: string, change: unknown) => (changes.push(change), { task: accepted }),
        } as unknown as TaskStore,
      },
    );
    expect(result.next).toBe('failed');
    expect(changes).toEqual([
      {
        to: 'failed',
        failure: { code: 'upstream_rejected', reason: expect.stringContaining('set the Luma API key in secret UpstreamKey3C2B1A9F-Qx7Zk2Wm9Vb4-AbCdEf') },
      },
    ]);
  });
});

describe('pollTask: past the deadline', () => {
  /** A task whose deadline passed a second ago, and the changes the turn asks for. */
  function pastDeadline(upstream: VideoProvider['get']) {
    let current: Task = { ...task('dreaming', { marker: true }), deadline: ago(1) };
    const changes: string[] = [];
    const base = deps(current, { get: upstream });
    const turnDeps: PollDeps = {
      ...base,
      tasks: {
        get: async () => current,
        transition: async (_id: string, change: { to: Task['status'] }) => {
          changes.push(change.to);
          current = { ...current, status: change.to };
          return { task: current, changed: true };
        },
        noteUpstreamRead: async (_id: string, at: Date, poll: boolean) => (current = withUpstreamRead(current, at.toISOString(), poll)),
      } as unknown as TaskStore,
      durations: { recent: async () => [], record: async () => {} },
    };
    return { turnDeps, changes, current: () => current };
  }

  it('copies a generation the upstream finished since the last read, with a last read no ceiling counts', async () => {
    const t = pastDeadline(async () => ({ id: 'gen-1', state: 'completed', videoUrl: 'https://cdn.example/v.mp4' }));
    expect(await pollTask(woke(60), t.turnDeps)).toMatchObject({ next: 'copy' });
    expect(t.changes).toEqual(['copying']);
    expect(t.current().upstreamReads ?? 0).toBe(0);
  });

  it.each([
    ['still dreaming', async () => ({ id: 'gen-1', state: 'dreaming' as const })],
    ['unreachable', async () => Promise.reject(new TransientUpstreamError('The upstream answered 503.'))],
  ])('fails a generation the upstream reports %s, as past its deadline', async (_case, upstream) => {
    const t = pastDeadline(upstream);
    expect(await pollTask(woke(60), t.turnDeps)).toMatchObject({ next: 'failed' });
    expect(t.changes.at(-1)).toBe('failed');
  });
});

describe('takeTurn: ending the wait or holding it', () => {
  it('ends its own wait at once with what it found (here: a generation the upstream finished)', async () => {
    const woken: unknown[] = [];
    const base = deps(task('dreaming', { marker: true }), { get: async () => ({ id: 'gen-1', state: 'completed', videoUrl: 'https://cdn.example/v.mp4' }) });
    let current = task('dreaming', { marker: true });
    const result = await takeTurn(woke(60), {
      ...base,
      tasks: {
        ...base.tasks,
        get: async () => current,
        transition: async (_id: string, change: { to: string }) => ((current = { ...current, status: change.to as Task['status'] }), { task: current, changed: true }),
        noteUpstreamRead: async () => current,
      } as unknown as TaskStore,
      durations: { recent: async () => [], record: async () => {} },
      workflow: { wake: async (token, turn) => (woken.push([token, turn]), true) },
    });
    expect(result).toMatchObject({ next: 'copy', hold: false });
    expect(woken).toEqual([['token', { taskId: ID, next: 'copy', waitSeconds: 1 }]]);
  });

  it('holds with its token, written only if the task is as the turn last read it; a task that moved on meanwhile is looked at again', async () => {
    const held: unknown[] = [];
    const woken: unknown[] = [];
    let current = task('dreaming', { marker: true });
    let reads = 0;
    const base = deps(current);
    const result = await takeTurn(
      { taskId: ID, taskToken: 'token', waitSeconds: 60 },
      {
        ...base,
        tasks: {
          get: async () => {
            // A callback records the end of the generation just after the turn's decision.
            if (++reads === 2) current = { ...current, status: 'copying', version: current.version + 1 };
            return current;
          },
          holdWait: async (_id: string, wait: unknown, ifVersion: number) => (held.push([wait, ifVersion]), undefined),
        } as unknown as TaskStore,
        workflow: { wake: async (token, turn) => (woken.push([token, turn]), true) },
      },
    );
    expect(held).toEqual([]); // never held a wait on a task that has moved on
    expect(result).toMatchObject({ next: 'copy', hold: false });
    expect(woken).toEqual([['token', { taskId: ID, next: 'copy', waitSeconds: 1 }]]);
  });

  it('looks again, and acts, when a callback resubmitted the task between its decision and its hold', async () => {
    const held: unknown[] = [];
    const woken: unknown[] = [];
    let current = task('dreaming', { marker: true });
    let gets = 0;
    // The create window is used up: the resubmit the second look makes waits for it, which is seen as a wake.
    const base = deps(current, { window: { allowed: false, secondsLeft: 17.25 } });
    const result = await takeTurn(
      { taskId: ID, taskToken: 'token', waitSeconds: 60 },
      {
        ...base,
        tasks: {
          ...base.tasks,
          get: async () => {
            // The callback's read found the upstream failed on its side: the task is accepted again, to resubmit.
            if (++gets === 2) current = { ...current, status: 'accepted', version: current.version + 1 };
            return current;
          },
          holdWait: async (_id: string, wait: unknown) => (held.push(wait), current),
        } as unknown as TaskStore,
        workflow: { wake: async (token, turn) => (woken.push([token, turn]), true) },
      },
    );
    expect(held).toEqual([]);
    expect(result).toMatchObject({ next: 'wait', waitSeconds: 18, hold: false });
    expect(woken).toEqual([['token', { taskId: ID, next: 'wait', waitSeconds: 18 }]]);
  });

  it('stores its token and when its wait ends, conditional on the version it read', async () => {
    const held: [unknown, number][] = [];
    const current = task('dreaming', { marker: true });
    const base = deps(current);
    const result = await takeTurn(
      { taskId: ID, taskToken: 'token', waitSeconds: 60 },
      {
        ...base,
        tasks: { get: async () => current, holdWait: async (_id: string, wait: unknown, v: number) => (held.push([wait, v]), current) } as unknown as TaskStore,
      },
    );
    expect(result).toMatchObject({ next: 'wait', waitSeconds: 60, hold: true });
    expect(held).toEqual([[{ token: 'token', until: new Date(NOW.getTime() + 60_000).toISOString() }, current.version]]);
  });

  it.each([
    ['a turn slower than its wait (the state has timed out: its next turn runs)', 3_400],
    ['a turn that ends with less than half a second of its wait left', 2_600],
  ])('%s holds nothing and wakes nothing: its token never replaces the live one', async (_case, turnMs) => {
    const held: unknown[] = [];
    const current = task('dreaming', { marker: true });
    const base = deps(current);
    // The clock moves on by the turn's length between the turn's start and its decision to hold.
    let now = NOW.getTime();
    const result = await takeTurn(
      { taskId: ID, taskToken: 'token', waitSeconds: 3 },
      {
        ...base,
        clock: () => new Date(now),
        tasks: {
          get: async () => ((now = NOW.getTime() + turnMs), current),
          holdWait: async (_id: string, wait: unknown) => (held.push(wait), current),
        } as unknown as TaskStore,
      },
    );
    expect(result).toMatchObject({ next: 'wait', waitSeconds: 3, hold: false });
    expect(held).toEqual([]);
  });

  it('stores when its wait ends counted from the turn’s start, its own run included', async () => {
    const held: unknown[] = [];
    const current = task('dreaming', { marker: true });
    const base = deps(current);
    let now = NOW.getTime();
    await takeTurn(
      { taskId: ID, taskToken: 'token', waitSeconds: 60 },
      {
        ...base,
        clock: () => new Date(now),
        tasks: {
          get: async () => ((now = NOW.getTime() + 8_000), current),
          holdWait: async (_id: string, wait: unknown) => (held.push(wait), current),
        } as unknown as TaskStore,
      },
    );
    expect(held).toEqual([{ token: 'token', until: new Date(NOW.getTime() + 60_000).toISOString() }]);
  });
});
