/** A fresh task for the publishing and webhook unit tests: one owner, one prompt, an optional webhook. */
import { newTask, type Task } from '../../functions/commons/domain/task.ts';

export type CallbackEvent = 'processing' | 'completed' | 'failed';

export function webhookTask(id: string, now: Date, callback?: { url: string; events: CallbackEvent[]; keyHash: string }): Task {
  return newTask({
    id,
    owner: 'own_1',
    request: { prompt: 'a paper boat' },
    provider: 'luma',
    model: 'ray-2',
    now,
    timeoutSeconds: 60,
    ...(callback && { callback }),
  });
}
