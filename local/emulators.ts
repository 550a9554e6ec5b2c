/**
 * The embedded AWS emulators: dynalite for DynamoDB and s3rver for S3, both on 127.0.0.1 and both on disk
 * under the data dir, so a restart keeps every task and every stored video.
 */
import { createRequire } from 'node:module';
import { mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import {
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  ResourceNotFoundException,
  UpdateTableCommand,
  type CreateTableCommandInput,
} from '@aws-sdk/client-dynamodb';
import { LOCAL_CREDENTIALS, LOCAL_REGION } from './local-aws.ts';

const require = createRequire(import.meta.url);
const dynalite = require('dynalite') as (options: { path?: string; createTableMs?: number; updateTableMs?: number }) => Server;
const S3rver = require('s3rver') as new (options: object) => S3rverServer;

interface S3rverServer {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
  on(event: 'event', listener: (event: S3Event) => void): void;
}

export interface S3Event {
  Records: { eventName: string; s3: { bucket: { name: string }; object: { key: string; size?: number } } }[];
}

export interface Emulator {
  endpoint: string;
  close(): Promise<void>;
}

/** Starts dynalite on the data dir; with a table definition, also creates or upgrades that table. */
export async function startDynamoDb(dataDir: string, table?: CreateTableCommandInput): Promise<Emulator> {
  const path = `${dataDir}/dynamodb`;
  mkdirSync(path, { recursive: true });
  const server = dynalite({ path, createTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const client = new DynamoDBClient({ endpoint, region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS });
  try {
    if (table) await ensureTable(client, table);
  } finally {
    client.destroy();
  }
  return { endpoint, close: () => new Promise((resolve) => server.close(() => resolve())) };
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

export async function startS3(dataDir: string, bucket: string, onEvent: (event: S3Event) => void): Promise<Emulator> {
  const directory = `${dataDir}/s3`;
  mkdirSync(directory, { recursive: true });
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    directory,
    silent: true,
    configureBuckets: [{ name: bucket }],
  });
  server.on('event', onEvent);
  const address = await server.run();
  return { endpoint: `http://127.0.0.1:${address.port}`, close: () => server.close() };
}
