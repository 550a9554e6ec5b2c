/**
 * Client API keys, for a local data dir or a deployed stack:
 *
 *   npm run keys -- create --name <label> [--owner <id> [--new-owner]] [--rate <per minute>] [--max-queued <n>]
 *                          [--max-concurrent <n>] [--weight <n>]
 *   npm run keys -- list
 *   npm run keys -- revoke <prefix|name>
 *   npm run keys -- webhook-secret <prefix|name> [--rotate]
 *
 * Target (one of): `--data-dir <dir>` (default: LOCAL_DATA_DIR or .local, the local gateway's data; it may
 * be running), `--table <name>` or `--stack <name>` (a deployed gateway, through the standard AWS
 * credential chain and region). A new key is printed once; only its SHA-256 is stored. Revoking takes
 * effect at the key's next request. Each key has a webhook secret (`whsec_…`, Standard Webhooks) that signs
 * its tasks' webhook deliveries: `create` prints it with the key, `webhook-secret` shows it (giving a key
 * made before webhooks existed its first one), `--rotate` replaces it (the previous one keeps signing, beside
 * it, for a day, so receivers can switch). The secret is kept in the key's record: it is a secret.
 *
 * Each key is its own owner (tenant, a random `own_…` id) unless `--owner` names an owner that existing
 * keys have (revoked ones included): the new key then joins it and reads all its tasks, and the command
 * says how many keys it joins. `--owner` with an owner no key has is refused, unless `--new-owner` asks
 * for that owner to be created (and then one that exists is refused): a tenant is never shared by accident.
 *
 * Limits (domain/api-key.ts): `--rate` creates a minute; `--max-queued` the owner's tasks waiting for an
 * upstream slot; `--max-concurrent` the owner's tasks running upstream at once (default: no cap, fair
 * share governs); `--weight` the owner's share of the slots against other owners' (default 1). Without
 * them, the deployment's defaults apply.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { DynamoDbApiKeyStore } from '../functions/commons/adapters/api-key-store.ts';
import {
  KEY_LIMIT_SETTINGS,
  KEY_LIMITS,
  NO_PREFIX,
  OWNER_NAME,
  generateApiKey,
  hashApiKey,
  keyPrefix,
  newOwnerId,
  type KeyLimits,
} from '../functions/commons/domain/api-key.ts';
import { SettingsReader, boundsOf, defaultOf, describeBounds, parseNumber } from '../functions/commons/settings/reader.ts';
import { startDynamoDb } from '../local/emulators.ts';
import { ENDPOINTS_FILE, LOCAL_REGION, LOCAL_TABLE_NAME, localCredentials } from '../local/local-aws.ts';
import type { ApiKeyRecord } from '../functions/commons/ports/api-key-store.ts';
import { generateWebhookSecret } from '../functions/commons/domain/webhook-secret.ts';

const USAGE = `usage: npm run keys -- <create|list|revoke|webhook-secret> [options]
  create --name <label> [--owner <existing owner> | --owner <id> --new-owner] [--rate <generations a minute>]
         [--max-queued <tasks waiting>] [--max-concurrent <tasks running upstream>] [--weight <share of the slots>]
  list
  revoke <prefix|name>
  webhook-secret <prefix|name> [--rotate]
target: --data-dir <dir> (default LOCAL_DATA_DIR or .local) | --table <name> | --stack <name>`;

interface Target {
  store: DynamoDbApiKeyStore;
  close(): Promise<void>;
}

async function main(): Promise<void> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      name: { type: 'string' },
      owner: { type: 'string' },
      'new-owner': { type: 'boolean' },
      rate: { type: 'string' },
      'max-queued': { type: 'string' },
      'max-concurrent': { type: 'string' },
      weight: { type: 'string' },
      rotate: { type: 'boolean' },
      'data-dir': { type: 'string' },
      table: { type: 'string' },
      stack: { type: 'string' },
    },
  });
  const [command, argument] = positionals;
  if (!command || !['create', 'list', 'revoke', 'webhook-secret'].includes(command)) throw new Error(USAGE);
  const target = await openTarget(values);
  try {
    if (command === 'create') await create(target.store, values);
    if (command === 'list') await list(target.store);
    if (command === 'revoke') await revoke(target.store, argument);
    if (command === 'webhook-secret') await webhookSecret(target.store, argument, values.rotate === true);
  } finally {
    await target.close();
  }
}

interface CreateOptions {
  name?: string;
  owner?: string;
  'new-owner'?: boolean;
  rate?: string;
  'max-queued'?: string;
  'max-concurrent'?: string;
  weight?: string;
}

async function create(store: DynamoDbApiKeyStore, options: CreateOptions): Promise<void> {
  const { name, owner: named } = options;
  if (!name) throw new Error(USAGE);
  const limits: Partial<KeyLimits> = {};
  for (const limit of Object.keys(KEY_LIMITS) as (keyof KeyLimits)[]) {
    const raw = options[KEY_LIMITS[limit].option];
    if (raw !== undefined) limits[limit] = limitValue(limit, raw);
  }
  const records = await store.list();
  if (records.some((record) => record.name === name && !record.revokedAt)) {
    throw new Error(`A key named "${name}" exists already; revoke it first or choose another name.`);
  }
  const { owner, says } = chooseOwner(records, named, options['new-owner'] === true);
  const key = generateApiKey();
  const record: ApiKeyRecord = {
    keyHash: hashApiKey(key),
    owner,
    name,
    prefix: keyPrefix(key),
    createdAt: new Date().toISOString(),
    webhookSecret: generateWebhookSecret(),
    ...(Object.keys(limits).length > 0 && { limits }),
  };
  await store.put(record);
  console.log(`Created key "${record.name}"${says}. It is shown only this once:\n${key}`);
  console.log(`Its webhook secret, which signs its webhooks (\`webhook-secret ${record.name}\` shows it again):\n${record.webhookSecret}`);
}

/** Shows the key's webhook secret (a key made before webhooks gets its first), or rotates it. */
async function webhookSecret(store: DynamoDbApiKeyStore, match: string | undefined, rotate: boolean): Promise<void> {
  const record = findActive(await store.list(), match);
  if (record.webhookSecret && !rotate) {
    console.log(`The webhook secret of key "${record.name}":\n${record.webhookSecret}`);
    return;
  }
  const secret = generateWebhookSecret();
  await store.setWebhookSecret(record, secret, new Date());
  const previous = record.webhookSecret ? ' The previous one signs too, beside it, for the next 24 hours: switch your receivers within that time.' : '';
  console.log(`${record.webhookSecret ? 'Rotated' : 'Created'} the webhook secret of key "${record.name}".${previous}\n${secret}`);
}

/**
 * The new key's owner: a new random one; or the owner `--owner` names, which keys must have already
 * (revoked ones count: their tasks are the owner's), or must not have with `--new-owner`.
 */
function chooseOwner(records: ApiKeyRecord[], named: string | undefined, createNamed: boolean): { owner: string; says: string } {
  if (named === undefined) {
    if (createNamed) throw new Error('--new-owner needs --owner <id>: the name of the owner to create.');
    const owner = newOwnerId();
    return { owner, says: ` for a new owner "${owner}"` };
  }
  if (!OWNER_NAME.test(named)) {
    throw new Error(`--owner must be 1 to 128 letters, digits and . _ : - (starting with a letter or digit), not "${named}".`);
  }
  const members = records.filter((record) => record.owner === named);
  if (createNamed) {
    if (members.length > 0) {
      throw new Error(`The owner "${named}" exists already (${members.length} keys); drop --new-owner to join it, or choose another id.`);
    }
    return { owner: named, says: ` for a new owner "${named}"` };
  }
  if (members.length === 0) {
    throw new Error(`No key has the owner "${named}". Add --new-owner to create an owner of that name, or leave out --owner for a new random one.`);
  }
  const revoked = members.filter((record) => record.revokedAt).length;
  const count = `${members.length} existing key${members.length === 1 ? '' : 's'}${revoked ? `, ${revoked} of them revoked` : ''}`;
  return { owner: named, says: `, which joins owner "${named}" (${count}: it reads every task of theirs)` };
}

async function list(store: DynamoDbApiKeyStore): Promise<void> {
  const rows = (await store.list()).map((record) => ({
    name: record.name,
    prefix: record.prefix ?? NO_PREFIX, // operator-chosen keys (LOCAL_API_KEY) have none stored
    owner: record.owner,
    created: record.createdAt,
    'last used': record.lastUsedAt ?? 'never',
    limits: describeLimits(record.limits),
    status: record.revokedAt ? `revoked ${record.revokedAt}` : 'active',
  }));
  if (rows.length === 0) console.log('No keys.');
  else console.table(rows);
}

async function revoke(store: DynamoDbApiKeyStore, match: string | undefined): Promise<void> {
  const record = findActive(await store.list(), match);
  await store.revoke(record.keyHash, new Date());
  console.log(`Revoked key "${record.name}" (${record.prefix ?? NO_PREFIX}).`);
}

/** The one active key with this name, or whose prefix starts with it (8 characters at least). */
function findActive(records: ApiKeyRecord[], match: string | undefined): ApiKeyRecord {
  if (!match) throw new Error(USAGE);
  const candidates = records.filter((record) => !record.revokedAt && (record.name === match || (match.length >= 8 && record.prefix?.startsWith(match))));
  if (candidates.length === 0) throw new Error(`No active key with the name or prefix "${match}".`);
  if (candidates.length > 1) throw new Error(`"${match}" matches ${candidates.length} keys; give a longer prefix.`);
  return candidates[0]!;
}

async function openTarget(values: { 'data-dir'?: string; table?: string; stack?: string }): Promise<Target> {
  if (values.table || values.stack) {
    const client = new DynamoDBClient({});
    const table = values.table ?? (await tableOfStack(values.stack!));
    return { store: new DynamoDbApiKeyStore(DynamoDBDocumentClient.from(client), table), close: async () => client.destroy() };
  }
  const dataDir = values['data-dir'] ?? SettingsReader.env(process.env).text('localDataDir') ?? defaultOf('localDataDir');
  const endpoints = join(dataDir, ENDPOINTS_FILE);
  // A running gateway holds the emulator's files: talk to it. Otherwise open the data dir ourselves.
  const running = existsSync(endpoints) ? (JSON.parse(readFileSync(endpoints, 'utf8')) as { dynamodb: string }) : undefined;
  if (!running && !existsSync(join(dataDir, 'dynamodb'))) {
    throw new Error(`No local gateway data in ${dataDir}: run \`npm start\` once, or name --table/--stack.`);
  }
  // Its endpoints accept only the data dir's own key pair, which this user can read and others cannot.
  const credentials = localCredentials(dataDir);
  const emulator = running ? undefined : await startDynamoDb(dataDir, credentials);
  const client = new DynamoDBClient({ endpoint: running?.dynamodb ?? emulator!.endpoint, region: LOCAL_REGION, credentials });
  return {
    store: new DynamoDbApiKeyStore(DynamoDBDocumentClient.from(client), LOCAL_TABLE_NAME),
    close: async () => {
      client.destroy();
      await emulator?.close();
    },
  };
}

async function tableOfStack(stackName: string): Promise<string> {
  const client = new CloudFormationClient({});
  try {
    const { Stacks } = await client.send(new DescribeStacksCommand({ StackName: stackName }));
    const table = Stacks?.[0]?.Outputs?.find((output) => output.OutputKey === 'TableName')?.OutputValue;
    if (!table) throw new Error(`Stack ${stackName} has no TableName output: is it a video gateway stack?`);
    return table;
  } finally {
    client.destroy();
  }
}

/** A limit as an option gives it, within the catalogue's bounds of its setting. */
function limitValue(limit: keyof KeyLimits, raw: string): number {
  const label = `--${KEY_LIMITS[limit].option}`;
  const bounds = boundsOf(KEY_LIMIT_SETTINGS[limit], 'deployment');
  const value = parseNumber(raw, label, bounds);
  if (value === undefined) throw new Error(`${label} must be ${describeBounds(bounds)}, not "${raw}".`);
  return value;
}

/** A key's own limits, or `defaults`: e.g. `600/min, 50 queued, 3 running, weight 2`. */
function describeLimits(limits: Partial<KeyLimits> | undefined): string {
  if (!limits || Object.keys(limits).length === 0) return 'defaults';
  const or = (value: number | undefined) => value ?? 'default';
  return `${or(limits.ratePerMinute)}/min, ${or(limits.maxQueued)} queued, ${or(limits.maxConcurrent)} running, weight ${or(limits.weight)}`;
}

main().catch((error: Error) => {
  console.error(error.message);
  process.exit(1);
});
