/**
 * Client keys and their limits: the keys command against a running local gateway and against a stopped
 * one's data dir, revocation, owners (random, joined only by name), what is stored of operator-chosen keys,
 * per-key rate and concurrency limits (429 + Retry-After, nothing created upstream, no idempotency record
 * left), the reconciler's repair of a per-key count left too high, and the owners of the keys `npm start`
 * seeds across a restart.
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
import { LOCAL_REGION } from '../../local/local-aws.ts';
import { SeedClient, waitUntil } from '../support/client.ts';
import { TestClock } from '../support/clock.ts';
import { eventually } from '../support/eventually.ts';
import { hashApiKey } from '../../functions/commons/domain/api-key.ts';
import { DynamoDbApiKeyStore } from '../../functions/commons/adapters/api-key-store.ts';
import { ClientLimits } from '../../functions/commons/adapters/client-limits.ts';
import { TooManyRequestsError } from '../../functions/commons/errors.ts';
import { ROOMY_DEADLINE_SECONDS, TEST_TIME_SCALE } from '../support/time.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
/** Keys the operator chose (LOCAL_API_KEY), not generated ones: nothing of them may be stored in plain text. */
const BOOTSTRAP_KEY = 'keys-test-bootstrap-0123456789';
const OPERATOR_KEY = 'operator-chosen-secret-0123456789';
let gateway: LocalGateway;
let dataDir: string;
let documents: DynamoDBDocumentClient;
/**
 * The simulated upstream's clock. Frozen, every generation stays where it is: tasks that must still be
 * unfinished while the test sends its next requests are, however slow the machine.
 */
const upstreamClock = new TestClock();

async function keys(...args: string[]): Promise<string> {
  // tsx itself rather than through npx: the same command, without npm's start-up on a busy machine.
  const { stdout } = await promisify(execFile)(join(ROOT, 'node_modules/.bin/tsx'), ['scripts/keys.ts', ...args, '--data-dir', dataDir], { cwd: ROOT });
  return stdout;
}

async function createKey(name: string, ...options: string[]): Promise<SeedClient> {
  const output = await keys('create', '--name', name, ...options);
  return new SeedClient(gateway.url, /^(lvg_[A-Za-z0-9_-]{43})$/m.exec(output)![1]!);
}

/**
 * Waits until none of the owner's generations counts as unfinished. A task shows its end to a GET one write
 * before its owner's count is given back: a client that sees "completed" and posts at once may still meet
 * the old count, so the tests wait for the count itself.
 */
async function countGivenBack(owner: string): Promise<void> {
  const active = async () =>
    Number((await documents.send(new GetCommand({ TableName: 'luma-gateway', Key: { pk: `OWNER#${owner}` } }))).Item?.active ?? 0);
  await eventually(async () => (await active()) === 0, `the unfinished count of ${owner} to be given back`);
}

/** The owner stored for a key. */
async function ownerOf(apiKey: string): Promise<string> {
  const { Item } = await documents.send(new GetCommand({ TableName: 'luma-gateway', Key: { pk: `APIKEY#${hashApiKey(apiKey)}` } }));
  return String(Item!.owner);
}

const OWNER_ID = /^own_[0-9a-f]{32}$/;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'keys-it-'));
  gateway = await startLocalGateway({
    dataDir,
    port: 0,
    apiKeys: [BOOTSTRAP_KEY, OPERATOR_KEY],
    timeScale: TEST_TIME_SCALE,
    generationTimeoutSeconds: ROOMY_DEADLINE_SECONDS,
    simulator: { clock: upstreamClock },
    log: () => undefined,
    functionLogs: () => undefined,
  });
  documents = DynamoDBDocumentClient.from(
    new DynamoDBClient({ endpoint: gateway.dynamoDbEndpoint, region: LOCAL_REGION, credentials: gateway.credentials }),
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

  it('gives each new key an owner of its own, a random id unrelated to its name', async () => {
    const [quinn, rosa] = [await createKey('quinn'), await createKey('rosa')];
    const owners = [await ownerOf(quinn.apiKey), await ownerOf(rosa.apiKey)];
    for (const owner of owners) expect(owner).toMatch(OWNER_ID);
    expect(owners[0]).not.toBe(owners[1]);
    expect(await keys('list')).toContain(owners[0]);
  });

  it('never hands a revoked key’s tenant to a new key of the same name', async () => {
    const racer = await createKey('racer');
    const { body } = await racer.create({ user_prompt: 'The old racer’s video' });
    expect(await keys('revoke', 'racer')).toContain('Revoked key "racer"');
    const impostor = await createKey('racer');
    expect(await ownerOf(impostor.apiKey)).not.toBe(await ownerOf(racer.apiKey));
    expect((await impostor.get(body.id)).status).toBe(404);
  });

  it('joins an existing owner only when --owner names it, and says so', async () => {
    const lead = await createKey('team-lead');
    const owner = await ownerOf(lead.apiKey);
    const { body } = await lead.create({ user_prompt: 'A team video' });
    const output = await keys('create', '--name', 'team-second', '--owner', owner);
    expect(output).toContain(`joins owner "${owner}" (1 existing key:`);
    const second = new SeedClient(gateway.url, /^(lvg_[A-Za-z0-9_-]{43})$/m.exec(output)![1]!);
    expect(await ownerOf(second.apiKey)).toBe(owner);
    expect((await second.get(body.id)).status).toBe(200);
  });

  it('refuses --owner naming an owner no key has, unless --new-owner says to create it', async () => {
    await expect(keys('create', '--name', 'stray', '--owner', 'team-nobody')).rejects.toThrow(/No key has the owner "team-nobody"/);
    expect(await keys('list')).not.toContain('stray');
    const output = await keys('create', '--name', 'founder', '--owner', 'team-nobody', '--new-owner');
    expect(output).toContain('for a new owner "team-nobody"');
    // Creating it again would join it by accident: --new-owner refuses an owner that exists.
    await expect(keys('create', '--name', 'second-founder', '--owner', 'team-nobody', '--new-owner')).rejects.toThrow(/exists already/);
    await expect(keys('create', '--name', 'lonely', '--new-owner')).rejects.toThrow(/--new-owner needs --owner/);
  });

  it('counts revoked keys when joining an owner: their tasks become readable', async () => {
    const old = await createKey('old-timer');
    const owner = await ownerOf(old.apiKey);
    await keys('revoke', 'old-timer');
    expect(await keys('create', '--name', 'successor', '--owner', owner)).toContain(`joins owner "${owner}" (1 existing key, 1 of them revoked:`);
  });

  it('refuses a second active key with the same name', async () => {
    await createKey('erin');
    await expect(keys('create', '--name', 'erin')).rejects.toThrow(/exists already/);
  });
});

describe('per-key limits', () => {
  it('answers 429 with Retry-After past the key’s unfinished-generation cap, creating nothing upstream', async () => {
    const frank = await createKey('frank', '--max-concurrent', '2');
    upstreamClock.freeze();
    const first = await frank.create({ user_prompt: 'Frank one' });
    const second = await frank.create({ user_prompt: 'Frank two' });
    const before = gateway.simulatedLuma!.stats().creates;
    const third = await frank.create({ user_prompt: 'Frank three' });
    upstreamClock.thaw();
    expect([first.status, second.status]).toEqual([200, 200]);
    expect(third.status).toBe(429);
    expect(third.body.error.code).toBe('rate_limited');
    expect(Number(third.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(gateway.simulatedLuma!.stats().creates).toBe(before);

    await frank.waitForTerminal(first.body.id);
    await frank.waitForTerminal(second.body.id);
    await countGivenBack(await ownerOf(frank.apiKey));
    expect((await frank.create({ user_prompt: 'Frank four' })).status).toBe(200); // room again
  });

  it('one tenant at its cap leaves the upstream to the others', async () => {
    const greedy = await createKey('greedy'); // default limits: 5 unfinished, below the upstream's 10 slots
    upstreamClock.freeze();
    const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => greedy.create({ user_prompt: `Greedy ${i}` })));
    upstreamClock.thaw();
    expect(answers.filter((answer) => answer.status === 200)).toHaveLength(5);
    expect(answers.filter((answer) => answer.status === 429)).toHaveLength(3);
    const modest = await createKey('modest');
    const mine = await modest.create({ user_prompt: 'Modest but served' });
    expect(mine.status).toBe(200);
    expect((await modest.waitForTerminal(mine.body.id)).state).toBe('completed');
  });

  it('answers 429 past the key’s generations a minute', async () => {
    // The rate is counted in clock-aligned minutes of the API function's own clock, which runs in the
    // local Lambda and cannot be set from here. Three POSTs that straddle a minute boundary rightly meet
    // a fresh window: the client's clock, read before the first and after the last, brackets the API's,
    // so such a run is recognised for certain and made again with a new key (two in a row would take a
    // minute). The next test drives ClientLimits' injected clock across the boundary.
    for (let attempt = 1; ; attempt++) {
      const gina = await createKey(`gina-${attempt}`, '--rate', '2');
      const minuteBefore = Math.floor(Date.now() / 60_000);
      const answers = [];
      for (const n of ['one', 'two', 'three']) answers.push(await gina.create({ user_prompt: `Gina ${n}` }));
      if (Math.floor(Date.now() / 60_000) !== minuteBefore && attempt === 1) continue;
      expect(answers.map((answer) => answer.status)).toEqual([200, 200, 429]);
      expect(Number(answers[2]!.headers.get('retry-after'))).toBeLessThanOrEqual(60);
      return;
    }
  });

  it('counts each clock-aligned minute on its own (ClientLimits on the gateway’s table, on a clock the test sets)', async () => {
    let now = Date.UTC(2026, 0, 1, 12, 0, 59, 500); // half a second before a minute ends
    const limits = new ClientLimits(documents, 'luma-gateway', { ratePerMinute: 30, maxConcurrent: 100 }, () => now);
    const key = { keyHash: 'clock-driven-key', owner: 'own_clock_driven', name: 'clocked', createdAt: new Date(now).toISOString(), limits: { ratePerMinute: 2 } };
    await limits.admit(key);
    await limits.admit(key);
    const refused = await limits.admit(key).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(TooManyRequestsError);
    expect((refused as TooManyRequestsError).retryAfterSeconds).toBe(1);
    now += 1_000; // the next minute: a fresh window
    await limits.admit(key);
    await limits.admit(key);
    await expect(limits.admit(key)).rejects.toBeInstanceOf(TooManyRequestsError);
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
    upstreamClock.freeze();
    const first = await post('Ivy one', 'ivy-1');
    expect(first.status).toBe(200);
    const before = await idempotencyRecords();
    expect(before).toHaveLength(1);

    const refused = await Promise.all(['ivy-2', 'ivy-3', 'ivy-4'].map((key) => post(`Ivy ${key}`, key)));
    upstreamClock.thaw();
    expect(refused.map((answer) => answer.status)).toEqual([429, 429, 429]);
    expect(await idempotencyRecords()).toEqual(before);

    // The refused key was never used: once there is room, it serves another body as a first request.
    await ivy.waitForTerminal(first.body.id);
    await countGivenBack(await ownerOf(ivy.apiKey));
    const later = await post('Ivy, another body', 'ivy-2');
    expect(later.status).toBe(200);
    expect(later.headers.get('idempotent-replayed')).toBeNull();
  });

  it('a count left too high is repaired by the reconciler', async () => {
    const hank = await createKey('hank', '--max-concurrent', '1', '--owner', 'hank', '--new-owner');
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

describe('the local gateway’s own keys (LOCAL_API_KEY)', () => {
  it('gives each its own random owner, kept across a restart of the same data dir', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keys-seed-it-'));
    const start = () =>
      startLocalGateway({
        dataDir: dir,
        port: 0,
        apiKeys: [BOOTSTRAP_KEY, OPERATOR_KEY],
        timeScale: TEST_TIME_SCALE,
        generationTimeoutSeconds: ROOMY_DEADLINE_SECONDS,
        log: () => undefined,
        functionLogs: () => undefined,
      });
    const ownersIn = async (local: LocalGateway) => {
      const client = DynamoDBDocumentClient.from(
        new DynamoDBClient({ endpoint: local.dynamoDbEndpoint, region: LOCAL_REGION, credentials: local.credentials }),
      );
      const owners = [];
      for (const key of [BOOTSTRAP_KEY, OPERATOR_KEY]) {
        const { Item } = await client.send(new GetCommand({ TableName: 'luma-gateway', Key: { pk: `APIKEY#${hashApiKey(key)}` } }));
        owners.push(String(Item!.owner));
      }
      client.destroy();
      return owners;
    };
    let local = await start();
    try {
      const owners = await ownersIn(local);
      for (const owner of owners) expect(owner).toMatch(OWNER_ID);
      expect(owners[0]).not.toBe(owners[1]);
      const { body } = await new SeedClient(local.url, BOOTSTRAP_KEY).create({ user_prompt: 'Before the restart' });
      await local.close();

      local = await start();
      expect(await ownersIn(local)).toEqual(owners);
      expect((await new SeedClient(local.url, BOOTSTRAP_KEY).get(body.id)).status).toBe(200);
      expect((await new SeedClient(local.url, OPERATOR_KEY).get(body.id)).status).toBe(404);
    } finally {
      await local.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
