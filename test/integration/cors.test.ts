/**
 * CORS over real HTTP against the local gateway started with one allowed origin (as CORS_ALLOWED_ORIGINS
 * sets it): the API's preflights and answers, what API Gateway itself answers, and the bucket letting that
 * origin PUT an upload, while any other origin gets nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request as httpRequest } from 'node:http';
import { startLocalGateway, type LocalGateway } from '../../local/gateway.ts';
import { TEST_TIME_SCALE } from '../support/time.ts';

const APP = 'https://app.example.test';
const OTHER = 'https://other.example.test';
const TINY_PNG = readFileSync(new URL('../fixtures/media/tiny.png', import.meta.url));

let gateway: LocalGateway;
let dataDir: string;
let key: string;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'cors-it-'));
  gateway = await startLocalGateway({
    dataDir,
    port: 0,
    apiKeys: ['cors-key-0123456789abcdef'],
    timeScale: TEST_TIME_SCALE,
    corsAllowedOrigins: [APP],
    log: () => undefined,
    functionLogs: () => undefined,
  });
  key = gateway.apiKeys[0]!;
});

afterAll(async () => {
  await gateway?.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** Through node:http, which sends exactly the headers given (fetch, outside a browser, adds no Origin of its own). */
function send(url: string, method: string, headers: Record<string, string>, body?: Buffer | string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(url, { method, headers }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks).toString('utf8') }));
      response.on('error', reject);
    });
    request.on('error', reject);
    request.end(body);
  });
}

const preflight = (path: string, origin: string, method = 'POST', requestHeaders = 'authorization, content-type') =>
  send(`${gateway.url}${path}`, 'OPTIONS', { origin, 'access-control-request-method': method, 'access-control-request-headers': requestHeaders });

describe('the API', () => {
  it.each(['/luma/generations', '/luma/generations/0b4f1c2e-0000-4000-8000-000000000000', '/luma/uploads'])(
    'answers a preflight from the allowed origin on %s: 204 naming it, the methods and headers, cached 10 minutes',
    async (path) => {
      const answer = await preflight(path, APP);
      expect(answer.status).toBe(204);
      expect(answer.headers).toMatchObject({
        'access-control-allow-origin': APP,
        'access-control-allow-methods': 'GET, POST, DELETE',
        'access-control-allow-headers': 'authorization, content-type, idempotency-key',
        'access-control-max-age': '600',
        vary: 'Origin',
      });
      expect(answer.body).toBe('');
    },
  );

  it('answers a preflight from any other origin like any OPTIONS, with no CORS header: the browser stops there', async () => {
    const answer = await preflight('/luma/generations', OTHER);
    expect(answer.status).toBe(405);
    expect(answer.headers['access-control-allow-origin']).toBeUndefined();
    expect(answer.headers['access-control-allow-methods']).toBeUndefined();
    expect(answer.headers.vary).toBe('Origin');
  });

  it('names the allowed origin on its answers, errors included, and lets it read the request id; nothing for others', async () => {
    const created = await send(`${gateway.url}/luma/generations`, 'POST', { origin: APP, authorization: `Bearer ${key}`, 'content-type': 'application/json' }, JSON.stringify({ user_prompt: 'A kite from a web page' }));
    expect(created.status).toBe(200);
    expect(created.headers).toMatchObject({ 'access-control-allow-origin': APP, 'access-control-expose-headers': 'x-request-id, retry-after, idempotent-replayed', vary: 'Origin' });
    expect(created.headers['access-control-allow-credentials']).toBeUndefined();

    const refused = await send(`${gateway.url}/luma/generations`, 'POST', { origin: APP, 'content-type': 'application/json' }, '{}');
    expect(refused.status).toBe(401);
    expect(refused.headers['access-control-allow-origin']).toBe(APP);

    for (const headers of [{ origin: OTHER }, {}] as Record<string, string>[]) {
      const answer = await send(`${gateway.url}/luma/generations/0b4f1c2e-0000-4000-8000-000000000000`, 'GET', { ...headers, authorization: `Bearer ${key}` });
      expect(answer.status).toBe(404);
      expect(answer.headers['access-control-allow-origin']).toBeUndefined();
      expect(answer.headers['access-control-expose-headers']).toBeUndefined();
      expect(answer.headers.vary).toBe('Origin');
    }
  });

  it('names the sole allowed origin on API Gateway’s own answers too (gateway responses are static)', async () => {
    const huge = Buffer.alloc(6 * 1024 * 1024, 0x20); // under 10 MiB, over what Lambda's event carries
    const answer = await send(`${gateway.url}/luma/generations`, 'POST', { origin: APP, authorization: `Bearer ${key}`, 'content-type': 'application/json' }, huge);
    expect(answer.status).toBe(413);
    expect(JSON.parse(answer.body).error.code).toBe('payload_too_large');
    expect(answer.headers['access-control-allow-origin']).toBe(APP);
  });
});

describe('the bucket, for uploads from a page', () => {
  async function ticket() {
    const answer = await send(`${gateway.url}/luma/uploads`, 'POST', { origin: APP, authorization: `Bearer ${key}`, 'content-type': 'application/json' }, JSON.stringify({ content_type: 'image/png', size_bytes: TINY_PNG.length }));
    expect(answer.status).toBe(200);
    return JSON.parse(answer.body) as { upload_url: string; headers: Record<string, string>; image_url: string };
  }

  it('answers the allowed origin’s preflight for the PUT, and the signed PUT itself, naming the origin', async () => {
    const { upload_url, headers } = await ticket();
    const allowed = await send(upload_url, 'OPTIONS', { origin: APP, 'access-control-request-method': 'PUT', 'access-control-request-headers': 'content-type' });
    expect(allowed.status).toBe(200);
    expect(allowed.headers['access-control-allow-methods']).toBe('PUT');
    expect(allowed.headers['access-control-allow-headers']).toBe('content-type');
    const put = await send(upload_url, 'PUT', { ...headers, origin: APP }, TINY_PNG);
    expect(put.status).toBe(200);
    expect(put.headers['access-control-allow-origin']).toBe(APP);
  });

  it('refuses any other origin, a method it was not given, and still wants the signature', async () => {
    const { upload_url, headers } = await ticket();
    expect((await send(upload_url, 'OPTIONS', { origin: OTHER, 'access-control-request-method': 'PUT' })).status).toBe(403);
    expect((await send(upload_url, 'PUT', { ...headers, origin: OTHER }, TINY_PNG)).status).toBe(403);
    expect((await send(upload_url, 'OPTIONS', { origin: APP, 'access-control-request-method': 'GET' })).status).toBe(403);
    const unsigned = upload_url.replace(/X-Amz-Signature=[0-9a-f]+/, `X-Amz-Signature=${'0'.repeat(64)}`);
    const forged = await send(unsigned, 'PUT', { ...headers, origin: APP }, TINY_PNG);
    expect(forged.status).toBe(403);
    expect(forged.body).toContain('SignatureDoesNotMatch');
  });
});
