/**
 * Per-key limits in DynamoDB (ports/client-limits.ts). A key's create rate, so that one client cannot
 * flood the gateway: generations created a minute, counted in `KEYRATE#<key hash>#<window>` items that
 * expire on their own, with a conditional write, so the limit holds however many requests arrive together. A key's other limits are its owner's queue's
 * (owner-queue.ts): a batch beyond the free slots is queued, not refused.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { rateWindow } from '../domain/capacity.ts';
import type { KeyLimits } from '../domain/api-key.ts';
import type { ApiKeyRecord } from '../ports/api-key-store.ts';
import type { ClientLimits } from '../ports/client-limits.ts';
import { TooManyRequestsError } from '../errors.ts';
import { systemClock, type Clock } from '../clock.ts';

export class DynamoDbClientLimits implements ClientLimits {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
    readonly defaults: KeyLimits,
    private readonly clock: Clock = systemClock,
  ) {}

  of(key: Pick<ApiKeyRecord, 'limits'>): KeyLimits {
    return { ...this.defaults, ...key.limits };
  }

  async admit(key: ApiKeyRecord): Promise<void> {
    const { ratePerMinute } = this.of(key);
    const window = rateWindow(this.clock().getTime());
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: `KEYRATE#${key.keyHash}#${window.key}` },
          UpdateExpression: 'ADD creates :one SET kind = :kind, expiresAt = :expires',
          ConditionExpression: 'attribute_not_exists(creates) OR creates < :max',
          ExpressionAttributeValues: { ':one': 1, ':max': ratePerMinute, ':kind': 'keyrate', ':expires': window.expiresAt },
        }),
      );
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      throw new TooManyRequestsError(`This key may create ${ratePerMinute} generations a minute.`, window.secondsLeft);
    }
  }
}
