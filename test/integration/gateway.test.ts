/**
 * The gateway as a whole, in-process: the synthesized bundles and state machine against the DynamoDB and
 * S3 emulators and the simulated upstream, all over real HTTP on 127.0.0.1.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { GetObjectCommand, HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { startLocalGateway, type LocalGateway } from '../../local/gateway.ts';
import { DynamoDbTaskStore } from '../../functions/commons/adapters/task-store.ts';
import { S3MediaStore } from '../../functions/commons/adapters/media-store.ts';
import { LOCAL_REGION } from '../../local/local-aws.ts';
import { ApiTestClient } from '../support/client.ts';
import { TestClock } from '../support/clock.ts';
import { eventually } from '../support/eventually.ts';
import { ROOMY_DEADLINE_SECONDS, TEST_TIME_SCALE } from '../support/time.ts';

const AGGREGATOR_EXAMPLE = {
  user_prompt:
    'Cinematic shot of a tranquil indoor pool room. A graceful pink flamingo stands in clear turquoise water, creating subtle ripples.',
  expand_prompt: true,
  image_url: 'https://img.upanh.tv/2025/05/23/b69ee84d-849d-48c0-863a-40b646190dd6.png',
};
const SAMPLE_MP4 = readFileSync(new URL('../../local/assets/sample.mp4', import.meta.url));
const TINY_PNG = readFileSync(new URL('../fixtures/media/tiny.png', import.meta.url));

let gateway: LocalGateway;
let dataDir: string;
let alice: ApiTestClient;
let bob: ApiTestClient;
let tasks: DynamoDbTaskStore;
let s3: S3Client;
/** The simulated upstream's clock, held where a test needs the poller to see a state. */
const upstreamClock = new TestClock();

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'gateway-it-'));
  gateway = await startLocalGateway({
    dataDir,
    port: 0,
    apiKeys: ['alice-key-0123456789abcdef', 'bob-key-0123456789abcdefgh'],
    timeScale: TEST_TIME_SCALE,
    generationTimeoutSeconds: ROOMY_DEADLINE_SECONDS,
    // An operator who does not offer 4k (as `ALLOWED_RESOLUTIONS` or the context `allowedResolutions` would say).
    upstreamChoices: { resolution: { allowed: '540p,720p,1080p' } },
    simulator: { clock: upstreamClock },
    log: () => undefined,
    functionLogs: () => undefined,
  });
  alice = new ApiTestClient(gateway.url, gateway.apiKeys[0]!);
  bob = new ApiTestClient(gateway.url, gateway.apiKeys[1]!);
  const dynamo = new DynamoDBClient({ endpoint: gateway.dynamoDbEndpoint, region: LOCAL_REGION, credentials: gateway.credentials });
  tasks = new DynamoDbTaskStore(DynamoDBDocumentClient.from(dynamo), 'luma-gateway');
  s3 = new S3Client({ endpoint: gateway.s3Endpoint, region: LOCAL_REGION, credentials: gateway.credentials, forcePathStyle: true });
});

afterAll(async () => {
  await gateway?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('a generation from request to stored video', () => {
  it('answers the aggregator shape, completes, and stores the upstream bytes in the bucket', async () => {
    const created = await alice.create(AGGREGATOR_EXAMPLE);
    expect(created.status).toBe(200);
    expect(created.body).toMatchObject({ state: 'pending', batch_id: '', video: null, code: 0 });
    expect(created.body.data.task_id).toBe(created.body.id);
    expect(created.body.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);

    const done = await alice.waitForTerminal(created.body.id);
    expect(done.state).toBe('completed');
    expect(done.data.task_status).toBe('succeed');
    expect(done.video).toMatchObject({ width: 320, height: 180, duration: 3, size_bytes: SAMPLE_MP4.length });
    expect(done.thumbnail).toMatchObject({ width: 320, height: 180 });

    const stored = Buffer.from(await (await fetch(done.video!.download_url)).arrayBuffer());
    const upstream = Buffer.from(await (await fetch(done.video_raw!.url)).arrayBuffer());
    expect(stored.equals(upstream)).toBe(true);
    expect(done.video!.sha256).toBe(createHash('sha256').update(upstream).digest('hex'));
    const thumbnail = await fetch(done.thumbnail!.url);
    expect(thumbnail.headers.get('content-type')).toBe('image/jpeg');
  });

  it('records every state change in order, and tags the stored objects with task and owner', async () => {
    // The upstream's dreaming phase lasts 0.6 s at 1/100: a poller slowed down by a busy machine could miss
    // it. Its clock is held in the middle of that phase until the task has recorded it.
    upstreamClock.freeze();
    const { body } = await alice.create({ user_prompt: 'A lighthouse in a storm' });
    upstreamClock.advance(400); // queued for 0.1 s, dreaming until 0.7 s
    await eventually(async () => (await tasks.get(body.id))?.status === 'dreaming', 'the task to record dreaming');
    upstreamClock.thaw();
    await alice.waitForTerminal(body.id);
    const task = (await tasks.get(body.id))!;
    expect(task.history.map((entry) => entry.status)).toEqual(['accepted', 'submitted', 'dreaming', 'copying', 'completed']);
    // Five statuses, its admission to an upstream slot, the submit lease taken before the upstream call, and
    // its three public changes (pending, processing, completed) each marked published once published;
    // besides, each read of the upstream is noted and each wait the workflow holds is recorded (their number
    // depends on when the callbacks come).
    expect(task.version).toBeGreaterThanOrEqual(10);
    expect(task.upstreamReadAt).toBeDefined();
    expect(task.publishedThrough).toBe(task.history.length);
    expect(Date.parse(task.admittedAt!)).toBeGreaterThanOrEqual(Date.parse(task.createdAt));
    expect(Date.parse(task.admittedAt!)).toBeLessThanOrEqual(Date.parse(task.history.find((entry) => entry.status === 'submitted')!.at));
    const head = await s3.send(new HeadObjectCommand({ Bucket: gateway.bucket, Key: `generations/${body.id}/video.mp4` }));
    expect(head.ContentType).toBe('video/mp4');
    expect(head.Metadata).toMatchObject({ 'task-id': body.id, owner: task.owner });
    expect(head.Metadata!['prompt-sha256']).toBe(createHash('sha256').update('A lighthouse in a storm').digest('hex'));
    expect(gateway.s3Events.map((event) => event.s3.object.key)).toContain(`generations/${body.id}/video.mp4`);
  });

  it('stores a Base64 keyframe in the bucket and hands the upstream a link to it', async () => {
    const { status, body } = await alice.create({
      user_prompt: 'A kite over the dunes',
      image_url: `data:image/png;base64,${TINY_PNG.toString('base64')}`,
      image_end_url: TINY_PNG.toString('base64'),
    });
    expect(status).toBe(200);
    for (const name of ['frame0', 'frame1']) {
      const object = await s3.send(new GetObjectCommand({ Bucket: gateway.bucket, Key: `inputs/${body.id}/${name}.png` }));
      expect(Buffer.from(await object.Body!.transformToByteArray()).equals(TINY_PNG)).toBe(true);
    }
    const task = (await tasks.get(body.id))!;
    expect(task.request.frame0).toMatchObject({ kind: 'stored', contentType: 'image/png', width: 64, height: 48 });
    expect((await alice.waitForTerminal(body.id)).state).toBe('completed');
  });

  it('hands the upstream keyframe links that say nothing of the tenant or the prompt', async () => {
    const prompt = 'A kite over the dunes, seen by nobody';
    const { body } = await alice.create({ user_prompt: prompt, image_url: TINY_PNG.toString('base64') });
    const task = (await tasks.get(body.id))!;
    // The link exactly as the submit presigns it for the upstream, fetched as the upstream fetches it.
    const link = await new S3MediaStore(s3, gateway.bucket).keyframeUrl(task.request.frame0!, 300);
    const response = await fetch(link);
    expect(response.status).toBe(200);
    expect(Buffer.from(await response.arrayBuffer()).equals(TINY_PNG)).toBe(true);
    const said = [...response.headers].map(([name, value]) => `${name}: ${value}`).join('\n');
    expect(response.headers.get('x-amz-meta-owner')).toBeNull();
    expect(response.headers.get('x-amz-meta-prompt-sha256')).toBeNull();
    for (const secret of [task.owner, createHash('sha256').update(prompt).digest('hex')]) expect(said).not.toContain(secret);
    const metadata = Object.keys((await s3.send(new HeadObjectCommand({ Bucket: gateway.bucket, Key: (task.request.frame0 as { key: string }).key }))).Metadata ?? {});
    expect(metadata.every((name) => name === 'task-id'), metadata.join()).toBe(true);
  });
});

describe('model, resolution and duration', () => {
  /** The create body the simulated upstream received for a task, as its Generation echoes it. */
  async function sentUpstream(taskId: string): Promise<Record<string, unknown>> {
    const { apiKey } = JSON.parse(readFileSync(join(dataDir, 'simulated-luma-identity.json'), 'utf8')) as { apiKey: string };
    const upstreamId = (await tasks.get(taskId))!.upstreamId!;
    const answer = await fetch(`${gateway.simulatedLuma!.baseUrl}/generations/${upstreamId}`, { headers: { authorization: `Bearer ${apiKey}` } });
    return ((await answer.json()) as { request: Record<string, unknown> }).request;
  }

  it('a request that names none is generated with the deployment’s defaults, sent explicitly and shown', async () => {
    const { status, body } = await alice.create({ user_prompt: 'A quiet harbour' });
    expect(status).toBe(200);
    expect(body).toMatchObject({ model: 'ray-2', resolution: '720p', duration: '5s', aspect_ratio: null });
    expect((await alice.waitForTerminal(body.id)).state).toBe('completed');
    expect(await sentUpstream(body.id)).toMatchObject({ model: 'ray-2', resolution: '720p', duration: '5s' });
    expect((await tasks.get(body.id))!).toMatchObject({ model: 'ray-2', request: { resolution: '720p', duration: '5s' } });
  });

  it('the request’s own choices are recorded, sent and shown', async () => {
    const choices = { model: 'ray-flash-2', resolution: '1080p', duration: '9s', aspect_ratio: '21:9' };
    const { status, body } = await alice.create({ user_prompt: 'A desert road at noon', ...choices });
    expect(status).toBe(200);
    expect(body).toMatchObject(choices);
    const done = await alice.waitForTerminal(body.id);
    expect(done).toMatchObject({ state: 'completed', ...choices });
    expect(await sentUpstream(body.id)).toMatchObject({ model: 'ray-flash-2', resolution: '1080p', duration: '9s', aspect_ratio: '21:9' });
  });

  it('a value the operator does not offer is a 400 naming it, and nothing is created', async () => {
    const before = gateway.simulatedLuma!.stats().creates;
    const answer = await alice.create({ user_prompt: 'A mountain in 4k', resolution: '4k' });
    expect(answer.status).toBe(400);
    expect(answer.body.error.details).toEqual([
      { field: 'resolution', message: 'resolution 4k is not offered by this gateway; allowed: 540p, 720p, 1080p' },
    ]);
    expect(gateway.simulatedLuma!.stats().creates).toBe(before);
  });
});

describe('upstream failures', () => {
  it('reports a generation that fails upstream as failed, with the reason', async () => {
    const { body } = await alice.create({ user_prompt: 'A storm [sim:fail]' });
    const done = await alice.waitForTerminal(body.id);
    expect(done).toMatchObject({ state: 'failed', failure_code: 'moderation', failure_reason: 'Contains blacklisted words' });
    expect(done.data.task_status).toBe('failed');
  });

  it('answers a permanent rejection with its 4xx and records the task as failed', async () => {
    const before = gateway.simulatedLuma!.stats().creates;
    const { status, body } = await alice.create({ user_prompt: 'Something [sim:reject]' });
    // Admitted at once, the task is submitted while the client waits and the refusal is the answer. When
    // another dispatcher (the reconciler at start) holds the dispatch lease, that one admits it and its
    // workflow meets the refusal: the client got 200 pending, and the task ends failed all the same.
    if (status === 200) {
      expect(await alice.waitForTerminal(body.id)).toMatchObject({ state: 'failed', failure_code: 'moderation' });
      expect(gateway.simulatedLuma!.stats().creates).toBe(before);
      return;
    }
    expect(status, JSON.stringify(body)).toBe(400);
    expect(body.error).toMatchObject({ code: 'moderation' });
    expect(body.error!.message).toContain('Prompt moderation failed');
    const taskId = body.error.details.task_id;
    const recorded = await alice.get(taskId);
    expect(recorded.body).toMatchObject({ state: 'failed', failure_code: 'moderation' });
    expect(gateway.simulatedLuma!.stats().creates).toBe(before);
  });

  it('accepts a task whose submit meets a transient error, then submits it from the workflow', async () => {
    const { status, body } = await alice.create({ user_prompt: 'Waves at dawn [sim:busy:2]' });
    expect(status).toBe(200);
    expect(body.state).toBe('pending');
    expect(body.message).toMatch(/waiting to be submitted/);
    const done = await alice.waitForTerminal(body.id);
    expect(done, JSON.stringify(done.failure_reason)).toMatchObject({ state: 'completed' });
    const task = (await tasks.get(body.id))!;
    expect(task.history.map((entry) => entry.status)).toContain('submitted');
  });
});

describe('tenancy and authentication', () => {
  it('answers 401 without a valid key, and 404 for another owner\'s task', async () => {
    const { body } = await alice.create({ user_prompt: 'Private garden' });
    expect((await bob.get(body.id)).status).toBe(404);
    expect((await alice.get(body.id)).status).toBe(200);
    const anonymous = new ApiTestClient(gateway.url, 'not-a-real-key-000000000');
    const answer = await anonymous.get(body.id);
    expect(answer.status).toBe(401);
    expect(answer.body.error.code).toBe('unauthorized');
    const noHeader = await fetch(`${gateway.url}/luma/generations/${body.id}`);
    expect(noHeader.status).toBe(401);
  });
});

describe('client keys', () => {
  it('`npm run keys -- create` makes a key that authenticates as its own owner', async () => {
    const { stdout } = await promisify(execFile)(
      'npx',
      ['tsx', 'scripts/keys.ts', 'create', '--table', 'luma-gateway', '--name', 'carol'],
      {
        cwd: new URL('../..', import.meta.url).pathname,
        env: {
          ...process.env,
          AWS_ENDPOINT_URL_DYNAMODB: gateway.dynamoDbEndpoint,
          AWS_REGION: LOCAL_REGION,
          AWS_ACCESS_KEY_ID: gateway.credentials.accessKeyId,
          AWS_SECRET_ACCESS_KEY: gateway.credentials.secretAccessKey,
        },
      },
    );
    const key = /^(lvg_[A-Za-z0-9_-]{43})$/m.exec(stdout)![1]!;
    // Owners are random ids, never the key's name.
    const owner = /for a new owner "(own_[0-9a-f]{32})"/.exec(stdout)![1]!;
    const carol = new ApiTestClient(gateway.url, key);
    const { status, body } = await carol.create({ user_prompt: 'Carol\'s first video' });
    expect(status).toBe(200);
    expect((await tasks.get(body.id))!.owner).toBe(owner);
    expect((await alice.get(body.id)).status).toBe(404);
  });
});

describe('bad input', () => {
  const cases: [string, unknown, number, string][] = [
    ['missing prompt', { expand_prompt: true }, 400, 'invalid_request'],
    ['prompt too short', { user_prompt: 'hi' }, 400, 'invalid_request'],
    ['prompt too long', { user_prompt: 'x'.repeat(5001) }, 400, 'invalid_request'],
    ['prompt not a string', { user_prompt: 42 }, 400, 'invalid_request'],
    ['unknown aspect ratio', { user_prompt: 'A cat', aspect_ratio: '2:1' }, 400, 'invalid_request'],
    ['unknown model', { user_prompt: 'A cat', model: 'ray-3' }, 400, 'invalid_request'],
    ['unknown duration', { user_prompt: 'A cat', duration: '10s' }, 400, 'invalid_request'],
    ['loop with end frame', { user_prompt: 'A cat', loop: true, image_end_url: 'https://example.com/b.png' }, 400, 'invalid_request'],
    ['ftp keyframe', { user_prompt: 'A cat', image_url: 'ftp://example.com/a.png' }, 400, 'invalid_request'],
    ['Base64 that is not an image', { user_prompt: 'A cat', image_url: Buffer.from('hello world, not an image').toString('base64') }, 400, 'invalid_request'],
    ['an array body', [1, 2], 400, 'invalid_request'],
    ['not JSON', '{"user_prompt":', 400, 'invalid_request'],
  ];
  it.each(cases)('%s → %s %s, nothing created upstream', async (_name, body, status, code) => {
    const before = gateway.simulatedLuma!.stats().creates;
    const answer = await alice.create(body);
    expect(answer.status).toBe(status);
    expect(answer.body.error.code).toBe(code);
    expect(answer.body.error.message).toBe(typeof body === 'string' ? 'The body is not valid JSON.' : 'The request body is invalid.');
    expect(gateway.simulatedLuma!.stats().creates).toBe(before);
  });

  it('names the offending field', async () => {
    const answer = await alice.create({ user_prompt: 'A cat', aspect_ratio: '2:1' });
    expect(answer.body.error.details).toEqual([expect.objectContaining({ field: 'aspect_ratio' })]);
  });

  it('refuses a non-JSON content type with 415 and an oversized body with 413', async () => {
    expect((await alice.request('POST', '/luma/generations', 'user_prompt=cat', { 'content-type': 'text/plain' })).status).toBe(415);
    const huge = JSON.stringify({ user_prompt: 'A cat', image_url: 'A'.repeat(10 * 1024 * 1024) });
    expect((await alice.request('POST', '/luma/generations', huge)).status).toBe(413);
  });

  it('answers unknown routes with 404, wrong methods with 405, malformed ids with 404 — all JSON', async () => {
    const notFound = await alice.request('GET', '/nope');
    expect(notFound.status).toBe(404);
    expect(notFound.body.error.code).toBe('not_found');
    expect((await alice.request('DELETE', '/luma/generations')).status).toBe(405);
    expect((await alice.request('POST', '/luma/generations/0b4f1c2e-0000-4000-8000-000000000000')).status).toBe(405);
    expect((await alice.get('..%2F..%2Fetc%2Fpasswd')).status).toBe(404);
    expect((await alice.get('%E0%A4%A')).status).toBe(404); // malformed percent-encoding
    expect((await alice.get('0b4f1c2e-0000-4000-8000-000000000000')).status).toBe(404);
  });
});
