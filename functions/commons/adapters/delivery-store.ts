/**
 * The webhook delivery ledger in DynamoDB (ports/delivery-store.ts), one item per delivery under
 * `DELIVERY#<webhook id>`, written whole with a put conditional on the version read, and expired by the
 * table's TTL (`expiresAt`) a month after its last attempt.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { BatchGetCommand, GetCommand, PutCommand, type BatchGetCommandOutput, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Delivery } from '../domain/webhook-delivery.ts';
import type { DeliveryStore } from '../ports/delivery-store.ts';

const deliveryKey = (id: string) => ({ pk: `DELIVERY#${id}` });
/** BatchGetItem reads at most 100 items a call. */
const BATCH = 100;

export class DynamoDbDeliveryStore implements DeliveryStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async get(id: string): Promise<Delivery | undefined> {
    const { Item } = await this.client.send(new GetCommand({ TableName: this.tableName, Key: deliveryKey(id), ConsistentRead: true }));
    return Item?.kind === 'delivery' ? deliveryOf(Item) : undefined;
  }

  async getMany(ids: readonly string[]): Promise<Delivery[]> {
    const found: Delivery[] = [];
    for (let start = 0; start < ids.length; start += BATCH) {
      let keys: Record<string, unknown>[] | undefined = ids.slice(start, start + BATCH).map(deliveryKey);
      // Unprocessed keys come back under throttling: asked again until none is left.
      while (keys && keys.length > 0) {
        const answer: BatchGetCommandOutput = await this.client.send(new BatchGetCommand({ RequestItems: { [this.tableName]: { Keys: keys, ConsistentRead: true } } }));
        for (const item of answer.Responses?.[this.tableName] ?? []) if (item.kind === 'delivery') found.push(deliveryOf(item));
        keys = answer.UnprocessedKeys?.[this.tableName]?.Keys;
      }
    }
    return found;
  }

  async save(next: Delivery, readVersion: number | undefined): Promise<boolean> {
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { ...deliveryKey(next.id), kind: 'delivery', ...next },
          ...(readVersion === undefined
            ? { ConditionExpression: 'attribute_not_exists(pk)' }
            : { ConditionExpression: '#version = :read', ExpressionAttributeNames: { '#version': 'version' }, ExpressionAttributeValues: { ':read': readVersion } }),
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }
}

function deliveryOf(item: Record<string, unknown>): Delivery {
  const { pk: _pk, kind: _kind, ...delivery } = item;
  return delivery as unknown as Delivery;
}
