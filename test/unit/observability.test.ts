/**
 * The functions' observability, without I/O: what Powertools' logger writes (redacted, with the task as its
 * correlation id), which metrics a task's change means, when the reconciler calls a task overdue, and the
 * provider's 429 count.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { log, logger, registerSecret } from '../../functions/commons/log.ts';
import { correlate, observedHandler } from '../../functions/commons/observability/observed-handler.ts';
import { metrics } from '../../functions/commons/observability/metrics.ts';
import { dataPointsOfChange, queueWaitSeconds } from '../../functions/commons/observability/task-metrics.ts';
import { isOverdue } from '../../functions/reconcile/reconcile.ts';
import { observedProvider } from '../../functions/commons/providers/observed-provider.ts';
import type { VideoProvider } from '../../functions/commons/ports/video-provider.ts';
import { TransientUpstreamError } from '../../functions/commons/errors.ts';
import { admitted, applyChange, newTask, type Task } from '../../functions/commons/domain/task.ts';

/** Every line the logger and the metrics write while `run` runs (stdout, and stderr for warnings and errors), parsed. */
async function written(run: () => unknown): Promise<Record<string, any>[]> {
  const chunks: string[] = [];
  const capture = (chunk: string | Uint8Array) => {
    chunks.push(String(chunk));
    return true;
  };
  const spies = [vi.spyOn(process.stdout, 'write').mockImplementation(capture), vi.spyOn(process.stderr, 'write').mockImplementation(capture)];
  try {
    await run();
  } finally {
    for (const spy of spies) spy.mockRestore();
  }
  return chunks.join('').split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, any>);
}

afterEach(() => logger.resetKeys());

describe('log lines', () => {
  it('are JSON with the message, the level and the fields, redacted wherever a secret is (an error’s message and stack too)', async () => {
    registerSecret('luma-secret-0123456789');
    const error = new Error('upstream said: Invalid key luma-secret-0123456789');
    const [line] = await written(() =>
      log({ level: 'warn', msg: 'refused', header: 'Bearer lvg_abcdefghijklmnop', url: 'https://b/k?X-Amz-Signature=0123456789abcdef', error }),
    );
    expect(line).toMatchObject({ level: 'WARN', message: 'refused', header: 'Bearer [redacted]', url: 'https://b/k?X-Amz-Signature=[redacted]' });
    const text = JSON.stringify(line);
    expect(text).not.toContain('luma-secret-0123456789');
    expect(text).not.toContain('lvg_abcdefghijklmnop');
    expect(line!.error.message).toBe('upstream said: Invalid key [redacted]');
    expect(line!.error.stack).toContain('Invalid key [redacted]');
  });

  it('carry the task id as correlation_id from `correlate` to the end of the invocation, and not into the next', async () => {
    const handler = observedHandler(async (event: { taskId?: string }) => log({ msg: 'step', taskId: event.taskId }), { correlationId: (event) => event.taskId });
    const [first] = await written(() => handler({ taskId: 'task-1' }, {} as never));
    const [second] = await written(() => handler({}, {} as never));
    expect(first).toMatchObject({ message: 'step', correlation_id: 'task-1' });
    expect(second!.correlation_id).toBeUndefined();
    const [third] = await written(() => {
      correlate('task-3');
      log({ msg: 'later' });
    });
    expect(third!.correlation_id).toBe('task-3');
  });

  it('an invocation publishes its metrics when it ends, also when it throws', async () => {
    const handler = observedHandler(async () => {
      metrics.addMetric('completed', 'Count', 1);
      throw new Error('boom');
    });
    const lines = await written(() => handler({}, {} as never).catch(() => undefined));
    expect(lines).toHaveLength(1);
    expect(lines[0]!._aws.CloudWatchMetrics[0]).toMatchObject({ Namespace: 'LumaVideoGateway', Metrics: [{ Name: 'completed', Unit: 'Count' }] });
    expect(await written(() => handler({}, {} as never).catch(() => undefined))).toHaveLength(1); // nothing left over
  });
});

const created = newTask({ id: 't1', owner: 'o', request: { prompt: 'a prompt' }, provider: 'luma', model: 'ray-2', now: new Date('2026-01-01T00:00:00Z'), timeoutSeconds: 86400, queueTicket: 1 });
const at = (iso: string) => iso;

describe('the metrics of a task’s change', () => {
  it('queue wait: from recording to admission', () => {
    expect(queueWaitSeconds(created)).toBeUndefined();
    expect(queueWaitSeconds(admitted(created, new Date('2026-01-01T00:01:30Z'), 1800))).toBe(90);
  });

  it('submitted, upstream generation time (from the last submit to copying), completed, failed with its code', () => {
    let task: Task = admitted(created, new Date('2026-01-01T00:00:10Z'), 1800);
    task = applyChange(task, { to: 'submitted', upstreamId: 'u1' }, at('2026-01-01T00:00:20Z'));
    expect(dataPointsOfChange(task)).toEqual([{ key: 'submitted', value: 1 }]);
    task = applyChange(task, { to: 'dreaming' } as never, at('2026-01-01T00:00:30Z'));
    expect(dataPointsOfChange(task)).toEqual([]);
    task = applyChange(task, { to: 'copying', assets: { videoUrl: 'https://cdn/v.mp4' } } as never, at('2026-01-01T00:01:35Z'));
    expect(dataPointsOfChange(task)).toEqual([{ key: 'upstreamGenerationTime', value: 75 }]);
    const failed = applyChange(task, { to: 'failed', failure: { code: 'download_failed', reason: 'cut' } }, at('2026-01-01T00:02:00Z'));
    expect(dataPointsOfChange(failed)).toEqual([{ failureCode: 'download_failed' }]);
  });
});

describe('overdue tasks (the reconciler’s metric)', () => {
  const task = { ...created, status: 'dreaming' as const, deadline: '2026-01-01T00:30:00Z' };
  const deadline = Date.parse(task.deadline);
  it('past the deadline by more than the grace, unless copying (a copy may start at the deadline)', () => {
    expect(isOverdue(task, deadline + 119_000, 120)).toBe(false);
    expect(isOverdue(task, deadline + 121_000, 120)).toBe(true);
    expect(isOverdue({ ...task, status: 'copying' }, deadline + 3_600_000, 120)).toBe(false);
  });
});

describe('the observed provider', () => {
  it('counts each upstream 429 and rethrows it; other errors are not counted', async () => {
    const refuse = (error: Error) => () => Promise.reject(error);
    const provider: VideoProvider = {
      name: 'luma',
      model: 'ray-2',
      submit: refuse(new TransientUpstreamError('429', { rateLimited: true })),
      get: refuse(new TransientUpstreamError('503')),
      findByMarker: async () => [],
      delete: async () => undefined,
    };
    const observed = observedProvider(provider);
    const lines = await written(async () => {
      await expect(observed.submit({ prompt: 'p' })).rejects.toThrow('429');
      await expect(observed.get('u1')).rejects.toThrow('503');
      metrics.publishStoredMetrics();
    });
    expect(lines).toHaveLength(1);
    expect(lines[0]!.upstream_429).toBe(1);
  });
});
