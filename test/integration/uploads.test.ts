/**
 * Uploads against the whole local gateway over real HTTP: `POST /luma/uploads`, the presigned PUT to the
 * S3 emulator behind its signature-verifying endpoint, and a generation that names the upload, down to the
 * link the upstream is handed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { crc32 } from 'node:zlib';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { startLocalGateway, type LocalGateway } from '../../local/gateway.ts';
import { DynamoDbTaskStore } from '../../functions/commons/adapters/task-store.ts';
import { LOCAL_REGION, LOCAL_TABLE_NAME } from '../../local/local-aws.ts';
import { ApiTestClient } from '../support/client.ts';
import { ROOMY_DEADLINE_SECONDS, TEST_TIME_SCALE } from '../support/time.ts';
import { MAX_UPLOAD_BYTES } from '../../functions/commons/domain/payload-limits.ts';
import { pngOfSize, TINY_PNG } from '../support/png.ts';

const MiB = 1024 * 1024;

let gateway: LocalGateway;
let dataDir: string;
let alice: ApiTestClient;
let bob: ApiTestClient;
let documents: DynamoDBDocumentClient;
let tasks: DynamoDbTaskStore;
let s3: S3Client;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'uploads-it-'));
  gateway = await startLocalGateway({
    dataDir,
    port: 0,
    apiKeys: ['alice-uploads-0123456789abcdef', 'bob-uploads-0123456789abcdefgh'],
    timeScale: TEST_TIME_SCALE,
    generationTimeoutSeconds: ROOMY_DEADLINE_SECONDS,
    log: () => undefined,
    functionLogs: () => undefined,
  });
  alice = new ApiTestClient(gateway.url, gateway.apiKeys[0]!);
  bob = new ApiTestClient(gateway.url, gateway.apiKeys[1]!);
  documents = DynamoDBDocumentClient.from(new DynamoDBClient({ endpoint: gateway.dynamoDbEndpoint, region: LOCAL_REGION, credentials: gateway.credentials }));
  tasks = new DynamoDbTaskStore(documents, LOCAL_TABLE_NAME);
  s3 = new S3Client({ endpoint: gateway.s3Endpoint, region: LOCAL_REGION, credentials: gateway.credentials, forcePathStyle: true });
});

afterAll(async () => {
  await gateway?.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

interface Ticket {
  upload_url: string;
  method: string;
  headers: Record<string, string>;
  image_url: string;
  expires_at: string;
  upload_expires_at: string;
}

async function askForUpload(client: ApiTestClient, contentType: string, size: number): Promise<Ticket> {
  const { status, body } = await client.request('POST', '/luma/uploads', { content_type: contentType, size_bytes: size });
  expect(status, JSON.stringify(body)).toBe(200);
  return body as Ticket;
}

/** A PUT through node:http, which sends exactly the headers given (fetch would set Content-Length itself). */
function put(url: string, headers: Record<string, string>, body: Buffer): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(url, { method: 'PUT', headers }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      response.on('error', reject);
    });
    request.on('error', reject);
    request.end(body);
  });
}

const uploadId = (ticket: Ticket) => ticket.image_url.slice('upload:'.length);

/** The create body the simulated upstream received for a task, as its Generation echoes it. */
async function sentUpstream(taskId: string): Promise<{ keyframes?: Record<string, { type: string; url: string }> }> {
  const { apiKey } = JSON.parse(readFileSync(join(dataDir, 'simulated-luma-identity.json'), 'utf8')) as { apiKey: string };
  const upstreamId = (await tasks.get(taskId))!.upstreamId!;
  const answer = await fetch(`${gateway.simulatedLuma!.baseUrl}/generations/${upstreamId}`, { headers: { authorization: `Bearer ${apiKey}` } });
  return ((await answer.json()) as { request: never }).request;
}

describe('an upload, from the request to the upstream', () => {
  it('an 8 MB PNG: PUT as told, named in a generation, handed to the upstream as a presigned link to exactly those bytes', async () => {
    const image = pngOfSize(8 * MiB, { marked: true });
    const ticket = await askForUpload(alice, 'image/png', image.length);
    expect(ticket).toMatchObject({
      method: 'PUT',
      headers: { 'content-type': 'image/png', 'content-length': String(image.length) },
      image_url: expect.stringMatching(/^upload:[0-9a-f-]{36}$/),
    });
    expect(new URL(ticket.upload_url).searchParams.get('X-Amz-SignedHeaders')).toBe('content-length;content-type;host');
    expect(Date.parse(ticket.upload_expires_at) - Date.now()).toBeLessThanOrEqual(15 * 60_000);
    expect(Date.parse(ticket.expires_at)).toBeGreaterThan(Date.parse(ticket.upload_expires_at));

    expect((await put(ticket.upload_url, ticket.headers, image)).status).toBe(200);
    // The emulator kept the body intact, and nothing of the tenant is on the object.
    const object = await s3.send(new GetObjectCommand({ Bucket: gateway.bucket, Key: `inputs/uploads/${uploadId(ticket)}` }));
    expect(createHash('sha256').update(await object.Body!.transformToByteArray()).digest('hex')).toBe(createHash('sha256').update(image).digest('hex'));
    expect(object.Metadata ?? {}).toEqual({});

    const { status, body } = await alice.create({ user_prompt: 'A harbour at dawn, from the upload', image_url: ticket.image_url });
    expect(status, JSON.stringify(body)).toBe(200);
    const task = (await tasks.get(body.id))!;
    expect(task.request.frame0).toEqual({ kind: 'stored', key: `inputs/${body.id}/frame0.png`, contentType: 'image/png', bytes: image.length, width: 64, height: 48 });
    const head = await s3.send(new HeadObjectCommand({ Bucket: gateway.bucket, Key: `inputs/${body.id}/frame0.png` }));
    expect(Object.keys(head.Metadata ?? {})).toEqual(['task-id']);

    expect((await alice.waitForTerminal(body.id)).state).toBe('completed');
    const link = (await sentUpstream(body.id)).keyframes!.frame0!;
    expect(link.type).toBe('image');
    expect(link.url).toContain(`/inputs/${body.id}/frame0.png?`);
    expect(link.url).toContain('X-Amz-Signature=');
    const fetched = Buffer.from(await (await fetch(link.url)).arrayBuffer());
    expect(fetched.length).toBe(image.length);
    expect(fetched.equals(image)).toBe(true);
  });

  it('may be the end frame, and serve more than one generation while it lasts', async () => {
    const ticket = await askForUpload(alice, 'image/png', TINY_PNG.length);
    expect((await put(ticket.upload_url, ticket.headers, TINY_PNG)).status).toBe(200);
    for (const field of ['image_url', 'image_end_url']) {
      const { status, body } = await alice.create({ user_prompt: 'A kite over the dunes', [field]: ticket.image_url });
      expect(status, JSON.stringify(body)).toBe(200);
      expect((await tasks.get(body.id))!.request[field === 'image_url' ? 'frame0' : 'frame1']).toMatchObject({ kind: 'stored', bytes: TINY_PNG.length });
    }
  });
});

describe('the presigned PUT, as S3 (the local verifier) enforces it', () => {
  it('refuses another content type, another length, or no content type, and stores nothing', async () => {
    const ticket = await askForUpload(alice, 'image/png', TINY_PNG.length);
    const refusals = [
      await put(ticket.upload_url, { ...ticket.headers, 'content-type': 'image/jpeg' }, TINY_PNG),
      await put(ticket.upload_url, { ...ticket.headers, 'content-length': String(TINY_PNG.length - 1) }, TINY_PNG.subarray(1)),
      await put(ticket.upload_url, { ...ticket.headers, 'content-length': String(TINY_PNG.length + 4) }, Buffer.concat([TINY_PNG, Buffer.alloc(4)])),
      await put(ticket.upload_url, { 'content-length': ticket.headers['content-length']! }, TINY_PNG),
    ];
    for (const refusal of refusals) {
      expect(refusal.status).toBe(403);
      expect(refusal.body).toContain('<Code>SignatureDoesNotMatch</Code>');
    }
    const { status, body } = await alice.create({ user_prompt: 'A kite over the dunes', image_url: ticket.image_url });
    expect(status).toBe(400);
    expect(body.error.details).toEqual([{ field: 'image_url', message: expect.stringMatching(/^nothing has been uploaded/) }]);
  });

  it('checks a checksum a presigned URL names, as S3 does: the SDK’s default one (an empty body’s CRC32) fails a real upload', async () => {
    const defaults = new S3Client({ endpoint: gateway.s3Endpoint, region: LOCAL_REGION, credentials: gateway.credentials, forcePathStyle: true });
    const presign = (key: string) =>
      getSignedUrl(defaults, new PutObjectCommand({ Bucket: gateway.bucket, Key: key, ContentType: 'image/png', ContentLength: TINY_PNG.length }), {
        expiresIn: 60,
        signableHeaders: new Set(['content-type', 'content-length']),
      });
    const url = await presign('inputs/uploads/checksum-test');
    expect(new URL(url).searchParams.get('x-amz-checksum-crc32')).toBe('AAAAAA==');
    const answer = await put(url, { 'content-type': 'image/png', 'content-length': String(TINY_PNG.length) }, TINY_PNG);
    expect(answer.status).toBe(400);
    expect(answer.body).toContain('<Code>BadDigest</Code>');
    // The right checksum passes, and the body read to check it reaches the emulator whole.
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(TINY_PNG));
    const signed = await getSignedUrl(
      defaults,
      new PutObjectCommand({ Bucket: gateway.bucket, Key: 'inputs/uploads/checksum-test', ContentType: 'image/png', ContentLength: TINY_PNG.length, ChecksumCRC32: crc.toString('base64') }),
      { expiresIn: 60, signableHeaders: new Set(['content-type', 'content-length']) },
    );
    expect(new URL(signed).searchParams.get('x-amz-checksum-crc32')).toBe(crc.toString('base64'));
    expect((await put(signed, { 'content-type': 'image/png', 'content-length': String(TINY_PNG.length) }, TINY_PNG)).status).toBe(200);
    const stored = await s3.send(new GetObjectCommand({ Bucket: gateway.bucket, Key: 'inputs/uploads/checksum-test' }));
    expect(Buffer.from(await stored.Body!.transformToByteArray()).equals(TINY_PNG)).toBe(true);
  });
});

describe('a generation naming an upload it may not use', () => {
  it('another owner’s upload is a 400 on that field, the very answer a missing upload gets', async () => {
    const ticket = await askForUpload(alice, 'image/png', TINY_PNG.length);
    expect((await put(ticket.upload_url, ticket.headers, TINY_PNG)).status).toBe(200);
    const foreign = await bob.create({ user_prompt: 'A borrowed kite', image_url: ticket.image_url });
    const missing = await bob.create({ user_prompt: 'A borrowed kite', image_url: 'upload:7d3e5b2f-0000-4000-8000-000000000000' });
    expect(foreign.status).toBe(400);
    expect(foreign.body.error).toMatchObject({ code: 'invalid_request', details: [{ field: 'image_url', message: expect.stringMatching(/^no such upload/) }] });
    expect(missing.status).toBe(400);
    expect(foreign.body.error).toEqual(missing.body.error);
  });

  it('an expired upload is refused, even while its item and object are still there', async () => {
    const ticket = await askForUpload(alice, 'image/png', TINY_PNG.length);
    expect((await put(ticket.upload_url, ticket.headers, TINY_PNG)).status).toBe(200);
    await documents.send(
      new UpdateCommand({
        TableName: LOCAL_TABLE_NAME,
        Key: { pk: `UPLOAD#${uploadId(ticket)}` },
        UpdateExpression: 'SET expiresAt = :past',
        ExpressionAttributeValues: { ':past': Math.floor(Date.now() / 1000) - 1 },
      }),
    );
    const { status, body } = await alice.create({ user_prompt: 'A late kite', image_end_url: ticket.image_url });
    expect(status).toBe(400);
    expect(body.error.details).toEqual([{ field: 'image_end_url', message: expect.stringMatching(/^the upload expired at /) }]);
  });

  it('an upload never PUT is refused', async () => {
    const ticket = await askForUpload(alice, 'image/webp', 1234);
    const { status, body } = await alice.create({ user_prompt: 'An empty kite', image_url: ticket.image_url });
    expect(status).toBe(400);
    expect(body.error.details).toEqual([{ field: 'image_url', message: expect.stringMatching(/^nothing has been uploaded/) }]);
  });

  it('a corrupt image (a PNG header with anything behind it) is refused after the whole file is read', async () => {
    const corrupt = Buffer.concat([TINY_PNG.subarray(0, 33), Buffer.from('<html><script>alert(1)</script></html>'), Buffer.alloc(2 * MiB, 0x41)]);
    const ticket = await askForUpload(alice, 'image/png', corrupt.length);
    expect((await put(ticket.upload_url, ticket.headers, corrupt)).status).toBe(200);
    const { status, body } = await alice.create({ user_prompt: 'A broken kite', image_url: ticket.image_url });
    expect(status).toBe(400);
    expect(body.error.details).toEqual([{ field: 'image_url', message: expect.stringMatching(/^the uploaded file is not a whole PNG, JPEG or WebP image/) }]);
  });

  it('a reference the gateway never made is a 400 from the request schema', async () => {
    const { status, body } = await alice.create({ user_prompt: 'A kite', image_url: 'upload:../../etc/passwd' });
    expect(status).toBe(400);
    expect(body.error.details).toEqual([{ field: 'image_url', message: expect.stringMatching(/^is not an upload reference/) }]);
  });
});

describe('POST /luma/uploads', () => {
  it.each([
    [{ content_type: 'image/gif', size_bytes: 10 }, 'content_type'],
    [{ size_bytes: 10 }, 'content_type'],
    [{ content_type: 'image/png', size_bytes: 0 }, 'size_bytes'],
    [{ content_type: 'image/png', size_bytes: MAX_UPLOAD_BYTES + 1 }, 'size_bytes'],
    [{ content_type: 'image/png', size_bytes: 2.5 }, 'size_bytes'],
    [{ content_type: 'image/png', size_bytes: '10' }, 'size_bytes'],
  ])('refuses %j with a 400 naming %s', async (request, field) => {
    const { status, body } = await alice.request('POST', '/luma/uploads', request);
    expect(status).toBe(400);
    expect(body.error).toMatchObject({ code: 'invalid_request', details: [{ field, message: expect.any(String) }] });
  });

  it('wants a key, JSON, and POST', async () => {
    expect((await new ApiTestClient(gateway.url, 'not-a-key').request('POST', '/luma/uploads', { content_type: 'image/png', size_bytes: 10 })).status).toBe(401);
    expect((await alice.request('POST', '/luma/uploads', 'content_type=image/png', { 'content-type': 'application/x-www-form-urlencoded' })).status).toBe(415);
    expect((await alice.request('GET', '/luma/uploads')).status).toBe(405);
  });
});
