/**
 * Uploads in DynamoDB, one item per upload under `UPLOAD#<id>`, with `expiresAt` as its TTL: DynamoDB
 * deletes expired items lazily (within days), so readers check the expiry themselves (domain/upload.ts).
 */
import { GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { UploadRecord } from '../domain/upload.ts';
import type { UploadStore } from '../ports/upload-store.ts';

/** The item kind: its key prefix, which the API's IAM grant names (`dynamodb:LeadingKeys` `UPLOAD#*`). */
export const UPLOAD_KEY_PREFIX = 'UPLOAD#';
const keyOf = (id: string) => ({ pk: `${UPLOAD_KEY_PREFIX}${id}` });

export class DynamoDbUploadStore implements UploadStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async create(record: UploadRecord): Promise<void> {
    await this.client.send(
      new PutCommand({
        TableName: this.tableName,
        Item: { ...keyOf(record.id), kind: 'upload', ...record },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
  }

  async get(id: string): Promise<UploadRecord | undefined> {
    const { Item } = await this.client.send(new GetCommand({ TableName: this.tableName, Key: keyOf(id), ConsistentRead: true }));
    if (Item?.kind !== 'upload' || typeof Item.owner !== 'string') return undefined;
    const { id: itemId, owner, contentType, sizeBytes, createdAt, expiresAt } = Item as UploadRecord;
    return { id: itemId, owner, contentType, sizeBytes: Number(sizeBytes), createdAt, expiresAt: Number(expiresAt) };
  }
}
