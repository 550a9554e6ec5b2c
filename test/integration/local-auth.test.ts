/**
 * The local runtime's AWS endpoints answer only requests signed with the data dir's own key pair:
 * what any local process, or a web page, could do before — list every tenant's
 * objects, overwrite a stored video, replay a presigned link with another path or signature, write an
 * `APIKEY#…` item, read the upstream key — is refused, in each service's own error shape, while the
 * gateway's own functions, presigned links and `npm run keys` (keys.test.ts) keep working.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { ListExecutionsCommand, SFNClient } from '@aws-sdk/client-sfn';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { startLocalGateway, type LocalGateway } from '../../local/gateway.ts';
import { startSimulatedLuma, type SimulatedLuma } from '../../local/simulated-luma.ts';
import { CREDENTIALS_FILE, ENDPOINTS_FILE, LOCAL_ACCOUNT, LOCAL_REGION, localCredentials, type LocalCredentials } from '../../local/local-aws.ts';
import { ensurePrivateDir, replacePrivateFile, writePrivateFile } from '../../local/private-files.ts';
import { hashApiKey } from '../../functions/commons/domain/api-key.ts';
import { ApiTestClient } from '../support/client.ts';
import { ROOMY_DEADLINE_SECONDS, TEST_TIME_SCALE } from '../support/time.ts';

const UPSTREAM_KEY = 'the-owners-real-luma-key-0123456789';
const SECRET_ID = `arn:aws:secretsmanager:${LOCAL_REGION}:${LOCAL_ACCOUNT}:secret:luma-api-key`;
const FORGED_KEY = 'lvg_forged-by-a-local-process-000000000000000';
const ORIGIN = 'https://evil.example';
/** Signs like the real key but is not it: a random key id, or the real id with another secret. */
const STRANGER: LocalCredentials = { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' };
const OLD_FIXED_PAIR: LocalCredentials = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

let root: string;
let dataDir: string;
let upstream: SimulatedLuma;
let gateway: LocalGateway;
let s3: S3Client;
let videoKey: string;
let video: { url: string; download_url: string; thumbnail: string };
let storedVideo: Buffer;

interface RawAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A request exactly as curl or any local process would send it: no SDK, nothing added. */
function raw(url: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: init.method ?? 'GET', headers: init.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

function s3Client(credentials: LocalCredentials): S3Client {
  return new S3Client({
    endpoint: gateway.s3Endpoint,
    region: LOCAL_REGION,
    credentials,
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 1,
  });
}

function dynamoClient(credentials: LocalCredentials): DynamoDBClient {
  return new DynamoDBClient({ endpoint: gateway.dynamoDbEndpoint, region: LOCAL_REGION, credentials, maxAttempts: 1 });
}

function secretsClient(credentials: LocalCredentials): SecretsManagerClient {
  return new SecretsManagerClient({ endpoint: gateway.awsEndpoint, region: LOCAL_REGION, credentials, maxAttempts: 1 });
}

/** Adds an Origin header to every request the client sends, before signing: a browser would send one. */
function fromWebPage<T extends { middlewareStack: { add: Function } }>(client: T): T {
  client.middlewareStack.add(
    (next: (args: { request: { headers: Record<string, string> } }) => unknown) => (args: { request: { headers: Record<string, string> } }) => {
      args.request.headers.origin = ORIGIN;
      return next(args);
    },
    { step: 'build', name: 'addOrigin' },
  );
  return client;
}

function forgedApiKeyItem() {
  return {
    TableName: 'luma-gateway',
    Item: {
      pk: { S: `APIKEY#${hashApiKey(FORGED_KEY)}` },
      kind: { S: 'apikey' },
      keyHash: { S: hashApiKey(FORGED_KEY) },
      owner: { S: 'someone-elses-tenant' },
      name: { S: 'forged' },
      createdAt: { S: new Date().toISOString() },
    },
  };
}

async function forgedItemStored(): Promise<boolean> {
  const client = dynamoClient(gateway.credentials);
  try {
    const { Item } = await client.send(new GetItemCommand({ TableName: 'luma-gateway', Key: { pk: { S: `APIKEY#${hashApiKey(FORGED_KEY)}` } } }));
    return Item !== undefined;
  } finally {
    client.destroy();
  }
}

function errorName(promise: Promise<unknown>): Promise<string> {
  return promise.then(
    () => 'accepted',
    (error: Error) => error.name,
  );
}

function longDate(date = new Date()): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/[-:]/g, '');
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'local-auth-it-'));
  dataDir = join(root, 'data'); // created by the gateway, not by mkdtemp (which makes it 0700 already)
  upstream = await startSimulatedLuma({ apiKey: UPSTREAM_KEY, timeScale: 0.01 });
  gateway = await startLocalGateway({
    dataDir,
    port: 0,
    apiKeys: ['local-auth-key-0123456789abcdef'],
    timeScale: TEST_TIME_SCALE,
    generationTimeoutSeconds: ROOMY_DEADLINE_SECONDS,
    upstream: { baseUrl: upstream.baseUrl, apiKey: UPSTREAM_KEY },
    log: () => undefined,
    functionLogs: () => undefined,
  });
  s3 = s3Client(gateway.credentials);
  // A finished generation: the functions read the secret, start the workflow, store the video and presign it.
  const client = new ApiTestClient(gateway.url, gateway.apiKeys[0]!);
  const { body } = await client.create({ user_prompt: 'A stored video that others must not touch' });
  const done = await client.waitForTerminal(body.id);
  expect(done.state).toBe('completed');
  video = done.video as typeof video;
  videoKey = `generations/${body.id}/video.mp4`;
  storedVideo = Buffer.from(await (await s3.send(new GetObjectCommand({ Bucket: gateway.bucket, Key: videoKey }))).Body!.transformToByteArray());
});

afterAll(async () => {
  s3?.destroy();
  await gateway?.close();
  await upstream?.close();
  if (root) rmSync(root, { recursive: true, force: true });
});

describe('S3', () => {
  it('refuses an anonymous listing of the bucket, which names no object', async () => {
    const answer = await raw(`${gateway.s3Endpoint}/${gateway.bucket}/?list-type=2`);
    expect(answer.status).toBe(403);
    expect(answer.body).toContain('<Code>AccessDenied</Code>');
    expect(answer.body).not.toContain('generations/');
    // Signed with the data dir's key, it lists (the control); with any other pair, it does not.
    const { Contents } = await s3.send(new ListObjectsV2Command({ Bucket: gateway.bucket }));
    expect(Contents?.map((object) => object.Key)).toContain(videoKey);
    for (const [credentials, refusal] of [
      [STRANGER, 'InvalidAccessKeyId'],
      [OLD_FIXED_PAIR, 'InvalidAccessKeyId'],
      [{ ...gateway.credentials, secretAccessKey: STRANGER.secretAccessKey }, 'SignatureDoesNotMatch'],
    ] as const) {
      const other = s3Client(credentials);
      expect(await errorName(other.send(new ListObjectsV2Command({ Bucket: gateway.bucket })))).toBe(refusal);
      other.destroy();
    }
  });

  it('refuses an anonymous or forged PUT over a stored video, which stays as it was', async () => {
    const events = gateway.s3Events.length;
    const anonymous = await raw(`${gateway.s3Endpoint}/${gateway.bucket}/${videoKey}`, { method: 'PUT', body: 'overwritten' });
    expect(anonymous.status).toBe(403);
    expect(anonymous.body).toContain('<Code>AccessDenied</Code>');

    const date = longDate();
    const forged = await raw(`${gateway.s3Endpoint}/${gateway.bucket}/${videoKey}`, {
      method: 'PUT',
      body: 'overwritten',
      headers: {
        'x-amz-date': date,
        'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
        authorization: `AWS4-HMAC-SHA256 Credential=${gateway.credentials.accessKeyId}/${date.slice(0, 8)}/${LOCAL_REGION}/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=${'0'.repeat(64)}`,
      },
    });
    expect(forged.status).toBe(403);
    expect(forged.body).toContain('<Code>SignatureDoesNotMatch</Code>');

    const wrongSecret = s3Client({ ...gateway.credentials, secretAccessKey: STRANGER.secretAccessKey });
    const put = new PutObjectCommand({ Bucket: gateway.bucket, Key: videoKey, Body: 'overwritten' });
    expect(await errorName(wrongSecret.send(put))).toBe('SignatureDoesNotMatch');
    wrongSecret.destroy();

    const after = await s3.send(new GetObjectCommand({ Bucket: gateway.bucket, Key: videoKey }));
    expect(Buffer.from(await after.Body!.transformToByteArray()).equals(storedVideo)).toBe(true);
    expect(gateway.s3Events.length).toBe(events);
  });

  it('serves a genuine presigned link, as curl would fetch it, and its download variant', async () => {
    const answer = await raw(video.url);
    expect(answer.status).toBe(200);
    expect(Buffer.from(await (await fetch(video.url)).arrayBuffer()).equals(storedVideo)).toBe(true);
    const download = await raw(video.download_url);
    expect(download.status).toBe(200);
    expect(download.headers['content-disposition']).toMatch(/^attachment/);
    expect((await raw(video.thumbnail)).status).toBe(200);
  });

  it('refuses a presigned link with its signature replaced or its path changed', async () => {
    const replaced = new URL(video.url);
    replaced.searchParams.set('X-Amz-Signature', '00');
    expect((await raw(replaced.href)).status).toBe(403);
    replaced.searchParams.set('X-Amz-Signature', '0'.repeat(64));
    const zeros = await raw(replaced.href);
    expect(zeros.status).toBe(403);
    expect(zeros.body).toContain('<Code>SignatureDoesNotMatch</Code>');

    const otherPath = new URL(video.url);
    otherPath.pathname = otherPath.pathname.replace(/video\.mp4$/, 'thumbnail.jpg');
    expect((await raw(otherPath.href)).status).toBe(403);
    const listing = new URL(video.url);
    listing.pathname = `/${gateway.bucket}/`;
    listing.searchParams.set('list-type', '2');
    const listed = await raw(listing.href);
    expect(listed.status).toBe(403);
    expect(listed.body).not.toContain('generations/');
  });

  it('refuses an expired presigned link and serves the same link while it is valid', async () => {
    const command = new GetObjectCommand({ Bucket: gateway.bucket, Key: videoKey });
    // Signed a minute ago for one second: expired whatever the time now.
    const expired = await getSignedUrl(s3, command, { expiresIn: 1, signingDate: new Date(Date.now() - 60_000) });
    const answer = await raw(expired);
    expect(answer.status).toBe(403);
    expect(answer.body).toContain('<Code>AccessDenied</Code>');
    expect(answer.body).toContain('Request has expired');
    expect((await raw(await getSignedUrl(s3, command, { expiresIn: 3600 }))).status).toBe(200);
  });
});

describe('DynamoDB', () => {
  it('refuses a PutItem that mints an API key unless it is signed with the data dir’s key, and writes nothing', async () => {
    const stranger = dynamoClient(STRANGER);
    expect(await errorName(stranger.send(new PutItemCommand(forgedApiKeyItem())))).toBe('UnrecognizedClientException');
    stranger.destroy();
    const oldPair = dynamoClient(OLD_FIXED_PAIR);
    expect(await errorName(oldPair.send(new PutItemCommand(forgedApiKeyItem())))).toBe('UnrecognizedClientException');
    oldPair.destroy();
    const wrongSecret = dynamoClient({ ...gateway.credentials, secretAccessKey: STRANGER.secretAccessKey });
    expect(await errorName(wrongSecret.send(new PutItemCommand(forgedApiKeyItem())))).toBe('InvalidSignatureException');
    wrongSecret.destroy();

    // A fake SigV4 header, by a process that read the key id (not secret) from somewhere.
    const date = longDate();
    const fake = await raw(gateway.dynamoDbEndpoint, {
      method: 'POST',
      body: JSON.stringify(forgedApiKeyItem()),
      headers: {
        'content-type': 'application/x-amz-json-1.0',
        'x-amz-target': 'DynamoDB_20120810.PutItem',
        'x-amz-date': date,
        authorization: `AWS4-HMAC-SHA256 Credential=${gateway.credentials.accessKeyId}/${date.slice(0, 8)}/${LOCAL_REGION}/dynamodb/aws4_request, SignedHeaders=host;x-amz-date;x-amz-target, Signature=${'0'.repeat(64)}`,
      },
    });
    expect(fake.status).toBe(400);
    expect(JSON.parse(fake.body).__type).toMatch(/#InvalidSignatureException$/);
    const unsigned = await raw(gateway.dynamoDbEndpoint, {
      method: 'POST',
      body: JSON.stringify(forgedApiKeyItem()),
      headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': 'DynamoDB_20120810.PutItem' },
    });
    expect(unsigned.status).toBe(400);
    expect(JSON.parse(unsigned.body).__type).toMatch(/#MissingAuthenticationTokenException$/);

    expect(await forgedItemStored()).toBe(false);
    expect((await new ApiTestClient(gateway.url, FORGED_KEY).get('0b4f1c2e-0000-4000-8000-000000000000')).status).toBe(401);
  });
});

describe('Secrets Manager and Step Functions', () => {
  it('refuse GetSecretValue without the data dir’s key, and never show the upstream key', async () => {
    const stranger = secretsClient(STRANGER);
    expect(await errorName(stranger.send(new GetSecretValueCommand({ SecretId: SECRET_ID })))).toBe('UnrecognizedClientException');
    stranger.destroy();
    const wrongSecret = secretsClient({ ...gateway.credentials, secretAccessKey: STRANGER.secretAccessKey });
    expect(await errorName(wrongSecret.send(new GetSecretValueCommand({ SecretId: SECRET_ID })))).toBe('InvalidSignatureException');
    wrongSecret.destroy();
    const anonymous = await raw(gateway.awsEndpoint, {
      method: 'POST',
      body: JSON.stringify({ SecretId: SECRET_ID }),
      headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'secretsmanager.GetSecretValue' },
    });
    expect(anonymous.status).toBe(400);
    expect(JSON.parse(anonymous.body).__type).toMatch(/#MissingAuthenticationTokenException$/);
    expect(anonymous.body).not.toContain(UPSTREAM_KEY);

    const owner = secretsClient(gateway.credentials);
    expect((await owner.send(new GetSecretValueCommand({ SecretId: SECRET_ID }))).SecretString).toBe(UPSTREAM_KEY);
    owner.destroy();
  });

  it('refuse Step Functions calls without the data dir’s key', async () => {
    const stateMachineArn = gateway.stepFunctions.stateMachineArn;
    const stranger = new SFNClient({ endpoint: gateway.awsEndpoint, region: LOCAL_REGION, credentials: STRANGER, maxAttempts: 1 });
    expect(await errorName(stranger.send(new ListExecutionsCommand({ stateMachineArn })))).toBe('UnrecognizedClientException');
    stranger.destroy();
  });
});

describe('requests from web pages', () => {
  it('refuses any request with an Origin header, even a genuine presigned link', async () => {
    const answer = await raw(video.url, { headers: { origin: ORIGIN } });
    expect(answer.status).toBe(403);
    expect(answer.headers['access-control-allow-origin']).toBeUndefined();
    expect((await raw(video.url)).status).toBe(200);
  });

  it('refuses signed requests with an Origin header on every endpoint', async () => {
    const s3FromPage = fromWebPage(s3Client(gateway.credentials));
    expect(await errorName(s3FromPage.send(new GetObjectCommand({ Bucket: gateway.bucket, Key: videoKey })))).toBe('AccessDenied');
    s3FromPage.destroy();
    const dynamoFromPage = fromWebPage(dynamoClient(gateway.credentials));
    expect(await errorName(dynamoFromPage.send(new PutItemCommand(forgedApiKeyItem())))).toBe('AccessDeniedException');
    dynamoFromPage.destroy();
    expect(await forgedItemStored()).toBe(false);
    const secretsFromPage = fromWebPage(secretsClient(gateway.credentials));
    expect(await errorName(secretsFromPage.send(new GetSecretValueCommand({ SecretId: SECRET_ID })))).toBe('AccessDeniedException');
    secretsFromPage.destroy();
  });

  it('answers no CORS preflight on any endpoint', async () => {
    for (const [endpoint, method] of [
      [`${gateway.s3Endpoint}/${gateway.bucket}/${videoKey}`, 'PUT'],
      [`${gateway.s3Endpoint}/${gateway.bucket}/?list-type=2`, 'GET'],
      [gateway.dynamoDbEndpoint, 'POST'],
      [gateway.awsEndpoint, 'POST'],
    ]) {
      const answer = await raw(endpoint!, {
        method: 'OPTIONS',
        headers: { origin: ORIGIN, 'access-control-request-method': method!, 'access-control-request-headers': 'authorization,x-amz-target' },
      });
      expect(answer.status, endpoint).toBe(403);
      expect(answer.headers['access-control-allow-origin'], endpoint).toBeUndefined();
      expect(answer.headers['access-control-allow-methods'], endpoint).toBeUndefined();
    }
    // The gateway's own API (what clients call) keeps its behaviour, which grants no origin either.
    const api = await raw(`${gateway.url}/luma/generations`, {
      method: 'OPTIONS',
      headers: { origin: ORIGIN, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization' },
    });
    expect(api.headers['access-control-allow-origin']).toBeUndefined();
  });
});

describe('the data dir', () => {
  const mode = (path: string) => statSync(path).mode & 0o777;

  it('is 0700, and its credentials, endpoints and executions files are 0600', () => {
    expect(mode(dataDir)).toBe(0o700);
    for (const file of [CREDENTIALS_FILE, ENDPOINTS_FILE, 'executions.json']) {
      expect([file, mode(join(dataDir, file))]).toEqual([file, 0o600]);
    }
    const { accessKeyId, secretAccessKey } = gateway.credentials; // the SDK tags the object it is given
    expect(JSON.parse(readFileSync(join(dataDir, CREDENTIALS_FILE), 'utf8'))).toEqual({ accessKeyId, secretAccessKey });
    expect(gateway.credentials.accessKeyId).not.toBe(OLD_FIXED_PAIR.accessKeyId);
    expect(gateway.credentials.secretAccessKey).toMatch(/^[A-Za-z0-9+/]{40}$/); // 30 random bytes, shaped like AWS's own
  });

  it('keeps the key pair across starts, and tightens a data dir and files an older version left open', async () => {
    const old = mkdtempSync(join(tmpdir(), 'local-auth-old-'));
    try {
      const dir = join(old, 'data');
      mkdirSync(dir, { mode: 0o755 });
      writeFileSync(join(dir, ENDPOINTS_FILE), '{}', { mode: 0o644 });
      writeFileSync(join(dir, 'executions.json'), '{}', { mode: 0o644 });
      ensurePrivateDir(dir);
      writePrivateFile(join(dir, ENDPOINTS_FILE), '{"dynamodb":"http://127.0.0.1:1"}');
      await replacePrivateFile(join(dir, 'executions.json'), '{"version":1,"executions":[]}');
      expect(mode(dir)).toBe(0o700);
      expect(mode(join(dir, ENDPOINTS_FILE))).toBe(0o600);
      expect(mode(join(dir, 'executions.json'))).toBe(0o600);

      const first = localCredentials(dir);
      expect(mode(join(dir, CREDENTIALS_FILE))).toBe(0o600);
      expect(localCredentials(dir)).toEqual(first);
      expect(localCredentials(mkdtempSync(join(old, 'other-')))).not.toEqual(first);
    } finally {
      rmSync(old, { recursive: true, force: true });
    }
  });
});
