/**
 * The client package and the luma-video CLI against the whole local gateway over real HTTP, and the public
 * pages it serves. Every answer the client receives from the API goes through the OpenAPI document
 * (test/support/openapi-check.ts): an answer the document does not describe fails the test.
 * The list, cancel and delete routes (issue 13) are exercised in client-task-api.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { Validator } from '@seriousme/openapi-schema-validator';
import type { LocalGateway } from '../../local/gateway.ts';
import { openApiDocument } from '../../functions/commons/domain/openapi.ts';
import { GenerationFailedError, LumaVideoApiError, LumaVideoClient, type Progress } from '../../client/src/index.ts';
import { OpenApiCheck } from '../support/openapi-check.ts';
import { expectAnswersChecked, runCli, startClientGateway, stopClientGateway } from '../support/client-gateway.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
const SAMPLE_MP4 = readFileSync(join(ROOT, 'local/assets/sample.mp4'));
const TINY_PNG = join(ROOT, 'test/fixtures/media/tiny.png');
const KEY = 'clients-it-key-0123456789abcdef';

let gateway: LocalGateway;
let dataDir: string;
let check: OpenApiCheck;
let client: LumaVideoClient;

beforeAll(async () => {
  ({ gateway, dataDir } = await startClientGateway('clients-it-', [KEY]));
  check = new OpenApiCheck();
  client = new LumaVideoClient({ baseUrl: gateway.url, apiKey: KEY, fetch: check.fetchFor(gateway.url) });
});

afterAll(async () => {
  await stopClientGateway(gateway, dataDir);
});

const out = (name: string) => join(dataDir, name);

/** The CLI in this process, its output collected; every answer it receives is checked against the document. */
const cli = (args: string[], options: { tty?: boolean; env?: Record<string, string> } = {}) => runCli(args, { gateway, key: KEY, check, ...options });

describe('the public pages', () => {
  it('serves the OpenAPI document without a key: valid OpenAPI 3.1, the same as the build writes for this offer', async () => {
    const response = await fetch(`${gateway.url}/openapi.json`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    const served = await response.json();
    expect(served).toEqual(JSON.parse(JSON.stringify(openApiDocument())));
    expect((await new Validator().validate(served as never)).valid).toBe(true);
  });

  it('serves the playground at / without a key, scripts and styles from its own origin only', async () => {
    const response = await fetch(`${gateway.url}/`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const csp = response.headers.get('content-security-policy')!;
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("default-src 'none'");
    // Videos, thumbnails and uploads are presigned on the bucket: its origin, and no other, is allowed for them.
    expect(csp).toContain(`media-src ${new URL(gateway.s3Endpoint).origin}`);
    const html = await response.text();
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/); // no inline script
    const assets = [...html.matchAll(/(?:src|href)="(playground-[0-9a-f]{10}\.(?:js|css))"/g)].map((match) => match[1]!);
    expect(assets).toHaveLength(2);
    for (const asset of assets) {
      const file = await fetch(`${gateway.url}/${asset}`);
      expect(file.status).toBe(200);
      expect(file.headers.get('cache-control')).toContain('immutable');
      expect((await file.text()).length).toBeGreaterThan(500);
    }
    expect((await fetch(`${gateway.url}/`, { method: 'POST' })).status).toBe(405);
  });
});

describe('the client', () => {
  it('creates, follows with progress, and downloads the stored video, its size and SHA-256 checked', async () => {
    const created = await client.createGeneration({ user_prompt: 'A flamingo wading at dawn', aspect_ratio: '16:9', resolution: '720p', duration: '5s' });
    expect(created.state).toBe('pending');
    const progress: Progress[] = [];
    const done = await client.waitForCompletion(created.id, { intervalMs: 200, onProgress: (p) => progress.push(p) });
    expect(done.state).toBe('completed');
    expect(progress.at(-1)!.state).toBe('completed');
    expect(progress.map((p) => p.elapsedMs)).toEqual([...progress.map((p) => p.elapsedMs)].sort((a, b) => a - b));
    const saved = await client.download(done, out('client.mp4'));
    expect(saved).toMatchObject({ bytes: SAMPLE_MP4.length, sha256: done.video!.sha256 });
    expect(readFileSync(out('client.mp4')).equals(SAMPLE_MP4)).toBe(true);
  });

  it('uploads a keyframe file (POST /luma/uploads, then the PUT) and generates from it', async () => {
    const ticket = await client.upload(TINY_PNG);
    expect(ticket).toMatchObject({ content_type: 'image/png', size_bytes: readFileSync(TINY_PNG).length, image_url: expect.stringMatching(/^upload:/) });
    const done = await client.generate({ user_prompt: 'A lighthouse at dusk', image_url: ticket.image_url });
    expect(done.state).toBe('completed');
  });

  it('retries a create safely: one Idempotency-Key, one task', async () => {
    const body = { user_prompt: 'A heron lifting off a misty pond' };
    const first = await client.createGeneration(body, { idempotencyKey: 'clients-it-idem-1' });
    const again = await client.createGeneration(body, { idempotencyKey: 'clients-it-idem-1' });
    expect(again.id).toBe(first.id);
  });

  it('answers a failed generation as it ended, and generate() throws its failure code', async () => {
    await expect(client.generate({ user_prompt: 'A mouse in a famous costume [sim:fail]' })).rejects.toSatisfy(
      (error: unknown) => error instanceof GenerationFailedError && error.failureCode === 'moderation',
    );
  });

  it('stops waiting when its signal is aborted', async () => {
    const created = await client.createGeneration({ user_prompt: 'A glacier calving, slowly [sim:slow]' });
    const controller = new AbortController();
    const waiting = client.waitForCompletion(created, { signal: controller.signal, intervalMs: 200 });
    setTimeout(() => controller.abort(new Error('enough')), 300);
    await expect(waiting).rejects.toThrow('enough');
  });

  it('turns error answers into LumaVideoApiError with the stable code', async () => {
    const missing = await client.getGeneration('00000000-0000-4000-8000-000000000000').catch((error: unknown) => error);
    expect(missing).toMatchObject({ status: 404, code: 'not_found' });
    const invalid = (await client.createGeneration({ user_prompt: 'hi', aspect_ratio: '2:1' as never }).catch((error: unknown) => error)) as LumaVideoApiError;
    expect(invalid).toBeInstanceOf(LumaVideoApiError);
    expect(invalid).toMatchObject({ status: 400, code: 'invalid_request' });
    expect(invalid.details).toEqual(expect.arrayContaining([expect.objectContaining({ field: 'aspect_ratio' })]));
    const stranger = new LumaVideoClient({ baseUrl: gateway.url, apiKey: 'not-a-key', fetch: check.fetchFor(gateway.url) });
    await expect(stranger.getGeneration('00000000-0000-4000-8000-000000000000')).rejects.toMatchObject({ status: 401, code: 'unauthorized' });
  });
});

describe('luma-video', () => {
  it('generate --wait --out: JSON lines for each change, the video saved, exit 0', async () => {
    const { code, lines, stderr } = await cli(['generate', 'A flamingo', '--aspect', '16:9', '--image', TINY_PNG, '--wait', '--out', out('cli.mp4')]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(lines[0]).toMatchObject({ event: 'uploaded', flag: '--image', image_url: expect.stringMatching(/^upload:/) });
    expect(lines.filter((line) => line.event === 'progress').at(-1)).toMatchObject({ state: 'completed' });
    const completed = lines.find((line) => line.event === 'completed')!;
    expect(completed.generation).toMatchObject({ state: 'completed', aspect_ratio: '16:9' });
    expect(lines.at(-1)).toEqual({ event: 'saved', id: completed.id, path: out('cli.mp4'), bytes: SAMPLE_MP4.length, sha256: completed.generation.video.sha256 });
    expect(readFileSync(out('cli.mp4')).equals(SAMPLE_MP4)).toBe(true);
  });

  it('on a terminal: one progress line rewritten in place, then a summary', async () => {
    const { code, stdout, stderr } = await cli(['generate', 'A kingfisher diving', '--wait'], { tty: true });
    expect(code).toBe(0);
    expect(stderr).toContain('\r\x1b[2K');
    expect(stderr).toMatch(/\d+\.\d s/);
    expect(stdout).toMatch(/^completed [0-9a-f-]{36}: 320×180, 3 s, 35\.2 KiB\nhttp:\/\//);
  });

  it('a failed generation: its failure code printed, exit 1', async () => {
    const { code, lines } = await cli(['generate', 'Something refused [sim:fail]', '--wait']);
    expect(code).toBe(1);
    expect(lines.at(-1)).toMatchObject({ event: 'failed', failure_code: 'moderation', failure_reason: expect.any(String) });
    const tty = await cli(['get', lines.at(-1)!.id, '--wait'], { tty: true });
    expect(tty.code).toBe(1);
    expect(tty.stderr).toContain('failed: moderation: ');
  });

  it('usage errors exit 2: bad flags, no key, a missing file, a request the gateway refuses as invalid', async () => {
    expect((await cli(['generate'])).code).toBe(2);
    expect((await cli(['generate', 'A cat', '--colour', 'red'])).code).toBe(2);
    expect((await cli(['frobnicate', 'x'])).code).toBe(2);
    expect((await cli(['get', 'x'], { env: { LUMA_GATEWAY_KEY: '' } })).stderr).toContain('no key');
    expect((await cli(['generate', 'A cat', '--image', out('no-such.png')])).code).toBe(2);
    const refused = await cli(['generate', 'A cat in a hat', '--aspect', '2:1']);
    expect(refused.code).toBe(2);
    expect(refused.lines[0]).toMatchObject({ event: 'error', status: 400, code: 'invalid_request' });
    const missing = await cli(['get', '00000000-0000-4000-8000-000000000000']);
    expect(missing.code).toBe(1);
    expect(missing.lines[0]).toMatchObject({ event: 'error', status: 404, code: 'not_found' });
  });

  it('runs as an executable (the package’s bin, through npx in the repo) with the endpoint and key from the environment', async () => {
    const file = out('bin.mp4');
    const child = spawn(process.execPath, [join(ROOT, 'client/bin/luma-video.mjs'), 'generate', 'A flamingo', '--wait', '--out', file], {
      env: { ...process.env, LUMA_GATEWAY_URL: gateway.url, LUMA_GATEWAY_KEY: KEY },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code, stdout).toBe(0);
    expect(JSON.parse(stdout.trim().split('\n').at(-1)!)).toMatchObject({ event: 'saved', path: file });
    expect(existsSync(file) && readFileSync(file).equals(SAMPLE_MP4)).toBe(true);
  });
});

describe('the document describes every answer', () => {
  it('each answer above was documented and valid', () => {
    expectAnswersChecked(check, [
      'POST /luma/generations → 200',
      'POST /luma/generations → 400',
      'GET /luma/generations/{task_id} → 200',
      'GET /luma/generations/{task_id} → 404',
      'GET /luma/generations/{task_id} → 401',
      'POST /luma/uploads → 200',
    ]);
  });
});

