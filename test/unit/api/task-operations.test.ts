/**
 * List, cancel and delete against stand-ins for their ports, with the real lifecycle in front of an
 * in-memory store: what each operation decides, in what order it touches what, and what it shrugs off.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { cancelGeneration, deleteGeneration, listGenerations, type TaskOperationsDeps } from '../../../functions/api/task-operations.ts';
import { TaskLifecycle } from '../../../functions/commons/services/lifecycle.ts';
import { admitted, applyChange, isAlreadyApplied, newTask, type Task, type TaskChange } from '../../../functions/commons/domain/task.ts';
import { decodeCursor } from '../../../functions/commons/domain/generation-list.ts';
import { publicGenerationSchema } from '../../../functions/commons/domain/public-generation-schema.ts';
import { AlreadyFinishedError, NotFinishedError, NotFoundError, TransientUpstreamError, UpstreamRejectedError } from '../../../functions/commons/errors.ts';
import type { TaskStore, TransitionResult } from '../../../functions/commons/ports/task-store.ts';

// The operations log a line per cancel, delete and shrugged-off failure: keep the test output readable.
beforeAll(() => void vi.spyOn(console, 'log').mockImplementation(() => undefined));
afterAll(() => void vi.restoreAllMocks());

const OWNER = 'own_alice';
const NOW = new Date('2026-11-30T12:00:00.000Z');
const AT = '2026-11-30T12:00:05.000Z';
let ids = 0;
const nextId = () => `0b6f1c1e-2f4a-4c39-9a53-${String(++ids).padStart(12, '0')}`;

function queuedTask(owner = OWNER, ticket = 1): Task {
  return newTask({ id: nextId(), owner, request: { prompt: 'a paper boat' }, provider: 'luma', model: 'ray-2', now: NOW, timeoutSeconds: 3600, queueTicket: ticket });
}

/** A task in a status along the normal path, admitted (so it holds, or held, a slot and has a workflow). */
function taskIn(status: 'accepted' | 'submitted' | 'dreaming' | 'copying' | 'completed' | 'failed'): Task {
  let task = admitted(queuedTask(), NOW, 1800);
  const path: TaskChange[] = [
    { to: 'submitted', upstreamId: 'up-1' },
    { to: 'dreaming' },
    { to: 'copying', assets: { videoUrl: 'https://cdn.example/v.mp4' } },
    { to: 'completed', output: { videoKey: `generations/${task.id}/video.mp4`, sizeBytes: 1, sha256: 'ab'.repeat(32), width: 1, height: 1, durationSeconds: 5 } },
  ];
  if (status === 'failed') return applyChange(applyChange(task, path[0]!, AT), { to: 'failed', failure: { code: 'upstream_failed', reason: 'boom' } }, AT);
  for (const change of path) {
    if (task.status === status) break;
    task = applyChange(task, change, AT);
  }
  return task;
}

function world(tasks: Task[], options: { raceTo?: TaskChange; failing?: { stop?: Error; delete?: Error; removeObjects?: Error } } = {}) {
  const items = new Map(tasks.map((task) => [task.id, task]));
  const calls: string[] = [];
  const store = {
    get: async (id: string) => structuredClone(items.get(id)),
    transition: async (id: string, change: TaskChange): Promise<TransitionResult> => {
      // A change that lands just before this one: the completion or failure racing with the cancel.
      if (options.raceTo) {
        items.set(id, applyChange(items.get(id)!, options.raceTo, AT));
        options.raceTo = undefined;
      }
      const task = items.get(id)!;
      if (isAlreadyApplied(task, change)) return { task, changed: false };
      const next = applyChange(task, change, AT);
      items.set(id, next);
      calls.push(`transition ${change.to}`);
      return { task: next, changed: true };
    },
    listOwned: async (owner: string) => ({ tasks: [...items.values()].filter((task) => task.owner === owner), next: tasks[0] && `${tasks[0].createdAt}#${tasks[0].id}` }),
    remove: async (id: string) => {
      calls.push(`remove ${id}`);
      return items.delete(id);
    },
  } as unknown as TaskStore;
  const lifecycle = new TaskLifecycle(store, {
    capacity: { release: async (id) => (calls.push(`release ${id}`), true) },
    queue: { dequeue: async (owner) => void calls.push(`dequeue ${owner}`) },
    dispatch: async () => void calls.push('dispatch'),
  });
  const fail = (error: Error | undefined, what: string) => async () => {
    calls.push(what);
    if (error) throw error;
  };
  const deps: TaskOperationsDeps = {
    tasks: lifecycle,
    media: {
      outputLinks: async (task) => (task.output ? { videoUrl: 'https://bucket/v', videoDownloadUrl: 'https://bucket/v?dl' } : undefined),
      removeObjects: async (keys) => {
        calls.push(`removeObjects ${keys.join(' ')}`);
        if (options.failing?.removeObjects) throw options.failing.removeObjects;
      },
    },
    provider: { delete: async (id) => fail(options.failing?.delete, `delete upstream ${id}`)() },
    queue: { get: async () => (calls.push('queue.get'), { owner: OWNER, weight: 1, tickets: 9, waiting: 4, served: 5 }) },
    workflow: { stop: async (id) => fail(options.failing?.stop, `stop ${id}`)() },
    presignExpirySeconds: 3600,
  };
  return { deps, calls, items };
}

describe('cancel', () => {
  it('a queued task: failed with cancelled through the lifecycle, out of its queue; no slot, no workflow, nothing upstream', async () => {
    const task = queuedTask();
    const { deps, calls, items } = world([task]);
    const answer = publicGenerationSchema.parse(await cancelGeneration(OWNER, task.id, 'req-1', deps));
    expect(answer).toMatchObject({ id: task.id, state: 'failed', failure_code: 'cancelled', failure_reason: 'Cancelled by its owner.', queue_state: null });
    expect(calls).toEqual(['transition failed', `dequeue ${OWNER}`]);
    expect(items.get(task.id)!.failure).toEqual({ code: 'cancelled', reason: 'Cancelled by its owner.' });
  });

  it.each(['accepted', 'submitted', 'dreaming'] as const)('an admitted task (%s): its slot back and handed on, its workflow stopped, deleted upstream if submitted', async (status) => {
    const task = taskIn(status);
    const { deps, calls } = world([task]);
    expect((await cancelGeneration(OWNER, task.id, 'req-1', deps)).failure_code).toBe('cancelled');
    const upstream = status === 'accepted' ? [] : ['delete upstream up-1'];
    expect(calls).toEqual(['transition failed', `release ${task.id}`, 'dispatch', `stop ${task.id}`, ...upstream]);
  });

  it('a copying task (its slot already given back): the copy’s workflow stopped, the finished generation deleted upstream', async () => {
    const task = taskIn('copying');
    const { deps, calls } = world([task]);
    expect((await cancelGeneration(OWNER, task.id, 'req-1', deps)).state).toBe('failed');
    expect(calls).toEqual(['transition failed', `release ${task.id}`, 'dispatch', `stop ${task.id}`, 'delete upstream up-1']);
  });

  it('answers with the task cancelled even when the workflow cannot be stopped or the upstream refuses the delete', async () => {
    const task = taskIn('dreaming');
    const { deps, items } = world([task], {
      failing: { stop: new Error('ThrottlingException'), delete: new UpstreamRejectedError('still in progress', { status: 400, failureCode: 'upstream_rejected' }) },
    });
    expect((await cancelGeneration(OWNER, task.id, 'req-1', deps)).failure_code).toBe('cancelled');
    expect(items.get(task.id)!.status).toBe('failed');
    const again = world([taskIn('submitted')], { failing: { delete: new TransientUpstreamError('503') } });
    expect((await cancelGeneration(OWNER, [...again.items.keys()][0]!, 'req-1', again.deps)).failure_code).toBe('cancelled');
  });

  it('a finished task is a 409 already_finished, and nothing is touched', async () => {
    for (const status of ['completed', 'failed'] as const) {
      const task = taskIn(status);
      const { deps, calls } = world([task]);
      const error = await cancelGeneration(OWNER, task.id, 'req-1', deps).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(AlreadyFinishedError);
      expect(error).toMatchObject({ status: 409, code: 'already_finished', details: { state: status } });
      expect(calls).toEqual([]);
    }
  });

  it('loses a race with the completion: exactly one end, the completion’s, and a 409', async () => {
    const task = taskIn('copying');
    const output = { videoKey: `generations/${task.id}/video.mp4`, sizeBytes: 1, sha256: 'ab'.repeat(32), width: 1, height: 1, durationSeconds: 5 };
    const { deps, calls, items } = world([task], { raceTo: { to: 'completed', output } });
    await expect(cancelGeneration(OWNER, task.id, 'req-1', deps)).rejects.toBeInstanceOf(AlreadyFinishedError);
    expect(items.get(task.id)).toMatchObject({ status: 'completed', output });
    expect(calls.filter((call) => call.startsWith('stop') || call.startsWith('delete'))).toEqual([]);
  });

  it('another owner’s task is a 404, like a missing one', async () => {
    const task = taskIn('dreaming');
    const { deps, calls } = world([task]);
    await expect(cancelGeneration('own_bob', task.id, 'req-1', deps)).rejects.toBeInstanceOf(NotFoundError);
    await expect(cancelGeneration(OWNER, nextId(), 'req-1', deps)).rejects.toBeInstanceOf(NotFoundError);
    expect(calls).toEqual([]);
  });
});

describe('delete', () => {
  it('removes the objects, then the upstream generation, then the task', async () => {
    const task = taskIn('completed');
    const { deps, calls, items } = world([task]);
    await deleteGeneration(OWNER, task.id, deps);
    expect(calls).toEqual([`removeObjects generations/${task.id}/video.mp4 generations/${task.id}/thumbnail.jpg`, 'delete upstream up-1', `remove ${task.id}`]);
    expect(items.has(task.id)).toBe(false);
  });

  it('keeps the task when the objects could not be removed, so that a repeat finishes the work', async () => {
    const task = taskIn('failed');
    const { deps, calls, items } = world([task], { failing: { removeObjects: new Error('SlowDown') } });
    await expect(deleteGeneration(OWNER, task.id, deps)).rejects.toThrow('SlowDown');
    expect(items.has(task.id)).toBe(true);
    expect(calls.some((call) => call.startsWith('remove '))).toBe(false);
  });

  it('does not depend on the upstream: a refusal there is logged, the task deleted', async () => {
    const task = taskIn('failed');
    const { deps, items } = world([task], { failing: { delete: new TransientUpstreamError('timeout') } });
    await deleteGeneration(OWNER, task.id, deps);
    expect(items.has(task.id)).toBe(false);
  });

  it.each(['accepted', 'submitted', 'dreaming', 'copying'] as const)('a task still %s is a 409 not_finished, and nothing is touched', async (status) => {
    const task = taskIn(status);
    const { deps, calls } = world([task]);
    await expect(deleteGeneration(OWNER, task.id, deps)).rejects.toMatchObject({ status: 409, code: 'not_finished' });
    await expect(deleteGeneration(OWNER, queuedTask().id, deps)).rejects.toBeInstanceOf(NotFoundError);
    expect(calls).toEqual([]);
    expect(new NotFinishedError('x').code).toBe('not_finished');
  });

  it('another owner’s task is a 404, and is kept', async () => {
    const task = taskIn('completed');
    const { deps, items } = world([task]);
    await expect(deleteGeneration('own_bob', task.id, deps)).rejects.toBeInstanceOf(NotFoundError);
    expect(items.has(task.id)).toBe(true);
  });
});

describe('list', () => {
  it('answers each task as GET does (a queued one with its place, read once for the page), and the next cursor', async () => {
    const first = queuedTask(OWNER, 7);
    const second = queuedTask(OWNER, 8);
    const done = taskIn('completed');
    const { deps, calls } = world([first, second, done, queuedTask('own_bob')]);
    const page = await listGenerations(OWNER, { limit: 20 }, 'req-1', deps);
    expect(page.data.map((generation) => publicGenerationSchema.parse(generation).id)).toEqual([first.id, second.id, done.id]);
    expect(page.data.map((generation) => generation.queue_position)).toEqual([2, 3, null]); // 5 served: tickets 7 and 8 are next but one
    expect(page.data[2]!.video?.url).toBe('https://bucket/v');
    expect(calls).toEqual(['queue.get']);
    expect(decodeCursor(page.next_cursor!)).toBe(`${first.createdAt}#${first.id}`);
  });

  it('reads no queue for a page without queued tasks, and ends with a null cursor', async () => {
    const { deps, calls } = world([]);
    expect(await listGenerations(OWNER, { limit: 20 }, 'req-1', deps)).toEqual({ data: [], next_cursor: null });
    expect(calls).toEqual([]);
  });
});
