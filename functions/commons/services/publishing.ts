/**
 * Publishing a task's changes: an EventBridge event for each, and a webhook delivery for each its client
 * subscribed to, then the task marked published through its latest change.
 *
 * Why this way (the README's "Events and webhooks" says it for operators): the task record itself is the
 * outbox. Every change is written with the count of history entries published so far (`publishedThrough`),
 * in the same conditional put as the change, so no change is ever recorded without its publication being
 * owed; publishing then happens right after the write, in the function that made the change
 * (TaskLifecycle), and a failure there (EventBridge or Step Functions down, a crash) is logged and left:
 * the change stands, nothing waits for it, and the reconciler publishes what is still owed (the task stays
 * on its work list until then). A DynamoDB stream to a publisher function would be the other AWS-native
 * outbox, but the local runtime has no streams (dynalite), and this way deployed and local runs take the
 * same path. At least once: a change may be published twice (a crash after publishing and before marking);
 * EventBridge consumers get an event again, and a webhook is not sent twice, because its delivery run is
 * named after the change (the second start is refused), and a receiver that sees it again sees the same
 * `webhook-id`.
 */
import { deliveryId, generationEvent, unpublishedChanges, webhookChanges } from '../domain/generation-events.ts';
import type { Task } from '../domain/task.ts';
import type { EventPublisher } from '../ports/event-publisher.ts';
import type { WebhookDeliveries } from '../ports/webhook-deliveries.ts';
import type { TaskStore } from '../ports/task-store.ts';

export interface PublishingDeps {
  events: EventPublisher;
  webhooks: WebhookDeliveries;
  /** Marks the task's first `through` history entries published. */
  tasks: Pick<TaskStore, 'markPublished'>;
  /** The bucket the task's outputs are in, named in Generation Completed. */
  bucket: string;
}

export class ChangePublisher {
  constructor(private readonly deps: PublishingDeps) {}

  /** Publishes what the task still owes, then marks it; throws when any of it failed (nothing is marked then). */
  async publish(task: Task): Promise<number> {
    const changes = unpublishedChanges(task);
    if (changes.length === 0) return 0;
    await this.deps.events.publish(changes.map((change) => generationEvent(task, change, this.deps.bucket)));
    for (const change of webhookChanges(task, changes)) {
      await this.deps.webhooks.start({ deliveryId: deliveryId(task.id, change.index), run: 1 });
    }
    await this.deps.tasks.markPublished(task, task.history.length);
    return changes.length;
  }
}
