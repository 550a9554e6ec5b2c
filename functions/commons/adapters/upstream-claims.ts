/**
 * Upstream claims in DynamoDB: one item `UPSTREAM#<provider>#<upstream id>` per generation, written once
 * with a conditional put. Kept for as long as the task history is (no TTL): the item is small, and an
 * expired claim would let a late search adopt a generation that was already somebody's.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { UpstreamClaims } from '../ports/upstream-claims.ts';

export const upstreamClaimKey = (provider: string, upstreamId: string) => `UPSTREAM#${provider}#${upstreamId}`;

export class DynamoDbUpstreamClaims implements UpstreamClaims {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async claim(provider: string, upstreamId: string, taskId: string): Promise<boolean> {
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { pk: upstreamClaimKey(provider, upstreamId), kind: 'upstream', taskId },
          // A repeat by the same task (a retried step) succeeds; any other task is refused.
          ConditionExpression: 'attribute_not_exists(pk) OR taskId = :task',
          ExpressionAttributeValues: { ':task': taskId },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }
}
