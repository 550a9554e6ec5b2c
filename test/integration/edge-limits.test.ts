/**
 * Per-client limits in front of the whole local gateway: the web ACL's two rate rules, with limits set low
 * through the same CDK context a deploy takes (then read back from the synthesized template), counted on a
 * clock the test moves. Locally every client is 127.0.0.1, so the address rule is shown last, on its own.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { startLocalGateway, type LocalGateway } from '../../local/gateway.ts';
import { ApiTestClient } from '../support/client.ts';

const PER_KEY = 10;
const PER_ADDRESS = 40;

let gateway: LocalGateway;
let dataDir: string;
let alice: ApiTestClient;
const clock = { now: 0 };
const functionLogs: string[] = [];
/** Requests the API function saw (it logs one line each): a blocked request must never reach it. */
const invocations = () => functionLogs.join('').match(/"message":"request"/g)?.length ?? 0;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'edge-limits-it-'));
  gateway = await startLocalGateway({
    dataDir,
    port: 0,
    apiKeys: ['alice-key-0123456789abcdef'],
    timeScale: 0.01,
    edgeLimits: { requestsPerKey: PER_KEY, requestsPerAddress: PER_ADDRESS },
    edgeClock: () => clock.now,
    // The simulated upstream calls back loopback marker URLs only: with a public one, no callback comes through
    // the front from 127.0.0.1 to be counted by the address rule, and the counts below are exact.
    publicBaseUrl: 'https://gateway.example.test',
    log: () => undefined,
    functionLogs: (chunk) => void functionLogs.push(chunk),
  });
  alice = new ApiTestClient(gateway.url, gateway.apiKeys[0]!);
});

afterAll(async () => {
  await gateway?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('per-client limits at the edge', () => {
  let taskId: string;

  it('a flood with one bad key is cut off by the key rule with the API’s 429, while a valid key is still served', async () => {
    const created = await alice.create({ user_prompt: 'A harbour under attack' });
    expect(created.status).toBe(200);
    taskId = created.body.id;

    const mallory = new ApiTestClient(gateway.url, 'stolen-or-wrong-key-000000');
    const before = invocations();
    const answers = [];
    for (let i = 0; i < PER_KEY + 5; i++) answers.push(await mallory.get(randomUUID()));
    expect(answers.map((a) => a.status)).toEqual([...Array(PER_KEY).fill(401), ...Array(5).fill(429)]);
    const limited = answers.at(-1)!;
    expect(limited.body).toEqual({ error: { code: 'rate_limited', message: `Too many requests with this API key: at most ${PER_KEY} a minute. Retry after 60 seconds.` } });
    expect(limited.headers.get('retry-after')).toBe('60');
    expect(limited.headers.get('content-type')).toMatch(/^application\/json/);
    expect(invocations() - before).toBe(PER_KEY); // the blocked ones never reached the function

    expect((await alice.get(taskId)).status).toBe(200);
  });

  it('a flood of random bad keys from one address is cut off by the address rule, which then holds every key from there', async () => {
    // So far this address sent 1 + 10 + 1 requests that the address rule counted (the key rule's blocks are not).
    const statuses: number[] = [];
    let lastBody: unknown;
    for (let i = 0; i < PER_ADDRESS; i++) {
      const answer = await new ApiTestClient(gateway.url, `random-${randomUUID()}`).get(randomUUID());
      statuses.push(answer.status);
      lastBody = answer.body;
    }
    const served = PER_ADDRESS - 12;
    expect(statuses).toEqual([...Array(served).fill(401), ...Array(PER_ADDRESS - served).fill(429)]);
    expect(lastBody).toEqual({
      error: { code: 'rate_limited', message: `Too many requests from this address: at most ${PER_ADDRESS} a minute, whatever the key. Retry after 60 seconds.` },
    });
    // Locally every client shares 127.0.0.1, so the valid key is held too, as a client behind the same address would be in AWS.
    expect((await alice.get(taskId)).status).toBe(429);
  });

  it('once the window has passed with nothing sent, the valid key is served again', async () => {
    clock.now += 60_001;
    const answer = await alice.get(taskId);
    expect(answer.status).toBe(200);
    expect(answer.body.id).toBe(taskId);
  });
});
