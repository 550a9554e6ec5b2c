/**
 * Recent completion times in DynamoDB (ports/generation-durations.ts): one small item per kind,
 * `STATS#duration#<kind>`, holding the last RECENT_COMPLETIONS times, rewritten whole and conditional on
 * its version. Reads are cached for a minute per environment: the typical time moves slowly, and a poll
 * turn should not cost a read for it.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { withCompletion } from '../domain/poll-schedule.ts';
import type { GenerationDurations } from '../ports/generation-durations.ts';
import { systemClock, type Clock } from '../clock.ts';

const CACHE_MS = 60_000;
const MAX_WRITE_ATTEMPTS = 3;

interface DurationsItem {
  recent: number[];
  version: number;
}

export class DynamoDbGenerationDurations implements GenerationDurations {
  readonly #cache = new Map<string, { recent: number[]; readAt: number }>();

  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly clock: Clock = systemClock,
  ) {}

  async recent(kind: string): Promise<number[]> {
    const cached = this.#cache.get(kind);
    const now = this.clock().getTime();
    if (cached && now - cached.readAt < CACHE_MS) return cached.recent;
    const { recent } = await this.read(kind, false);
    this.#cache.set(kind, { recent, readAt: now });
    return recent;
  }

  async record(kind: string, seconds: number): Promise<void> {
    for (let attempt = 1; attempt <= MAX_WRITE_ATTEMPTS; attempt++) {
      const item = await this.read(kind, true);
      const recent = withCompletion(item.recent, seconds);
      try {
        await this.client.send(
          new PutCommand({
            TableName: this.tableName,
            Item: { pk: keyOf(kind), kind: 'stats', recent, version: item.version + 1 },
            ConditionExpression: 'attribute_not_exists(pk) OR #version = :read',
            ExpressionAttributeNames: { '#version': 'version' },
            ExpressionAttributeValues: { ':read': item.version },
          }),
        );
        this.#cache.set(kind, { recent, readAt: this.clock().getTime() });
        return;
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException)) throw error;
      }
    }
    // Another completion of the same kind kept winning: this one is left out, which the median shrugs off.
  }

  private async read(kind: string, consistent: boolean): Promise<DurationsItem> {
    const { Item } = await this.client.send(new GetCommand({ TableName: this.tableName, Key: { pk: keyOf(kind) }, ConsistentRead: consistent }));
    return { recent: Array.isArray(Item?.recent) ? (Item.recent as number[]) : [], version: Number(Item?.version ?? 0) };
  }
}

function keyOf(kind: string): string {
  return `STATS#duration#${kind}`;
}
