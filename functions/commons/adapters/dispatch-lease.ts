/**
 * One dispatcher at a time, across every function: the `DISPATCH#lease` item. Dispatchers that ran side by
 * side would all chase the same heads — each loser takes a slot, fails to mark the head and gives the slot
 * back, then chases the next — so a burst of N requests with free slots cost in the order of N² writes.
 * Whoever cannot take the lease instead leaves a note (`pending`): the holder, before it lets go, runs
 * again while a note was left, so no wake-up is lost. A holder that dies is bounded by the lease's expiry;
 * the next dispatch, at the latest the reconciler's, takes over.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { systemClock, type Clock } from '../clock.ts';

const LEASE_KEY = { pk: 'DISPATCH#lease' };
/** Far longer than a dispatch takes (it reads and writes a few items per free slot). */
export const DISPATCH_LEASE_MS = 60_000;

export class DispatchLease {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly clock: Clock = systemClock,
  ) {}

  /**
   * Takes the lease for `holder` (clearing the notes: this dispatch serves them); false when another holds
   * it, leaving the holder a note unless told not to (a try that will be made again).
   */
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

  /**
   * Lets go of the lease unless a note was left meanwhile: then the note is cleared, the lease kept, and
   * false returned (dispatch again). True also when the lease is no longer the holder's (it expired).
   */
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

  /** Lets go whatever notes were left (they stay, for the next dispatcher). */
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
