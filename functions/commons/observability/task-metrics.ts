/**
 * What a task's change means for the metrics, as pure functions of the task (task-metrics are recorded by
 * the lifecycle, the one place every change goes through, so each is counted once: on the change itself).
 */
import type { Task } from '../domain/task.ts';
import type { GatewayMetricKey } from './names.ts';

export type TaskDataPoint = { key: GatewayMetricKey; value: number } | { failureCode: string };

/** The data points of a task that has just entered its current status. */
export function dataPointsOfChange(task: Task): TaskDataPoint[] {
  switch (task.status) {
    case 'submitted':
      return [{ key: 'submitted', value: 1 }];
    case 'copying': {
      // The upstream's own time: from the submit it took last (a resubmit starts it again) to its finished video.
      const submittedAt = lastEntered(task, 'submitted');
      const finishedAt = lastEntered(task, 'copying');
      if (submittedAt === undefined || finishedAt === undefined) return [];
      return [{ key: 'upstreamGenerationTime', value: seconds(finishedAt - submittedAt) }];
    }
    case 'completed':
      return [{ key: 'completed', value: 1 }];
    case 'failed':
      return [{ failureCode: task.failure?.code ?? 'internal' }];
    default:
      return [];
  }
}

/** How long an admitted task waited in its owner's queue, from its recording. */
export function queueWaitSeconds(task: Task): number | undefined {
  if (!task.admittedAt) return undefined;
  return seconds(Date.parse(task.admittedAt) - Date.parse(task.createdAt));
}

function lastEntered(task: Task, status: Task['status']): number | undefined {
  const entry = task.history.findLast((item) => item.status === status);
  return entry ? Date.parse(entry.at) : undefined;
}

function seconds(ms: number): number {
  return Math.max(0, ms) / 1000;
}
