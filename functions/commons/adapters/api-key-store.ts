/**
 * Client keys in DynamoDB (ports/api-key-store.ts), one item per key under `APIKEY#<sha256>`. Besides the
 * port, what an administrator needs: list, revoke, and `ensure` for the local runtime's configured keys.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { scanItemsOfKind } from './scan-items-of-kind.ts';
import type { ApiKeyRecord, ApiKeyStore } from '../ports/api-key-store.ts';
import { rotated, type WebhookSecrets } from '../domain/webhook-secret.ts';

/** `lastUsedAt` is refreshed at most this often, so a busy key does not cost a write per request. */
const LAST_USED_RESOLUTION_MS = 60_000;
const keyOf = (keyHash: string) => ({ pk: `APIKEY#${keyHash}` });

export class DynamoDbApiKeyStore implements ApiKeyStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async find(keyHash: string): Promise<ApiKeyRecord | undefined> {
    const { Item } = await this.client.send(new GetCommand({ TableName: this.tableName, Key: keyOf(keyHash) }));
    if (Item?.kind !== 'apikey' || typeof Item.owner !== 'string' || Item.revokedAt) return undefined;
    return recordOf(Item);
  }

  /** Adds a key; refuses to overwrite one with the same hash (a collision would be a bug, not a rotation). */
  async put(record: ApiKeyRecord): Promise<void> {
    await this.client.send(
      new PutCommand({
        TableName: this.tableName,
        Item: { ...keyOf(record.keyHash), kind: 'apikey', ...record },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
  }

  /**
   * Stores a key that must exist, e.g. the local runtime's configured keys at every start. A key stored
   * already keeps its owner, name and status; it loses a prefix that `record` does not have (earlier
   * versions stored one for operator-chosen keys too).
   */
  async ensure(record: ApiKeyRecord): Promise<void> {
    try {
      await this.put(record);
      return;
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
    if (record.prefix !== undefined) return;
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keyOf(record.keyHash),
          UpdateExpression: 'REMOVE prefix',
          ConditionExpression: 'attribute_exists(prefix)',
        }),
      );
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error; // none stored: nothing to do
    }
  }

  /** Records a use of the key; skipped (no write at all) while the recorded use is recent enough. */
  async touch(key: ApiKeyRecord, now: Date): Promise<void> {
    if (key.lastUsedAt && now.getTime() - Date.parse(key.lastUsedAt) < LAST_USED_RESOLUTION_MS) return;
    const keyHash = key.keyHash;
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keyOf(keyHash),
          UpdateExpression: 'SET lastUsedAt = :now',
          ConditionExpression: 'attribute_exists(pk) AND (attribute_not_exists(lastUsedAt) OR lastUsedAt < :stale)',
          ExpressionAttributeValues: {
            ':now': now.toISOString(),
            ':stale': new Date(now.getTime() - LAST_USED_RESOLUTION_MS).toISOString(),
          },
        }),
      );
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error; // refreshed recently: fine
    }
  }

  async webhookSecrets(keyHash: string): Promise<WebhookSecrets | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({
        TableName: this.tableName,
        Key: keyOf(keyHash),
        ProjectionExpression: 'kind, webhookSecret, previousWebhookSecret, webhookSecretRotatedAt',
      }),
    );
    if (Item?.kind !== 'apikey') return undefined;
    const { kind: _kind, ...secrets } = Item;
    return secrets as WebhookSecrets;
  }

  /**
   * Gives the key `secret` as its webhook secret: its first one, or a rotation (the previous one keeps
   * signing for a day). Conditional on the secret it replaces, so two rotations at once cannot lose one.
   */
  async setWebhookSecret(record: ApiKeyRecord, secret: string, now: Date): Promise<void> {
    const next = rotated(record, secret, now);
    await this.client.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: keyOf(record.keyHash),
        UpdateExpression:
          'SET webhookSecret = :secret' +
          (next.previousWebhookSecret ? ', previousWebhookSecret = :previous, webhookSecretRotatedAt = :at' : ''),
        ConditionExpression: record.webhookSecret
          ? 'attribute_exists(pk) AND webhookSecret = :current'
          : 'attribute_exists(pk) AND attribute_not_exists(webhookSecret)',
        ExpressionAttributeValues: {
          ':secret': secret,
          ...(record.webhookSecret && { ':current': record.webhookSecret }),
          ...(next.previousWebhookSecret && { ':previous': next.previousWebhookSecret, ':at': next.webhookSecretRotatedAt }),
        },
      }),
    );
  }

  /** Every key, revoked ones included: an administrator's view, read with a scan. */
  async list(): Promise<ApiKeyRecord[]> {
    const records: ApiKeyRecord[] = [];
    for await (const item of scanItemsOfKind(this.client, this.tableName, 'apikey')) records.push(recordOf(item));
    return records.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  async revoke(keyHash: string, now: Date): Promise<void> {
    await this.client.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: keyOf(keyHash),
        UpdateExpression: 'SET revokedAt = :now',
        ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(revokedAt)',
        ExpressionAttributeValues: { ':now': now.toISOString() },
      }),
    );
  }
}

function recordOf(item: Record<string, unknown>): ApiKeyRecord {
  const { pk: _pk, kind: _kind, ...record } = item;
  return record as unknown as ApiKeyRecord;
}
