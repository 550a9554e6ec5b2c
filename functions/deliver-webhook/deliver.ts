/**
 * One attempt of a webhook delivery, the delivery workflow's loop body (infra/constructs/generation-events.ts):
 * Attempt → wait → Attempt … until the receiver takes it or the run's window is over.
 *
 * Each attempt POSTs `{"type", "timestamp", "data"}` — `data` the generation exactly as GET answers it at
 * that moment (with fresh links: a retry a day later still carries working ones) — signed per Standard
 * Webhooks with the `standardwebhooks` package: the same `webhook-id` on every attempt, a fresh
 * `webhook-timestamp` (receivers refuse old ones), `webhook-signature` by the key's secret (and, for a day
 * after a rotation, by its previous one too). Every attempt is written to the ledger before the workflow
 * moves on. A delivery never changes its task.
 */
import { recordMetric } from '../commons/observability/metrics.ts';
import { Webhook } from 'standardwebhooks';
import { parseDeliveryId, webhookChanges, webhookType } from '../commons/domain/generation-events.ts';
import {
  abandonRun,
  beginRun,
  recordAttempt,
  webhookBody,
  WEBHOOK_TIMEOUT_MS,
  type Delivery,
  type NextStep,
} from '../commons/domain/webhook-delivery.ts';
import { signingSecrets } from '../commons/domain/webhook-secret.ts';
import type { Task } from '../commons/domain/task.ts';
import type { PublicGeneration } from '../commons/domain/public-generation.ts';
import type { ApiKeyStore } from '../commons/ports/api-key-store.ts';
import type { DeliveryStore } from '../commons/ports/delivery-store.ts';
import type { TaskStore } from '../commons/ports/task-store.ts';
import type { WebhookSender } from '../commons/ports/webhook-sender.ts';
import type { DeliveryRunInput } from '../commons/ports/webhook-deliveries.ts';
import { systemClock, type Clock } from '../commons/clock.ts';
import { log } from '../commons/log.ts';

export interface DeliverDeps {
  tasks: Pick<TaskStore, 'get'>;
  deliveries: DeliveryStore;
  keys: Pick<ApiKeyStore, 'webhookSecrets'>;
  /** The generation as GET answers it (services/generation-view.ts). */
  view: (task: Task, requestId: string) => Promise<PublicGeneration>;
  sender: WebhookSender;
  retryWindowSeconds: number;
  clock?: Clock;
  /** In [0, 1): the retries' jitter. */
  random?: () => number;
}

export const USER_AGENT = 'luma-video-gateway-webhooks/1';

export async function deliver(input: DeliveryRunInput, deps: DeliverDeps): Promise<NextStep> {
  const now = (deps.clock ?? systemClock)();
  const named = parseDeliveryId(input.deliveryId);
  if (!named || !Number.isSafeInteger(input.run) || input.run < 1) throw new Error(`Not a delivery run: ${JSON.stringify(input)}`);
  const task = await deps.tasks.get(named.taskId);
  const change = task && webhookChanges(task).find((candidate) => candidate.index === named.index);

  const stored = await deps.deliveries.get(input.deliveryId);
  let delivery = stored;
  if (!stored || stored.run < input.run) {
    // Nothing to deliver and nothing recorded: a run for a task that is gone before it began.
    if (!task || !change) return { next: 'done' };
    delivery = beginRun(stored, { id: input.deliveryId, taskId: task.id, owner: task.owner, type: webhookType(change.state), run: input.run }, now)!;
  }
  // A newer run took over, or this run has ended already (its last step was repeated).
  if (delivery!.run !== input.run || delivery!.status !== 'pending') return { next: 'done' };

  if (!task || !change) return save(abandonRun(delivery!, 'the generation no longer exists', now), stored, { next: 'done' }, deps);
  const secrets = signingSecrets((await deps.keys.webhookSecrets(task.callback!.keyHash)) ?? {}, now);
  if (secrets.length === 0) return save(abandonRun(delivery!, 'the key that created the task has no webhook secret', now), stored, { next: 'done' }, deps);

  const body = webhookBody(delivery!.type, change.at, await deps.view(task, input.deliveryId));
  const signature = secrets.map((secret) => new Webhook(secret).sign(input.deliveryId, now, body)).join(' ');
  const outcome = await deps.sender.send({
    url: task.callback!.url,
    headers: {
      'content-type': 'application/json',
      'user-agent': USER_AGENT,
      'webhook-id': input.deliveryId,
      'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
      'webhook-signature': signature,
    },
    body,
    timeoutMs: WEBHOOK_TIMEOUT_MS,
  });
  // The attempt is dated when it began (its latency says how long it took).
  const attempted = recordAttempt(delivery!, outcome, now, deps.retryWindowSeconds, (deps.random ?? Math.random)());
  const { attempt, statusCode, error } = attempted.delivery.attempts.at(-1)!;
  log({ msg: 'webhook attempt', deliveryId: input.deliveryId, run: input.run, attempt, statusCode, error, status: attempted.delivery.status });
  if (attempted.delivery.status === 'failed') recordMetric('webhookDeliveriesFailed');
  return save(attempted.delivery, stored, attempted.step, deps);
}

/** Writes the ledger, then says what follows; a write that lost a race fails the attempt, which the workflow retries. */
async function save(next: Delivery, read: Delivery | undefined, step: NextStep, deps: DeliverDeps): Promise<NextStep> {
  if (!(await deps.deliveries.save(next, read?.version))) {
    throw new Error(`The ledger of delivery ${next.id} changed under this attempt.`);
  }
  return step;
}
