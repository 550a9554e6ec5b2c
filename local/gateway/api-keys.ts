/**
 * The client keys and the webhook secret `npm start` seeds into its table: the operator's keys
 * (LOCAL_API_KEY) or one generated and kept in the data dir, each its own owner; and one webhook secret for
 * all of them, LOCAL_WEBHOOK_SECRET or one generated and kept in the data dir (0600).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoDbApiKeyStore } from '../../functions/commons/adapters/api-key-store.ts';
import { generateApiKey, hashApiKey, keyPrefix, newOwnerId } from '../../functions/commons/domain/api-key.ts';
import { generateWebhookSecret, isWebhookSecret } from '../../functions/commons/domain/webhook-secret.ts';
import { LOCAL_REGION, LOCAL_TABLE_NAME, type LocalCredentials } from '../local-aws.ts';

export interface SeededKeys {
  apiKeys: string[];
  webhookSecret: string;
  /** The secret was made by this start (and so is shown once, by it). */
  webhookSecretGenerated: boolean;
}

/**
 * Stores the hashes of the client keys and their webhook secret. Only a generated key gets a prefix stored:
 * the operator's own may be short or guessable. A key stored already keeps its owner; its secret becomes
 * this one if it differs (a rotation: the previous one signs too for a day).
 */
export async function seedKeys(dataDir: string, keys: string[], configuredSecret: string | undefined, endpoint: string, credentials: LocalCredentials): Promise<SeededKeys> {
  const keyFile = join(dataDir, 'api-key');
  const generated = keys.length === 0;
  if (generated) {
    if (!existsSync(keyFile)) writeFileSync(keyFile, `${generateApiKey()}\n`, { mode: 0o600 });
    keys = [readFileSync(keyFile, 'utf8').trim()];
  }
  const { secret, generated: secretGenerated } = webhookSecret(dataDir, configuredSecret);
  const client = new DynamoDBClient({ endpoint, region: LOCAL_REGION, credentials });
  try {
    const store = new DynamoDbApiKeyStore(DynamoDBDocumentClient.from(client), LOCAL_TABLE_NAME);
    const now = new Date();
    for (const key of keys) {
      const keyHash = hashApiKey(key);
      // A new key gets a random owner of its own, never one derived from the key.
      const name = `local-${keyHash.slice(0, 12)}`;
      await store.ensure({ keyHash, owner: newOwnerId(), name, ...(generated && { prefix: keyPrefix(key) }), createdAt: now.toISOString() });
      const record = await store.find(keyHash);
      if (record && record.webhookSecret !== secret) await store.setWebhookSecret(record, secret, now);
    }
  } finally {
    client.destroy();
  }
  return { apiKeys: keys, webhookSecret: secret, webhookSecretGenerated: secretGenerated };
}

function webhookSecret(dataDir: string, configured: string | undefined): { secret: string; generated: boolean } {
  if (configured !== undefined) {
    if (!isWebhookSecret(configured)) throw new Error('LOCAL_WEBHOOK_SECRET must be a Standard Webhooks secret: whsec_ and 24 to 64 bytes in Base64.');
    return { secret: configured, generated: false };
  }
  const file = join(dataDir, 'webhook-secret');
  if (existsSync(file)) return { secret: readFileSync(file, 'utf8').trim(), generated: false };
  const secret = generateWebhookSecret();
  writeFileSync(file, `${secret}\n`, { mode: 0o600 });
  return { secret, generated: true };
}
