/**
 * A deployment whose upstream key secret still holds the placeholder the stack created: the local runtime
 * serves the secret `{"apiKey": "REPLACE_ME"}` through its Secrets Manager endpoint, to the very bundles
 * that deploy. A POST answers 502 upstream_rejected telling the operator which secret to set, the task
 * records the same reason, and the upstream never hears of it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLocalGateway, type LocalGateway } from '../../local/gateway.ts';
import { UPSTREAM_KEY_PLACEHOLDER_SECRET } from '../../functions/commons/domain/upstream-key.ts';
import { ApiTestClient } from '../support/client.ts';

const CLIENT_KEY = 'placeholder-test-client-key-0123456789';
/** The local runtime's secret (local/gateway.ts names it so). */
const HINT = 'set the Luma API key in secret luma-api-key';

let dataDir: string;
let upstream: Server;
let upstreamRequests = 0;
let gateway: LocalGateway;
let client: ApiTestClient;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'upstream-key-placeholder-'));
  // An upstream that counts whatever reaches it; with the placeholder, nothing may.
  upstream = createServer((_req, res) => {
    upstreamRequests++;
    res.writeHead(500).end();
  });
  await new Promise<void>((ready) => upstream.listen(0, '127.0.0.1', ready));
  gateway = await startLocalGateway({
    dataDir,
    port: 0,
    apiKeys: [CLIENT_KEY],
    timeScale: 0.01,
    upstream: { baseUrl: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/v1`, apiKey: UPSTREAM_KEY_PLACEHOLDER_SECRET },
    log: () => undefined,
    functionLogs: () => undefined,
  });
  client = new ApiTestClient(gateway.url, CLIENT_KEY);
});

afterAll(async () => {
  await gateway?.close();
  upstream?.closeAllConnections();
  await new Promise<void>((done) => (upstream ? upstream.close(() => done()) : done()));
  rmSync(dataDir, { recursive: true, force: true });
});

describe('the upstream key secret still holds the placeholder', () => {
  it('a POST answers 502 upstream_rejected with the operator’s hint; the task is failed with it; the upstream is never called', async () => {
    const created = await client.create({ user_prompt: 'A lighthouse at dusk, waves below' });
    // Admitted at once, the task is submitted while the client waits and the refusal is the answer. When
    // another dispatcher (the reconciler at start) holds the dispatch lease, that one admits it and its
    // workflow meets the refusal: the client got 200 pending, and the task ends failed with the hint all the same.
    if (created.status === 200) {
      const done = await client.waitForTerminal(created.body.id);
      expect(done).toMatchObject({ state: 'failed', failure_code: 'upstream_rejected' });
      expect(done.failure_reason).toContain(HINT);
      expect(upstreamRequests).toBe(0);
      return;
    }
    expect(created.status, JSON.stringify(created.body)).toBe(502);
    expect(created.body.error).toMatchObject({ code: 'upstream_rejected', details: { task_id: expect.any(String) } });
    expect(created.body.error.message).toContain(HINT);

    const task = await client.get(created.body.error.details.task_id);
    expect(task.status).toBe(200);
    expect(task.body).toMatchObject({ state: 'failed', failure_code: 'upstream_rejected' });
    expect(task.body.failure_reason).toContain(HINT);
    expect(upstreamRequests).toBe(0);
  });
});
