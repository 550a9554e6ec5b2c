/**
 * The dispatch lease in DynamoDB (ports/dispatch-lease.ts): the `DISPATCH#lease` item, its holder, its
 * expiry and the note (`pending`), each change one conditional update. A holder that dies is bounded by
 * the lease's expiry; the next dispatch, at the latest the reconciler's, takes over.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { DispatchLease } from '../ports/dispatch-lease.ts';
import { systemClock, type Clock } from '../clock.ts';

const LEASE_KEY = { pk: 'DISPATCH#lease' };
/** Far longer than a dispatch takes (it reads and writes a few items per free slot). */
export const DISPATCH_LEASE_MS = 60_000;

export class DynamoDbDispatchLease implements DispatchLease {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly clock: Clock = systemClock,
  ) {}

  async acquire(holder: string, leaveNote = true): Promise<boolean> {
    const now = this.clock().getTime();
    if (
      await this.update({
        UpdateExpression: 'SET holder = :holder, leaseUntil = :until, kind = :kind REMOVE pending',
        ConditionExpression: 'attribute_not_exists(holder) OR leaseUntil < :now',
        ExpressionAttributeValues: { ':holder': holder, ':until': now + DISPATCH_LEASE_MS, ':now': now, ':kind': 'lease' },
      })
    ) {
      return true;
    }
    if (leaveNote) await this.update({ UpdateExpression: 'SET pending = :yes', ExpressionAttributeValues: { ':yes': true } });
    return false;
  }

  async release(holder: string): Promise<boolean> {
    if (
      await this.update({
        UpdateExpression: 'REMOVE holder, leaseUntil',
        ConditionExpression: 'holder = :holder AND attribute_not_exists(pending)',
        ExpressionAttributeValues: { ':holder': holder },
      })
    ) {
      return true;
    }
    return !(await this.update({
      UpdateExpression: 'REMOVE pending',
      ConditionExpression: 'holder = :holder',
      ExpressionAttributeValues: { ':holder': holder },
    }));
  }

  async abandon(holder: string): Promise<void> {
    await this.update({
      UpdateExpression: 'REMOVE holder, leaseUntil',
      ConditionExpression: 'holder = :holder',
      ExpressionAttributeValues: { ':holder': holder },
    });
  }

  /** One conditional update of the lease item; false when its condition did not hold. */
  private async update(input: {
    UpdateExpression: string;
    ConditionExpression?: string;
    ExpressionAttributeValues: Record<string, unknown>;
  }): Promise<boolean> {
    try {
      await this.client.send(new UpdateCommand({ TableName: this.tableName, Key: LEASE_KEY, ...input }));
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }
}
