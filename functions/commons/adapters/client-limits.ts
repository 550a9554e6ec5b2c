/**
 * Per-key limits, so that one client cannot crowd out the others: generations started a minute (counted
 * in `KEYRATE#<key hash>#<window>` items that expire on their own) and generations unfinished at once
 * (an `OWNER#<owner>` counter, taken before a task is recorded and given back when it ends). Both are
 * conditional writes: the limit holds however many requests arrive together.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { scanKind } from './scan-kind.ts';
import { rateWindow } from '../domain/capacity.ts';
import type { KeyLimits } from '../domain/api-key.ts';
import type { ApiKeyRecord } from './api-key-store.ts';
import { TooManyRequestsError } from '../errors.ts';

/** When a key is at its cap of unfinished generations, how long a client should wait before trying again. */
const CONCURRENCY_RETRY_AFTER_SECONDS = 30;

export class ClientLimits {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
    readonly defaults: KeyLimits,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Counts one more generation for the key, or throws TooManyRequestsError with a Retry-After. */
  async admit(key: ApiKeyRecord): Promise<void> {
    const limits = { ...this.defaults, ...key.limits };
    const window = rateWindow(this.clock());
    const withinRate = await this.countUpTo(`KEYRATE#${key.keyHash}#${window.key}`, 'creates', limits.ratePerMinute, {
      kind: 'keyrate',
      expiresAt: window.expiresAt,
    });
    if (!withinRate) {
      throw new TooManyRequestsError(`This key may start ${limits.ratePerMinute} generations a minute.`, window.secondsLeft);
    }
    const withinConcurrency = await this.countUpTo(ownerKey(key.owner), 'active', limits.maxConcurrent, {
      kind: 'owner',
      owner: key.owner,
    });
    if (!withinConcurrency) {
      throw new TooManyRequestsError(
        `This key may have ${limits.maxConcurrent} unfinished generations at once; wait for one to finish.`,
        CONCURRENCY_RETRY_AFTER_SECONDS,
      );
    }
  }

  /** Gives back one unfinished generation of the owner; never goes below zero. */
  async finished(owner: string): Promise<void> {
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: ownerKey(owner) },
          UpdateExpression: 'ADD active :minusOne',
          ConditionExpression: 'active > :zero',
          ExpressionAttributeValues: { ':minusOne': -1, ':zero': 0 },
        }),
      );
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }

  /**
   * Repairs counters from the truth (the owners' unfinished tasks, as the reconciler counted them): a
   * counter left too high by a crash between a task's end and its give-back is lowered. Counters are
   * only lowered, and only if unchanged since read, so a create in between is never undone.
   */
  async repair(unfinishedByOwner: Map<string, number>): Promise<number> {
    let repaired = 0;
    for await (const item of scanKind(this.client, this.tableName, 'owner')) {
      const truth = unfinishedByOwner.get(String(item.owner)) ?? 0;
      if (Number(item.active) <= truth) continue;
      try {
        await this.client.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key: { pk: item.pk },
            UpdateExpression: 'SET active = :truth',
            ConditionExpression: 'active = :read',
            ExpressionAttributeValues: { ':truth': truth, ':read': item.active },
          }),
        );
        repaired++;
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException)) throw error; // changed meanwhile: next run
      }
    }
    return repaired;
  }

  /** Adds one to a counter item unless it has reached `max`; `attributes` are set on the item as well. */
  private async countUpTo(pk: string, counter: string, max: number, attributes: Record<string, string | number>): Promise<boolean> {
    const names = Object.keys(attributes);
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk },
          // Names go through placeholders: `owner` is one of DynamoDB's reserved words.
          UpdateExpression: `ADD ${counter} :one SET ${names.map((name) => `#${name} = :${name}`).join(', ')}`,
          ConditionExpression: `attribute_not_exists(${counter}) OR ${counter} < :max`,
          ExpressionAttributeNames: Object.fromEntries(names.map((name) => [`#${name}`, name])),
          ExpressionAttributeValues: {
            ':one': 1,
            ':max': max,
            ...Object.fromEntries(names.map((name) => [`:${name}`, attributes[name]])),
          },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }
}

const ownerKey = (owner: string) => `OWNER#${owner}`;
