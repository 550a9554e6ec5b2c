/**
 * The client's and the CLI's list, cancel and delete against the local gateway, every answer checked
 * against the OpenAPI document: `GET /luma/generations?limit=&cursor=&state=`,
 * `POST /luma/generations/{id}/cancel`, `DELETE /luma/generations/{id}`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalGateway } from '../../local/gateway.ts';
import { LumaVideoClient, type Generation } from '../../client/src/index.ts';
import { OpenApiCheck } from '../support/openapi-check.ts';
import { expectAnswersChecked, runCli, startClientGateway, stopClientGateway } from '../support/client-gateway.ts';

const KEY = 'task-api-it-key-0123456789abcdef';
const OTHER_KEY = 'task-api-it-other-0123456789abcd';

let gateway: LocalGateway;
let dataDir: string;
let check: OpenApiCheck;
let client: LumaVideoClient;
let other: LumaVideoClient;

beforeAll(async () => {
  ({ gateway, dataDir } = await startClientGateway('client-task-api-it-', [KEY, OTHER_KEY]));
  check = new OpenApiCheck();
  client = new LumaVideoClient({ baseUrl: gateway.url, apiKey: KEY, fetch: check.fetchFor(gateway.url) });
  other = new LumaVideoClient({ baseUrl: gateway.url, apiKey: OTHER_KEY, fetch: check.fetchFor(gateway.url) });
});

afterAll(async () => {
  await stopClientGateway(gateway, dataDir);
});

const cli = (args: string[]) => runCli(args, { gateway, key: KEY, check });

describe('listGenerations', () => {
  it('pages through the caller’s generations newest first, each once, and never another owner’s', async () => {
    const made: Generation[] = [];
    for (let i = 0; i < 5; i++) made.push(await client.createGeneration({ user_prompt: `A paper boat number ${i}` }));
    await other.createGeneration({ user_prompt: 'Not yours to see' });
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await client.listGenerations({ limit: 2, cursor });
      expect(page.data.length).toBeLessThanOrEqual(2);
      seen.push(...page.data.map((generation) => generation.id));
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
    expect(seen).toEqual(made.map((generation) => generation.id).reverse());
    const all: string[] = [];
    for await (const generation of client.generations({ limit: 3 })) all.push(generation.id);
    expect(all).toEqual(seen);
  });

  it('filters by state, and refuses bad values with 400', async () => {
    const done = await client.generate({ user_prompt: 'A kite over the dunes' });
    const completed = await client.listGenerations({ state: 'completed' });
    expect(completed.data.map((generation) => generation.id)).toContain(done.id);
    expect(completed.data.every((generation) => generation.state === 'completed')).toBe(true);
    await expect(client.listGenerations({ limit: 0 })).rejects.toMatchObject({ status: 400, code: 'invalid_request' });
    await expect(client.listGenerations({ limit: 101 })).rejects.toMatchObject({ status: 400 });
    await expect(client.listGenerations({ state: 'done' as never })).rejects.toMatchObject({ status: 400 });
    await expect(client.listGenerations({ cursor: 'not-a-cursor' })).rejects.toMatchObject({ status: 400 });
  });
});

describe('cancel and delete', () => {
  it('cancels an unfinished generation: failed, failure_code cancelled; a finished one is 409 already_finished', async () => {
    const slow = await client.createGeneration({ user_prompt: 'A glacier, very slowly [sim:slow]' });
    const cancelled = await client.cancel(slow.id);
    expect(cancelled).toMatchObject({ id: slow.id, state: 'failed', failure_code: 'cancelled' });
    await expect(client.cancel(slow.id)).rejects.toMatchObject({ status: 409, code: 'already_finished' });
    await expect(other.cancel(slow.id)).rejects.toMatchObject({ status: 404 });
  });

  it('deletes a finished generation: 204, then it is a 404; an unfinished one is a 409', async () => {
    const slow = await client.createGeneration({ user_prompt: 'A glacier, slower still [sim:slow]' });
    await expect(client.delete(slow.id)).rejects.toMatchObject({ status: 409 });
    const done = await client.generate({ user_prompt: 'A lantern drifting up' });
    await expect(other.delete(done.id)).rejects.toMatchObject({ status: 404 });
    await client.delete(done.id);
    await expect(client.getGeneration(done.id)).rejects.toMatchObject({ status: 404, code: 'not_found' });
    await client.cancel(slow.id);
  });
});

describe('luma-video list, cancel, delete', () => {
  it('lists as JSON (one page, or one generation a line with --all), cancels and deletes, exit 0', async () => {
    const slow = await client.createGeneration({ user_prompt: 'A snail crossing a leaf [sim:slow]' });
    const page = await cli(['list', '--limit', '1']);
    expect(page.code).toBe(0);
    expect(page.lines[0]).toMatchObject({ data: [expect.objectContaining({ id: slow.id })], next_cursor: expect.any(String) });
    const all = await cli(['list', '--all']);
    expect(all.lines.length).toBeGreaterThan(1);
    expect(all.lines[0]).toMatchObject({ id: slow.id });
    const cancelled = await cli(['cancel', slow.id]);
    expect(cancelled.code).toBe(0);
    expect(cancelled.lines[0]).toMatchObject({ id: slow.id, failure_code: 'cancelled' });
    expect((await cli(['cancel', slow.id])).code).toBe(1);
    const deleted = await cli(['delete', slow.id]);
    expect(deleted.code).toBe(0);
    expect(deleted.lines[0]).toEqual({ event: 'deleted', id: slow.id });
    expect((await cli(['list', '--state', 'done'])).code).toBe(2);
  });

  it('every answer was documented and valid', () => {
    expectAnswersChecked(check, [
      'GET /luma/generations → 200',
      'GET /luma/generations → 400',
      'POST /luma/generations/{task_id}/cancel → 200',
      'POST /luma/generations/{task_id}/cancel → 409',
      'DELETE /luma/generations/{task_id} → 204',
      'DELETE /luma/generations/{task_id} → 409',
    ]);
  });
});
