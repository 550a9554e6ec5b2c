/**
 * Nothing lost, nothing over the limit: the upstream concurrency cap and each owner's queue in arrival
 * order, idempotent submits, and the reconciler, on the whole gateway in-process (synthesized bundles and
 * state machine, emulators, simulated upstream) with two upstream slots. Fair share between owners has its
 * own file (fair-share.test.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { startLocalGateway, type LocalGateway } from '../../local/gateway.ts';
import { DynamoDbTaskStore } from '../../functions/commons/adapters/task-store.ts';
import { DynamoDbUpstreamCapacity } from '../../functions/commons/adapters/upstream-capacity.ts';
import { admitted, newTask, type Task, type TaskRequest } from '../../functions/commons/domain/task.ts';
import { DynamoDbOwnerQueue } from '../../functions/commons/adapters/owner-queue.ts';
import { hashApiKey } from '../../functions/commons/domain/api-key.ts';
import { markerUrl } from '../../functions/commons/domain/upstream-marker.ts';
import { LOCAL_REGION } from '../../local/local-aws.ts';
import { ApiTestClient, waitUntil } from '../support/client.ts';
import { TestClock } from '../support/clock.ts';
import { ROOMY_DEADLINE_SECONDS, TEST_TIME_SCALE } from '../support/time.ts';
import type { UpstreamCapacity } from '../../functions/commons/ports/upstream-capacity.ts';

const MAX_CONCURRENT = 2;
let gateway: LocalGateway;
let dataDir: string;
let client: ApiTestClient;
let other: ApiTestClient;
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
  client = new ApiTestClient(gateway.url, gateway.apiKeys[0]!);
  other = new ApiTestClient(gateway.url, gateway.apiKeys[1]!);
  documents = DynamoDBDocumentClient.from(
    new DynamoDBClient({ endpoint: gateway.dynamoDbEndpoint, region: LOCAL_REGION, credentials: gateway.credentials }),
  );
  tasks = new DynamoDbTaskStore(documents, 'luma-gateway');
  capacity = new DynamoDbUpstreamCapacity(documents, 'luma-gateway', { maxConcurrent: MAX_CONCURRENT, maxCreatesPerMinute: 1000 });
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
/** The execution ARN of a task's first run. */
const executionArn = (taskId: string) => `${gateway.stepFunctions.stateMachineArn.replace(':stateMachine:', ':execution:')}:${taskId}`;

/**
 * Records a task as admitted a minute ago, holding a slot it took itself, without an execution: what a
 * dispatcher that died between "admitted" and "started" leaves behind. The reconciler must start it.
 */
async function recordAdmitted(task: Task): Promise<void> {
  const at = new Date(Date.now() - 60_000);
  const admittedTask = admitted(task, at, 3600);
  await waitUntil(
    async () => {
      const free = (await capacity.slots()).find((slot) => !slot.holder);
      return free && (await capacity.take(free.index, admittedTask)) ? true : undefined;
    },
    60_000,
    'a free slot',
  );
  await tasks.create(admittedTask);
}
/** The owner the gateway gave a key it seeded (a random id, kept in the key's item). */
const ownerOfKey = async (apiKey: string): Promise<string> =>
  String((await documents.send(new GetCommand({ TableName: 'luma-gateway', Key: { pk: `APIKEY#${hashApiKey(apiKey)}` } }))).Item!.owner);

/** A task of the first key's owner, recorded for the Luma model `ray-2` with an hour to live, made `at` (now by default). */
async function ownTask(id: string, prompt: string, fields: { at?: Date; queueTicket?: number; upstreamMarker?: string; aspectRatio?: TaskRequest['aspectRatio'] } = {}): Promise<Task> {
  const { at = new Date(), aspectRatio, ...rest } = fields;
  const request = aspectRatio ? { prompt, aspectRatio } : { prompt };
  return newTask({ id, owner: await ownerOfKey(gateway.apiKeys[0]!), request, provider: 'luma', model: 'ray-2', now: at, timeoutSeconds: 3600, ...rest });
}

describe('upstream concurrency cap', () => {
  it('keeps at most two generations in flight upstream and admits an owner’s tasks in arrival order', async () => {
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
    const queued = answers.filter((body) => body.queue_state === 'queued');
    expect(queued.length).toBeGreaterThanOrEqual(ids.length - MAX_CONCURRENT); // all but the slots' holders
    // A place among this owner's own queued tasks: at most as many as it has sent so far.
    for (const body of queued) expect(body.queue_position).toBeGreaterThanOrEqual(1);
    for (const [i, body] of answers.entries()) if (body.queue_position !== null) expect(body.queue_position).toBeLessThanOrEqual(i + 1);

    for (const id of ids) expect((await client.waitForTerminal(id, 60_000)).state).toBe('completed');
    expect(creates() - before).toBe(8);
    expect(gateway.simulatedLuma!.stats().maxConcurrent).toBeLessThanOrEqual(MAX_CONCURRENT);

    // Every task got a ticket in arrival order, and was admitted in ticket order: one queue per owner.
    const recorded = await Promise.all(ids.map(async (id) => (await tasks.get(id))!));
    const tickets = recorded.map((task) => task.queueTicket!);
    expect(tickets).toEqual([...tickets].sort((a, b) => a - b));
    expect(new Set(tickets).size).toBe(ids.length);
    const admittedAt = recorded.map((task) => Date.parse(task.admittedAt!));
    for (let i = 1; i < admittedAt.length; i++) expect(admittedAt[i]).toBeGreaterThanOrEqual(admittedAt[i - 1]!);
    // The generation deadline starts at admission.
    for (const task of recorded) expect(Date.parse(task.deadline)).toBeGreaterThan(Date.parse(task.admittedAt!));
    // A task shows its end one write before it gives its slot back.
    await waitUntil(async () => ((await allSlotsFree()) ? true : undefined), 30_000, 'every slot given back');
  });

  it('a task the upstream fails on its own side is submitted again in the slot it holds, never beside it', async () => {
    await waitUntil(async () => ((await allSlotsFree()) ? true : undefined), 30_000, 'free slots');
    const peakBefore = gateway.simulatedLuma!.stats().maxConcurrent;
    // Both slots taken, the first by a task whose first generation fails with Luma's "Job failed"; a third
    // task waits. Were the slot given back for the resubmit, the third would run beside it: three upstream.
    const failing = await client.create({ user_prompt: 'Resubmitted in its own slot [sim:fail-first:1]' });
    const second = await client.create({ user_prompt: 'Running beside it' });
    const third = await client.create({ user_prompt: 'Waiting for a slot to free' });
    expect(third.body.queue_state).toBe('queued');
    for (const { body } of [failing, second, third]) expect((await client.waitForTerminal(body.id, 60_000)).state).toBe('completed');
    const resubmitted = (await tasks.get(failing.body.id))!;
    expect(resubmitted.resubmits).toBe(1);
    // `dreaming` is recorded when a read sees it: a generation that finishes between two reads (a callback
    // dropped as too soon after a read, the next one finding it completed) goes from submitted to copying.
    const observed = resubmitted.history.map((entry) => entry.status);
    expect(observed.join(' ')).toMatch(/^accepted submitted (dreaming )?accepted submitted (dreaming )?copying completed$/);
    expect(Math.max(peakBefore, gateway.simulatedLuma!.stats().maxConcurrent)).toBeLessThanOrEqual(MAX_CONCURRENT);
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
  it('admits a task queued by an API that died before dispatching, and starts its workflow', async () => {
    // Nothing else runs: only the reconciler's dispatch can admit it.
    await waitUntil(async () => ((await allSlotsFree()) ? true : undefined), 30_000, 'free slots');
    const owner = await ownerOfKey(gateway.apiKeys[0]!);
    const queue = new DynamoDbOwnerQueue(documents, 'luma-gateway');
    const { ticket } = await queue.enqueue(owner, { ratePerMinute: 1000, maxQueued: 1000, weight: 1 });
    const orphan = await ownTask('0b4f1c2e-1111-4000-8000-000000000001', 'Queued, then the API crashed', { queueTicket: ticket });
    await tasks.create(orphan);
    expect(() => gateway.stepFunctions.describeExecution(executionArn(orphan.id))).toThrow(/does not exist/i);
    expect((await client.waitForTerminal(orphan.id, 60_000)).state).toBe('completed');
    expect(Date.parse((await tasks.get(orphan.id))!.admittedAt!)).toBeGreaterThanOrEqual(Date.parse(orphan.createdAt));
    expect((await queue.get(owner))!.waiting).toBe(0);
  });

  it('starts the workflow of an admitted task whose execution never started', async () => {
    const orphan = await ownTask('0b4f1c2e-1111-4000-8000-000000000005', 'Admitted, then its dispatcher crashed', { at: new Date(Date.now() - 120_000), queueTicket: 1 });
    await recordAdmitted(orphan);
    expect((await client.waitForTerminal(orphan.id, 60_000)).state).toBe('completed');
    expect(gateway.stepFunctions.describeExecution(executionArn(orphan.id)).status).toBe('SUCCEEDED');
  });

  it('a task recorded before the queue existed (no ticket), whose workflow runs, is admitted by its own workflow', async () => {
    const legacy = await ownTask('0b4f1c2e-1111-4000-8000-000000000006', 'Waiting since before the upgrade');
    await tasks.create(legacy);
    gateway.stepFunctions.startExecution({ stateMachineArn: gateway.stepFunctions.stateMachineArn, name: legacy.id, input: JSON.stringify({ taskId: legacy.id }) });
    expect((await client.waitForTerminal(legacy.id, 60_000)).state).toBe('completed');
    expect(Date.parse((await tasks.get(legacy.id))!.admittedAt!)).toBeGreaterThanOrEqual(Date.parse(legacy.createdAt));
  });

  it('starts a new run when an execution ended without finishing its task', async () => {
    await waitUntil(async () => ((await allSlotsFree()) ? true : undefined), 30_000, 'free slots');
    const { body } = await client.create({ user_prompt: 'Execution aborted under it' });
    const arn = executionArn(body.id);
    await waitUntil(async () => (gateway.stepFunctions.listExecutions().some((e) => e.executionArn === arn) ? true : undefined), 30_000, 'its execution');
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
    const id = '0b4f1c2e-1111-4000-8000-000000000002';
    const marker = markerUrl(gateway.url, id, 'm'.repeat(43));
    const task = await ownTask(id, 'Submitted, then the submitter crashed', { at: new Date(Date.now() - 10 * 60_000), aspectRatio: '16:9', upstreamMarker: marker, queueTicket: 1 });
    await recordAdmitted(task);
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
    const task = await ownTask('0b4f1c2e-1111-4000-8000-000000000004', 'Crashed, and nothing marks it', { at: new Date(Date.now() - 10 * 60_000), queueTicket: 1 });
    await recordAdmitted(task);
    expect((await tasks.claimSubmit(task.id, new Date(Date.now() - 5 * 60_000), 1000)).claimed).toBe(true);
    const lookalike = await createUpstream({ model: 'ray-2', prompt: task.request.prompt });
    const before = creates();

    expect((await client.waitForTerminal(task.id, 60_000)).state).toBe('completed');
    expect((await tasks.get(task.id))!.upstreamId).not.toBe(lookalike.id);
    expect(creates()).toBe(before + 1);
  });

  it('lets one submitter at a time hold a task’s submit lease', async () => {
    const task = await ownTask('0b4f1c2e-1111-4000-8000-000000000003', 'Leased');
    await documents.send(new PutCommand({ TableName: 'luma-gateway', Item: { pk: `TASK#${task.id}`, kind: 'task', ...task } })); // in no index: nobody dispatches or submits it
    const now = new Date();
    const claims = await Promise.all([tasks.claimSubmit(task.id, now, 60_000), tasks.claimSubmit(task.id, now, 60_000)]);
    expect(claims.filter((claim) => claim.claimed)).toHaveLength(1);
    expect((await tasks.claimSubmit(task.id, now, 60_000)).claimed).toBe(false);
    await tasks.releaseSubmit(task.id, now.toISOString(), 'clear');
    const again = await tasks.claimSubmit(task.id, now, 60_000);
    expect(again.claimed).toBe(true);
    // Nobody really submits it: end it.
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
