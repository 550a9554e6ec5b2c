/**
 * The upstream's callbacks: Luma POSTs a generation to the task's marker URL on each change. They are
 * unsigned, and others who share the upstream account can read the URL in its list, so a callback is a
 * hint and never a source of truth: it is accepted only with the task's exact token, and nothing in its
 * body is believed. (Waking the task's workflow on a callback, so that it reads the truth at once instead
 * of at its next poll, comes with the callback-driven workflow.)
 */
import { timingSafeEqual } from 'node:crypto';
import { NotFoundError } from '../commons/errors.ts';
import { log } from '../commons/log.ts';
import type { TaskStore } from '../commons/ports/task-store.ts';

export async function acceptUpstreamCallback(taskId: string, token: string, deps: { tasks: Pick<TaskStore, 'get'> }): Promise<void> {
  const task = await deps.tasks.get(taskId);
  const marker = task?.upstreamMarker;
  const expected = marker?.slice(marker.lastIndexOf('/') + 1);
  // One answer for an unknown task, a task without a marker and a wrong token: the path reveals nothing.
  if (!expected || !sameToken(expected, token)) throw new NotFoundError('No such callback.');
  log({ msg: 'upstream callback', taskId, status: task!.status });
}

function sameToken(expected: string, given: string): boolean {
  const a = Buffer.from(expected);
  const b = Buffer.from(given);
  return a.length === b.length && timingSafeEqual(a, b);
}
