/**
 * Upstream slots in DynamoDB: `SLOT#0` … `SLOT#n-1`, each held by at most one task, taken and released
 * with conditional writes so that no two tasks ever hold one slot, whichever Lambdas race. A holder that
 * vanished is bounded by its lease (the task's deadline) and reclaimed earlier by the reconciler.
 * Creates a minute are counted in `RATE#<window>` items that expire on their own.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { BatchGetCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { isFree, mayTakeSlot, rateWindow, type Admission, type CapacityLimits, type Slot } from '../domain/capacity.ts';
import type { Task } from '../domain/task.ts';
import type { TaskStore } from './task-store.ts';

/** A slot's lease outlives the task's deadline by this much, so only a truly lost holder ever expires. */
const LEASE_MARGIN_MS = 15 * 60_000;

export class UpstreamCapacity {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly tasks: Pick<TaskStore, 'countWaitingAhead'>,
    readonly limits: CapacityLimits,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Takes a slot for the task if its turn has come; idempotent for a task that already holds one. */
  async tryAdmit(task: Pick<Task, 'id' | 'createdAt' | 'deadline'>): Promise<Admission> {
    const now = this.clock();
    const slots = await this.slots();
    if (slots.some((slot) => slot.holder === task.id && !isFree(slot, now))) return { admitted: true };
    const free = slots.filter((slot) => isFree(slot, now));
    const ahead = await this.tasks.countWaitingAhead(task);
    if (!mayTakeSlot(ahead, free.length)) return { admitted: false, reason: 'queue', position: ahead + 1 };

    // Start at a random free slot, so concurrent admissions mostly try different items.
    const offset = Math.floor(Math.random() * free.length);
    const leaseUntil = Date.parse(task.deadline) + LEASE_MARGIN_MS;
    for (let i = 0; i < free.length; i++) {
      const slot = free[(offset + i) % free.length]!;
      if (await this.take(slot, task.id, leaseUntil, now)) {
        const window = await this.countCreate(now);
        if (window.allowed) return { admitted: true };
        await this.release(task.id);
        return { admitted: false, reason: 'rate', position: ahead + 1, retryAfterSeconds: window.secondsLeft };
      }
    }
    return { admitted: false, reason: 'queue', position: ahead + 1 };
  }

  /** Frees whichever slot the task holds; a no-op when it holds none. */
  async release(taskId: string): Promise<void> {
    for (const slot of await this.slots()) {
      if (slot.holder !== taskId) continue;
      try {
        await this.client.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key: slotKey(slot.index),
            UpdateExpression: 'REMOVE holder, leaseUntil',
            ConditionExpression: 'holder = :task',
            ExpressionAttributeValues: { ':task': taskId },
          }),
        );
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException)) throw error; // released meanwhile: fine
      }
    }
  }

  /** Every slot and its holder, as the reconciler and the FIFO check see them. */
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
          found.set(index, { index, holder: item.holder as string | undefined, leaseUntil: item.leaseUntil as number | undefined });
        }
        request = page.UnprocessedKeys as typeof request;
      }
    }
    return keys.map((_, index) => found.get(index) ?? { index });
  }

  private async take(slot: Slot, taskId: string, leaseUntil: number, now: number): Promise<boolean> {
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: slotKey(slot.index),
          UpdateExpression: 'SET holder = :task, leaseUntil = :lease, kind = :kind',
          ConditionExpression: 'attribute_not_exists(holder) OR leaseUntil < :now OR holder = :task',
          ExpressionAttributeValues: { ':task': taskId, ':lease': leaseUntil, ':now': now, ':kind': 'slot' },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false; // someone was faster
      throw error;
    }
  }

  private async countCreate(now: number): Promise<{ allowed: boolean; secondsLeft: number }> {
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
