/**
 * The composition root's shared part: where the adapters meet the services they are ports for. Each
 * function's `handler.ts` builds what it needs at cold start from here, one way: the task store wrapped in
 * its lifecycle (so every status change leaves the queue, releases slots and hands them on, and is
 * published), the upstream capacity, the owners' queues, the dispatcher, and the configured provider.
 * Services and the functions' logic see only the ports (ports/).
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { SFNClient } from '@aws-sdk/client-sfn';
import { sfn as defaultSfn } from './clients/sfn.ts';
import { eventBridge } from './clients/eventbridge.ts';
import { EventBridgePublisher } from './adapters/event-publisher.ts';
import { StepFunctionsWebhookDeliveries } from './adapters/webhook-deliveries.ts';
import { ChangePublisher } from './services/publishing.ts';
import type { TaskStore } from './ports/task-store.ts';
import { settings } from './config.ts';
import { DynamoDbTaskStore } from './adapters/task-store.ts';
import { DynamoDbUpstreamCapacity } from './adapters/upstream-capacity.ts';
import { DynamoDbOwnerQueue } from './adapters/owner-queue.ts';
import { DynamoDbDispatchLease } from './adapters/dispatch-lease.ts';
import { StepFunctionsWorkflow } from './adapters/workflow.ts';
import { cachedSecret } from './adapters/secret.ts';
import { LumaProvider } from './providers/luma.ts';
import { TaskLifecycle } from './services/lifecycle.ts';
import { Dispatcher } from './services/dispatch.ts';
import { DynamoDbClientLimits } from './adapters/client-limits.ts';
import { DynamoDbUpstreamClaims } from './adapters/upstream-claims.ts';
import type { UpstreamCapacity } from './ports/upstream-capacity.ts';
import type { OwnerQueue } from './ports/owner-queue.ts';
import type { VideoProvider } from './ports/video-provider.ts';
import { observedProvider, type TraceCall } from './providers/observed-provider.ts';
import type { ClientLimits } from './ports/client-limits.ts';
import type { UpstreamClaims } from './ports/upstream-claims.ts';
import type { Workflow } from './ports/workflow.ts';

export interface TaskServices {
  tasks: TaskLifecycle;
  capacity: UpstreamCapacity;
  queue: OwnerQueue;
  dispatcher: Dispatcher;
  clientLimits: ClientLimits;
  upstreamClaims: UpstreamClaims;
  /** The generation workflow the dispatcher starts, for whoever else starts or reads runs (API, Reconcile). */
  workflow: Workflow;
  /** Publishes what a task owes (the lifecycle does after each change; the reconciler what a crash left). */
  publisher: ChangePublisher;
}

/** Every function that changes tasks publishes the changes: EVENT_BUS_NAME, WEBHOOK_STATE_MACHINE_ARN, BUCKET_NAME. */
function changePublisher(store: Pick<TaskStore, 'markPublished'>, sfn: SFNClient): ChangePublisher {
  return new ChangePublisher({
    events: new EventBridgePublisher(eventBridge, settings.eventBusName()),
    webhooks: new StepFunctionsWebhookDeliveries(sfn, settings.webhookStateMachineArn()),
    tasks: store,
    bucket: settings.bucketName(),
  });
}

/**
 * For every function that may free a slot or admit a task (API, Poll, Record failure, Reconcile): they
 * dispatch, so they start workflows (STATE_MACHINE_ARN) and admit with the generation deadline.
 */
export function taskServices(dynamo: DynamoDBDocumentClient, tableName: string, sfn: SFNClient = defaultSfn): TaskServices {
  const store = new DynamoDbTaskStore(dynamo, tableName);
  const publisher = changePublisher(store, sfn);
  const capacity = new DynamoDbUpstreamCapacity(dynamo, tableName, settings.capacity());
  const queue = new DynamoDbOwnerQueue(dynamo, tableName, { timeoutSeconds: settings.queueTimeoutSeconds() });
  // The lifecycle hands freed slots to the dispatcher, which fails expired heads through the lifecycle. It
  // waits for a held lease a moment: an API request's dispatch does one round, and may not see this slot.
  const tasks: TaskLifecycle = new TaskLifecycle(store, {
    capacity,
    queue,
    dispatch: () => dispatcher.dispatchAndStart({ waitForLease: true }),
    publish: (task) => publisher.publish(task),
  });
  // A run's first wait is the callback fallback's: the submit that ends its first turn keeps it when callbacks are expected.
  const workflow = new StepFunctionsWorkflow(sfn, settings.stateMachineArn(), settings.polling().schedule.callbackFallbackSeconds);
  const dispatcher: Dispatcher = new Dispatcher({
    tasks,
    capacity,
    queue,
    lease: new DynamoDbDispatchLease(dynamo, tableName),
    workflow,
    generationTimeoutSeconds: settings.generationTimeoutSeconds(),
  });
  const clientLimits = new DynamoDbClientLimits(dynamo, tableName, settings.keyLimits());
  const upstreamClaims = new DynamoDbUpstreamClaims(dynamo, tableName);
  return { tasks, capacity, queue, dispatcher, clientLimits, upstreamClaims, workflow, publisher };
}

/** For the copy, which only moves tasks from `copying` (slot already given back) to their end. */
export function copyTaskServices(dynamo: DynamoDBDocumentClient, tableName: string, sfn: SFNClient = defaultSfn): { tasks: TaskLifecycle } {
  const store = new DynamoDbTaskStore(dynamo, tableName);
  const publisher = changePublisher(store, sfn);
  return { tasks: new TaskLifecycle(store, { publish: (task) => publisher.publish(task) }) };
}

/** The upstream, its 429s counted; each call traced when `trace` is given (the functions that trace). */
export function configuredProvider(secrets: SecretsManagerClient, trace?: TraceCall): VideoProvider {
  const upstream = settings.upstream();
  const apiKey = cachedSecret(secrets, upstream.apiKeySecretId);
  return observedProvider(new LumaProvider({ ...upstream, apiKey, forgetApiKey: apiKey.forget }), trace);
}
