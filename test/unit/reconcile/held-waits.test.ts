/**
 * The reconciler and the waits the workflow holds: a wait not yet over is taken as its run's sign of life
 * without asking Step Functions (whose DescribeExecution is what runs out first at scale), but only a wait
 * ending within TRUSTED_WAIT_SECONDS; a run that died holding a longer one is found and restarted now.
 */
import { describe, expect, it } from 'vitest';
import { reconcile, TRUSTED_WAIT_SECONDS, type ReconcileDeps } from '../../../functions/reconcile/reconcile.ts';
import { newTask, withWorkflowWait, type Task } from '../../../functions/commons/domain/task.ts';
import type { TaskStore } from '../../../functions/commons/ports/task-store.ts';
import type { RunStatus, Workflow } from '../../../functions/commons/ports/workflow.ts';

const NOW = new Date('2026-11-29T10:00:00Z');
const ID = '0b4f1c2e-1111-4000-8000-000000000003';

/** A dreaming task, admitted ten minutes ago, whose workflow holds a wait ending `untilSeconds` from now. */
function holding(untilSeconds: number): Task {
  const base = newTask({ id: ID, owner: 'o', request: { prompt: 'p' }, provider: 'luma', model: 'ray-2', now: new Date(NOW.getTime() - 600_000), timeoutSeconds: 7200 });
  const dreaming: Task = { ...base, status: 'dreaming', upstreamId: 'gen-1', admittedAt: base.createdAt, history: [...base.history, { status: 'dreaming', at: base.createdAt }] };
  return withWorkflowWait(dreaming, { token: 'token', until: new Date(NOW.getTime() + untilSeconds * 1000).toISOString() });
}

/** One active task; its first run's status is `run1` (Step Functions asked only when `asked` grows). */
function world(task: Task, run1: RunStatus) {
  const asked: number[] = [];
  const started: number[] = [];
  const workflow = {
    status: async (_id: string, run: number) => (asked.push(run), run === 1 ? run1 : undefined),
    start: async (_input: unknown, run = 1) => void started.push(run),
  } as unknown as Workflow;
  const deps: ReconcileDeps = {
    tasks: {
      listPhase: async (phase: string) => ({ ids: phase === 'active' ? [task.id] : [] }),
      get: async () => task,
      queued: async () => [],
    } as unknown as TaskStore,
    capacity: { slots: async () => [], giveBack: async () => false },
    queue: { repair: async () => 0 },
    dispatcher: { dispatchAndStart: async () => ({ admitted: [] }) as never, expireHeads: async () => [] },
    workflow,
    publisher: { publish: async () => 0 },
    graceSeconds: 120,
    clock: () => NOW,
  };
  return { deps, asked, started };
}

describe('reconcile: held waits', () => {
  it('takes a held wait ending within TRUSTED_WAIT_SECONDS for a live run, without asking Step Functions', async () => {
    const w = world(holding(60), 'FAILED');
    expect(await reconcile(w.deps)).toMatchObject({ checked: 1, started: 0 });
    expect(w.asked).toEqual([]);
  });

  it('asks Step Functions about a wait ending later, and restarts the run that died holding it', async () => {
    const w = world(holding(TRUSTED_WAIT_SECONDS + 60), 'FAILED');
    expect(await reconcile(w.deps)).toMatchObject({ checked: 1, started: 1 });
    expect(w.asked).toEqual([1, 2]);
    expect(w.started).toEqual([2]);
  });

  it('leaves a run that is alive, whatever its wait', async () => {
    const w = world(holding(TRUSTED_WAIT_SECONDS + 60), 'RUNNING');
    expect(await reconcile(w.deps)).toMatchObject({ checked: 1, started: 0 });
  });
});
