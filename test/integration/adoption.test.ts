/**
 * Never another client's video: the whole gateway in-process against the simulated upstream, whose
 * account is shared with "other clients" that make generations with the same prompts. After every kind
 * of submit outcome, a task ends with the generation that carries its own marker, or a fresh one, never
 * a look-alike.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { startLocalGateway, type LocalGateway } from '../../local/gateway.ts';
import { DynamoDbTaskStore } from '../../functions/commons/adapters/task-store.ts';
import { upstreamClaimKey } from '../../functions/commons/adapters/upstream-claims.ts';
import { LOCAL_REGION } from '../../local/local-aws.ts';
import { ApiTestClient } from '../support/client.ts';
import { ROOMY_DEADLINE_SECONDS, TEST_TIME_SCALE } from '../support/time.ts';

let gateway: LocalGateway;
let dataDir: string;
let client: ApiTestClient;
let tasks: DynamoDbTaskStore;
let documents: DynamoDBDocumentClient;

interface ListedGeneration {
  id: string;
  created_at: string;
  request: { prompt: string; callback_url: string | null };
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'adoption-it-'));
  gateway = await startLocalGateway({
    dataDir,
    port: 0,
    apiKeys: ['adoption-key-0123456789'],
    timeScale: TEST_TIME_SCALE,
    generationTimeoutSeconds: ROOMY_DEADLINE_SECONDS,
    keyLimits: { maxConcurrent: 1000, ratePerMinute: 1000 },
    log: () => undefined,
    functionLogs: () => undefined,
  });
  client = new ApiTestClient(gateway.url, gateway.apiKeys[0]!);
  documents = DynamoDBDocumentClient.from(new DynamoDBClient({ endpoint: gateway.dynamoDbEndpoint, region: LOCAL_REGION, credentials: gateway.credentials }));
  tasks = new DynamoDbTaskStore(documents, 'luma-gateway');
});

afterAll(async () => {
  await gateway?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

const upstreamKey = () => (JSON.parse(readFileSync(join(dataDir, 'simulated-luma-identity.json'), 'utf8')) as { apiKey: string }).apiKey;

/** The whole account's list, as any client of the account sees it. */
async function accountList(): Promise<ListedGeneration[]> {
  const all: ListedGeneration[] = [];
  for (let offset = 0; ; offset += 100) {
    const response = await fetch(`${gateway.simulatedLuma!.baseUrl}/generations?limit=100&offset=${offset}`, { headers: { authorization: `Bearer ${upstreamKey()}` } });
    const page = (await response.json()) as { generations: ListedGeneration[] };
    all.push(...page.generations);
    if (page.generations.length < 100) return all;
  }
}

/** Creates a task through the API and waits for it to finish; returns it as stored. */
async function generate(prompt: string) {
  const created = await client.create({ user_prompt: prompt });
  expect(created.status).toBe(200);
  expect((await client.waitForTerminal(created.body.id, 60_000)).state).toBe('completed');
  return (await tasks.get(created.body.id))!;
}

/** The generation a task ended with must carry its marker, and it must be the only one that does. */
async function expectOwnGeneration(task: { id: string; upstreamId?: string; upstreamMarker?: string }) {
  const list = await accountList();
  const mine = list.filter((generation) => generation.request.callback_url === task.upstreamMarker);
  expect(mine.map((generation) => generation.id)).toEqual([task.upstreamId]);
  const claim = await documents.send(new GetCommand({ TableName: 'luma-gateway', Key: { pk: upstreamClaimKey('luma', task.upstreamId!) } }));
  expect(claim.Item?.taskId).toBe(task.id);
}

describe('the marker', () => {
  it('every create carries the task’s own marker, under the gateway’s URL, as callback_url', async () => {
    const task = await generate('A marked generation');
    expect(task.upstreamMarker).toMatch(new RegExp(`^${gateway.url}/luma/upstream-callbacks/${task.id}/[A-Za-z0-9_-]{43}$`));
    await expectOwnGeneration(task);
  });

  it('the callback URL answers the upstream with the exact token only', async () => {
    const task = await generate('A generation that is called back');
    const post = (url: string, method = 'POST') => fetch(url, { method, headers: { 'content-type': 'application/json' }, body: method === 'POST' ? '{}' : undefined });
    expect((await post(task.upstreamMarker!)).status).toBe(204);
    const token = task.upstreamMarker!.split('/').pop()!;
    const wrongToken = task.upstreamMarker!.replace(token, `${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`);
    expect((await post(wrongToken)).status).toBe(404);
    expect((await post(task.upstreamMarker!.replace(task.id, '0b4f1c2e-1111-4000-8000-00000000dead'))).status).toBe(404);
    expect((await post(`${gateway.url}/luma/upstream-callbacks/${task.id}`)).status).toBe(404);
    expect((await post(task.upstreamMarker!, 'GET')).status).toBe(405);
  });
});

describe('after each kind of submit outcome, in an account shared with same-prompt generations', () => {
  it('a clear refusal (503) then a retry: one create, no adoption of the look-alike made before', async () => {
    const prompt = 'A popular prompt refused once [sim:busy:1]';
    gateway.simulatedLuma!.addForeignGeneration({ prompt }, { createdAt: new Date() });
    const task = await generate(prompt);
    await expectOwnGeneration(task);
    expect(task.ambiguousSince).toBeUndefined(); // a refusal is clear: never searched for
  });

  it('a create made upstream whose answer was cut: the task adopts that very generation', async () => {
    const prompt = 'A popular prompt whose answer is lost [sim:lost:1]';
    const task = await generate(prompt);
    await expectOwnGeneration(task);
    expect(Date.parse(task.ambiguousSince!)).toBeGreaterThanOrEqual(Date.parse(task.createdAt)); // the lost answer made it ambiguous
    // The other client's same-request generation, made a moment before ours (one per create), was there to be mistaken.
    const lookalikes = (await accountList()).filter((generation) => generation.request.prompt === prompt && generation.id !== task.upstreamId);
    expect(lookalikes).toHaveLength(1);
  });

  it('a create made upstream, then the request held until the connection dropped: adopted too', async () => {
    const task = await generate('A popular prompt that hangs after the create [sim:hang-created:1]');
    await expectOwnGeneration(task);
  });

  it('two tasks with the same prompt, both cut mid-submit: each ends with its own generation', async () => {
    const prompt = 'Two tasks, one prompt, both answers lost [sim:lost:2]';
    const [first, second] = await Promise.all([client.create({ user_prompt: prompt }), client.create({ user_prompt: prompt })]);
    const ids = [first.body.id as string, second.body.id as string];
    for (const id of ids) expect((await client.waitForTerminal(id, 60_000)).state).toBe('completed');
    const done = await Promise.all(ids.map(async (id) => (await tasks.get(id))!));
    expect(done[0]!.upstreamId).not.toBe(done[1]!.upstreamId);
    for (const task of done) await expectOwnGeneration(task);
  });
});

describe('a generation the upstream failed on its own side', () => {
  const createsOf = (prompt: string) => gateway.simulatedLuma!.generations().filter((generation) => generation.prompt === prompt).length;

  it('is replaced by a new submit ("Job failed" once), and the task completes with the new generation', async () => {
    const prompt = 'Luma fails the first one on its side [sim:fail-first:1]';
    const task = await generate(prompt);
    expect(createsOf(prompt)).toBe(2);
    expect(task.resubmits).toBe(1);
    expect(task.discardedUpstreamIds).toHaveLength(1);
    expect(task.discardedUpstreamIds).not.toContain(task.upstreamId);
    expect(task.history.map((entry) => entry.status)).toContain('accepted');
    expect(task.history.find((entry) => entry.note)?.note).toBe('Job failed');
    // Both generations carry the task's marker; the one it ended with is the one that completed.
    const marked = (await accountList()).filter((generation) => generation.request.callback_url === task.upstreamMarker);
    expect(marked.map((generation) => generation.id).sort()).toEqual([task.upstreamId, ...task.discardedUpstreamIds!].sort());
  });

  it('fails upstream_failed once the resubmits are spent, saying how often it was tried', async () => {
    const prompt = 'Luma fails every one on its side [sim:fail:job_failed]';
    const created = await client.create({ user_prompt: prompt });
    const done = await client.waitForTerminal(created.body.id, 60_000);
    expect(done).toMatchObject({ state: 'failed', failure_code: 'upstream_failed' });
    expect(done.failure_reason).toBe('Job failed (the upstream failed all 2 submits)');
    expect(createsOf(prompt)).toBe(2);
  });

  it('moderation is never resubmitted', async () => {
    const prompt = 'A prompt Luma refuses while generating [sim:fail]';
    const created = await client.create({ user_prompt: prompt });
    expect(await client.waitForTerminal(created.body.id, 60_000)).toMatchObject({ state: 'failed', failure_code: 'moderation' });
    expect(createsOf(prompt)).toBe(1);
  });
});
