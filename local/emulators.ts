/**
 * The embedded AWS emulators: dynalite for DynamoDB and s3rver for S3, both on 127.0.0.1 and both on disk
 * under the data dir, so a restart keeps every task and every stored video. Neither checks signatures
 * itself: each request reaches them only through a guard (endpoint-guard.ts) that verifies it was signed
 * with the data dir's key, installed before the port opens.
 */
import { createRequire } from 'node:module';
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import {
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  ResourceNotFoundException,
  UpdateTableCommand,
  type CreateTableCommandInput,
} from '@aws-sdk/client-dynamodb';
import { LOCAL_REGION, type LocalCredentials } from './local-aws.ts';
import { jsonServiceGuard, replayed, s3Guard, type BucketCorsRule } from './endpoint-guard.ts';
import { ensurePrivateDir } from './private-files.ts';
import { closeServer, listenOnLoopback } from './loopback-http.ts';

const require = createRequire(import.meta.url);
const dynalite = require('dynalite') as (options: { path?: string; createTableMs?: number; updateTableMs?: number }) => Server;
const S3rver = require('s3rver') as new (options: object) => S3rverApp;
/** s3rver's registry of key pairs: its own header check needs to know the key id, and only that. */
const s3rverAccounts = require('s3rver/lib/models/account') as { DUMMY_ACCOUNT: { createKeyPair(id: string, secret: string): void } };

/** s3rver is a Koa app: its request listener is served from our own server, behind the guard. */
interface S3rverApp {
  callback(): RequestListener;
  configureBuckets(): Promise<void>;
  on(event: 'event', listener: (event: S3Event) => void): void;
}

export interface S3Event {
  Records: { eventName: string; s3: { bucket: { name: string }; object: { key: string; size?: number } } }[];
}

export interface Emulator {
  endpoint: string;
  close(): Promise<void>;
}

/**
 * Starts dynalite on the data dir, answering only requests signed with `credentials`; with a table
 * definition, also creates or upgrades that table.
 */
export async function startDynamoDb(
  dataDir: string,
  credentials: LocalCredentials,
  table?: CreateTableCommandInput,
  /** Sees every signed request (and may watch its answer) before dynalite serves it: usage.ts counts reads. */
  observe?: (req: IncomingMessage, body: Buffer, res: ServerResponse) => void,
): Promise<Emulator> {
  const path = `${dataDir}/dynamodb`;
  ensurePrivateDir(path);
  const server = dynalite({ path, createTableMs: 0, updateTableMs: 0 });
  const handle = server.listeners('request')[0] as RequestListener;
  server.removeAllListeners('request');
  const policy = { credentials, region: LOCAL_REGION, services: ['dynamodb'], uriEscapePath: true };
  server.on(
    'request',
    jsonServiceGuard(policy, (req, res, body) => {
      observe?.(req, body, res);
      // The guard has read the body to check its hash; dynalite reads it again, from a replay of the same bytes.
      handle(replayed(req, body), res);
    }),
  );
  const endpoint = await listenOnLoopback(server);
  const client = new DynamoDBClient({ endpoint, region: LOCAL_REGION, credentials });
  try {
    if (table) await ensureTable(client, table);
  } finally {
    client.destroy();
  }
  return { endpoint, close: () => closeServer(server) };
}

async function ensureTable(client: DynamoDBClient, table: CreateTableCommandInput): Promise<void> {
  try {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: table.TableName }));
    // A data dir from an older version: add the indexes the template has gained since.
    const existing = new Set((Table?.GlobalSecondaryIndexes ?? []).map((index) => index.IndexName));
    for (const index of table.GlobalSecondaryIndexes ?? []) {
      if (existing.has(index.IndexName)) continue;
      await client.send(
        new UpdateTableCommand({
          TableName: table.TableName,
          AttributeDefinitions: table.AttributeDefinitions,
          GlobalSecondaryIndexUpdates: [{ Create: index }],
        }),
      );
      await waitForActive(client, table.TableName!);
    }
  } catch (error) {
    if (!(error instanceof ResourceNotFoundException)) throw error;
    await client.send(new CreateTableCommand(table));
  }
  await waitForActive(client, table.TableName!);
}

async function waitForActive(client: DynamoDBClient, tableName: string): Promise<void> {
  // Writes to a table that is still CREATING or UPDATING fail: wait until it and its indexes are ACTIVE.
  for (let attempt = 0; attempt < 200; attempt++) {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
    const indexesActive = (Table?.GlobalSecondaryIndexes ?? []).every((index) => index.IndexStatus === 'ACTIVE');
    if (Table?.TableStatus === 'ACTIVE' && indexesActive) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`Table ${tableName} did not become ACTIVE.`);
}

/**
 * Starts s3rver on the data dir with the bucket, answering only requests signed with `credentials` or
 * presigned with them; with CORS rules (the bucket's, from the template), also pages of those origins.
 */
export async function startS3(
  dataDir: string,
  credentials: LocalCredentials,
  bucket: string,
  onEvent: (event: S3Event) => void,
  corsRules: readonly BucketCorsRule[] = [],
  /** Sees every request: usage.ts counts them. */
  observe?: (req: IncomingMessage) => void,
): Promise<Emulator> {
  const directory = `${dataDir}/s3`;
  ensurePrivateDir(directory);
  const configs = corsRules.length > 0 ? [corsConfigurationXml(corsRules)] : [];
  const app = new S3rver({ directory, silent: true, configureBuckets: [{ name: bucket, configs }] });
  app.on('event', onEvent);
  await app.configureBuckets();
  // The guard has verified the signature; s3rver's own check (which never verifies a V4 one) must still
  // find the key id, or it answers InvalidAccessKeyId.
  s3rverAccounts.DUMMY_ACCOUNT.createKeyPair(credentials.accessKeyId, credentials.secretAccessKey);
  const policy = { credentials, region: LOCAL_REGION, services: ['s3'], uriEscapePath: false };
  const server = createServer(s3Guard(policy, app.callback(), corsRules));
  if (observe) server.on('request', observe); // beside the guard, which answers
  return { endpoint: await listenOnLoopback(server), close: () => closeServer(server) };
}

/** The bucket's CORS rules as S3's CORSConfiguration document, which s3rver answers preflights from. */
function corsConfigurationXml(rules: readonly BucketCorsRule[]): string {
  const escape = (text: string) => text.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!);
  const element = (name: string, values: readonly (string | number)[]) => values.map((value) => `<${name}>${escape(String(value))}</${name}>`).join('');
  const body = rules
    .map(
      (rule) =>
        `<CORSRule>${element('AllowedOrigin', rule.allowedOrigins)}${element('AllowedMethod', rule.allowedMethods)}` +
        `${element('AllowedHeader', rule.allowedHeaders)}${element('MaxAgeSeconds', rule.maxAgeSeconds === undefined ? [] : [rule.maxAgeSeconds])}</CORSRule>`,
    )
    .join('');
  return `<CORSConfiguration>${body}</CORSConfiguration>`;
}
