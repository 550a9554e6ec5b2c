/**
 * Events and webhooks on the local runtime, end to end: the synthesized delivery workflow and functions,
 * the local EventBridge and its events.jsonl, the example consumer's rule. A receiver on 127.0.0.1 verifies
 * every delivery with the `standardwebhooks` package, after failures injected at it: a closed port, a 5xx,
 * a timeout.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { Webhook } from 'standardwebhooks';
import { startLocalGateway, type LocalGateway } from '../../local/gateway.ts';
import { LOCAL_REGION } from '../../local/local-aws.ts';
import { DynamoDbTaskStore } from '../../functions/commons/adapters/task-store.ts';
import { generationEventDetailSchema } from '../../functions/commons/domain/generation-event-detail.ts';
import { publicGenerationSchema } from '../../functions/commons/domain/public-generation-schema.ts';
import { ApiTestClient, waitUntil } from '../support/client.ts';
import { ROOMY_DEADLINE_SECONDS, TEST_TIME_SCALE } from '../support/time.ts';

interface Received {
  id: string;
  headers: IncomingHttpHeaders;
  body: string;
  answered: number | 'hung';
}

/** A webhook receiver on 127.0.0.1 whose answers the test scripts, per webhook-id. */
class Receiver {
  readonly received: Received[] = [];
  /** What the nth request (1-based) of a webhook-id gets. */
  answer: (nth: number) => number | 'hang' = () => 204;
  #server: Server | undefined;

  async listen(port: number): Promise<void> {
    this.#server = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8').on('data', (chunk) => (body += chunk));
      req.on('end', () => {
        const id = String(req.headers['webhook-id']);
        const answer = this.answer(this.received.filter((r) => r.id === id).length + 1);
        this.received.push({ id, headers: req.headers, body, answered: answer === 'hang' ? 'hung' : answer });
        // Held past the gateway's 5 s, then dropped.
        if (answer === 'hang') setTimeout(() => res.destroy(), 7_000).unref();
        else res.writeHead(answer).end();
      });
    });
    await new Promise<void>((resolve) => this.#server!.listen({ host: '127.0.0.1', port }, resolve));
  }

  close(): Promise<void> {
    this.#server?.closeAllConnections();
    return new Promise((resolve) => (this.#server ? this.#server.close(() => resolve()) : resolve()));
  }
}

/** A port nothing listens on (yet): it was free a moment ago. */
async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen({ host: '127.0.0.1', port: 0 }, resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

let gateway: LocalGateway;
let dataDir: string;
let alice: ApiTestClient;
let bob: ApiTestClient;
let s3: S3Client;
let tasks: DynamoDbTaskStore;
const receiver = new Receiver();

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'events-it-'));
  gateway = await startLocalGateway({
    dataDir,
    port: 0,
    apiKeys: ['alice-key-0123456789abcdef', 'bob-key-0123456789abcdefgh'],
    timeScale: TEST_TIME_SCALE,
    generationTimeoutSeconds: ROOMY_DEADLINE_SECONDS,
    exampleConsumer: true,
    log: () => undefined,
    functionLogs: () => undefined,
  });
  alice = new ApiTestClient(gateway.url, gateway.apiKeys[0]!);
  bob = new ApiTestClient(gateway.url, gateway.apiKeys[1]!);
  s3 = new S3Client({ endpoint: gateway.s3Endpoint, region: LOCAL_REGION, credentials: gateway.credentials, forcePathStyle: true });
  const dynamo = new DynamoDBClient({ endpoint: gateway.dynamoDbEndpoint, region: LOCAL_REGION, credentials: gateway.credentials });
  tasks = new DynamoDbTaskStore(DynamoDBDocumentClient.from(dynamo), 'luma-gateway');
});

afterAll(async () => {
  await receiver.close();
  await gateway?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

const deliveries = async (client: ApiTestClient, taskId: string) => client.request('GET', `/luma/generations/${taskId}/deliveries`);
const eventsOf = (taskId: string) =>
  readFileSync(gateway.eventsFile, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line))
    .filter((event) => event.detail?.id === taskId);

describe('a webhook through a closed port, a 5xx and a timeout', () => {
  let taskId: string;
  let port: number;

  it('is delivered once per webhook-id, every request signed as Standard Webhooks says, and the task is untouched', async () => {
    port = await closedPort();
    const created = await alice.create({
      user_prompt: 'A lighthouse at dusk, waves rolling in',
      callback_url: `http://127.0.0.1:${port}/hooks/luma`,
      callback_events: ['processing', 'completed'],
    });
    expect(created.status).toBe(200);
    taskId = created.body.id;

    // Nothing listens yet: the first attempts find the port closed.
    await waitUntil(
      async () => ((await deliveries(alice, taskId)).body.data as any[]).find((d) => d.attempts.some((a: any) => /ECONNREFUSED/.test(a.error ?? ''))),
      120_000,
      'an attempt against the closed port',
    );
    receiver.answer = (nth) => (nth === 1 ? 503 : nth === 2 ? 'hang' : 204);
    await receiver.listen(port);

    const done = await alice.waitForTerminal(taskId);
    expect(done.state).toBe('completed');
    const ledger = await waitUntil(
      async () => {
        const { body } = await deliveries(alice, taskId);
        return (body.data as any[]).length === 2 && body.data.every((d: any) => d.status === 'delivered') ? body.data : undefined;
      },
      120_000,
      'both deliveries delivered',
    );

    const webhook = new Webhook(gateway.webhookSecret);
    const accepted = new Map<string, number>();
    for (const request of receiver.received) {
      const payload = webhook.verify(request.body, request.headers as Record<string, string>) as any;
      expect(request.headers['content-type']).toBe('application/json');
      expect(payload.data.id).toBe(taskId);
      publicGenerationSchema.parse(payload.data);
      if (request.answered === 204) accepted.set(request.id, (accepted.get(request.id) ?? 0) + 1);
    }
    // Every webhook-id taken exactly once, each after a 5xx and a timeout.
    expect([...accepted.values()]).toEqual([1, 1]);
    expect(new Set(receiver.received.map((r) => r.id))).toEqual(new Set(ledger.map((d: any) => d.id)));
    for (const id of accepted.keys()) expect(receiver.received.filter((r) => r.id === id).map((r) => r.answered)).toEqual([503, 'hung', 204]);

    const types = receiver.received.filter((r) => r.answered === 204).map((r) => JSON.parse(r.body));
    expect(types.map((payload) => payload.type).sort()).toEqual(['generation.completed', 'generation.processing']);
    const completed = types.find((payload) => payload.type === 'generation.completed');
    expect(completed.data).toMatchObject({ state: 'completed', video: { sha256: done.video!.sha256 } });
    expect(Date.parse(completed.timestamp)).not.toBeNaN();

    // The ledger kept each attempt: the refused connection, the 5xx, the timeout, the 2xx.
    const processing = ledger.find((d: any) => d.type === 'generation.processing');
    const outcomes = processing.attempts.map((a: any) => a.status_code ?? a.error);
    expect(outcomes.slice(-3)).toEqual([503, 'timed out after 5 s', 204]);
    expect(outcomes.slice(0, -3).every((outcome: unknown) => /ECONNREFUSED/.test(String(outcome)))).toBe(true);
    for (const attempt of processing.attempts) {
      expect(attempt).toEqual({ run: 1, attempt: expect.any(Number), at: expect.any(String), status_code: attempt.status_code, error: attempt.error, latency_ms: expect.any(Number) });
    }
  });

  it('the client’s callback_url is never sent upstream: the upstream got the task’s own marker', async () => {
    const task = (await tasks.get(taskId))!;
    expect(task.callback?.url).toBe(`http://127.0.0.1:${port}/hooks/luma`);
    const identity = JSON.parse(readFileSync(join(dataDir, 'simulated-luma-identity.json'), 'utf8'));
    const upstream = (await (await fetch(`${gateway.simulatedLuma!.baseUrl}/generations/${task.upstreamId}`, { headers: { authorization: `Bearer ${identity.apiKey}` } })).json()) as { request: { callback_url: string } };
    expect(upstream.request.callback_url).toBe(task.upstreamMarker);
  });

  it('events.jsonl holds each change as EventBridge delivers it, in the documented shape', () => {
    const events = eventsOf(taskId);
    expect(events.map((event) => event['detail-type'])).toEqual(['Generation Submitted', 'Generation Processing', 'Generation Completed']);
    for (const event of events) {
      expect(Object.keys(event).sort()).toEqual(['account', 'detail', 'detail-type', 'id', 'region', 'resources', 'source', 'time', 'version']);
      expect(event).toMatchObject({ version: '0', source: 'luma-video-gateway', region: LOCAL_REGION, resources: [] });
      expect(event.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      expect(generationEventDetailSchema.strict().parse(event.detail)).toEqual(event.detail);
    }
    expect(events.map((event) => event.detail.state)).toEqual(['pending', 'processing', 'completed']);
    expect(events[2].detail.video).toMatchObject({ bucket: gateway.bucket, key: `generations/${taskId}/video.mp4`, width: 320, height: 180, duration: 3 });
    expect(events[2].detail.thumbnail).toEqual({ bucket: gateway.bucket, key: `generations/${taskId}/thumbnail.jpg` });
  });

  it('the example consumer wrote metadata.json beside the video', async () => {
    const object = await waitUntil(
      () => s3.send(new GetObjectCommand({ Bucket: gateway.bucket, Key: `generations/${taskId}/metadata.json` })).then((answer) => answer.Body!.transformToString(), () => undefined),
      60_000,
      'metadata.json',
    );
    const completed = eventsOf(taskId).find((event) => event['detail-type'] === 'Generation Completed');
    expect(JSON.parse(object)).toEqual({
      id: taskId,
      completed_at: completed.time,
      video: { key: `generations/${taskId}/video.mp4`, sha256: completed.detail.video.sha256, size_bytes: completed.detail.video.size_bytes, width: 320, height: 180, duration: 3 },
      thumbnail: { key: `generations/${taskId}/thumbnail.jpg` },
      event_id: completed.id,
    });
  });

  it('a retry sends the same webhook-id again in a new run; a run under way cannot be retried', async () => {
    const { body } = await deliveries(alice, taskId);
    const completed = body.data.find((d: any) => d.type === 'generation.completed');
    const before = receiver.received.length;
    receiver.answer = () => 500;
    const retried = await alice.request('POST', `/luma/generations/${taskId}/deliveries/${completed.id}/retry`);
    expect(retried.status).toBe(202);
    expect(retried.body).toEqual({ id: completed.id, run: 2, status: 'pending' });
    await waitUntil(async () => (receiver.received.length > before ? true : undefined), 60_000, 'the retry');
    const busy = await alice.request('POST', `/luma/generations/${taskId}/deliveries/${completed.id}/retry`);
    expect(busy.status).toBe(409);
    expect(busy.body.error.code).toBe('delivery_in_progress');

    receiver.answer = () => 204;
    const ledger = await waitUntil(
      async () => ((await deliveries(alice, taskId)).body.data as any[]).find((d) => d.id === completed.id && d.run === 2 && d.status === 'delivered'),
      60_000,
      'the retry delivered',
    );
    expect(ledger.attempts.filter((a: any) => a.run === 2).map((a: any) => a.status_code).at(-1)).toBe(204);
    for (const request of receiver.received.slice(before)) {
      expect(request.id).toBe(completed.id);
      new Webhook(gateway.webhookSecret).verify(request.body, request.headers as Record<string, string>);
    }
  });

  it('deliveries are their owner’s alone; an unknown delivery is a 404', async () => {
    const { body } = await deliveries(alice, taskId);
    expect((await deliveries(bob, taskId)).status).toBe(404);
    expect((await bob.request('POST', `/luma/generations/${taskId}/deliveries/${body.data[0].id}/retry`)).status).toBe(404);
    expect((await alice.request('POST', `/luma/generations/${taskId}/deliveries/msg_${taskId}_0/retry`)).status).toBe(404); // pending: never a webhook
    expect((await alice.request('POST', `/luma/generations/${taskId}/deliveries/nonsense/retry`)).status).toBe(404);
    expect((await alice.request('DELETE', `/luma/generations/${taskId}/deliveries`)).status).toBe(405);
  });
});

describe('a failed generation', () => {
  it('sends generation.failed by default, and publishes Submitted, Processing (when a read saw it) and Failed', async () => {
    const port = await closedPort();
    const failing = new Receiver();
    await failing.listen(port);
    try {
      const created = await alice.create({ user_prompt: 'A paper boat [sim:fail]', callback_url: `http://localhost:${port}/hook` });
      expect(created.status).toBe(200);
      const done = await alice.waitForTerminal(created.body.id);
      expect(done).toMatchObject({ state: 'failed', failure_code: 'moderation' });
      await waitUntil(async () => (failing.received.length > 0 ? true : undefined), 60_000, 'the failed webhook');
      expect(failing.received.map((r) => JSON.parse(r.body).type)).toEqual(['generation.failed']);
      new Webhook(gateway.webhookSecret).verify(failing.received[0]!.body, failing.received[0]!.headers as Record<string, string>);
      // Processing is published when a read sees the generation dreaming: a dreaming callback answered 503
      // (the Submitted event still being published) and lost after Luma's 3 tries, and a generation that
      // fails before the next read, is seen only as failed.
      const events = eventsOf(created.body.id).map((event) => [event['detail-type'], event.detail.failure_code]);
      const processing = events.some(([type]) => type === 'Generation Processing') ? [['Generation Processing', null]] : [];
      expect(events).toEqual([['Generation Submitted', null], ...processing, ['Generation Failed', 'moderation']]);
    } finally {
      await failing.close();
    }
  });
});

describe('a cancelled generation', () => {
  it('sends generation.failed with failure_code cancelled, and publishes Generation Failed', async () => {
    const port = await closedPort();
    const cancelled = new Receiver();
    await cancelled.listen(port);
    try {
      const created = await alice.create({ user_prompt: 'A very slow one [sim:slow]', callback_url: `http://127.0.0.1:${port}/hook` });
      expect(created.status).toBe(200);
      const answer = await alice.request('POST', `/luma/generations/${created.body.id}/cancel`);
      expect(answer.body).toMatchObject({ state: 'failed', failure_code: 'cancelled' });
      await waitUntil(async () => (cancelled.received.length > 0 ? true : undefined), 60_000, 'the cancelled webhook');
      const payload = new Webhook(gateway.webhookSecret).verify(cancelled.received[0]!.body, cancelled.received[0]!.headers as Record<string, string>) as any;
      expect(payload).toMatchObject({ type: 'generation.failed', data: { id: created.body.id, state: 'failed', failure_code: 'cancelled' } });
      const events = eventsOf(created.body.id);
      expect(events.at(-1)).toMatchObject({ 'detail-type': 'Generation Failed', detail: { state: 'failed', failure_code: 'cancelled' } });
    } finally {
      await cancelled.close();
    }
  });
});

describe('callback_url rules at the API', () => {
  it.each([
    ['http://10.0.0.5/hook', /https/],
    ['https://169.254.169.254/latest', /link-local/],
    ['https://user:pw@hooks.example.com/', /credentials/],
  ])('refuses %s with a 400 naming callback_url, and creates nothing', async (url, message) => {
    const answer = await alice.create({ user_prompt: 'A lighthouse at dusk', callback_url: url });
    expect(answer.status).toBe(400);
    expect(answer.body.error.details).toEqual([{ field: 'callback_url', message: expect.stringMatching(message) }]);
  });
});
