/**
 * Nothing lost, nothing over the limit: the upstream concurrency cap and its first-come-first-served line,
 * idempotent submits, and the reconciler, on the whole gateway in-process (synthesized bundles and state
 * machine, emulators, simulated upstream) with two upstream slots.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { startLocalGateway, type LocalGateway } from '../../local/gateway.ts';
import { DynamoDbTaskStore } from '../../functions/commons/adapters/task-store.ts';
import { UpstreamCapacity } from '../../functions/commons/adapters/upstream-capacity.ts';
import { newTask } from '../../functions/commons/domain/task.ts';
import { hashApiKey } from '../../functions/commons/domain/api-key.ts';
import { markerUrl } from '../../functions/commons/domain/upstream-marker.ts';
import { LOCAL_REGION } from '../../local/local-aws.ts';
import { SeedClient, waitUntil } from '../support/client.ts';
import { TestClock } from '../support/clock.ts';
import { ROOMY_DEADLINE_SECONDS, TEST_TIME_SCALE } from '../support/time.ts';

const MAX_CONCURRENT = 2;
let gateway: LocalGateway;
let dataDir: string;
let client: SeedClient;
let other: SeedClient;
let documents: DynamoDBDocumentClient;
let tasks: DynamoDbTaskStore;
let capacity: UpstreamCapacity;
const creates = () => gateway.simulatedLuma!.stats().creates;
/** The simulated upstream's clock: frozen, no generation moves on, so a slot stays taken while the test needs it. */
const upstreamClock = new TestClock();

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'capacity-it-'));
  gateway = await startLocalGateway({
    dataDir,
    port: 0,
    apiKeys: ['capacity-key-0123456789', 'capacity-other-0123456789'],
    timeScale: TEST_TIME_SCALE,
    generationTimeoutSeconds: ROOMY_DEADLINE_SECONDS,
    capacity: { maxConcurrent: MAX_CONCURRENT },
    keyLimits: { maxConcurrent: 1000, ratePerMinute: 1000 }, // this file is about the upstream's limits
    simulator: { clock: upstreamClock },
    log: () => undefined,
    functionLogs: () => undefined,
  });
  client = new SeedClient(gateway.url, gateway.apiKeys[0]!);
  other = new SeedClient(gateway.url, gateway.apiKeys[1]!);
  documents = DynamoDBDocumentClient.from(
    new DynamoDBClient({ endpoint: gateway.dynamoDbEndpoint, region: LOCAL_REGION, credentials: gateway.credentials }),
  );
  tasks = new DynamoDbTaskStore(documents, 'luma-gateway');
  capacity = new UpstreamCapacity(documents, 'luma-gateway', tasks, { maxConcurrent: MAX_CONCURRENT, maxCreatesPerMinute: 1000 });
});

afterAll(async () => {
  await gateway?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

/** A create made straight at the upstream, with the gateway's own key: as another client of the account would. */
async function createUpstream(body: Record<string, unknown>): Promise<{ id: string }> {
  const { apiKey } = JSON.parse(readFileSync(join(dataDir, 'simulated-luma-identity.json'), 'utf8')) as { apiKey: string };
  const created = await fetch(`${gateway.simulatedLuma!.baseUrl}/generations/video`, {
    method: 'POST',
    headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  expect(created.status).toBe(201);
  return (await created.json()) as { id: string };
}

const allSlotsFree = async () => (await capacity.slots()).every((slot) => !slot.holder);
/** The owner the gateway gave a key it seeded (a random id, kept in the key's item). */
const ownerOfKey = async (apiKey: string): Promise<string> =>
  String((await documents.send(new GetCommand({ TableName: 'luma-gateway', Key: { pk: `APIKEY#${hashApiKey(apiKey)}` } }))).Item!.owner);

describe('upstream concurrency cap', () => {
  it('keeps at most two generations in flight upstream and submits in arrival order', async () => {
    const before = creates();
    const ids: string[] = [];
    const answers = [];
    // While the upstream stands still, the first two hold both slots: the others must queue, however
    // long eight POSTs take.
    upstreamClock.freeze();
    for (let i = 0; i < 8; i++) {
      const answer = await client.create({ user_prompt: `Queue member ${i}` });
      expect(answer.status).toBe(200);
      answers.push(answer.body);
      ids.push(answer.body.id);
    }
    upstreamClock.thaw();
    expect(answers.filter((body) => body.queue_state === 'queued').length).toBeGreaterThan(0);
    for (const body of answers.filter((b) => b.queue_state === 'queued')) expect(body.queue_position).toBeGreaterThanOrEqual(1);

    for (const id of ids) expect((await client.waitForTerminal(id, 60_000)).state).toBe('completed');
    expect(creates() - before).toBe(8);
    expect(gateway.simulatedLuma!.stats().maxConcurrent).toBeLessThanOrEqual(MAX_CONCURRENT);

    const submittedAt = await Promise.all(
      ids.map(async (id) => (await tasks.get(id))!.history.find((entry) => entry.status === 'submitted')!.at),
    );
    // First come, first served: tasks admitted together (one per free slot) may finish submitting in any
    // order, but no task is ever overtaken by more than the others admitted in its round.
    const overtakenBy = submittedAt.map((at, i) => submittedAt.slice(i + 1).filter((later) => later < at).length);
    expect(Math.max(...overtakenBy)).toBeLessThan(MAX_CONCURRENT);
    // A task shows its end one write before it gives its slot back.
    await waitUntil(async () => ((await allSlotsFree()) ? true : undefined), 30_000, 'every slot given back');
  });
});

describe('Idempotency-Key', () => {
  it('returns the original task for a repeated request and creates nothing more upstream', async () => {
    const body = { user_prompt: 'Idempotent sunrise' };
    const first = await client.request('POST', '/luma/generations', body, { 'idempotency-key': 'key-sequential-1' });
    const before = creates();
    const again = await client.request('POST', '/luma/generations', body, { 'idempotency-key': 'key-sequential-1' });
    expect(first.status).toBe(200);
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(first.body.id);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(creates()).toBe(before);
  });

  it('creates one task for ten identical requests arriving together', async () => {
    const before = creates();
    const body = { user_prompt: 'Simultaneous duplicates', aspect_ratio: '16:9' };
    const answers = await Promise.all(
      Array.from({ length: 10 }, () => client.requestRetryingInProgress('POST', '/luma/generations', body, { 'idempotency-key': 'key-burst' })),
    );
    expect(answers.map((answer) => answer.status)).toEqual(Array(10).fill(200));
    expect(new Set(answers.map((answer) => answer.body.id)).size).toBe(1);
    await client.waitForTerminal(answers[0]!.body.id, 60_000);
    expect(creates() - before).toBe(1);
  });

  it('refuses the same key with a different body with 422, and keeps keys apart per owner', async () => {
    const first = await client.request('POST', '/luma/generations', { user_prompt: 'Body one' }, { 'idempotency-key': 'key-reused' });
    const reused = await client.request('POST', '/luma/generations', { user_prompt: 'Body two' }, { 'idempotency-key': 'key-reused' });
    expect(reused.status).toBe(422);
    expect(reused.body.error.code).toBe('idempotency_key_reused');
    const otherOwner = await other.request('POST', '/luma/generations', { user_prompt: 'Body one' }, { 'idempotency-key': 'key-reused' });
    expect(otherOwner.status).toBe(200);
    expect(otherOwner.body.id).not.toBe(first.body.id);
  });

  it('repeats a refusal with its original status, without asking the upstream again', async () => {
    // With both slots free the first request is submitted at once, so the refusal is its answer.
    await waitUntil(async () => ((await allSlotsFree()) ? true : undefined), 30_000, 'free slots');
    const body = { user_prompt: 'Refused twice [sim:reject]' };
    const first = await client.request('POST', '/luma/generations', body, { 'idempotency-key': 'key-rejected' });
    const rejectedBefore = gateway.simulatedLuma!.stats().rejected;
    const again = await client.request('POST', '/luma/generations', body, { 'idempotency-key': 'key-rejected' });
    expect(first.status).toBe(400);
    expect(again.status).toBe(400);
    expect(again.body).toEqual(first.body);
    expect(gateway.simulatedLuma!.stats().rejected).toBe(rejectedBefore);
  });

  it('refuses a malformed key with 400', async () => {
    const answer = await client.request('POST', '/luma/generations', { user_prompt: 'Bad key' }, { 'idempotency-key': 'x'.repeat(300) });
    expect(answer.status).toBe(400);
  });
});

describe('reconciler', () => {
  it('starts the workflow of a task that was recorded but never started', async () => {
    const owner = await ownerOfKey(gateway.apiKeys[0]!);
    const orphan = newTask({
      id: '0b4f1c2e-1111-4000-8000-000000000001',
      owner,
      request: { prompt: 'Recorded, then the API crashed' },
      provider: 'luma',
      model: 'ray-2',
      now: new Date(Date.now() - 60_000),
      timeoutSeconds: 3600,
    });
    await tasks.create(orphan);
    expect((await client.waitForTerminal(orphan.id, 60_000)).state).toBe('completed');
  });

  it('starts a new run when an execution ended without finishing its task', async () => {
    const { body } = await client.create({ user_prompt: 'Execution aborted under it' });
    const arn = `arn:aws:states:us-east-1:000000000000:execution:luma-gateway-workflow:${body.id}`;
    gateway.stepFunctions.stopExecution(arn, 'Chaos', 'stopped by the test');
    expect((await client.waitForTerminal(body.id, 60_000)).state).toBe('completed');
    // The task is recorded complete a moment before its execution leaves its last state.
    const status = await waitUntil(async () => {
      const rerun = gateway.stepFunctions.describeExecution(`${arn}-r2`).status;
      return rerun === 'RUNNING' ? undefined : rerun;
    }, 30_000, 'the second run to end');
    expect(status).toBe('SUCCEEDED');
  });

  it('adopts the generation a crashed submit created upstream, by its marker, not a same-prompt one made just before', async () => {
    const owner = await ownerOfKey(gateway.apiKeys[0]!);
    const id = '0b4f1c2e-1111-4000-8000-000000000002';
    const marker = markerUrl(gateway.url, id, 'm'.repeat(43));
    const task = newTask({
      id,
      owner,
      request: { prompt: 'Submitted, then the submitter crashed', aspectRatio: '16:9' },
      provider: 'luma',
      model: 'ray-2',
      now: new Date(Date.now() - 10 * 60_000),
      timeoutSeconds: 3600,
      upstreamMarker: marker,
    });
    await tasks.create(task);
    // The crashed attempt: it took the submit lease (long expired now) and the upstream created its
    // generation; another client of the account had just made one with the same request.
    expect((await tasks.claimSubmit(task.id, new Date(Date.now() - 5 * 60_000), 1000)).claimed).toBe(true);
    const stranger = await createUpstream({ model: 'ray-2', prompt: task.request.prompt, aspect_ratio: '16:9' });
    const ours = await createUpstream({ model: 'ray-2', prompt: task.request.prompt, aspect_ratio: '16:9', callback_url: marker });
    expect(stranger.id).not.toBe(ours.id);
    const before = creates();

    expect((await client.waitForTerminal(task.id, 60_000)).state).toBe('completed');
    expect((await tasks.get(task.id))!.upstreamId).toBe(ours.id);
    expect(creates()).toBe(before);
  });

  it('never adopts for a task without a marker: it creates its own generation', async () => {
    const owner = await ownerOfKey(gateway.apiKeys[0]!);
    const task = newTask({
      id: '0b4f1c2e-1111-4000-8000-000000000004',
      owner,
      request: { prompt: 'Crashed, and nothing marks it' },
      provider: 'luma',
      model: 'ray-2',
      now: new Date(Date.now() - 10 * 60_000),
      timeoutSeconds: 3600,
    });
    await tasks.create(task);
    expect((await tasks.claimSubmit(task.id, new Date(Date.now() - 5 * 60_000), 1000)).claimed).toBe(true);
    const lookalike = await createUpstream({ model: 'ray-2', prompt: task.request.prompt });
    const before = creates();

    expect((await client.waitForTerminal(task.id, 60_000)).state).toBe('completed');
    expect((await tasks.get(task.id))!.upstreamId).not.toBe(lookalike.id);
    expect(creates()).toBe(before + 1);
  });

  it('lets one submitter at a time hold a task’s submit lease', async () => {
    const owner = await ownerOfKey(gateway.apiKeys[0]!);
    const task = newTask({ id: '0b4f1c2e-1111-4000-8000-000000000003', owner, request: { prompt: 'Leased' }, provider: 'luma', model: 'ray-2', now: new Date(), timeoutSeconds: 3600 });
    await documents.send(new PutCommand({ TableName: 'luma-gateway', Item: { pk: `TASK#${task.id}`, kind: 'task', ...task } })); // not in the waiting line
    const now = new Date();
    const claims = await Promise.all([tasks.claimSubmit(task.id, now, 60_000), tasks.claimSubmit(task.id, now, 60_000)]);
    expect(claims.filter((claim) => claim.claimed)).toHaveLength(1);
    expect((await tasks.claimSubmit(task.id, now, 60_000)).claimed).toBe(false);
    await tasks.releaseSubmit(task.id, now.toISOString(), 'clear');
    const again = await tasks.claimSubmit(task.id, now, 60_000);
    expect(again.claimed).toBe(true);
    // Nobody really submits it: end it, so it does not sit in the line holding the others up.
    await tasks.transition(task.id, { to: 'failed', failure: { code: 'cancelled', reason: 'test task' } });
  });

  it('gives back a slot whose holder is gone', async () => {
    await documents.send(
      new PutCommand({
        TableName: 'luma-gateway',
        Item: { pk: 'SLOT#1', kind: 'slot', holder: 'a-task-that-does-not-exist', leaseUntil: Date.now() + 3_600_000 },
      }),
    );
    expect(await allSlotsFree()).toBe(false);
    await waitUntil(async () => ((await allSlotsFree()) ? true : undefined), 30_000, 'the reconciler to free the slot');
  });
});
