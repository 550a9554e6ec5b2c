import { ScanCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

/**
 * Every item of one kind, page by page. A scan reads the whole table: for administration and repairs
 * (listing keys, the reconciler), never on a request's path.
 */
export async function* scanItemsOfKind(client: DynamoDBDocumentClient, tableName: string, kind: string): AsyncGenerator<Record<string, unknown>> {
  let ExclusiveStartKey: Record<string, unknown> | undefined;
  do {
    const page = await client.send(
      new ScanCommand({
        TableName: tableName,
        FilterExpression: 'kind = :kind',
        ExpressionAttributeValues: { ':kind': kind },
        ExclusiveStartKey,
      }),
    );
    yield* page.Items ?? [];
    ExclusiveStartKey = page.LastEvaluatedKey;
  } while (ExclusiveStartKey);
}
