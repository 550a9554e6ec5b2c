/**
 * Client keys and their limits: the keys command against a running local gateway and against a stopped
 * one's data dir, revocation, per-key rate and concurrency limits (429 + Retry-After, nothing created
 * upstream), and the reconciler's repair of a per-key count left too high.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, ScanCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { startLocalGateway, type LocalGateway } from '../../local/gateway.ts';
import { LOCAL_CREDENTIALS, LOCAL_REGION } from '../../local/local-aws.ts';
import { SeedClient, waitUntil } from '../support/client.ts';
import { hashApiKey } from '../../functions/commons/domain/api-key.ts';
import { DynamoDbApiKeyStore } from '../../functions/commons/adapters/api-key-store.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
/** Keys the operator chose (LOCAL_API_KEY), not generated ones: nothing of them may be stored in plain text. */
const BOOTSTRAP_KEY = 'keys-test-bootstrap-0123456789';
const OPERATOR_KEY = 'operator-chosen-secret-0123456789';
let gateway: LocalGateway;
let dataDir: string;
let documents: DynamoDBDocumentClient;

async function keys(...args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)('npx', ['tsx', 'scripts/keys.ts', ...args, '--data-dir', dataDir], { cwd: ROOT });
  return stdout;
}

async function createKey(name: string, ...options: string[]): Promise<SeedClient> {
  const output = await keys('create', '--name', name, ...options);
  return new SeedClient(gateway.url, /^(lvg_[A-Za-z0-9_-]{43})$/m.exec(output)![1]!);
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'keys-it-'));
  gateway = await startLocalGateway({
    dataDir,
    port: 0,
    apiKeys: [BOOTSTRAP_KEY, OPERATOR_KEY],
    timeScale: 0.01,
    log: () => undefined,
    functionLogs: () => undefined,
  });
  documents = DynamoDBDocumentClient.from(
    new DynamoDBClient({ endpoint: gateway.dynamoDbEndpoint, region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS }),
  );
});

afterAll(async () => {
  await gateway?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('npm run keys', () => {
  it('creates a key that works, lists it without revealing it, and revokes it for the next request', async () => {
    const dana = await createKey('dana');
    const { status, body } = await dana.create({ user_prompt: 'Dana’s first video' });
    expect(status).toBe(200);
    await dana.waitForTerminal(body.id);

    const listing = await keys('list');
    expect(listing).toContain('dana');
    expect(listing).toContain(dana.apiKey.slice(0, 12));
    expect(listing).not.toContain(dana.apiKey);
    expect(listing).toMatch(/dana.*\d{4}-\d\d-\d\dT/s); // created and last used are shown

    expect(await keys('revoke', 'dana')).toContain('Revoked key "dana"');
    const refused = await dana.get(body.id);
    expect(refused.status).toBe(401);
    const unknown = await new SeedClient(gateway.url, 'lvg_not-a-key-at-all-0000000000').get(body.id);
    expect(refused.body).toEqual({ error: { ...unknown.body.error } }); // no hint which
    expect(await keys('list')).toMatch(/revoked/);
  });

  it('stores no prefix of an operator-chosen key, lists it with a placeholder, and revokes it by name', async () => {
    const { Item } = await documents.send(new GetCommand({ TableName: 'luma-gateway', Key: { pk: `APIKEY#${hashApiKey(OPERATOR_KEY)}` } }));
    expect(Item).toBeDefined();
    expect(Item!.prefix).toBeUndefined();
    expect(JSON.stringify(Item)).not.toContain(OPERATOR_KEY.slice(0, 6));

    const listing = await keys('list');
    for (const key of [OPERATOR_KEY, BOOTSTRAP_KEY]) expect(listing).not.toContain(key.slice(0, 6));
    const row = listing.split('\n').find((line) => line.includes(Item!.name))!;
    expect(row).toContain('—');

    const operator = new SeedClient(gateway.url, OPERATOR_KEY);
    expect((await operator.create({ user_prompt: 'Before the revocation' })).status).toBe(200);
    expect(await keys('revoke', Item!.name)).toContain(`Revoked key "${Item!.name}" (—)`);
    expect((await operator.create({ user_prompt: 'After the revocation' })).status).toBe(401);
  });

  it('drops the prefix an earlier version stored for an operator-chosen key when the key is seeded again', async () => {
    const store = new DynamoDbApiKeyStore(documents, 'luma-gateway');
    const keyHash = hashApiKey('an-older-operator-key-0123456789');
    const record = { keyHash, owner: 'own_older', name: 'older', createdAt: new Date().toISOString() };
    await store.put({ ...record, prefix: 'an-older-ope' });
    await store.ensure(record);
    const { Item } = await documents.send(new GetCommand({ TableName: 'luma-gateway', Key: { pk: `APIKEY#${keyHash}` } }));
    expect(Item).toMatchObject({ owner: 'own_older', name: 'older' });
    expect(Item!.prefix).toBeUndefined();
  });

  it('refuses a second active key with the same name', async () => {
    await createKey('erin');
    await expect(keys('create', '--name', 'erin')).rejects.toThrow(/exists already/);
  });
});

describe('per-key limits', () => {
  it('answers 429 with Retry-After past the key’s unfinished-generation cap, creating nothing upstream', async () => {
    const frank = await createKey('frank', '--max-concurrent', '2');
    const first = await frank.create({ user_prompt: 'Frank one' });
    const second = await frank.create({ user_prompt: 'Frank two' });
    const before = gateway.simulatedLuma!.stats().creates;
    const third = await frank.create({ user_prompt: 'Frank three' });
    expect([first.status, second.status]).toEqual([200, 200]);
    expect(third.status).toBe(429);
    expect(third.body.error.code).toBe('rate_limited');
    expect(Number(third.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(gateway.simulatedLuma!.stats().creates).toBe(before);

    await frank.waitForTerminal(first.body.id);
    await frank.waitForTerminal(second.body.id);
    expect((await frank.create({ user_prompt: 'Frank four' })).status).toBe(200); // room again
  });

  it('one tenant at its cap leaves the upstream to the others', async () => {
    const greedy = await createKey('greedy'); // default limits: 5 unfinished, below the upstream's 10 slots
    const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => greedy.create({ user_prompt: `Greedy ${i}` })));
    expect(answers.filter((answer) => answer.status === 200)).toHaveLength(5);
    expect(answers.filter((answer) => answer.status === 429)).toHaveLength(3);
    const modest = await createKey('modest');
    const mine = await modest.create({ user_prompt: 'Modest but served' });
    expect(mine.status).toBe(200);
    expect((await modest.waitForTerminal(mine.body.id)).state).toBe('completed');
  });

  it('answers 429 past the key’s generations a minute', async () => {
    const gina = await createKey('gina', '--rate', '2');
    expect((await gina.create({ user_prompt: 'Gina one' })).status).toBe(200);
    expect((await gina.create({ user_prompt: 'Gina two' })).status).toBe(200);
    const third = await gina.create({ user_prompt: 'Gina three' });
    expect(third.status).toBe(429);
    expect(Number(third.headers.get('retry-after'))).toBeLessThanOrEqual(60);
  });

  it('keeps no idempotency record of a request it refused with 429', async () => {
    const idempotencyRecords = async () => {
      const { Items = [] } = await documents.send(
        new ScanCommand({ TableName: 'luma-gateway', FilterExpression: 'begins_with(pk, :prefix)', ExpressionAttributeValues: { ':prefix': 'IDEMPOTENCY#' } }),
      );
      return Items.map((item) => String(item.pk)).sort();
    };
    const ivy = await createKey('ivy', '--max-concurrent', '1');
    const post = (prompt: string, key: string) => ivy.request('POST', '/luma/generations', { user_prompt: prompt }, { 'idempotency-key': key });
    const first = await post('Ivy one', 'ivy-1');
    expect(first.status).toBe(200);
    const before = await idempotencyRecords();
    expect(before).toHaveLength(1);

    const refused = await Promise.all(['ivy-2', 'ivy-3', 'ivy-4'].map((key) => post(`Ivy ${key}`, key)));
    expect(refused.map((answer) => answer.status)).toEqual([429, 429, 429]);
    expect(await idempotencyRecords()).toEqual(before);

    // The refused key was never used: once there is room, it serves another body as a first request.
    await ivy.waitForTerminal(first.body.id);
    const later = await post('Ivy, another body', 'ivy-2');
    expect(later.status).toBe(200);
    expect(later.headers.get('idempotent-replayed')).toBeNull();
  });

  it('a count left too high is repaired by the reconciler', async () => {
    const hank = await createKey('hank', '--max-concurrent', '1');
    await documents.send(
      new UpdateCommand({
        TableName: 'luma-gateway',
        Key: { pk: 'OWNER#hank' },
        UpdateExpression: 'SET active = :five, kind = :kind, #owner = :owner',
        ExpressionAttributeNames: { '#owner': 'owner' },
        ExpressionAttributeValues: { ':five': 5, ':kind': 'owner', ':owner': 'hank' },
      }),
    );
    expect((await hank.create({ user_prompt: 'Hank blocked' })).status).toBe(429);
    await waitUntil(
      async () => {
        const { Item } = await documents.send(new GetCommand({ TableName: 'luma-gateway', Key: { pk: 'OWNER#hank' } }));
        return Item?.active === 0 ? true : undefined;
      },
      30_000,
      'the reconciler to repair the count',
    );
    expect((await hank.create({ user_prompt: 'Hank again' })).status).toBe(200);
  });
});

describe('keys on a stopped gateway', () => {
  it('lists the keys of a data dir whose gateway is not running', async () => {
    await gateway.close();
    expect(await keys('list')).toContain('frank');
  });
});
