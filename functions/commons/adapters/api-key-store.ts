import { GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

export interface ApiKeyRecord {
  keyHash: string;
  owner: string;
  name: string;
  createdAt: string;
}

export interface ApiKeyStore {
  /** The owner a key hash belongs to, or undefined for an unknown key. */
  ownerOf(keyHash: string): Promise<string | undefined>;
  put(record: ApiKeyRecord): Promise<void>;
}

const keyOf = (keyHash: string) => ({ pk: `APIKEY#${keyHash}` });

export class DynamoDbApiKeyStore implements ApiKeyStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async ownerOf(keyHash: string): Promise<string | undefined> {
    const { Item } = await this.client.send(new GetCommand({ TableName: this.tableName, Key: keyOf(keyHash) }));
    return Item?.kind === 'apikey' && typeof Item.owner === 'string' ? Item.owner : undefined;
  }

  async put(record: ApiKeyRecord): Promise<void> {
    await this.client.send(
      new PutCommand({ TableName: this.tableName, Item: { ...keyOf(record.keyHash), kind: 'apikey', ...record } }),
    );
  }
}
