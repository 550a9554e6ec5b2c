/**
 * The upstream's callback: a hint that reads the truth and ends (or moves) the workflow's wait. The task
 * store, the upstream and the workflow are in-memory stand-ins; the clock is the test's.
 */
import { describe, expect, it } from 'vitest';
import { acceptUpstreamCallback, type CallbackDeps } from '../../../functions/api/upstream-callbacks.ts';
import { DEFAULT_POLL_SCHEDULE } from '../../../functions/commons/domain/poll-schedule.ts';
import { applyChange, isAlreadyApplied, newTask, withUpstreamRead, withWorkflowWait, type Task, type TaskChange } from '../../../functions/commons/domain/task.ts';
import type { TaskStore } from '../../../functions/commons/ports/task-store.ts';
import type { UpstreamGeneration } from '../../../functions/commons/ports/video-provider.ts';
import type { WorkflowTurn } from '../../../functions/commons/ports/workflow.ts';

const NOW = new Date('2026-11-29T10:00:00Z');
const ago = (seconds: number) => new Date(NOW.getTime() - seconds * 1000).toISOString();
const ID = '0b4f1c2e-1111-4000-8000-000000000002';
const TOKEN = 'a'.repeat(43);

function task(status: Task['status'], fields: Partial<Task> = {}): Task {
  const base = newTask({
    id: ID,
    owner: 'o',
    request: { prompt: 'p' },
    provider: 'luma',
    model: 'ray-2',
    now: new Date(NOW.getTime() - 600_000),
    timeoutSeconds: 3600,
    upstreamMarker: `https://gw.example/luma/upstream-callbacks/${ID}/${TOKEN}`,
  });
  const submitted = status === 'accepted' ? base : { ...base, status, upstreamId: 'gen-1', history: [...base.history, { status: 'submitted' as const, at: ago(20) }] };
  return { ...submitted, admittedAt: ago(30), ...fields };
}

/** A task store holding one task, applying changes as the real one does. */
function world(initial: Task, upstream: UpstreamGeneration['state']) {
  let current = initial;
  const woken: [string, WorkflowTurn][] = [];
  const upstreamReads: string[] = [];
  const recorded: number[] = [];
  const tasks = {
    get: async () => structuredClone(current),
    transition: async (_id: string, change: TaskChange) => {
      if (isAlreadyApplied(current, change)) return { task: current, changed: false };
      current = applyChange(current, change, NOW.toISOString());
      return { task: current, changed: true };
    },
    noteUpstreamRead: async (_id: string, at: Date, poll: boolean) => (current = withUpstreamRead(current, at.toISOString(), poll)),
    // As the real store: conditional on the version read, with a turn of the event loop in between.
    claimUpstreamRead: async (_id: string, at: Date, isDue: (t: Task) => boolean) => {
      const seen = current;
      await new Promise((resolve) => setImmediate(resolve));
      if (!isDue(seen) || current.version !== seen.version) return undefined;
      return (current = withUpstreamRead(current, at.toISOString(), false));
    },
  } as unknown as TaskStore;
  const deps: CallbackDeps = {
    tasks,
    provider: {
      get: async (id) => {
        upstreamReads.push(id);
        return upstream === 'completed' ? { id, state: 'completed', videoUrl: 'https://cdn.example/v.mp4' } : { id, state: upstream };
      },
    },
    workflow: { wake: async (token, turn) => (woken.push([token, turn]), true) },
    durations: { recent: async () => [], record: async (_kind, seconds) => void recorded.push(seconds) },
    polling: { schedule: DEFAULT_POLL_SCHEDULE, callbacks: true, priorSeconds: 120, timeScale: 1 },
    upstreamResubmits: 1,
    clock: () => NOW,
  };
  return { deps, woken, upstreamReads, recorded, current: () => current };
}

const holding = (t: Task, untilSecondsFromNow: number) =>
  withWorkflowWait(t, { token: 'wait-token', until: new Date(NOW.getTime() + untilSecondsFromNow * 1000).toISOString() });

describe('a callback from the upstream', () => {
  it('is refused like an unknown path without the task’s exact token, and reads nothing', async () => {
    const w = world(task('dreaming'), 'completed');
    await expect(acceptUpstreamCallback(ID, 'b'.repeat(43), w.deps)).rejects.toMatchObject({ name: 'NotFoundError' });
    expect(w.upstreamReads).toEqual([]);
  });

  it('reads the truth; a completed generation goes to copying and ends the held wait at once', async () => {
    const w = world(holding(task('dreaming'), 40), 'completed');
    await acceptUpstreamCallback(ID, TOKEN, w.deps);
    expect(w.upstreamReads).toEqual(['gen-1']);
    expect(w.current().status).toBe('copying');
    expect(w.woken).toEqual([['wait-token', { taskId: ID, next: 'copy', waitSeconds: 1 }]]);
    expect(w.recorded).toEqual([20]); // the completion's duration, for adaptive polling to learn from
    expect(w.current().upstreamReads ?? 0).toBe(0); // a read on a callback is no poll
  });

  it.each([30, 58])(
    'records what it read and leaves a held wait (here ending in %i s) as it is while the generation runs on: a flood of callbacks adds no turn',
    async (untilSeconds) => {
      const w = world(holding(task('submitted'), untilSeconds), 'dreaming');
      await acceptUpstreamCallback(ID, TOKEN, w.deps);
      expect(w.current().status).toBe('dreaming');
      expect(w.current().upstreamReadAt).toBe(NOW.toISOString()); // the turn that ends the wait finds this read
      expect(w.woken).toEqual([]);
    },
  );

  it('reads, and wakes nothing, when no wait is held: the turn that holds one will see the change', async () => {
    const w = world(task('dreaming'), 'completed');
    await acceptUpstreamCallback(ID, TOKEN, w.deps);
    expect(w.current().status).toBe('copying');
    expect(w.woken).toEqual([]);
  });

  it('reads at most once a second per task', async () => {
    const w = world(holding(task('dreaming', { upstreamReadAt: ago(0.5) }), 40), 'completed');
    await acceptUpstreamCallback(ID, TOKEN, w.deps);
    expect(w.upstreamReads).toEqual([]);
  });

  it('reads once for a burst of callbacks that come at once (whoever sees the URL can send many)', async () => {
    const w = world(holding(task('dreaming'), 40), 'dreaming');
    await Promise.all(Array.from({ length: 20 }, () => acceptUpstreamCallback(ID, TOKEN, w.deps)));
    expect(w.upstreamReads).toEqual(['gen-1']);
    expect(w.current().upstreamReadAt).toBe(NOW.toISOString());
  });

  it('asks the upstream to call again while the task’s submit is still being written', async () => {
    const w = world(task('accepted', { submitLeaseUntil: new Date(NOW.getTime() + 30_000).toISOString() }), 'dreaming');
    await expect(acceptUpstreamCallback(ID, TOKEN, w.deps)).rejects.toMatchObject({ name: 'CallbackTooEarlyError' });
    expect(w.upstreamReads).toEqual([]);
  });

  it('asks the upstream to call again while the task’s last change is being published, so that changes are published once and in order', async () => {
    const justSubmitted = (publishedThrough: number, secondsAgo: number) => {
      const t = task('submitted', { publishedThrough });
      return { ...t, history: t.history.map((entry, i) => (i === t.history.length - 1 ? { ...entry, at: ago(secondsAgo) } : entry)) };
    };
    const publishing = world(justSubmitted(1, 1), 'dreaming');
    await expect(acceptUpstreamCallback(ID, TOKEN, publishing.deps)).rejects.toMatchObject({ name: 'CallbackTooEarlyError' });
    expect(publishing.upstreamReads).toEqual([]);
    // Published already; or left unpublished by a publication that failed (the reconciler's): read at once.
    for (const [through, secondsAgo] of [[2, 1], [1, 10]] as const) {
      const w = world(justSubmitted(through, secondsAgo), 'dreaming');
      await acceptUpstreamCallback(ID, TOKEN, w.deps);
      expect(w.upstreamReads, `${through} ${secondsAgo}`).toEqual(['gen-1']);
      expect(w.current().status).toBe('dreaming');
    }
  });

  it('reads nothing for a task already copying or done', async () => {
    for (const status of ['copying', 'completed', 'failed'] as const) {
      const w = world(task(status), 'completed');
      await acceptUpstreamCallback(ID, TOKEN, w.deps);
      expect(w.upstreamReads, status).toEqual([]);
    }
  });
});
