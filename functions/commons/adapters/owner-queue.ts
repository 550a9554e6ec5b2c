/**
 * The owners' queues for upstream slots, in DynamoDB (ports/owner-queue.ts). Each owner's `OWNER#<owner>`
 * item counts its queue: `tickets` (the last ticket handed out), `waiting` (tasks queued now), `served`
 * (tasks that left the queue), the owner's `weight` and optional `maxRunning` (fair-share.ts), and
 * `queueKey = WAITING` while `waiting > 0`. That attribute lists the owner in the partition of waiting owners of the sparse index
 * `byQueue` (queue-index.ts): its size is the number of tenants waiting, not of tasks. The queued tasks
 * themselves are in the same index, one partition per owner, in ticket order (task-store.ts).
 *
 * Every change is one conditional UpdateItem, so limits hold however many requests arrive together.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { BatchGetCommand, GetCommand, QueryCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { KeyLimits } from '../domain/api-key.ts';
import { queuePosition } from '../domain/fair-share.ts';
import type { OwnerQueue, OwnerRecord } from '../ports/owner-queue.ts';
import { TooManyRequestsError } from '../errors.ts';
import { DEFAULT_QUEUE_TIMEOUT_SECONDS } from '../config.ts';
import { QUEUE_INDEX, WAITING_OWNERS } from './queue-index.ts';
import { systemClock, type Clock } from '../clock.ts';

/** When a key's owner has its maximum of tasks waiting, how long a client should wait before trying again. */
const QUEUE_FULL_RETRY_AFTER_SECONDS = 30;
/**
 * An owner counted as waiting whose queue looks empty is repaired only after this long without an enqueue:
 * a task is recorded just after its ticket is taken, and the index shows it a moment later still.
 */
const REPAIR_AFTER_MS = 60_000;

export class DynamoDbOwnerQueue implements OwnerQueue {
  readonly timeoutSeconds: number;
  private readonly clock: Clock;

  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
    options: { timeoutSeconds?: number; clock?: Clock } = {},
  ) {
    this.timeoutSeconds = options.timeoutSeconds ?? DEFAULT_QUEUE_TIMEOUT_SECONDS;
    this.clock = options.clock ?? systemClock;
  }

  async enqueue(owner: string, limits: KeyLimits): Promise<{ ticket: number; served: number }> {
    const cap = limits.maxConcurrent;
    try {
      const { Attributes } = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: ownerKey(owner),
          UpdateExpression:
            'ADD tickets :one, waiting :one ' +
            'SET queueKey = :waiting, queueOrder = :owner, kind = :kind, #owner = :owner, weight = :weight, lastEnqueuedAt = :now' +
            (cap === undefined ? ' REMOVE maxRunning' : ', maxRunning = :maxRunning'),
          ConditionExpression: 'attribute_not_exists(waiting) OR waiting < :maxQueued',
          // `owner` is one of DynamoDB's reserved words.
          ExpressionAttributeNames: { '#owner': 'owner' },
          ExpressionAttributeValues: {
            ':one': 1,
            ':waiting': WAITING_OWNERS,
            ':kind': 'owner',
            ':owner': owner,
            ':weight': limits.weight,
            ':now': this.clock().toISOString(),
            ':maxQueued': limits.maxQueued,
            ...(cap !== undefined && { ':maxRunning': cap }),
          },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return { ticket: Number(Attributes!.tickets), served: Number(Attributes!.served ?? 0) };
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      throw new TooManyRequestsError(
        `This key may have ${limits.maxQueued} generations waiting for an upstream slot; wait for some to start.`,
        QUEUE_FULL_RETRY_AFTER_SECONDS,
      );
    }
  }

  /** The owner leaves the index of waiting owners when its last task leaves. */
  async dequeue(owner: string, servedAt?: Date): Promise<void> {
    let waiting: number;
    try {
      const { Attributes } = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: ownerKey(owner),
          UpdateExpression: `ADD waiting :minusOne, served :one${servedAt ? ' SET lastServedAt = :servedAt' : ''}`,
          ConditionExpression: 'waiting > :zero',
          ExpressionAttributeValues: { ':minusOne': -1, ':one': 1, ':zero': 0, ...(servedAt && { ':servedAt': servedAt.toISOString() }) },
          ReturnValues: 'UPDATED_NEW',
        }),
      );
      waiting = Number(Attributes!.waiting);
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      waiting = 0; // already at zero (the reconciler repaired it): only the index entry may be left
    }
    if (waiting === 0) await this.leaveWaitingIndex(owner);
  }

  async waitingOwners(): Promise<OwnerRecord[]> {
    // The index lags behind the table: an owner whose last task has just left may still be listed.
    return (await this.read(await this.listedOwners())).filter((owner) => owner.waiting > 0);
  }

  async get(owner: string): Promise<OwnerRecord | undefined> {
    const { Item } = await this.client.send(new GetCommand({ TableName: this.tableName, Key: ownerKey(owner), ConsistentRead: true }));
    return Item?.tickets === undefined ? undefined : recordOf(Item);
  }

  async position(owner: string, ticket: number): Promise<number> {
    return queuePosition(ticket, (await this.get(owner))?.served ?? 0);
  }

  /**
   * Reads no queue beyond its head: an owner listed as waiting whose queue is empty (and who has not
   * enqueued for a minute) is set back to nothing waiting and everything served. Each write is conditional
   * on the counters as read, so an enqueue in between is never undone.
   */
  async repair(queueIsEmpty: (owner: string) => Promise<boolean>): Promise<number> {
    const now = this.clock().getTime();
    let repaired = 0;
    for (const owner of await this.read(await this.listedOwners())) {
      const recent = owner.lastEnqueuedAt && now - Date.parse(owner.lastEnqueuedAt) < REPAIR_AFTER_MS;
      if (recent || !(await queueIsEmpty(owner.owner))) continue;
      try {
        await this.client.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key: ownerKey(owner.owner),
            UpdateExpression: 'SET waiting = :zero, served = :tickets REMOVE queueKey',
            ConditionExpression: 'tickets = :tickets AND waiting = :waiting',
            ExpressionAttributeValues: { ':zero': 0, ':tickets': owner.tickets, ':waiting': owner.waiting },
          }),
        );
        repaired++;
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException)) throw error; // changed meanwhile: next run
      }
    }
    return repaired;
  }

  /** Every owner the index lists as waiting, whatever its count says. */
  private async listedOwners(): Promise<string[]> {
    const owners: string[] = [];
    let ExclusiveStartKey: Record<string, unknown> | undefined;
    do {
      const page = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          IndexName: QUEUE_INDEX,
          KeyConditionExpression: 'queueKey = :waiting',
          ExpressionAttributeValues: { ':waiting': WAITING_OWNERS },
          ExclusiveStartKey,
        }),
      );
      for (const item of page.Items ?? []) owners.push(String(item.queueOrder));
      ExclusiveStartKey = page.LastEvaluatedKey;
    } while (ExclusiveStartKey);
    return owners;
  }

  /** The owners' items, read consistently in batches. */
  private async read(owners: string[]): Promise<OwnerRecord[]> {
    const records: OwnerRecord[] = [];
    for (let start = 0; start < owners.length; start += 100) {
      let request: Record<string, { Keys: Record<string, unknown>[]; ConsistentRead: boolean }> | undefined = {
        [this.tableName]: { Keys: owners.slice(start, start + 100).map(ownerKey), ConsistentRead: true },
      };
      while (request && Object.keys(request).length > 0) {
        const page = await this.client.send(new BatchGetCommand({ RequestItems: request }));
        for (const item of page.Responses?.[this.tableName] ?? []) records.push(recordOf(item));
        request = page.UnprocessedKeys as typeof request;
      }
    }
    return records;
  }

  private async leaveWaitingIndex(owner: string): Promise<void> {
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: ownerKey(owner),
          UpdateExpression: 'REMOVE queueKey',
          ConditionExpression: 'waiting = :zero AND attribute_exists(queueKey)',
          ExpressionAttributeValues: { ':zero': 0 },
        }),
      );
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error; // a task was queued meanwhile: stay listed
    }
  }
}

const ownerKey = (owner: string) => ({ pk: `OWNER#${owner}` });

function recordOf(item: Record<string, unknown>): OwnerRecord {
  return {
    owner: String(item.owner ?? String(item.pk).slice('OWNER#'.length)),
    weight: Number(item.weight ?? 1),
    ...(item.maxRunning !== undefined && { maxRunning: Number(item.maxRunning) }),
    ...(typeof item.lastServedAt === 'string' && { lastServedAt: item.lastServedAt }),
    tickets: Number(item.tickets ?? 0),
    waiting: Number(item.waiting ?? 0),
    served: Number(item.served ?? 0),
    ...(typeof item.lastEnqueuedAt === 'string' && { lastEnqueuedAt: item.lastEnqueuedAt }),
  };
}
