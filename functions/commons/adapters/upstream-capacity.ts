/**
 * The upstream's capacity in DynamoDB (ports/upstream-capacity.ts). Slots are `SLOT#0` … `SLOT#n-1`, each
 * held by at most one task, taken and released with conditional writes so that no two tasks ever hold one
 * slot, whichever Lambdas race. A slot names its holder's owner too, so the dispatcher counts each owner's running tasks from the slots it reads
 * anyway. A holder that vanished is bounded by its lease (the task's generation deadline) and reclaimed
 * earlier by the reconciler. Creates a minute are counted in `RATE#<window>` items that expire on their own.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { BatchGetCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { rateWindow, type CapacityLimits, type Slot } from '../domain/capacity.ts';
import type { UpstreamCapacity } from '../ports/upstream-capacity.ts';
import { systemClock, type Clock } from '../clock.ts';

/** A slot's lease outlives the task's deadline by this much, so only a truly lost holder ever expires. */
const LEASE_MARGIN_MS = 15 * 60_000;

export class DynamoDbUpstreamCapacity implements UpstreamCapacity {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
    readonly limits: CapacityLimits,
    private readonly clock: Clock = systemClock,
  ) {}

  async take(index: number, holder: { id: string; owner: string; deadline: string }, now = this.clock().getTime()): Promise<boolean> {
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: slotKey(index),
          UpdateExpression: 'SET holder = :task, #owner = :owner, leaseUntil = :lease, takenAt = :takenAt, kind = :kind',
          ConditionExpression: 'attribute_not_exists(holder) OR leaseUntil < :now',
          // `owner` is one of DynamoDB's reserved words.
          ExpressionAttributeNames: { '#owner': 'owner' },
          ExpressionAttributeValues: {
            ':task': holder.id,
            ':owner': holder.owner,
            ':lease': Date.parse(holder.deadline) + LEASE_MARGIN_MS,
            ':now': now,
            ':takenAt': this.clock().getTime(),
            ':kind': 'slot',
          },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  async release(taskId: string): Promise<boolean> {
    let freed = false;
    for (const slot of await this.slots()) {
      if (slot.holder === taskId && (await this.giveBack(slot.index, taskId))) freed = true;
    }
    return freed;
  }

  async giveBack(index: number, taskId: string): Promise<boolean> {
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: slotKey(index),
          UpdateExpression: 'REMOVE holder, #owner, leaseUntil, takenAt',
          ConditionExpression: 'holder = :task',
          ExpressionAttributeNames: { '#owner': 'owner' },
          ExpressionAttributeValues: { ':task': taskId },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false; // released meanwhile: fine
      throw error;
    }
  }

  /** Read in one batch. */
  async slots(): Promise<Slot[]> {
    const keys = Array.from({ length: this.limits.maxConcurrent }, (_, index) => slotKey(index));
    const found = new Map<number, Slot>();
    for (let start = 0; start < keys.length; start += 100) {
      let request: Record<string, { Keys: Record<string, unknown>[]; ConsistentRead: boolean }> | undefined = {
        [this.tableName]: { Keys: keys.slice(start, start + 100), ConsistentRead: true },
      };
      while (request && Object.keys(request).length > 0) {
        const page = await this.client.send(new BatchGetCommand({ RequestItems: request }));
        for (const item of page.Responses?.[this.tableName] ?? []) {
          const index = Number(String(item.pk).slice('SLOT#'.length));
          found.set(index, {
            index,
            holder: item.holder as string | undefined,
            owner: item.owner as string | undefined,
            leaseUntil: item.leaseUntil as number | undefined,
            takenAt: item.takenAt as number | undefined,
          });
        }
        request = page.UnprocessedKeys as typeof request;
      }
    }
    return keys.map((_, index) => found.get(index) ?? { index });
  }

  async countCreate(now = this.clock().getTime()): Promise<{ allowed: boolean; secondsLeft: number }> {
    const window = rateWindow(now);
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: `RATE#${window.key}` },
          UpdateExpression: 'ADD creates :one SET expiresAt = :expires, kind = :kind',
          ConditionExpression: 'attribute_not_exists(creates) OR creates < :max',
          ExpressionAttributeValues: { ':one': 1, ':max': this.limits.maxCreatesPerMinute, ':expires': window.expiresAt, ':kind': 'rate' },
        }),
      );
      return { allowed: true, secondsLeft: window.secondsLeft };
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return { allowed: false, secondsLeft: window.secondsLeft };
      throw error;
    }
  }
}

const slotKey = (index: number) => ({ pk: `SLOT#${index}` });
