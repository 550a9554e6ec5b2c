/**
 * `npm run keys -- create --table <TableName> --name <label> [--owner <owner>]`
 * Creates a client API key for a deployed gateway: prints the key once and stores only its SHA-256.
 * Uses the standard AWS credential chain and region (AWS_PROFILE, AWS_REGION, …).
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoDbApiKeyStore } from '../functions/commons/adapters/api-key-store.ts';
import { hashApiKey } from '../functions/commons/domain/api-key.ts';

const USAGE = 'usage: npm run keys -- create --table <TableName> --name <label> [--owner <owner id>]';

async function main(): Promise<void> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: { table: { type: 'string' }, name: { type: 'string' }, owner: { type: 'string' } },
  });
  if (positionals[0] !== 'create' || !values.table || !values.name) throw new Error(USAGE);
  const key = `lvg_${randomBytes(32).toString('base64url')}`;
  const client = new DynamoDBClient({});
  try {
    await new DynamoDbApiKeyStore(DynamoDBDocumentClient.from(client), values.table).put({
      keyHash: hashApiKey(key),
      owner: values.owner ?? values.name,
      name: values.name,
      createdAt: new Date().toISOString(),
    });
  } finally {
    client.destroy();
  }
  console.log(`Created key "${values.name}" for owner "${values.owner ?? values.name}". It is shown only this once:\n${key}`);
}

main().catch((error: Error) => {
  console.error(error.message);
  process.exit(1);
});
