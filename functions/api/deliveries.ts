/**
 * The webhook delivery ledger of a generation, free of HTTP: the routes (routes.ts) authenticate, these
 * decide. Owner-only, like every route: another owner's generation is a 404.
 *
 *   GET  /luma/generations/{id}/deliveries                       every delivery the task owes its webhook
 *   POST /luma/generations/{id}/deliveries/{delivery_id}/retry   sends one again (a new run, the same webhook-id)
 */
import { deliveryId, parseDeliveryId, webhookChanges, webhookType } from '../commons/domain/generation-events.ts';
import { isRunInProgress } from '../commons/domain/webhook-delivery.ts';
import { deliveryView, pendingView, type DeliveryView } from '../commons/domain/delivery-view.ts';
import { DeliveryInProgressError, NotFoundError } from '../commons/errors.ts';
import type { DeliveryStore } from '../commons/ports/delivery-store.ts';
import type { TaskStore } from '../commons/ports/task-store.ts';
import type { WebhookDeliveries } from '../commons/ports/webhook-deliveries.ts';
import { systemClock, type Clock } from '../commons/clock.ts';
import { ownTask } from './generations.ts';

export interface DeliveriesDeps {
  tasks: Pick<TaskStore, 'get'>;
  deliveries: Pick<DeliveryStore, 'get' | 'getMany'>;
  webhooks: WebhookDeliveries;
  retryWindowSeconds: number;
  clock?: Clock;
}

/** The task's deliveries, in the order of its changes; one owed but not begun yet is pending with no attempt. */
export async function listDeliveries(owner: string, taskId: string, deps: DeliveriesDeps): Promise<{ data: DeliveryView[] }> {
  const task = await ownTask(owner, taskId, deps);
  const owed = webhookChanges(task).map((change) => ({ id: deliveryId(task.id, change.index), type: webhookType(change.state) }));
  const found = new Map((await deps.deliveries.getMany(owed.map(({ id }) => id))).map((delivery) => [delivery.id, delivery]));
  return { data: owed.map(({ id, type }) => (found.has(id) ? deliveryView(found.get(id)!) : pendingView(id, type))) };
}

/**
 * Starts a new run of a delivery whose last run has ended (delivered or given up): the same webhook-id,
 * so a receiver that took it before drops it. A run under way, or one not begun, is a 409.
 */
export async function retryDelivery(owner: string, taskId: string, id: string, deps: DeliveriesDeps): Promise<{ id: string; run: number; status: 'pending' }> {
  const task = await ownTask(owner, taskId, deps);
  const named = parseDeliveryId(id);
  if (!named || named.taskId !== task.id || !webhookChanges(task).some((change) => change.index === named.index)) {
    throw new NotFoundError('No such delivery of this generation.');
  }
  const delivery = await deps.deliveries.get(id);
  if (!delivery || isRunInProgress(delivery, (deps.clock ?? systemClock)(), deps.retryWindowSeconds)) {
    throw new DeliveryInProgressError(
      delivery ? `Delivery ${id} is still being attempted (next attempt ${delivery.nextAttemptAt ?? 'soon'}); retry it once it has ended.` : `Delivery ${id} has not begun yet.`,
    );
  }
  // Two retries at once compute the same run, whose execution name Step Functions takes once.
  const run = delivery.run + 1;
  await deps.webhooks.start({ deliveryId: id, run });
  return { id, run, status: 'pending' };
}
