/**
 * The shared pieces each handler builds at cold start, built one way: the task store wrapped in its
 * lifecycle (so every status change releases slots and, later, publishes), the upstream capacity, and the
 * configured provider.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { settings } from '../config.ts';
import { DynamoDbTaskStore } from '../adapters/task-store.ts';
import { UpstreamCapacity } from '../adapters/upstream-capacity.ts';
import { cachedSecret } from '../adapters/secret.ts';
import { LumaProvider } from '../providers/luma.ts';
import type { VideoProvider } from '../providers/provider.ts';
import { TaskLifecycle } from './lifecycle.ts';
import { ClientLimits } from '../adapters/client-limits.ts';
import { DynamoDbUpstreamClaims } from '../adapters/upstream-claims.ts';

export function taskServices(
  dynamo: DynamoDBDocumentClient,
  tableName: string,
): { tasks: TaskLifecycle; capacity: UpstreamCapacity; clientLimits: ClientLimits; upstreamClaims: DynamoDbUpstreamClaims } {
  const store = new DynamoDbTaskStore(dynamo, tableName);
  const capacity = new UpstreamCapacity(dynamo, tableName, store, settings.capacity());
  const clientLimits = new ClientLimits(dynamo, tableName, settings.keyLimits());
  const upstreamClaims = new DynamoDbUpstreamClaims(dynamo, tableName);
  return { tasks: new TaskLifecycle(store, { capacity, clientLimits }), capacity, clientLimits, upstreamClaims };
}

/** For the copy, which only moves tasks from `copying` (slot already given back) to their end. */
export function copyTaskServices(dynamo: DynamoDBDocumentClient, tableName: string): { tasks: TaskLifecycle } {
  const clientLimits = new ClientLimits(dynamo, tableName, settings.keyLimits());
  return { tasks: new TaskLifecycle(new DynamoDbTaskStore(dynamo, tableName), { clientLimits }) };
}

export function configuredProvider(secrets: SecretsManagerClient): VideoProvider {
  const upstream = settings.upstream();
  const apiKey = cachedSecret(secrets, upstream.apiKeySecretId);
  return new LumaProvider({ ...upstream, apiKey, forgetApiKey: apiKey.forget });
}
