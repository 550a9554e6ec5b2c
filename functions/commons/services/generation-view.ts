/**
 * A generation exactly as `GET /luma/generations/{id}` answers it: the task in the aggregator's shape, with
 * fresh links to its stored outputs and, while it is queued, its place among its owner's queued tasks.
 * The API's GET and every webhook delivery (whose `data` is this) build it here, so they cannot differ.
 */
import { isQueued, type Task } from '../domain/task.ts';
import { toPublicGeneration, type PublicGeneration } from '../domain/public-generation.ts';
import type { MediaStore } from '../ports/media-store.ts';
import type { OwnerQueue } from '../ports/owner-queue.ts';

export interface GenerationViewDeps {
  media: Pick<MediaStore, 'outputLinks'>;
  queue: Pick<OwnerQueue, 'position'>;
  /** How long the links in the answer work. */
  presignExpirySeconds: number;
}

export async function viewGeneration(task: Task, requestId: string, deps: GenerationViewDeps): Promise<PublicGeneration> {
  const [links, position] = await Promise.all([
    deps.media.outputLinks(task, deps.presignExpirySeconds),
    isQueued(task) ? deps.queue.position(task.owner, task.queueTicket!) : undefined,
  ]);
  return toPublicGeneration(task, links, requestId, position);
}
