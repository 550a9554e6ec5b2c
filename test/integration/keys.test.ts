/**
 * Client keys and their limits: the keys command against a running local gateway and against a stopped
 * one's data dir, revocation, owners (random, joined only by name), what is stored of operator-chosen keys,
 * per-key limits (a batch is queued, not refused; 429 + Retry-After past the queue's or the rate's limit,
 * nothing created upstream, no idempotency record left; a cap on running tasks; weights), the reconciler's
 * repair of a queue count left too high, and the owners of the keys `npm start` seeds across a restart.
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
import { ApiTestClient, waitUntil } from '../support/client.ts';
import { TestClock } from '../support/clock.ts';
import { hashApiKey } from '../../functions/commons/domain/api-key.ts';
import { DynamoDbApiKeyStore } from '../../functions/commons/adapters/api-key-store.ts';
import { DynamoDbClientLimits } from '../../functions/commons/adapters/client-limits.ts';
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

async function createKey(name: string, ...options: string[]): Promise<ApiTestClient> {
  const output = await keys('create', '--name', name, ...options);
  return new ApiTestClient(gateway.url, /^(lvg_[A-Za-z0-9_-]{43})$/m.exec(output)![1]!);
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
    const unknown = await new ApiTestClient(gateway.url, 'lvg_not-a-key-at-all-0000000000').get(body.id);
    expect(refused.body).toEqual({ error: { ...unknown.body.error } }); // no hint which
    expect(await keys('list')).toMatch(/revoked/);
  });

  it('stores no prefix of an operator-chosen key, lists it with a placeholder, and revokes it by name', async () => {
    const { Item } = await documents.send(new GetCommand({ TableName: 'luma-gateway', Key: { pk: `APIKEY#${hashApiKey(OPERATOR_KEY)}` } }));
    expect(Item).toMatchObject({ pk: `APIKEY#${hashApiKey(OPERATOR_KEY)}`, name: expect.any(String) });
    expect(Item!.prefix).toBeUndefined();
    expect(JSON.stringify(Item)).not.toContain(OPERATOR_KEY.slice(0, 6));

    const listing = await keys('list');
    for (const key of [OPERATOR_KEY, BOOTSTRAP_KEY]) expect(listing).not.toContain(key.slice(0, 6));
    const row = listing.split('\n').find((line) => line.includes(Item!.name))!;
    expect(row).toContain('—');

    const operator = new ApiTestClient(gateway.url, OPERATOR_KEY);
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
    const second = new ApiTestClient(gateway.url, /^(lvg_[A-Za-z0-9_-]{43})$/m.exec(output)![1]!);
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

describe('webhook secrets', () => {
  const SECRET = /^(whsec_[A-Za-z0-9+/]{43}=)$/m;

  it('create prints the key’s secret; webhook-secret shows it again, and --rotate replaces it while the old one keeps signing a day', async () => {
    const output = await keys('create', '--name', 'hooks');
    const secret = SECRET.exec(output.split('\n').slice(2).join('\n'))![1]!;
    const key = /^(lvg_[A-Za-z0-9_-]{43})$/m.exec(output)![1]!;
    expect(await keys('webhook-secret', 'hooks')).toContain(`\n${secret}\n`);

    const rotated = SECRET.exec(await keys('webhook-secret', 'hooks', '--rotate'))![1]!;
    expect(rotated).not.toBe(secret);
    const store = new DynamoDbApiKeyStore(documents, 'luma-gateway');
    expect(await store.webhookSecrets(hashApiKey(key))).toEqual({ webhookSecret: rotated, previousWebhookSecret: secret, webhookSecretRotatedAt: expect.any(String) });
    expect(await keys('webhook-secret', 'hooks')).toContain(`\n${rotated}\n`);
    // The secret is not in the list of keys.
    expect(await keys('list')).not.toMatch(/whsec_/);
  });

  it('gives a key made before webhooks its first secret', async () => {
    const output = await keys('create', '--name', 'pre-webhooks');
    const key = /^(lvg_[A-Za-z0-9_-]{43})$/m.exec(output)![1]!;
    await documents.send(new UpdateCommand({ TableName: 'luma-gateway', Key: { pk: `APIKEY#${hashApiKey(key)}` }, UpdateExpression: 'REMOVE webhookSecret' }));
    const created = await keys('webhook-secret', 'pre-webhooks');
    expect(created).toMatch(/^Created the webhook secret of key "pre-webhooks"/);
    expect((await new DynamoDbApiKeyStore(documents, 'luma-gateway').webhookSecrets(hashApiKey(key)))!.webhookSecret).toBe(SECRET.exec(created)![1]);
  });
});

describe('per-key limits', () => {
  it('runs at most --max-concurrent of the key’s tasks upstream, queues the rest, and answers 429 past --max-queued', async () => {
    const frank = await createKey('frank', '--max-concurrent', '1', '--max-queued', '2');
    const first = await frank.create({ user_prompt: 'Frank one, for a long while [sim:slow]' });
    await waitUntil(async () => ((await frank.get(first.body.id)).body.queue_state === null ? true : undefined), 30_000, 'the first to start');
    // Nine of the ten slots are free, yet only one of frank's tasks runs: the others wait in his queue.
    const second = await frank.create({ user_prompt: 'Frank two' });
    const third = await frank.create({ user_prompt: 'Frank three' });
    expect([first.status, second.status, third.status]).toEqual([200, 200, 200]);
    expect([second.body.queue_state, second.body.queue_position]).toEqual(['queued', 1]);
    expect([third.body.queue_state, third.body.queue_position]).toEqual(['queued', 2]);
    const before = gateway.simulatedLuma!.stats().creates;
    const fourth = await frank.create({ user_prompt: 'Frank four' });
    expect(fourth.status).toBe(429);
    expect(fourth.body.error.code).toBe('rate_limited');
    expect(fourth.body.error.message).toMatch(/2 generations waiting for an upstream slot/);
    expect(fourth.headers.get('retry-after')).toBe('30'); // a full queue: come back in half a minute
    expect(gateway.simulatedLuma!.stats().creates).toBe(before);
    // Still queued behind the running one, whatever else the reconciler dispatched meanwhile.
    expect((await frank.get(second.body.id)).body).toMatchObject({ state: 'pending', queue_state: 'queued', queue_position: 1 });
  });

  it('queues a tenant’s batch instead of refusing it, and serves another tenant’s task among the next admissions', async () => {
    const greedy = await createKey('greedy'); // default limits: 1000 queued, no cap on running tasks
    const answers = await Promise.all(Array.from({ length: 30 }, (_, i) => greedy.create({ user_prompt: `Greedy ${i}` })));
    expect(answers.map((answer) => answer.status)).toEqual(Array(30).fill(200));
    // At most the ten upstream slots (the default) were free for them: the other twenty or more wait.
    expect(answers.filter((answer) => answer.body.queue_state === 'queued').length).toBeGreaterThanOrEqual(30 - 10);
    const modest = await createKey('modest');
    const mine = await modest.create({ user_prompt: 'Modest but served' });
    expect(mine.status).toBe(200);
    expect((await modest.waitForTerminal(mine.body.id)).state).toBe('completed');
    // Fair share: modest runs nothing, greedy up to every slot, so modest's task is admitted at the next
    // free slot; dispatchers racing it may admit a few of greedy's meanwhile, never a turnover's worth.
    const read = async (id: string) => (await documents.send(new GetCommand({ TableName: 'luma-gateway', Key: { pk: `TASK#${id}` } }))).Item!;
    const own = await read(mine.body.id);
    const greedyAdmitted = await Promise.all(answers.map(async (answer) => (await read(answer.body.id)).admittedAt as string | undefined));
    const overtaking = greedyAdmitted.filter((at) => at !== undefined && at > own.createdAt && at < own.admittedAt);
    expect(overtaking.length).toBeLessThan(10);
  });

  it('answers 429 past the key’s generations a minute', async () => {
    // The rate is counted in clock-aligned minutes of the API function's own clock, which runs in the
    // local Lambda and cannot be set from here. Three POSTs that straddle a minute boundary rightly meet
    // a fresh window: the client's clock, read before the first and after the last, brackets the API's,
    // so such a run is recognised for certain and made again with a new key (two in a row would take a
    // minute). The next test drives the client limits' injected clock across the boundary.
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

  it('counts each clock-aligned minute on its own (DynamoDbClientLimits on the gateway’s table, on a clock the test sets)', async () => {
    let now = Date.UTC(2026, 0, 1, 12, 0, 59, 500); // half a second before a minute ends
    const limits = new DynamoDbClientLimits(documents, 'luma-gateway', { ratePerMinute: 30, maxQueued: 100, weight: 1 }, () => new Date(now));
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
    const ivy = await createKey('ivy', '--max-queued', '1', '--owner', 'ivy', '--new-owner');
    const post = (prompt: string, key: string) => ivy.request('POST', '/luma/generations', { user_prompt: prompt }, { 'idempotency-key': key });
    upstreamClock.freeze();
    const first = await post('Ivy one', 'ivy-1');
    expect(first.status).toBe(200);
    const before = await idempotencyRecords();
    expect(before).toHaveLength(1);

    // Ivy's queue is full: as if one task of hers were waiting (just queued, so the reconciler leaves it).
    const setWaiting = (waiting: number) =>
      documents.send(
        new UpdateCommand({
          TableName: 'luma-gateway',
          Key: { pk: 'OWNER#ivy' },
          UpdateExpression: 'SET waiting = :waiting, lastEnqueuedAt = :now',
          ExpressionAttributeValues: { ':waiting': waiting, ':now': new Date().toISOString() },
        }),
      );
    await setWaiting(1);
    const refused = await Promise.all(['ivy-2', 'ivy-3', 'ivy-4'].map((key) => post(`Ivy ${key}`, key)));
    upstreamClock.thaw();
    expect(refused.map((answer) => answer.status)).toEqual([429, 429, 429]);
    expect(await idempotencyRecords()).toEqual(before);

    // The refused key was never used: once there is room, it serves another body as a first request.
    await setWaiting(0);
    const later = await post('Ivy, another body', 'ivy-2');
    expect(later.status).toBe(200);
    expect(later.headers.get('idempotent-replayed')).toBeNull();
  });

  it('a queue count left too high (its tasks never recorded) is repaired by the reconciler, from the queue’s head alone', async () => {
    const hank = await createKey('hank', '--max-queued', '5', '--owner', 'hank', '--new-owner');
    // Five tickets taken two minutes ago whose tasks were never recorded: a crash between the two writes.
    await documents.send(
      new UpdateCommand({
        TableName: 'luma-gateway',
        Key: { pk: 'OWNER#hank' },
        UpdateExpression:
          'SET waiting = :five, tickets = :five, served = :zero, queueKey = :listed, queueOrder = :owner, lastEnqueuedAt = :then, kind = :kind, #owner = :owner, weight = :one',
        ExpressionAttributeNames: { '#owner': 'owner' },
        ExpressionAttributeValues: {
          ':five': 5,
          ':zero': 0,
          ':one': 1,
          ':listed': 'WAITING',
          ':owner': 'hank',
          ':then': new Date(Date.now() - 120_000).toISOString(),
          ':kind': 'owner',
        },
      }),
    );
    expect((await hank.create({ user_prompt: 'Hank blocked' })).status).toBe(429);
    const repaired = await waitUntil(
      async () => {
        const { Item } = await documents.send(new GetCommand({ TableName: 'luma-gateway', Key: { pk: 'OWNER#hank' } }));
        return Item?.waiting === 0 ? Item : undefined;
      },
      30_000,
      'the reconciler to repair the count',
    );
    expect(repaired).toMatchObject({ tickets: 5, served: 5 });
    expect(repaired.queueKey).toBeUndefined(); // no longer listed as waiting
    const again = await hank.create({ user_prompt: 'Hank again' });
    expect(again.status).toBe(200);
    expect(again.body.queue_position === null || again.body.queue_position === 1).toBe(true);
  });

  it('refuses limits out of range, and lists a key’s own limits', async () => {
    await expect(keys('create', '--name', 'heavy', '--weight', '0')).rejects.toThrow(/--weight must be a whole number from 1 to 1000, not "0"/);
    await expect(keys('create', '--name', 'heavy', '--max-queued', 'lots')).rejects.toThrow(/--max-queued must be a whole number from 1 to 100000, not "lots"/);
    await createKey('heavy', '--weight', '3', '--max-queued', '50');
    const row = (await keys('list')).split('\n').find((line) => line.includes('heavy'))!;
    expect(row).toContain('default/min, 50 queued, default running, weight 3');
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
      const { body } = await new ApiTestClient(local.url, BOOTSTRAP_KEY).create({ user_prompt: 'Before the restart' });
      await local.close();

      local = await start();
      expect(await ownersIn(local)).toEqual(owners);
      expect((await new ApiTestClient(local.url, BOOTSTRAP_KEY).get(body.id)).status).toBe(200);
      expect((await new ApiTestClient(local.url, OPERATOR_KEY).get(body.id)).status).toBe(404);
    } finally {
      await local.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
