/**
 * Idempotency records in DynamoDB (ports/idempotency-store.ts), one item per owner and key
 * (`IDEMPOTENCY#<sha256(owner, key)>`), claimed with a conditional write so that of two identical requests
 * arriving together exactly one creates the task. Expired records (DynamoDB's TTL deletes them lazily) can be claimed again; a claim whose request was not
 * answered for good (a 429, a fault in the gateway) is deleted, so it neither blocks the key nor stays
 * behind for a day.
 */
import { createHash } from 'node:crypto';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { IDEMPOTENCY_TTL_SECONDS } from '../domain/idempotency.ts';
import type { Claim, IdempotencyRecord, IdempotencyStore } from '../ports/idempotency-store.ts';
import { systemClock, type Clock } from '../clock.ts';

export class DynamoDbIdempotencyStore implements IdempotencyStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly clock: Clock = systemClock,
  ) {}

  async claim(owner: string, key: string, fingerprint: string, taskId: string): Promise<Claim> {
    const now = Math.floor(this.clock().getTime() / 1000);
    const record: IdempotencyRecord = { fingerprint, taskId, state: 'in_progress', expiresAt: now + IDEMPOTENCY_TTL_SECONDS };
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { pk: recordKey(owner, key), kind: 'idempotency', ...record },
          ConditionExpression: 'attribute_not_exists(pk) OR expiresAt < :now OR #state = :abandoned',
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: { ':now': now, ':abandoned': 'abandoned' },
        }),
      );
      return { claimed: true, record };
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
    const existing = await this.get(owner, key);
    // Gone between the two calls (expired and deleted): claiming again is the same as the first time.
    return existing ? { claimed: false, record: existing } : this.claim(owner, key, fingerprint, taskId);
  }

  async get(owner: string, key: string): Promise<IdempotencyRecord | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: { pk: recordKey(owner, key) }, ConsistentRead: true }),
    );
    if (!Item || Item.kind !== 'idempotency') return undefined;
    const { pk: _pk, kind: _kind, ...record } = Item;
    return record as IdempotencyRecord;
  }

  async settle(owner: string, key: string, claimed: IdempotencyRecord): Promise<void> {
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { pk: recordKey(owner, key), kind: 'idempotency', ...claimed },
          ConditionExpression: 'taskId = :task',
          ExpressionAttributeValues: { ':task': claimed.taskId },
        }),
      );
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }

  async release(owner: string, key: string, taskId: string): Promise<void> {
    try {
      await this.client.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: { pk: recordKey(owner, key) },
          ConditionExpression: 'taskId = :task',
          ExpressionAttributeValues: { ':task': taskId },
        }),
      );
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }
}

function recordKey(owner: string, key: string): string {
  return `IDEMPOTENCY#${createHash('sha256').update(`${owner}\n${key}`).digest('hex')}`;
}
