/** Deliver-webhook Lambda: one attempt of a webhook delivery, the delivery workflow's loop body (see deliver.ts). */
import { dynamo } from '../commons/clients/dynamodb.ts';
import { s3 } from '../commons/clients/s3.ts';
import { settings } from '../commons/config.ts';
import { DynamoDbTaskStore } from '../commons/adapters/task-store.ts';
import { DynamoDbDeliveryStore } from '../commons/adapters/delivery-store.ts';
import { DynamoDbApiKeyStore } from '../commons/adapters/api-key-store.ts';
import { DynamoDbOwnerQueue } from '../commons/adapters/owner-queue.ts';
import { S3MediaStore } from '../commons/adapters/media-store.ts';
import { GuardedWebhookSender } from '../commons/adapters/webhook-sender.ts';
import { viewGeneration } from '../commons/services/generation-view.ts';
import { withGatewayErrors } from '../commons/errors.ts';
import { observedHandler } from '../commons/observability/observed-handler.ts';
import type { DeliveryRunInput } from '../commons/ports/webhook-deliveries.ts';
import { deliver, type DeliverDeps } from './deliver.ts';

const tableName = settings.tableName();
const viewDeps = {
  media: new S3MediaStore(s3, settings.bucketName()),
  queue: new DynamoDbOwnerQueue(dynamo, tableName),
  presignExpirySeconds: settings.presignExpirySeconds(),
};
const deps: DeliverDeps = {
  // The plain store: a delivery reads its task and never changes it.
  tasks: new DynamoDbTaskStore(dynamo, tableName),
  deliveries: new DynamoDbDeliveryStore(dynamo, tableName),
  keys: new DynamoDbApiKeyStore(dynamo, tableName),
  view: (task, requestId) => viewGeneration(task, requestId, viewDeps),
  sender: new GuardedWebhookSender(settings.callbackPolicy()),
  retryWindowSeconds: settings.webhookRetryWindowSeconds(),
};

/** The next loop's input is this output: the run, and what follows (a wait of `waitSeconds`, or done). */
export const handler = observedHandler(
  withGatewayErrors(async (input: DeliveryRunInput) => ({
    deliveryId: input.deliveryId,
    run: input.run,
    ...(await deliver(input, deps)),
  })),
);
