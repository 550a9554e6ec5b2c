/**
 * "No secrets in logs", checked the blunt way: run whole generations through the gateway with every log
 * line captured (the runtime's and each function's own), then search the capture for every secret the run
 * used — client keys, the upstream key, the webhook secret, presigned-URL signatures, the data dir's AWS secret key.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLocalGateway, type LocalGateway } from '../../local/gateway.ts';
import { startSimulatedLuma, type SimulatedLuma } from '../../local/simulated-luma.ts';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApiTestClient, waitUntil } from '../support/client.ts';
import { ROOMY_DEADLINE_SECONDS, TEST_TIME_SCALE } from '../support/time.ts';

const CLIENT_KEY = 'lvg_client-secret-for-log-test-0123456789';
const UPSTREAM_KEY = 'upstream-secret-for-log-test-9876543210';
const TINY_PNG = readFileSync(new URL('../fixtures/media/tiny.png', import.meta.url));

let dataDir: string;
let upstream: SimulatedLuma;
let gateway: LocalGateway;
let captured = '';
/** A webhook receiver, so that deliveries are signed (and logged) in the run. */
let receiver: Server;
let hooks = 0;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'log-secrets-'));
  receiver = createServer((req, res) => req.resume().on('end', () => (hooks++, res.writeHead(hooks === 1 ? 500 : 204).end())));
  await new Promise<void>((resolve) => receiver.listen({ host: '127.0.0.1', port: 0 }, resolve));
  upstream = await startSimulatedLuma({ apiKey: UPSTREAM_KEY, timeScale: 0.01 });
  gateway = await startLocalGateway({
    dataDir,
    port: 0,
    apiKeys: [CLIENT_KEY],
    timeScale: TEST_TIME_SCALE,
    generationTimeoutSeconds: ROOMY_DEADLINE_SECONDS,
    upstream: { baseUrl: upstream.baseUrl, apiKey: UPSTREAM_KEY },
    log: (line) => (captured += `${line}\n`),
    functionLogs: (chunk) => (captured += chunk),
  });
});

afterAll(async () => {
  receiver?.close();
  await gateway?.close();
  await upstream?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('logs of a whole run', () => {
  it('contain no client key, no upstream key, no webhook secret, no presigned signature and no AWS secret key', async () => {
    const callback_url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
    const client = new ApiTestClient(gateway.url, CLIENT_KEY);
    // One that completes: its three links carry presigned signatures, which must not be logged either.
    const logged = await client.create({ user_prompt: 'A logged generation', image_url: `data:image/png;base64,${TINY_PNG.toString('base64')}`, callback_url });
    expect(logged.status).toBe(200);
    const done = await client.waitForTerminal(logged.body.id);
    expect(done.state).toBe('completed');
    const signatures = [done.video?.url, done.video?.download_url, done.thumbnail?.url].map((url) => url && new URL(url).searchParams.get('X-Amz-Signature'));
    expect(signatures).toEqual(Array(3).fill(expect.stringMatching(/^[0-9a-f]{64}$/)));

    // One the upstream fails.
    const failing = await client.create({ user_prompt: 'A failing one [sim:fail]', callback_url });
    expect(failing.status).toBe(200);
    expect(await client.waitForTerminal(failing.body.id)).toMatchObject({ state: 'failed', failure_code: 'moderation' });

    // One the upstream refuses at submit: the refusal is the answer when the task is submitted while the
    // client waits; when another dispatcher (the reconciler) admitted it, the client got 200 and the task fails.
    const refused = await client.create({ user_prompt: 'A refused one [sim:reject]' });
    if (refused.status === 200) {
      expect(await client.waitForTerminal(refused.body.id)).toMatchObject({ state: 'failed', failure_code: 'moderation' });
    } else {
      expect(refused, JSON.stringify(refused.body)).toMatchObject({ status: 400, body: { error: { code: 'moderation' } } });
    }

    const wrongKey = await new ApiTestClient(gateway.url, `${CLIENT_KEY}-wrong`).get('0b4f1c2e-0000-4000-8000-000000000000');
    expect(wrongKey.status).toBe(401);
    await waitUntil(async () => (hooks >= 3 ? true : undefined), 60_000, 'the webhooks, one of them retried');
    await new Promise((resolve) => setTimeout(resolve, 200)); // let the workers' last lines arrive

    expect(captured.length).toBeGreaterThan(1000); // the run did log
    const webhookSecret = gateway.webhookSecret.slice('whsec_'.length);
    for (const secret of [CLIENT_KEY, UPSTREAM_KEY, gateway.credentials.secretAccessKey, webhookSecret, ...(signatures as string[])]) expect(captured).not.toContain(secret);
    expect(captured).not.toMatch(/X-Amz-Signature=[0-9a-f]{16,}/);
  });
});
