/**
 * The copy step for real: `copyOutput` against the DynamoDB and S3 emulators, fed by an asset host on
 * 127.0.0.1 that each test scripts (good, cut short, lying about its length, not an MP4, refusing). The
 * promise under test: an object appears at `generations/{id}/video.mp4` only once the whole video has been
 * read and verified, and every failure is thrown as the error class the workflow's Retry/Catch expects.
 * The asset hosts are allowed as explicit origins (ASSET_HOST_ALLOWLIST); "a URL the asset policy refuses"
 * proves, with a canary server that counts every connection, that a refused URL is never contacted.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createRawServer, type Server as RawServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash, randomUUID } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { GetObjectCommand, HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { startDynamoDb, startS3, type Emulator } from '../../local/emulators.ts';
import { LOCAL_REGION, localCredentials, type LocalCredentials } from '../../local/local-aws.ts';
import { DynamoDbTaskStore } from '../../functions/commons/adapters/task-store.ts';
import { S3MediaStore } from '../../functions/commons/adapters/media-store.ts';
import { applyChange, newTask, outputKeys, type Task } from '../../functions/commons/domain/task.ts';
import { DownloadFailedError, DownloadRefusedError, TransientDownloadError } from '../../functions/commons/errors.ts';
import { copyOutput, type CopyDeps } from '../../functions/copy/copy-output.ts';
import { AssetPolicy } from '../../functions/commons/policy/asset-policy.ts';
import { GuardedAssetDownloader, MAX_REDIRECTS, type Resolver } from '../../functions/commons/adapters/asset-downloader.ts';

const TABLE = 'copy-it-tasks';
const BUCKET = 'copy-it-videos';
const MiB = 1024 * 1024;
/** MediaStore's part size: a video past it goes multipart. */
const PART_BYTES = 8 * MiB;
const SAMPLE_MP4 = readFileSync(new URL('../../local/assets/sample.mp4', import.meta.url));
const SAMPLE_JPG = readFileSync(new URL('../../local/assets/sample.jpg', import.meta.url));
/** Three parts: 8 + 8 + ~4 MiB, with its moov at the very end, so only the last bytes make it an MP4. */
const LARGE_MP4 = largeMp4(20 * MiB);
const HTML_PAGE = Buffer.from('<!doctype html><html><body><h1>Access denied</h1></body></html>\n'.repeat(64));

let dataDir: string;
let credentials: LocalCredentials;
let dynamoDb: Emulator;
let s3Emulator: Emulator;
let s3: S3Client;
let dynamo: DynamoDBClient;
let tasks: DynamoDbTaskStore;
let deps: CopyDeps;
let host: AssetHost;
let rawHost: RawAssetHost;
let ledger: MultipartLedger;
let canary: Canary;
/** console.log is silenced below; the canary test prints the refusal through this. */
const print = console.log.bind(console);
const downloaders: GuardedAssetDownloader[] = [];
/** A downloader for this test file's asset hosts plus `extra` entries, closed after all tests. */
function downloader(extra: string[] = [], resolve?: Resolver): GuardedAssetDownloader {
  const made = new GuardedAssetDownloader(AssetPolicy.parse([host.origin, rawHost.origin, ...extra]), { resolve });
  downloaders.push(made);
  return made;
}

beforeAll(async () => {
  // copyOutput logs one JSON line per copy and per skipped thumbnail: keep the test output readable.
  vi.spyOn(console, 'log').mockImplementation(() => undefined);
  dataDir = mkdtempSync(join(tmpdir(), 'copy-it-'));
  // The emulators answer only requests signed with the data dir's key, as they do under `npm start`.
  credentials = localCredentials(dataDir);
  [dynamoDb, s3Emulator, host, rawHost] = await Promise.all([
    startDynamoDb(dataDir, credentials, {
      TableName: TABLE,
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
      BillingMode: 'PAY_PER_REQUEST',
    }),
    startS3(dataDir, credentials, BUCKET, () => undefined),
    AssetHost.start(),
    RawAssetHost.start(),
  ]);
  canary = await Canary.start();
  dynamo = new DynamoDBClient({ endpoint: dynamoDb.endpoint, region: LOCAL_REGION, credentials });
  tasks = new DynamoDbTaskStore(DynamoDBDocumentClient.from(dynamo, { marshallOptions: { removeUndefinedValues: true } }), TABLE);
  s3 = new S3Client({
    endpoint: s3Emulator.endpoint,
    region: LOCAL_REGION,
    credentials,
    forcePathStyle: true,
    // s3rver would store the aws-chunked framing of a checksummed upload as the object's bytes.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  ledger = new MultipartLedger(s3, join(dataDir, 's3', BUCKET));
  deps = { tasks, media: new S3MediaStore(s3, BUCKET), maxVideoBytes: 64 * MiB, downloadTimeoutMs: 10_000, downloads: downloader() };
});

afterAll(async () => {
  s3?.destroy();
  dynamo?.destroy();
  await Promise.all(downloaders.map((d) => d.close()));
  await Promise.all([host?.close(), rawHost?.close(), canary?.close(), dynamoDb?.close(), s3Emulator?.close()]);
  vi.restoreAllMocks();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

beforeEach(() => {
  ledger.reset();
  ledger.emulateAbort = true;
});

describe('a video that verifies', () => {
  it('stores a small MP4 and its thumbnail, and completes the task with what it measured', async () => {
    const task = await copyingTask({
      video: host.serve(file(SAMPLE_MP4)),
      image: host.serve(file(SAMPLE_JPG, 'image/jpeg')),
    });
    await expect(copyOutput({ taskId: task.id }, deps)).resolves.toEqual({ taskId: task.id, next: 'completed' });

    const done = (await tasks.get(task.id))!;
    expect(done.status).toBe('completed');
    expect(done.output).toMatchObject({
      videoKey: outputKeys(task.id).video,
      sizeBytes: SAMPLE_MP4.length,
      sha256: sha256(SAMPLE_MP4),
      width: 320,
      height: 180,
      durationSeconds: 3,
      thumbnail: { key: outputKeys(task.id).thumbnail, contentType: 'image/jpeg', width: 320, height: 180, sizeBytes: SAMPLE_JPG.length },
    });
    expect((await readObject(outputKeys(task.id).video)).equals(SAMPLE_MP4)).toBe(true);
    expect((await readObject(outputKeys(task.id).thumbnail)).equals(SAMPLE_JPG)).toBe(true);
    const head = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: outputKeys(task.id).video }));
    expect(head.ContentType).toBe('video/mp4');
    expect(head.Metadata).toEqual({ 'task-id': task.id, owner: task.owner, 'prompt-sha256': sha256(Buffer.from(task.request.prompt)) });
    expect(ledger.created).toHaveLength(0);
  });

  it('streams a video larger than two parts through a multipart upload', async () => {
    const task = await copyingTask({ video: host.serve(file(LARGE_MP4)) });
    await copyOutput({ taskId: task.id }, deps);

    const done = (await tasks.get(task.id))!;
    expect(done.status).toBe('completed');
    expect(done.output).toMatchObject({ sizeBytes: LARGE_MP4.length, sha256: sha256(LARGE_MP4), width: 320, height: 180 });
    const head = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: outputKeys(task.id).video }));
    expect(head.ContentLength).toBe(LARGE_MP4.length);
    expect(head.Metadata).toMatchObject({ 'task-id': task.id, owner: task.owner });
    expect(sha256(await readObject(outputKeys(task.id).video))).toBe(sha256(LARGE_MP4));
    expect(ledger.created).toHaveLength(1);
    expect(ledger.count('UploadPartCommand')).toBe(Math.ceil(LARGE_MP4.length / PART_BYTES));
    expect(ledger.count('CompleteMultipartUploadCommand')).toBe(1);
    expect(ledger.openUploads()).toEqual([]);
  });

  it('verifies the decoded bytes of a gzip-encoded response, not the length of the encoded ones', async () => {
    const task = await copyingTask({ video: host.serve(file(gzipSync(SAMPLE_MP4), 'video/mp4', { 'content-encoding': 'gzip' })) });
    await copyOutput({ taskId: task.id }, deps);
    expect((await tasks.get(task.id))!.output).toMatchObject({ sizeBytes: SAMPLE_MP4.length, sha256: sha256(SAMPLE_MP4) });
    expect((await readObject(outputKeys(task.id).video)).equals(SAMPLE_MP4)).toBe(true);
  });
});

describe('a download cut short', () => {
  it('fails a small video transiently when the connection drops mid-body, leaving no object', async () => {
    const task = await copyingTask({ video: host.serve(cutAfter(SAMPLE_MP4, SAMPLE_MP4.length / 2)) });
    const error = await expectFailure(task, TransientDownloadError);
    expect(error.message).toMatch(/interrupted/);
    await expectNothingStored(task);
  });

  it('aborts the multipart upload when the connection drops after two parts were stored', async () => {
    const task = await copyingTask({
      video: host.serve(cutAfter(LARGE_MP4, 2 * PART_BYTES + MiB, () => ledger.partsStored(2))),
    });
    await expectFailure(task, TransientDownloadError);
    await expectNothingStored(task);
    expect(ledger.count('UploadPartCommand')).toBeGreaterThanOrEqual(2);
    expect(ledger.aborted).toEqual(ledger.created);
    expect(ledger.count('CompleteMultipartUploadCommand')).toBe(0);
  });

  it('still fails transiently, without an object, when aborting the multipart upload fails too', async () => {
    // s3rver has no AbortMultipartUpload: here it answers 405, as S3 would to a role missing the permission.
    ledger.emulateAbort = false;
    const task = await copyingTask({
      video: host.serve(cutAfter(LARGE_MP4, 2 * PART_BYTES + MiB, () => ledger.partsStored(2))),
    });
    await expectFailure(task, TransientDownloadError);
    await expectNothingStored(task, { openUploads: 1 });
    expect(ledger.count('CompleteMultipartUploadCommand')).toBe(0);
    ledger.discardOpenUploads();
  });

  it('fails transiently when the host declares more bytes than it sends and closes cleanly', async () => {
    const task = await copyingTask({
      video: host.serve((_req, res) => {
        res.writeHead(200, { 'content-type': 'video/mp4', 'content-length': SAMPLE_MP4.length + 1000 });
        res.write(SAMPLE_MP4, () => res.socket!.end());
      }),
    });
    await expectFailure(task, TransientDownloadError);
    await expectNothingStored(task);
  });

  it('fails transiently when a body without a declared length stops in the middle of a box', async () => {
    // HTTP/1.0 style: no Content-Length, no chunking, the end of the body is the end of the connection.
    // Only the MP4 structure can tell that this download was cut short.
    const head = 'HTTP/1.1 200 OK\r\ncontent-type: video/mp4\r\nconnection: close\r\n\r\n';
    const task = await copyingTask({ video: rawHost.serve(Buffer.concat([Buffer.from(head), SAMPLE_MP4.subarray(0, 20_000)])) });
    await expectFailure(task, TransientDownloadError);
    await expectNothingStored(task);
  });

  it('aborts the multipart upload when only the end shows the video is incomplete (no moov after the parts)', async () => {
    // The same unannounced-length body, cut just before its moov: every part but the last was stored
    // before the verdict, which only the end of the stream can give.
    const head = 'HTTP/1.1 200 OK\r\ncontent-type: video/mp4\r\nconnection: close\r\n\r\n';
    const moovBytes = SAMPLE_MP4.readUInt32BE(32); // sample.mp4's moov, right after its 32-byte ftyp
    const withoutMoov = LARGE_MP4.subarray(0, LARGE_MP4.length - moovBytes);
    const task = await copyingTask({ video: rawHost.serve(Buffer.concat([Buffer.from(head), withoutMoov])) });
    const error = await expectFailure(task, TransientDownloadError);
    expect(error.message).toMatch(/no moov/);
    await expectNothingStored(task);
    expect(ledger.count('UploadPartCommand')).toBe(2);
    expect(ledger.aborted).toEqual(ledger.created);
    expect(ledger.count('CompleteMultipartUploadCommand')).toBe(0);
  });

  it('fails for good when the host declares fewer bytes than the video has: what it declared is not an MP4', async () => {
    const head = `HTTP/1.1 200 OK\r\ncontent-type: video/mp4\r\ncontent-length: 20000\r\nconnection: close\r\n\r\n`;
    const task = await copyingTask({ video: rawHost.serve(Buffer.concat([Buffer.from(head), SAMPLE_MP4])) });
    await expectFailure(task, DownloadFailedError);
    await expectNothingStored(task);
  });

  it('fails transiently when the host stalls mid-body past the download timeout', async () => {
    const task = await copyingTask({ video: host.serve(cutAfter(SAMPLE_MP4, 10_000, () => new Promise(() => undefined))) });
    const error = await expectFailure(task, TransientDownloadError, { ...deps, downloadTimeoutMs: 300 });
    expect(error.message).toMatch(/timed out/);
    await expectNothingStored(task);
  });

  it('completes on the next attempt after a cut, with exactly the second download\'s bytes', async () => {
    let attempts = 0;
    const task = await copyingTask({
      video: host.serve((req, res) => {
        attempts++;
        return attempts === 1 ? cutAfter(LARGE_MP4, PART_BYTES + MiB, () => ledger.partsStored(1))(req, res) : file(LARGE_MP4)(req, res);
      }),
    });
    await expectFailure(task, TransientDownloadError);
    await expectNothingStored(task);

    await copyOutput({ taskId: task.id }, deps);
    expect(attempts).toBe(2);
    expect((await tasks.get(task.id))!.output).toMatchObject({ sizeBytes: LARGE_MP4.length, sha256: sha256(LARGE_MP4) });
    expect(sha256(await readObject(outputKeys(task.id).video))).toBe(sha256(LARGE_MP4));
    expect(ledger.openUploads()).toEqual([]);
  });
});

describe('a download that is not an MP4', () => {
  it('fails for good on an HTML page served as video/mp4', async () => {
    const task = await copyingTask({ video: host.serve(file(HTML_PAGE, 'video/mp4')) });
    const error = await expectFailure(task, DownloadFailedError);
    expect(error.message).toMatch(/not a valid MP4/);
    await expectNothingStored(task);
  });

  it('fails transiently on an HTML page served as text/html: an edge error page, not the video', async () => {
    const task = await copyingTask({ video: host.serve(file(HTML_PAGE, 'text/html; charset=utf-8')) });
    const error = await expectFailure(task, TransientDownloadError);
    expect(error.message).toMatch(/text\/html/);
    await expectNothingStored(task);
  });

  it('fails for good on a large stream that is not an MP4, without starting a multipart upload', async () => {
    const task = await copyingTask({ video: host.serve(file(Buffer.alloc(2 * PART_BYTES + 1, 0x41), 'application/octet-stream')) });
    await expectFailure(task, DownloadFailedError);
    await expectNothingStored(task);
    expect(ledger.created).toHaveLength(0);
  });
});

describe('an asset host that refuses', () => {
  it.each([404, 403, 410])('fails for good on HTTP %i: the link has expired', async (status) => {
    const task = await copyingTask({ video: host.serve(answer(status)) });
    const error = await expectFailure(task, DownloadFailedError);
    expect(error.message).toContain(`HTTP ${status}`);
    await expectNothingStored(task);
  });

  it.each([503, 500, 429, 425, 409, 408])('fails transiently on HTTP %i', async (status) => {
    const task = await copyingTask({ video: host.serve(answer(status)) });
    await expectFailure(task, TransientDownloadError);
    await expectNothingStored(task);
  });

  it('fails transiently when the connection is refused', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const task = await copyingTask({ video: `http://127.0.0.1:${port}/video.mp4` });
    const error = await expectFailure(task, TransientDownloadError, { ...deps, downloads: downloader([`http://127.0.0.1:${port}`]) });
    expect(error.message).toContain('ECONNREFUSED');
    await expectNothingStored(task);
  });

  it('fails transiently when the host accepts but never answers within the timeout', async () => {
    const task = await copyingTask({ video: host.serve(() => undefined) });
    await expectFailure(task, TransientDownloadError, { ...deps, downloadTimeoutMs: 300 });
    await expectNothingStored(task);
  });
});

describe('a video over the size limit', () => {
  const small = () => ({ ...deps, maxVideoBytes: 12 * MiB });

  it('fails for good when Content-Length declares more than the limit, before reading the body', async () => {
    const task = await copyingTask({ video: host.serve(file(LARGE_MP4)) });
    const error = await expectFailure(task, DownloadFailedError, small());
    expect(error.message).toContain(`${LARGE_MP4.length} bytes`);
    await expectNothingStored(task);
    expect(ledger.created).toHaveLength(0);
  });

  it('fails for good when a chunked body passes the limit, after a part was already stored', async () => {
    const task = await copyingTask({ video: host.serve(chunked(LARGE_MP4)) });
    const error = await expectFailure(task, DownloadFailedError, small());
    expect(error.message).toMatch(/larger than the limit/);
    await expectNothingStored(task);
    expect(ledger.aborted).toEqual(ledger.created);
    expect(ledger.count('CompleteMultipartUploadCommand')).toBe(0);
  });
});

describe('a thumbnail that cannot be had', () => {
  it.each([
    ['is missing', answer(404)],
    ['is not an image', file(HTML_PAGE, 'image/jpeg')],
    ['is cut short', cutAfter(SAMPLE_JPG, 1000)],
  ])('completes the task without a thumbnail when it %s', async (_case, thumbnail) => {
    const task = await copyingTask({ video: host.serve(file(SAMPLE_MP4)), image: host.serve(thumbnail) });
    await copyOutput({ taskId: task.id }, deps);
    const done = (await tasks.get(task.id))!;
    expect(done.status).toBe('completed');
    expect(done.output!.thumbnail).toBeUndefined();
    expect((await readObject(outputKeys(task.id).video)).equals(SAMPLE_MP4)).toBe(true);
    await expect(s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: outputKeys(task.id).thumbnail }))).rejects.toMatchObject({
      name: 'NotFound',
    });
  });
});

describe('a URL the asset policy refuses', () => {
  // Each case: the copy throws DownloadRefusedError (never retried: the workflow retries only
  // TransientDownloadError) naming the host, stores nothing, and the canary never sees a connection.
  beforeEach(() => canary.reset());

  it('refuses an allowlisted host name that resolves to loopback, without ever connecting to it (the canary)', async () => {
    // `localhost` is allowed as a host pattern (not as an explicit origin): allowed by name, refused by address.
    const task = await copyingTask({ video: `https://localhost:${canary.port}/video.mp4` });
    const error = await expectFailure(task, DownloadRefusedError, { ...deps, downloads: downloader(['localhost']) });
    print(`canary refusal: ${error.name}: ${error.message} (canary connections: ${canary.connections}, requests: ${canary.requests})`);
    expect(error.message).toContain('localhost');
    expect(error.message).toMatch(/127\.0\.0\.1 is a loopback address/);
    await expectNothingStored(task);
    expect(canary.connections).toBe(0);
    expect(canary.requests).toBe(0);
  });

  it.each([
    ['loopback', ['127.0.0.1']],
    ['the instance metadata address', ['169.254.169.254']],
    ['a private address among public ones', ['93.184.215.14', '10.0.0.7']],
    ['an IPv4-mapped loopback address', ['::ffff:127.0.0.1']],
  ])('refuses a host whose DNS answer holds %s (a custom resolver stands in for DNS)', async (_case, addresses) => {
    const resolve: Resolver = (_hostname, _options, callback) =>
      callback(null, addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 })));
    const task = await copyingTask({ video: `https://assets.rebind.example:${canary.port}/video.mp4` });
    const error = await expectFailure(task, DownloadRefusedError, { ...deps, downloads: downloader(['*.rebind.example'], resolve) });
    expect(error.message).toContain('assets.rebind.example');
    await expectNothingStored(task);
    expect(canary.connections).toBe(0);
  });

  it.each([
    ['a host not in the allowlist', () => `https://storage.elsewhere.example/video.mp4`, /storage\.elsewhere\.example: the host is not in ASSET_HOST_ALLOWLIST/],
    ['http to an allowlisted host name', () => `http://localhost:${canary.port}/video.mp4`, /localhost:\d+: the scheme http: is not allowed/],
    ['a loopback IP literal allowlisted as a host', () => `https://127.0.0.1:${canary.port}/video.mp4`, /127\.0\.0\.1:\d+: 127\.0\.0\.1 is a loopback address/],
    ['another port of an explicitly allowed origin', () => `http://127.0.0.1:${canary.port}/video.mp4`, /127\.0\.0\.1:\d+: the scheme http: is not allowed/],
  ])('refuses %s before any request', async (_case, url, message) => {
    const task = await copyingTask({ video: url() });
    const error = await expectFailure(task, DownloadRefusedError, { ...deps, downloads: downloader(['localhost', '127.0.0.1']) });
    expect(error.message).toMatch(message);
    await expectNothingStored(task);
    expect(canary.connections).toBe(0);
  });

  it.each([
    ['an allowlisted name that resolves to loopback', () => `https://localhost:${canary.port}/video.mp4`, /localhost: it resolves to a non-public address/],
    ['an origin that is not allowed', () => `http://127.0.0.1:${canary.port}/video.mp4`, new RegExp(`127\\.0\\.0\\.1:\\d+: the scheme http: is not allowed`)],
  ])('refuses a redirect from an allowed origin to %s at the hop, never contacting it', async (_case, target, message) => {
    const task = await copyingTask({ video: host.serve(redirect(target())) });
    const hitsBefore = host.hits;
    const error = await expectFailure(task, DownloadRefusedError, { ...deps, downloads: downloader(['localhost']) });
    expect(error.message).toMatch(message);
    expect(host.hits - hitsBefore).toBe(1); // the allowed origin was asked, once; the canary never was
    await expectNothingStored(task);
    expect(canary.connections).toBe(0);
  });

  it(`follows ${MAX_REDIRECTS} redirects within allowed origins, and refuses a ${MAX_REDIRECTS + 1}th`, async () => {
    const chain = (hops: number) => {
      let url = host.serve(file(SAMPLE_MP4));
      for (let i = 0; i < hops; i++) url = host.serve(redirect(url));
      return url;
    };
    const ok = await copyingTask({ video: chain(MAX_REDIRECTS) });
    await copyOutput({ taskId: ok.id }, deps);
    expect((await tasks.get(ok.id))!.status).toBe('completed');

    const tooMany = await copyingTask({ video: chain(MAX_REDIRECTS + 1) });
    const error = await expectFailure(tooMany, DownloadRefusedError);
    expect(error.message).toMatch(new RegExp(`more than ${MAX_REDIRECTS} redirects`));
    expect(error.message).toContain(new URL(host.origin).host);
    await expectNothingStored(tooMany);
  });

  it('fails the task, storing nothing, when only the thumbnail URL is refused', async () => {
    const task = await copyingTask({ video: host.serve(file(SAMPLE_MP4)), image: `https://localhost:${canary.port}/thumbnail.jpg` });
    const error = await expectFailure(task, DownloadRefusedError);
    expect(error.message).toContain('localhost');
    await expectNothingStored(task);
    expect(canary.connections).toBe(0);
  });

  it('still downloads from an explicitly allowed origin over http on a loopback address', async () => {
    const task = await copyingTask({ video: host.serve(file(SAMPLE_MP4)) });
    await copyOutput({ taskId: task.id }, { ...deps, downloads: new GuardedAssetDownloader(AssetPolicy.parse(host.origin)) });
    expect((await tasks.get(task.id))!.status).toBe('completed');
  });
});

// ------------------------------------------------------------------------------------------------ helpers

async function copyingTask(assets: { video: string; image?: string }): Promise<Task> {
  const now = new Date();
  const at = now.toISOString();
  const accepted = newTask({
    id: randomUUID(),
    owner: 'owner-copy-it',
    request: { prompt: 'A paper boat on a rainy street' },
    provider: 'luma',
    model: 'ray-2',
    now,
    timeoutSeconds: 1800,
  });
  const submitted = applyChange(accepted, { to: 'submitted', upstreamId: `upstream-${accepted.id}` }, at);
  const copying = applyChange(submitted, { to: 'copying', assets: { videoUrl: assets.video, imageUrl: assets.image } }, at);
  await tasks.create(copying);
  return copying;
}

/** Runs the copy, expecting it to throw `type`: checked by class and by name, which is what Step Functions matches. */
async function expectFailure(
  task: Task,
  type: typeof TransientDownloadError | typeof DownloadFailedError | typeof DownloadRefusedError,
  with_ = deps,
): Promise<Error> {
  const error = await copyOutput({ taskId: task.id }, with_).then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error, `copy of ${task.id} should have failed`).toBeInstanceOf(Error);
  expect({ name: (error as Error).name, message: (error as Error).message }).toMatchObject({ name: type.name });
  expect(error).toBeInstanceOf(type);
  return error as Error;
}

/** The final key holds nothing, no multipart upload is left open, and the task is still waiting to be copied. */
async function expectNothingStored(task: Task, expected: { openUploads: number } = { openUploads: 0 }): Promise<void> {
  for (const key of [outputKeys(task.id).video, outputKeys(task.id).thumbnail]) {
    await expect(s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }))).rejects.toMatchObject({ name: 'NotFound' });
  }
  expect(ledger.openUploads()).toHaveLength(expected.openUploads);
  expect((await tasks.get(task.id))!.status).toBe('copying');
}

async function readObject(key: string): Promise<Buffer> {
  const object = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  return Buffer.from(await object.Body!.transformToByteArray());
}

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** sample.mp4's ftyp, then an mdat padded to `size`, then sample.mp4's moov (whose offsets no longer match: only its headers are read). */
function largeMp4(size: number): Buffer {
  const boxes = new Map<string, Buffer>();
  for (let offset = 0; offset < SAMPLE_MP4.length; ) {
    const length = SAMPLE_MP4.readUInt32BE(offset);
    boxes.set(SAMPLE_MP4.toString('latin1', offset + 4, offset + 8), SAMPLE_MP4.subarray(offset, offset + length));
    offset += length;
  }
  const ftyp = boxes.get('ftyp')!;
  const moov = boxes.get('moov')!;
  const mdatSize = size - ftyp.length - moov.length;
  const mdatHeader = Buffer.alloc(8);
  mdatHeader.writeUInt32BE(mdatSize, 0);
  mdatHeader.write('mdat', 4, 'latin1');
  // A 251-byte pattern: no two parts carry the same bytes, so a part out of place changes the hash.
  const pattern = Buffer.from(Array.from({ length: 251 }, (_, i) => i));
  return Buffer.concat([ftyp, mdatHeader, Buffer.alloc(mdatSize - 8, pattern), moov]);
}

// -------------------------------------------------------------------------------------------- asset hosts

type Handler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

function file(bytes: Buffer, contentType = 'video/mp4', headers: Record<string, string> = {}): Handler {
  return (_req, res) => {
    res.writeHead(200, { 'content-type': contentType, 'content-length': bytes.length, ...headers });
    res.end(bytes);
  };
}

/** Transfer-Encoding: chunked, so the client cannot know the length up front. */
function chunked(bytes: Buffer): Handler {
  return async (_req, res) => {
    res.writeHead(200, { 'content-type': 'video/mp4' });
    for (let offset = 0; offset < bytes.length && !res.destroyed; offset += MiB) {
      if (!res.write(bytes.subarray(offset, offset + MiB))) await drainedOrClosed(res);
    }
    res.end();
  };
}

function drainedOrClosed(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done).off('close', done);
      resolve();
    };
    res.on('drain', done).on('close', done);
  });
}

/** Declares the whole length, sends the first `sent` bytes, waits for `before` (if given), then drops the connection. */
function cutAfter(bytes: Buffer, sent: number, before?: () => Promise<unknown>): Handler {
  return async (_req, res) => {
    res.writeHead(200, { 'content-type': 'video/mp4', 'content-length': bytes.length });
    res.write(bytes.subarray(0, sent));
    await before?.();
    res.socket?.destroy();
  };
}

function answer(status: number): Handler {
  return (_req, res) => {
    res.writeHead(status, { 'content-type': 'application/xml' });
    res.end('<Error><Code>AccessDenied</Code></Error>');
  };
}

function redirect(location: string, status = 302): Handler {
  return (_req, res) => {
    res.writeHead(status, { location, 'content-length': 0 });
    res.end();
  };
}

/** An HTTP server on 127.0.0.1 standing for an internal service: it counts every connection and request it gets. */
class Canary {
  connections = 0;
  requests = 0;

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(): Promise<Canary> {
    let canary: Canary | undefined;
    const server = createServer((_req, res) => {
      canary!.requests++;
      res.writeHead(200, { 'content-type': 'video/mp4' });
      res.end('internal secrets');
    });
    server.on('connection', () => canary!.connections++);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    canary = new Canary(server, (server.address() as AddressInfo).port);
    return canary;
  }

  reset(): void {
    this.connections = 0;
    this.requests = 0;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** An HTTP server whose every path is a handler a test registered; anything else is a 404. */
class AssetHost {
  /** Requests served since the start. */
  hits = 0;

  private constructor(
    private readonly server: Server,
    readonly origin: string,
    private readonly handlers: Map<string, Handler>,
  ) {}

  static async start(): Promise<AssetHost> {
    const handlers = new Map<string, Handler>();
    let self: AssetHost | undefined;
    const server = createServer((req, res) => {
      self!.hits++;
      const handler = handlers.get(req.url ?? '') ?? answer(404);
      Promise.resolve(handler(req, res)).catch(() => res.destroy());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    self = new AssetHost(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`, handlers);
    return self;
  }

  /** Registers the handler under a fresh path and returns its URL. */
  serve(handler: Handler): string {
    const path = `/assets/${randomUUID()}`;
    this.handlers.set(path, handler);
    return `${this.origin}${path}`;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** A TCP server that answers each path with bytes written by hand, then closes: for responses node:http will not produce. */
class RawAssetHost {
  private constructor(
    private readonly server: RawServer,
    readonly origin: string,
    private readonly responses: Map<string, Buffer>,
    private readonly sockets: Set<Socket>,
  ) {}

  static async start(): Promise<RawAssetHost> {
    const responses = new Map<string, Buffer>();
    const sockets = new Set<Socket>();
    const server = createRawServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket)).on('error', () => undefined);
      let head = '';
      socket.on('data', (data) => {
        head += data.toString('latin1');
        if (!head.includes('\r\n\r\n')) return;
        const path = head.split(' ')[1] ?? '';
        socket.end(responses.get(path) ?? 'HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return new RawAssetHost(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`, responses, sockets);
  }

  serve(response: Buffer): string {
    const path = `/raw/${randomUUID()}`;
    this.responses.set(path, response);
    return `${this.origin}${path}`;
  }

  close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

// ------------------------------------------------------------------------------------------ S3 multipart

/**
 * Watches the multipart commands the S3 client sends, and stands in for the two s3rver lacks: it answers
 * AbortMultipartUpload by deleting the upload's parts (as S3 does), and lists open uploads from s3rver's
 * upload directory (what ListMultipartUploads would answer).
 */
class MultipartLedger {
  readonly commands: string[] = [];
  readonly created: string[] = [];
  readonly aborted: string[] = [];
  emulateAbort = true;
  readonly #uploadsDir: string;
  #partsStored = 0;
  #partWaiters: { parts: number; resolve: () => void }[] = [];

  constructor(client: S3Client, bucketDir: string) {
    this.#uploadsDir = join(bucketDir, '._S3rver_uploads');
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const command = context.commandName as string;
        const input = args.input as { UploadId?: string };
        this.commands.push(command);
        if (command === 'AbortMultipartUploadCommand' && this.emulateAbort) {
          rmSync(join(this.#uploadsDir, input.UploadId!), { recursive: true, force: true });
          this.aborted.push(input.UploadId!);
          return { output: { $metadata: { httpStatusCode: 204 } }, response: {} };
        }
        const result = await next(args);
        const output = result.output as { UploadId?: string };
        if (command === 'CreateMultipartUploadCommand') this.created.push(output.UploadId!);
        if (command === 'UploadPartCommand') {
          this.#partsStored++;
          this.#notifyParts();
        }
        return result;
      },
      { step: 'initialize', name: 'multipartLedger' },
    );
  }

  reset(): void {
    this.commands.length = 0;
    this.created.length = 0;
    this.aborted.length = 0;
    this.#partsStored = 0;
    this.#partWaiters = [];
  }

  count(command: string): number {
    return this.commands.filter((name) => name === command).length;
  }

  /** Resolves once this many parts have been stored. */
  partsStored(parts: number): Promise<void> {
    return new Promise((resolve) => {
      this.#partWaiters.push({ parts, resolve });
      this.#notifyParts();
    });
  }

  openUploads(): string[] {
    return existsSync(this.#uploadsDir) ? readdirSync(this.#uploadsDir) : [];
  }

  discardOpenUploads(): void {
    rmSync(this.#uploadsDir, { recursive: true, force: true });
  }

  #notifyParts(): void {
    for (const waiter of this.#partWaiters.filter((w) => w.parts <= this.#partsStored)) waiter.resolve();
  }
}
