import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { TASK_STATUSES, TransitionRefusedError, admitted, applyChange, awaitsAdmission, isAlreadyApplied, isQueued, isTerminal, phaseOf, published, queueOrder, keyframeKinds, storedObjectKeys, newTask, type Task, type TaskChange, type TaskOutput, type TaskStatus } from '../../../functions/commons/domain/task.ts';

const NOW = new Date('2025-05-23T07:05:23.342Z');
const AT = '2025-05-23T07:06:00.000Z';
const OUTPUT: TaskOutput = { videoKey: 'videos/t1.mp4', sizeBytes: 1234, sha256: 'ab'.repeat(32), width: 1280, height: 720, durationSeconds: 5 };
const ASSETS = { videoUrl: 'https://cdn.example/v.mp4', imageUrl: 'https://cdn.example/v.jpg' };

const RANK: Record<TaskStatus, number> = { accepted: 0, submitted: 1, dreaming: 2, copying: 3, completed: 4, failed: 4 };

function fresh(): Task {
  return newTask({
    id: 't1',
    owner: 'owner-1',
    request: { prompt: 'a paper boat', aspectRatio: '16:9' },
    provider: 'luma',
    model: 'ray-2',
    now: NOW,
    timeoutSeconds: 3600,
  });
}

/** The canonical change that moves a task into each status. */
const CHANGES: Record<Exclude<TaskStatus, 'accepted'>, TaskChange> = {
  submitted: { to: 'submitted', upstreamId: 'up-1' },
  dreaming: { to: 'dreaming' },
  copying: { to: 'copying', assets: ASSETS },
  completed: { to: 'completed', output: OUTPUT },
  failed: { to: 'failed', failure: { code: 'upstream_failed', reason: 'boom' } },
};

/** A task in `status`, reached along the normal path. */
function taskIn(status: TaskStatus): Task {
  const path: TaskStatus[] = status === 'failed' ? ['failed'] : TASK_STATUSES.slice(1, TASK_STATUSES.indexOf(status) + 1);
  return path.reduce<Task>((task, to) => applyChange(task, CHANGES[to as Exclude<TaskStatus, 'accepted'>], AT), fresh());
}

/** What the store does with a change: a repeat is a no-op, a forbidden one throws and changes nothing. */
function attempt(task: Task, change: TaskChange): Task {
  if (isAlreadyApplied(task, change)) return task;
  try {
    return applyChange(task, change, AT);
  } catch (error) {
    expect(error).toBeInstanceOf(TransitionRefusedError);
    return task;
  }
}

function expectForbidden(task: Task, change: TaskChange): void {
  expect(() => applyChange(task, change, AT)).toThrow(TransitionRefusedError);
}

describe('newTask', () => {
  it('starts accepted, version 1, with one history entry and a deadline', () => {
    const task = fresh();
    expect(task).toEqual({
      id: 't1',
      owner: 'owner-1',
      status: 'accepted',
      request: { prompt: 'a paper boat', aspectRatio: '16:9' },
      provider: 'luma',
      model: 'ray-2',
      createdAt: '2025-05-23T07:05:23.342Z',
      updatedAt: '2025-05-23T07:05:23.342Z',
      deadline: '2025-05-23T08:05:23.342Z',
      history: [{ status: 'accepted', at: '2025-05-23T07:05:23.342Z' }],
      // Its recording is owed to the world (Generation Submitted) until it is published.
      publishedThrough: 0,
      version: 1,
    });
    expect(task.upstreamId).toBeUndefined();
  });
});

describe('applyChange: allowed transitions', () => {
  it('accepted → submitted records the upstream id', () => {
    const task = applyChange(fresh(), { to: 'submitted', upstreamId: 'up-1' }, AT);
    expect(task).toMatchObject({ status: 'submitted', upstreamId: 'up-1', updatedAt: AT, version: 2 });
    expect(task.history).toEqual([
      { status: 'accepted', at: NOW.toISOString() },
      { status: 'submitted', at: AT },
    ]);
  });

  it.each<[TaskStatus, TaskChange]>([
    ['accepted', { to: 'dreaming', upstreamId: 'up-9' }],
    ['accepted', { to: 'copying', assets: ASSETS, upstreamId: 'up-9' }],
    ['submitted', { to: 'dreaming' }],
    ['submitted', { to: 'copying', assets: ASSETS }],
    ['dreaming', { to: 'copying', assets: ASSETS }],
    ['copying', { to: 'completed', output: OUTPUT }],
    ['accepted', { to: 'failed', failure: { code: 'upstream_rejected', reason: 'no' } }],
    ['submitted', { to: 'failed', failure: { code: 'upstream_failed', reason: 'no' } }],
    ['dreaming', { to: 'failed', failure: { code: 'moderation', reason: 'no' } }],
    ['copying', { to: 'failed', failure: { code: 'download_failed', reason: 'no' } }],
  ])('%s → %o', (from, change) => {
    const before = taskIn(from);
    const after = applyChange(before, change, AT);
    expect(after.status).toBe(change.to);
    expect(after.version).toBe(before.version + 1);
    expect(after.history).toEqual([...before.history, { status: change.to, at: AT }]);
    expect(after.updatedAt).toBe(AT);
    expect(after.createdAt).toBe(before.createdAt);
    expect(isAlreadyApplied(after, change)).toBe(true);
    // The input is not mutated.
    expect(before.status).toBe(from);
    expect(before.history).toHaveLength(before.version);
  });

  it('copying stores the upstream assets, completed the output, failed the failure', () => {
    const copying = taskIn('copying');
    expect(copying.upstreamAssets).toEqual(ASSETS);
    const completed = applyChange(copying, { to: 'completed', output: OUTPUT }, AT);
    expect(completed.output).toEqual(OUTPUT);
    expect(completed.upstreamAssets).toEqual(ASSETS);
    const failure = { code: 'download_failed', reason: 'truncated' } as const;
    expect(applyChange(copying, { to: 'failed', failure }, AT).failure).toEqual(failure);
  });

  it('keeps the upstream id when a later change carries none, takes it when one does', () => {
    expect(taskIn('dreaming').upstreamId).toBe('up-1');
    expect(applyChange(fresh(), { to: 'dreaming', upstreamId: 'up-2' }, AT).upstreamId).toBe('up-2');
    expect(applyChange(taskIn('submitted'), { to: 'dreaming', upstreamId: '' }, AT).upstreamId).toBe('up-1');
  });

  it('a failure needs no upstream id', () => {
    const failed = applyChange(fresh(), CHANGES.failed, AT);
    expect(failed.status).toBe('failed');
    expect(failed.upstreamId).toBeUndefined();
  });

  it('the full happy path grows history and version by one per change', () => {
    let task = fresh();
    for (const [index, to] of (['submitted', 'dreaming', 'copying', 'completed'] as const).entries()) {
      task = applyChange(task, CHANGES[to], `2025-05-23T07:0${index + 6}:00.000Z`);
      expect(task.version).toBe(index + 2);
      expect(task.history).toHaveLength(index + 2);
      expect(task.history.at(-1)).toEqual({ status: to, at: task.updatedAt });
    }
    expect(task.history.map((entry) => entry.status)).toEqual(['accepted', 'submitted', 'dreaming', 'copying', 'completed']);
  });
});

describe('applyChange: forbidden transitions', () => {
  const ALL_CHANGES = Object.values(CHANGES);

  it.each(['completed', 'failed'] as const)('a %s task never moves', (status) => {
    const task = taskIn(status);
    for (const change of ALL_CHANGES) {
      expect(isAlreadyApplied(task, change)).toBe(true);
      expectForbidden(task, change);
    }
    // Not even with an upstream id, or towards the other terminal status.
    expectForbidden(task, { to: 'dreaming', upstreamId: 'up-2' });
    expectForbidden(task, { to: 'failed', failure: { code: 'cancelled', reason: 'late' } });
  });

  it.each(['accepted', 'submitted', 'dreaming'] as const)('completed is not reachable from %s', (status) => {
    expectForbidden(taskIn(status), CHANGES.completed);
    // Even when the task already has an upstream id and assets would be known.
    expectForbidden({ ...taskIn(status), upstreamId: 'up-1' }, CHANGES.completed);
  });

  it('no status moves backwards or repeats', () => {
    for (const from of TASK_STATUSES) {
      const task = taskIn(from);
      for (const to of ['submitted', 'dreaming', 'copying'] as const) {
        if (RANK[to] <= RANK[from]) {
          expect(isAlreadyApplied(task, CHANGES[to]), `${from} → ${to}`).toBe(true);
          expectForbidden(task, { ...CHANGES[to], upstreamId: 'up-x' } as TaskChange);
        }
      }
    }
  });

  it('non-failed changes need an upstream id', () => {
    const task = fresh();
    expectForbidden(task, { to: 'submitted', upstreamId: '' });
    expectForbidden(task, { to: 'dreaming' });
    expectForbidden(task, { to: 'dreaming', upstreamId: '' });
    expectForbidden(task, { to: 'copying', assets: ASSETS });
    expectForbidden(task, { to: 'completed', output: OUTPUT });
  });

  it('isAlreadyApplied is false for every forward change from a non-terminal status', () => {
    for (const from of TASK_STATUSES.filter((status) => !isTerminal(status))) {
      for (const change of ALL_CHANGES) {
        expect(isAlreadyApplied(taskIn(from), change), `${from} → ${change.to}`).toBe(RANK[change.to] <= RANK[from]);
      }
    }
  });
});

/**
 * Applies random sequences of `change` to a fresh task, step by step; after each, `check` sees the task
 * before, the change and the task after, and every step keeps two rules: an end never changes, and the
 * history holds one entry per version.
 */
function everySequence(change: fc.Arbitrary<TaskChange>, check: (before: Task, next: TaskChange, task: Task) => void): void {
  fc.assert(
    fc.property(fc.array(change, { maxLength: 25 }), (changes) => {
      let task = fresh();
      for (const next of changes) {
        const before = task;
        task = attempt(task, next);
        if (isTerminal(before.status)) expect(task).toBe(before);
        check(before, next, task);
        expect(task.history).toHaveLength(task.version);
      }
    }),
    { numRuns: 500 },
  );
}

describe('task lifecycle: property', () => {
  const upstreamId = fc.option(fc.constantFrom('', 'up-1', 'up-2'), { nil: undefined });
  const change: fc.Arbitrary<TaskChange> = fc.oneof(
    fc.constantFrom('', 'up-1', 'up-2').map((id): TaskChange => ({ to: 'submitted', upstreamId: id })),
    upstreamId.map((id): TaskChange => (id === undefined ? { to: 'dreaming' } : { to: 'dreaming', upstreamId: id })),
    upstreamId.map((id): TaskChange => ({ to: 'copying', assets: ASSETS, ...(id !== undefined && { upstreamId: id }) })),
    fc.constant<TaskChange>({ to: 'completed', output: OUTPUT }),
    fc.constantFrom('upstream_failed', 'moderation', 'deadline_exceeded').map(
      (code): TaskChange => ({ to: 'failed', failure: { code, reason: code } }),
    ),
  );

  it('status rank never decreases, a terminal status never changes, each applied change adds one version', () => {
    everySequence(change, (before, next, task) => {
      expect(RANK[task.status]).toBeGreaterThanOrEqual(RANK[before.status]);
      if (task !== before) {
        expect(task.version).toBe(before.version + 1);
        expect(task.status).toBe(next.to);
        if (task.status !== 'failed') expect(task.upstreamId).toBeTruthy();
        if (task.status === 'completed') expect(before.status).toBe('copying');
      }
      expect(task.history.at(-1)?.status).toBe(task.status);
    });
  });
});

describe('keyframeKinds', () => {
  const stored = { kind: 'stored', key: 'inputs/t1/frame0.png', contentType: 'image/png', bytes: 10, width: 4, height: 4 } as const;
  const url = { kind: 'url', url: 'https://example.com/a.png' } as const;

  it('lists how each keyframe reaches the upstream, start frame first', () => {
    expect(keyframeKinds({ prompt: 'p' })).toEqual([]);
    expect(keyframeKinds({ prompt: 'p', frame0: url })).toEqual(['url']);
    expect(keyframeKinds({ prompt: 'p', frame1: stored })).toEqual(['stored']);
    expect(keyframeKinds({ prompt: 'p', frame0: stored, frame1: url })).toEqual(['stored', 'url']);
  });
});

describe('the one step back: a resubmit after the upstream failed on its side', () => {
  const resubmit = (of: string): TaskChange => ({ to: 'accepted', resubmitOf: of, reason: 'Job failed' });

  it('puts a submitted or dreaming task back in line without a generation, remembering the one given up on', () => {
    for (const status of ['submitted', 'dreaming'] as const) {
      const before = { ...taskIn(status), submitAttemptedAt: AT, submitAttemptOutcome: 'clear' as const, ambiguousSince: AT };
      const after = applyChange(before, resubmit('up-1'), AT);
      expect(after).toMatchObject({ status: 'accepted', resubmits: 1, discardedUpstreamIds: ['up-1'], version: before.version + 1 });
      expect(after.upstreamId).toBeUndefined();
      expect(after.ambiguousSince).toBeUndefined();
      expect(after.submitAttemptedAt).toBeUndefined();
      expect(after.history.at(-1)).toEqual({ status: 'accepted', at: AT, note: 'Job failed' });
    }
  });

  it('is a no-op when repeated, when it names another generation, and after copying or an end', () => {
    const back = applyChange(taskIn('dreaming'), resubmit('up-1'), AT);
    expect(isAlreadyApplied(back, resubmit('up-1'))).toBe(true);
    expect(isAlreadyApplied(taskIn('dreaming'), resubmit('up-2'))).toBe(true);
    for (const status of ['copying', 'completed', 'failed'] as const) {
      expect(isAlreadyApplied(taskIn(status), resubmit('up-1')), status).toBe(true);
      expectForbidden(taskIn(status), resubmit('up-1'));
    }
  });

  it('property: rank goes down only through a resubmit of the current generation; ends never change', () => {
    const change: fc.Arbitrary<TaskChange> = fc.oneof(
      fc.constantFrom('up-1', 'up-2').map((id): TaskChange => ({ to: 'submitted', upstreamId: id })),
      fc.constant<TaskChange>({ to: 'dreaming' }),
      fc.constant<TaskChange>({ to: 'copying', assets: ASSETS }),
      fc.constant<TaskChange>({ to: 'completed', output: OUTPUT }),
      fc.constant<TaskChange>({ to: 'failed', failure: { code: 'upstream_failed', reason: 'x' } }),
      fc.constantFrom('up-1', 'up-2').map(resubmit),
    );
    everySequence(change, (before, next, task) => {
      if (RANK[task.status] < RANK[before.status]) {
        expect(next).toEqual(resubmit(before.upstreamId!));
        expect(['submitted', 'dreaming']).toContain(before.status);
        expect(task.discardedUpstreamIds?.at(-1)).toBe(before.upstreamId);
      }
    });
  });
});

describe('the queue: queued, admitted, and the reconciler\'s phase', () => {
  const queued = (): Task => ({ ...fresh(), queueTicket: 7 });
  /** Every change published, as after its function published it. */
  const settled = (task: Task): Task => published(task, task.history.length);

  it('a task with a ticket waits in its queue, with no phase: the reconciler has nothing to look after', () => {
    expect(isQueued(queued())).toBe(true);
    expect(phaseOf(settled(queued()))).toBeUndefined();
  });

  it('a queued or finished task whose changes are not all published is in the publishing phase, until they are', () => {
    expect(phaseOf(queued())).toBe('publishing');
    const failed = applyChange(settled(queued()), CHANGES.failed, AT);
    expect(phaseOf(failed)).toBe('publishing');
    expect(phaseOf(settled(failed))).toBeUndefined();
    // A task recorded before publishing existed owes nothing.
    const { publishedThrough: _none, ...old } = taskIn('completed');
    expect(phaseOf(old)).toBeUndefined();
  });

  it('published never goes back, nor past the history, and costs a version only when it moves', () => {
    const task = taskIn('dreaming');
    const marked = published(task, 2);
    expect(marked).toMatchObject({ publishedThrough: 2, version: task.version + 1 });
    expect(published(marked, 1)).toBe(marked);
    expect(published(marked, 99).publishedThrough).toBe(task.history.length);
  });

  it('admission starts the generation deadline, leaves the queue and puts the task in the active phase', () => {
    const at = new Date('2025-05-24T10:00:00.000Z'); // a day after it arrived
    const task = admitted(queued(), at, 1800);
    expect(task).toMatchObject({ admittedAt: at.toISOString(), deadline: '2025-05-24T10:30:00.000Z', queueTicket: 7, version: 2 });
    expect(isQueued(task)).toBe(false);
    expect(awaitsAdmission(task)).toBe(false);
    expect(phaseOf(task)).toBe('active');
    expect(() => admitted(task, at, 1800)).toThrow(TransitionRefusedError); // once
  });

  it('a resubmit keeps the admission: the task goes back to accepted without going back to its queue', () => {
    const task = applyChange(admitted(queued(), NOW, 1800), { to: 'submitted', upstreamId: 'up-1' }, AT);
    const back = applyChange(task, { to: 'accepted', resubmitOf: 'up-1', reason: 'Job failed' }, AT);
    expect(back.status).toBe('accepted');
    expect(back.admittedAt).toBe(task.admittedAt);
    expect(back.deadline).toBe(task.deadline);
    expect(isQueued(back)).toBe(false);
    expect(phaseOf(back)).toBe('active');
  });

  it('a task without a ticket (recorded before the queue) awaits admission in the active phase, so its workflow is looked after', () => {
    expect(awaitsAdmission(fresh())).toBe(true);
    expect(isQueued(fresh())).toBe(false);
    expect(phaseOf(fresh())).toBe('active');
  });

  it('a terminal task has no phase, queued or not', () => {
    expect(phaseOf(settled(applyChange(queued(), CHANGES.failed, AT)))).toBeUndefined();
    expect(phaseOf(settled(taskIn('completed')))).toBeUndefined();
  });

  it('queue orders sort as the tickets do', () => {
    fc.assert(
      fc.property(fc.nat(10 ** 12), fc.nat(10 ** 12), (a, b) => {
        expect(Math.sign(queueOrder(a).localeCompare(queueOrder(b)))).toBe(Math.sign(a - b));
      }),
    );
  });
});

describe('storedObjectKeys', () => {
  const ID = '0b6f1c1e-2f4a-4c39-9a53-1d2e3f4a5b6c';
  const stored = (name: string) => ({ kind: 'stored' as const, key: `inputs/${ID}/${name}.png`, contentType: 'image/png' as const, bytes: 10, width: 8, height: 8 });

  it('names the stored keyframes and both output keys, whether or not the task recorded its outputs', () => {
    const task = { ...fresh(), id: ID, request: { prompt: 'a', frame0: stored('frame0'), frame1: { kind: 'url' as const, url: 'https://example.com/a.png' } } };
    expect(storedObjectKeys(task)).toEqual([`inputs/${ID}/frame0.png`, `generations/${ID}/video.mp4`, `generations/${ID}/thumbnail.jpg`]);
  });

  it('adds recorded outputs stored elsewhere (older tasks), each key once', () => {
    const thumbnail = { key: 'videos/t1.jpg', contentType: 'image/jpeg', width: 1, height: 1, sizeBytes: 1 };
    const task = { ...fresh(), id: ID, request: { prompt: 'a', frame1: stored('frame1') }, output: { ...OUTPUT, thumbnail } };
    expect(storedObjectKeys(task)).toEqual([`inputs/${ID}/frame1.png`, `generations/${ID}/video.mp4`, `generations/${ID}/thumbnail.jpg`, 'videos/t1.mp4', 'videos/t1.jpg']);
    const current = { ...task, output: { ...OUTPUT, videoKey: `generations/${ID}/video.mp4` } };
    expect(storedObjectKeys(current)).toEqual([`inputs/${ID}/frame1.png`, `generations/${ID}/video.mp4`, `generations/${ID}/thumbnail.jpg`]);
  });
});
