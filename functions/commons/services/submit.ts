/**
 * Submitting a task upstream, shared by the API (the first try, while the client waits) and the poll
 * step (later tries, when the first met a transient error). Keyframe links are presigned here, at submit
 * time, so a task that waited for its turn still hands the upstream a fresh link.
 */
import { createHash } from 'node:crypto';
import type { TaskStore } from '../adapters/task-store.ts';
import type { MediaStore, ObjectTags } from '../adapters/media-store.ts';
import type { VideoProvider } from '../providers/provider.ts';
import type { Task } from '../domain/task.ts';
import { UpstreamRejectedError } from '../errors.ts';

export interface SubmitDeps {
  tasks: TaskStore;
  media: MediaStore;
  provider: VideoProvider;
  keyframeUrlExpirySeconds: number;
}

/**
 * Returns the task as `submitted`. A permanent refusal is recorded as a failure before it is rethrown;
 * a transient error is rethrown with the task left `accepted`, for the caller's retry policy.
 */
export async function submitTask(task: Task, deps: SubmitDeps): Promise<Task> {
  const { request } = task;
  const [frame0Url, frame1Url] = await Promise.all([
    request.frame0 && deps.media.keyframeUrl(request.frame0, deps.keyframeUrlExpirySeconds),
    request.frame1 && deps.media.keyframeUrl(request.frame1, deps.keyframeUrlExpirySeconds),
  ]);
  let upstreamId: string;
  try {
    ({ id: upstreamId } = await deps.provider.submit({
      prompt: request.prompt,
      aspectRatio: request.aspectRatio,
      loop: request.loop,
      frame0Url,
      frame1Url,
    }));
  } catch (error) {
    if (error instanceof UpstreamRejectedError) {
      await deps.tasks.transition(task.id, {
        to: 'failed',
        failure: { code: error.failureCode, reason: error.message },
      });
    }
    throw error;
  }
  const { task: submitted } = await deps.tasks.transition(task.id, { to: 'submitted', upstreamId });
  return submitted;
}

export function objectTags(taskId: string, owner: string, prompt: string): ObjectTags {
  return { taskId, owner, promptSha256: createHash('sha256').update(prompt).digest('hex') };
}
