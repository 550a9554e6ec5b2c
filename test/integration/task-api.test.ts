/**
 * The rest of the task API on the whole gateway in-process (synthesized bundles and state machine, emulators,
 * simulated upstream), with one upstream slot so that a second task waits in its owner's queue: listing
 * pages every task exactly once while others arrive, and never another owner's; a cancel in every state a
 * task can be in, and its 409 once the task has ended; a delete that leaves nothing in the bucket. The
 * simulated upstream's clock is frozen, so each task stays where the test holds it, and moves only when
 * the test moves it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { startLocalGateway, type LocalGateway } from '../../local/gateway.ts';
import { SIM_ASSET_HOLD_SECONDS, SIM_DIRECTIVE_HOLD_ASSETS } from '../../local/simulated-luma.ts';
import { DynamoDbTaskStore } from '../../functions/commons/adapters/task-store.ts';
import { DynamoDbUpstreamCapacity } from '../../functions/commons/adapters/upstream-capacity.ts';
import { DynamoDbOwnerQueue } from '../../functions/commons/adapters/owner-queue.ts';
import { publicGenerationSchema } from '../../functions/commons/domain/public-generation-schema.ts';
import type { TaskStatus } from '../../functions/commons/domain/task.ts';
import { LOCAL_REGION } from '../../local/local-aws.ts';
import { ApiTestClient } from '../support/client.ts';
import { TestClock } from '../support/clock.ts';
import { eventually } from '../support/eventually.ts';
import { ROOMY_DEADLINE_SECONDS, TEST_TIME_SCALE } from '../support/time.ts';

const TABLE = 'luma-gateway';
const TINY_PNG = readFileSync(new URL('../fixtures/media/tiny.png', import.meta.url));
/** The simulated upstream's phases (its defaults), scaled as the gateway runs it. */
const QUEUED_MS = 10_000 * TEST_TIME_SCALE;
const DREAMING_MS = 60_000 * TEST_TIME_SCALE;

let gateway: LocalGateway;
let dataDir: string;
let alice: ApiTestClient;
let bob: ApiTestClient;
let carol: ApiTestClient;
let tasks: DynamoDbTaskStore;
let queue: DynamoDbOwnerQueue;
let capacity: DynamoDbUpstreamCapacity;
let s3: S3Client;
let upstreamKey: string;
/** Frozen from the start: the simulated upstream's generations stay where they are until a test moves them. */
const upstreamClock = new TestClock({ frozen: true });

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'task-api-it-'));
  gateway = await startLocalGateway({
    dataDir,
    port: 0,
    apiKeys: ['alice-list-key-0123456789', 'bob-list-key-0123456789ab', 'carol-cancel-key-0123456789'],
    timeScale: TEST_TIME_SCALE,
    generationTimeoutSeconds: ROOMY_DEADLINE_SECONDS,
    capacity: { maxConcurrent: 1 },
    simulator: { clock: upstreamClock },
    log: () => undefined,
    functionLogs: () => undefined,
  });
  [alice, bob, carol] = gateway.apiKeys.map((key) => new ApiTestClient(gateway.url, key)) as [ApiTestClient, ApiTestClient, ApiTestClient];
  const documents = DynamoDBDocumentClient.from(new DynamoDBClient({ endpoint: gateway.dynamoDbEndpoint, region: LOCAL_REGION, credentials: gateway.credentials }));
  tasks = new DynamoDbTaskStore(documents, TABLE);
  queue = new DynamoDbOwnerQueue(documents, TABLE);
  capacity = new DynamoDbUpstreamCapacity(documents, TABLE, { maxConcurrent: 1, maxCreatesPerMinute: 20 });
  s3 = new S3Client({ endpoint: gateway.s3Endpoint, region: LOCAL_REGION, credentials: gateway.credentials, forcePathStyle: true });
  upstreamKey = (JSON.parse(readFileSync(join(dataDir, 'simulated-luma-identity.json'), 'utf8')) as { apiKey: string }).apiKey;
});

afterAll(async () => {
  s3?.destroy();
  await gateway?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

async function create(client: ApiTestClient, prompt: string, extra: Record<string, unknown> = {}): Promise<string> {
  const { status, body } = await client.create({ user_prompt: prompt, ...extra });
  expect(status, JSON.stringify(body)).toBe(200);
  return body.id as string;
}

/** Every page of the caller's list, following next_cursor; each answer is checked against the published schema. */
async function listAll(client: ApiTestClient, query: { limit?: number; state?: string }, between?: () => Promise<void>): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | undefined;
  do {
    const { status, body } = await client.list({ ...query, cursor });
    expect(status, JSON.stringify(body)).toBe(200);
    expect(body.data.length).toBeLessThanOrEqual(query.limit ?? 20);
    for (const generation of body.data) ids.push(publicGenerationSchema.parse(generation).id);
    cursor = body.next_cursor ?? undefined;
    await between?.();
  } while (cursor);
  return ids;
}

const statusOf = async (id: string) => (await tasks.get(id))?.status;
const reaches = (id: string, status: TaskStatus) => eventually(async () => (await statusOf(id)) === status, `task ${id} to be ${status}`);
const runOf = (taskId: string) => gateway.stepFunctions.listExecutions().find((execution) => execution.name === taskId);
const upstreamGeneration = (id: string) => fetch(`${gateway.simulatedLuma!.baseUrl}/generations/${id}`, { headers: { authorization: `Bearer ${upstreamKey}` } });
const objectExists = (key: string) =>
  s3.send(new HeadObjectCommand({ Bucket: gateway.bucket, Key: key })).then(
    () => true,
    (error: { name?: string }) => (error.name === 'NotFound' ? false : Promise.reject(error)),
  );
const removed = (key: string) => gateway.s3Events.some((event) => event.eventName === 'ObjectRemoved:Delete' && event.s3.object.key === key);

describe('listing', () => {
  const before: string[] = [];

  it('pages through every task exactly once, newest first, while new ones arrive', async () => {
    for (let n = 0; n < 23; n++) before.push(await create(alice, `A list entry, number ${n}`));
    const arrived: string[] = [];
    let arriving: Promise<void> | undefined;
    // From the first page on, tasks keep arriving, concurrently with the paging: newer than any page.
    const listed = await listAll(alice, { limit: 5 }, async () => {
      arriving ??= (async () => {
        for (let n = 0; n < 8; n++) arrived.push(await create(alice, `An arrival, number ${n}`));
      })();
    });
    await arriving;
    expect(arrived).toHaveLength(8);
    expect(new Set(listed).size).toBe(listed.length);
    expect([...listed].sort()).toEqual([...before].sort());
    // Newest first: the order of arrival, reversed (tasks of one millisecond by id, as the index sorts them).
    const order = await Promise.all(listed.map(async (id) => `${(await tasks.get(id))!.createdAt}#${id}`));
    expect(order).toEqual([...order].sort().reverse());
    // And a listing from the start sees the new ones too, each once.
    const all = await listAll(alice, { limit: 100 });
    expect([...all].sort()).toEqual([...before, ...arrived].sort());
    before.push(...arrived);
  });

  it('answers each generation exactly as GET does', async () => {
    const { body } = await alice.list({ limit: 3 });
    for (const listed of body.data) {
      const { body: got } = await alice.get(listed.id);
      expect({ ...listed, request_id: undefined }).toEqual({ ...got, request_id: undefined });
    }
    // The oldest task holds the one slot; the others wait in alice's queue, each with its place.
    expect(body.data.map((generation: { queue_state: string | null }) => generation.queue_state)).toEqual(['queued', 'queued', 'queued']);
  });

  it('filters by state, in either vocabulary of the answer', async () => {
    expect((await listAll(alice, { limit: 100, state: 'pending' })).sort()).toEqual([...before].sort());
    expect((await listAll(alice, { limit: 100, state: 'submitted' })).sort()).toEqual([...before].sort());
    expect(await listAll(alice, { state: 'completed,failed' })).toEqual([]);
    expect(await listAll(alice, { state: 'processing' })).toEqual([]);
  });

  it('never shows another owner’s tasks, whatever cursor it is given', async () => {
    const bobs = [await create(bob, 'Bob’s first task'), await create(bob, 'Bob’s second task')];
    expect(await listAll(bob, { limit: 1 })).toEqual([...bobs].reverse());
    // A cursor names a position only; in another owner's hands it pages that owner's own list from there.
    // Bob's tasks are all newer than any position in alice's list, and alice's all older than bob's.
    const { body: alicePage } = await alice.list({ limit: 2 });
    const { status, body } = await bob.list({ cursor: alicePage.next_cursor });
    expect([status, body.data]).toEqual([200, []]);
    const { body: bobPage } = await bob.list({ limit: 1 });
    const { body: fromBobs } = await alice.list({ cursor: bobPage.next_cursor, limit: 100 });
    expect(fromBobs.data.map((generation: { id: string }) => generation.id).sort()).toEqual([...before].sort());
    for (const id of before) expect((await bob.get(id)).status).toBe(404);
    for (const id of bobs) expect((await alice.cancel(id)).status).toBe(404);
    // Bob's tasks wait behind alice's for the one slot: cancelled, they leave it to the tests below.
    for (const id of bobs) expect((await bob.cancel(id)).status).toBe(200);
  });

  it('answers a bad limit, cursor or state with 400 in the API’s error shape', async () => {
    for (const query of [{ limit: '0' }, { limit: '101' }, { limit: 'all' }, { cursor: 'abc' }, { state: 'done' }]) {
      const { status, body } = await alice.list(query);
      expect(status, JSON.stringify(query)).toBe(400);
      expect(body.error).toMatchObject({ code: 'invalid_request', details: [{ field: Object.keys(query)[0] }] });
    }
  });

  it('cancels every one of them, queued or not, and lists them as failed', async () => {
    // Newest first: the queued ones, then the one holding the slot.
    for (const id of await listAll(alice, { limit: 100, state: 'pending' })) {
      const { status, body } = await alice.cancel(id);
      expect(status, JSON.stringify(body)).toBe(200);
      expect(body).toMatchObject({ id, state: 'failed', failure_code: 'cancelled' });
    }
    expect((await listAll(alice, { limit: 100, state: 'failed' })).sort()).toEqual([...before].sort());
    expect(await listAll(alice, { state: 'pending' })).toEqual([]);
    const owner = (await tasks.get(before[0]!))!.owner;
    expect((await queue.get(owner))?.waiting).toBe(0);
    await eventually(async () => (await capacity.slots()).every((slot) => !slot.holder), 'the slot to be free');
  });
});

describe('cancelling in each state', () => {
  let holder: string;

  it('queued: out of its owner’s queue, with no workflow ever started', async () => {
    holder = await create(carol, 'The task that holds the slot');
    await reaches(holder, 'submitted');
    const queued = await create(carol, 'A task waiting for the slot');
    expect((await carol.get(queued)).body.queue_state).toBe('queued');
    const { status, body } = await carol.cancel(queued);
    expect(status).toBe(200);
    expect(body).toMatchObject({ state: 'failed', failure_code: 'cancelled', queue_state: null, queue_position: null });
    expect((await queue.get((await tasks.get(queued))!.owner))?.waiting).toBe(0);
    expect(runOf(queued)).toBeUndefined();
    expect((await capacity.slots())[0]!.holder).toBe(holder); // the other task keeps its slot
  });

  it('submitted (queued upstream): its slot back, its workflow stopped; the upstream refuses to delete a generation in progress', async () => {
    const { upstreamId } = (await tasks.get(holder))!;
    const { status, body } = await carol.cancel(holder);
    expect(status).toBe(200);
    expect(body).toMatchObject({ state: 'failed', failure_code: 'cancelled', failure_reason: 'Cancelled by its owner.' });
    expect((await capacity.slots())[0]!.holder).toBeUndefined();
    // Stopped, or ended on its own a moment before: a poll between the cancel's change and its stop finds
    // the task failed and ends the run (GenerationFailed). Either way nothing runs on.
    expect(['ABORTED', 'FAILED']).toContain(runOf(holder)?.status);
    const upstream = await upstreamGeneration(upstreamId!);
    expect(upstream.status).toBe(200); // refused (in progress): it runs on upstream
    expect(((await upstream.json()) as { state: string }).state).toBe('queued');
  });

  it('dreaming: the same; its generation finishes upstream, and the task stays cancelled', async () => {
    const id = await create(carol, 'A task cancelled while it dreams');
    await reaches(id, 'submitted');
    upstreamClock.advance(QUEUED_MS + 1);
    await reaches(id, 'dreaming');
    const { status, body } = await carol.cancel(id);
    expect([status, body.failure_code]).toEqual([200, 'cancelled']);
    expect(['ABORTED', 'FAILED']).toContain(runOf(id)?.status);
    // Its generation finishes upstream; nothing of the gateway's follows it any more.
    upstreamClock.advance(DREAMING_MS + 1);
    const { history } = (await tasks.get(id))!;
    expect(history.map((entry) => entry.status)).toEqual(['accepted', 'submitted', 'dreaming', 'failed']);
    expect((await carol.get(id)).body).toMatchObject({ state: 'failed', failure_code: 'cancelled', video: null });
  });

  it('copying: the finished generation deleted upstream, and what the copy stored after the cancel removed again', async () => {
    const id = await create(carol, `A task cancelled while its video is copied ${SIM_DIRECTIVE_HOLD_ASSETS}`);
    await reaches(id, 'submitted');
    const { upstreamId } = (await tasks.get(id))!;
    const held = gateway.simulatedLuma!.stats().assetsHeld;
    upstreamClock.advance(QUEUED_MS + DREAMING_MS + 1);
    await reaches(id, 'copying');
    // The copy has asked for the video, which the upstream's CDN holds back for now.
    await eventually(() => gateway.simulatedLuma!.stats().assetsHeld > held, 'the copy’s download to be under way');
    const { status, body } = await carol.cancel(id);
    expect([status, body.state, body.failure_code]).toEqual([200, 'failed', 'cancelled']);
    expect((await upstreamGeneration(upstreamId!)).status).toBe(404); // finished upstream: deleted there
    // The download goes on to its end; the copy stores the video, finds the task cancelled, and removes it.
    upstreamClock.advance(SIM_ASSET_HOLD_SECONDS * 1000 * TEST_TIME_SCALE + 1);
    const video = `generations/${id}/video.mp4`;
    await eventually(() => removed(video), 'the copy to remove the video it stored');
    expect(gateway.s3Events.some((event) => event.eventName.startsWith('ObjectCreated') && event.s3.object.key === video)).toBe(true);
    expect(await objectExists(video)).toBe(false);
    expect(await objectExists(`generations/${id}/thumbnail.jpg`)).toBe(false);
    expect((await carol.get(id)).body).toMatchObject({ state: 'failed', failure_code: 'cancelled', video: null, thumbnail: null });
    // Straight from submitted to copying: the clock moved past both upstream phases at once.
    expect((await tasks.get(id))!.history.map((entry) => entry.status)).toEqual(['accepted', 'submitted', 'copying', 'failed']);
  });

  it('finished: 409 already_finished, and the task is left as it was; another owner gets 404', async () => {
    upstreamClock.thaw();
    const id = await create(carol, 'A task that completes before anyone cancels it');
    expect((await carol.waitForTerminal(id)).state).toBe('completed');
    const { status, body } = await carol.cancel(id);
    expect(status).toBe(409);
    expect(body.error).toMatchObject({ code: 'already_finished', details: { state: 'completed' } });
    expect((await carol.get(id)).body.state).toBe('completed');
    expect((await bob.cancel(id)).status).toBe(404);
    // A cancelled task has ended too.
    expect((await carol.cancel(holder)).body.error.code).toBe('already_finished');
  });
});

describe('deleting', () => {
  it('removes the stored video, thumbnail and keyframe, then the task: a 204, and a 404 ever after', async () => {
    upstreamClock.freeze();
    const id = await create(carol, 'A task to delete', { image_url: TINY_PNG.toString('base64') });
    const keys = [`inputs/${id}/frame0.png`, `generations/${id}/video.mp4`, `generations/${id}/thumbnail.jpg`];
    const { status: early, body: refusal } = await carol.delete(id);
    expect([early, refusal.error.code]).toEqual([409, 'not_finished']); // not finished: refused, nothing removed
    upstreamClock.thaw();
    expect((await carol.waitForTerminal(id)).state).toBe('completed');
    for (const key of keys) expect(await objectExists(key), key).toBe(true);
    expect((await bob.delete(id)).status).toBe(404); // not bob's: kept
    expect(await objectExists(keys[1]!)).toBe(true);

    const { status, body, headers } = await carol.delete(id);
    expect(status).toBe(204);
    expect(body).toBeUndefined();
    expect(headers.get('x-request-id')).toBeTruthy();
    for (const key of keys) {
      expect(await objectExists(key), key).toBe(false);
      await eventually(() => removed(key), `the bucket's own event for ${key}`); // what EventBridge would see
    }
    expect(await tasks.get(id)).toBeUndefined();
    expect((await carol.get(id)).status).toBe(404);
    expect((await carol.delete(id)).status).toBe(404);
    expect((await carol.cancel(id)).status).toBe(404);
    expect(await listAll(carol, { limit: 100 })).not.toContain(id);
  });

  it('deletes a cancelled task too', async () => {
    const [cancelled] = await listAll(carol, { state: 'failed', limit: 1 });
    expect((await carol.delete(cancelled!)).status).toBe(204);
    expect((await carol.get(cancelled!)).status).toBe(404);
  });
});
