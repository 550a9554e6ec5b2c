/**
 * Checking SigV4 on the receiving side: requests signed (and links presigned) by the SDK's own signers are
 * accepted, and any change to what was signed, another key, another scope, a stale date or an expired link
 * is refused with its reason. The clock is passed in: no test here depends on the time it runs.
 */
import { describe, expect, it } from 'vitest';
import { SignatureV4 } from '@smithy/signature-v4';
import { S3RequestPresigner } from '@aws-sdk/s3-request-presigner';
import {
  checkSignature,
  readSignature,
  Sha256,
  sha256Hex,
  UNSIGNED_PAYLOAD,
  type ReceivedRequest,
  type RefusalReason,
  type SignaturePolicy,
} from '../../local/request-signature.ts';

type HttpRequest = Parameters<SignatureV4['presign']>[0];

const credentials = { accessKeyId: 'LKIA0123456789ABCDEF', secretAccessKey: 'c2VjcmV0L3dpdGgrY2hhcnM9PT0vKzAxMjM0NTY3' };
const NOW = new Date('2026-11-25T15:21:11Z');
const MINUTE = 60_000;
const dynamoDb: SignaturePolicy = { credentials, region: 'us-east-1', services: ['dynamodb'], uriEscapePath: true };
const s3: SignaturePolicy = { credentials, region: 'us-east-1', services: ['s3'], uriEscapePath: false };

interface Sent extends ReceivedRequest {
  body: string;
}

/** What arrives at the server for a request the SDK signer signed: the target as sent, the headers. */
function asSent(request: HttpRequest): Sent {
  const query = Object.entries(request.query ?? {})
    .flatMap(([key, value]) => (Array.isArray(value) ? value : [value]).map((one) => `${escape(key)}=${escape(String(one ?? ''))}`))
    .join('&');
  const headers = Object.fromEntries(Object.entries(request.headers).map(([name, value]) => [name.toLowerCase(), value]));
  return { method: request.method, target: query ? `${request.path}?${query}` : request.path, headers, body: String(request.body ?? '') };
}

function escape(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function dynamoDbRequest(body = '{"TableName":"luma-gateway","Item":{"pk":{"S":"APIKEY#forged"}}}'): HttpRequest {
  return {
    method: 'POST',
    protocol: 'http:',
    hostname: '127.0.0.1',
    port: 4567,
    path: '/',
    query: {},
    headers: { host: '127.0.0.1:4567', 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': 'DynamoDB_20120810.PutItem' },
    body,
  };
}

async function signedJson(
  request = dynamoDbRequest(),
  options: { date?: Date; region?: string; service?: string; secret?: string; keyId?: string } = {},
): Promise<Sent> {
  const signer = new SignatureV4({
    credentials: { accessKeyId: options.keyId ?? credentials.accessKeyId, secretAccessKey: options.secret ?? credentials.secretAccessKey },
    region: options.region ?? 'us-east-1',
    service: options.service ?? 'dynamodb',
    sha256: Sha256,
    applyChecksum: false,
  });
  return asSent(await signer.sign(request, { signingDate: options.date ?? NOW }));
}

/** The JSON services' check: the payload hash is the body's. */
async function verdictJson(sent: Sent, now = NOW, policy = dynamoDb): Promise<RefusalReason | 'accepted'> {
  const signed = readSignature(sent, policy, now);
  if (!signed.ok) return signed.reason;
  return (await checkSignature(signed, sha256Hex(Buffer.from(sent.body)), policy))?.reason ?? 'accepted';
}

/** S3's check: the declared payload hash, or UNSIGNED-PAYLOAD for a presigned link. */
async function verdictS3(sent: ReceivedRequest, now = NOW): Promise<RefusalReason | 'accepted'> {
  const signed = readSignature(sent, s3, now);
  if (!signed.ok) return signed.reason;
  const payloadHash = signed.presigned ? UNSIGNED_PAYLOAD : String(sent.headers['x-amz-content-sha256']);
  return (await checkSignature(signed, payloadHash, s3))?.reason ?? 'accepted';
}

function s3Get(path: string, query: Record<string, string> = {}): HttpRequest {
  return { method: 'GET', protocol: 'http:', hostname: '127.0.0.1', port: 40759, path, query, headers: { host: '127.0.0.1:40759' } };
}

async function presigned(request: HttpRequest, options: { date?: Date; expiresIn?: number; secret?: string } = {}): Promise<ReceivedRequest> {
  const presigner = new S3RequestPresigner({
    credentials: { ...credentials, secretAccessKey: options.secret ?? credentials.secretAccessKey },
    region: 'us-east-1',
    sha256: Sha256,
  });
  return asSent(await presigner.presign(request, { signingDate: options.date ?? NOW, expiresIn: options.expiresIn ?? 3600 }));
}

function withQuery(sent: ReceivedRequest, change: (params: URLSearchParams) => void): ReceivedRequest {
  const [path, query = ''] = sent.target.split('?');
  const params = new URLSearchParams(query);
  change(params);
  return { ...sent, target: `${path}?${params.toString()}` };
}

describe('a request signed in the Authorization header (DynamoDB, JSON)', () => {
  it('is accepted as the SDK signed it', async () => {
    expect(await verdictJson(await signedJson())).toBe('accepted');
  });

  it('is accepted with the payload hash header the SDK may add, when it is the body’s', async () => {
    const signer = new SignatureV4({ credentials, region: 'us-east-1', service: 'dynamodb', sha256: Sha256 });
    const sent = asSent(await signer.sign(dynamoDbRequest(), { signingDate: NOW }));
    expect(sent.headers['x-amz-content-sha256']).toMatch(/^[0-9a-f]{64}$/);
    expect(await verdictJson(sent)).toBe('accepted');
  });

  it('is refused when the body, a signed header or the method changed after signing', async () => {
    const sent = await signedJson();
    expect(await verdictJson({ ...sent, body: sent.body.replace('forged', 'forgeD') })).toBe('mismatch');
    expect(await verdictJson({ ...sent, headers: { ...sent.headers, 'x-amz-target': 'DynamoDB_20120810.DeleteItem' } })).toBe('mismatch');
    expect(await verdictJson({ ...sent, headers: { ...sent.headers, host: 'localhost:4567' } })).toBe('mismatch');
    expect(await verdictJson({ ...sent, method: 'PUT' })).toBe('mismatch');
    expect(await verdictJson({ ...sent, target: '/?Action=PutItem' })).toBe('mismatch');
  });

  it('is refused when a signed header is left out, or the signature is not the computed one', async () => {
    const sent = await signedJson();
    const { 'x-amz-target': _target, ...withoutTarget } = sent.headers;
    expect(await verdictJson({ ...sent, headers: withoutTarget })).toBe('mismatch');
    for (const signature of ['00', '0'.repeat(64), 'F'.repeat(64)]) {
      const forged = String(sent.headers.authorization).replace(/Signature=[0-9a-f]+/, `Signature=${signature}`);
      expect(await verdictJson({ ...sent, headers: { ...sent.headers, authorization: forged } })).toBe('mismatch');
    }
  });

  it('is refused when signed with another secret, or another key id', async () => {
    expect(await verdictJson(await signedJson(undefined, { secret: 'not-the-secret' }))).toBe('mismatch');
    expect(await verdictJson(await signedJson(undefined, { keyId: 'S3RVER', secret: 'S3RVER' }))).toBe('unknown-key');
    expect(await verdictJson(await signedJson(undefined, { keyId: 'AKIAIOSFODNN7EXAMPLE' }))).toBe('unknown-key');
  });

  it('is refused when scoped to another region or service', async () => {
    expect(await verdictJson(await signedJson(undefined, { region: 'eu-west-1' }))).toBe('scope');
    expect(await verdictJson(await signedJson(undefined, { service: 's3' }))).toBe('scope');
  });

  it('is accepted up to 15 minutes either side of the clock, and refused past that', async () => {
    expect(await verdictJson(await signedJson(undefined, { date: new Date(NOW.getTime() - 14 * MINUTE) }))).toBe('accepted');
    expect(await verdictJson(await signedJson(undefined, { date: new Date(NOW.getTime() + 14 * MINUTE) }))).toBe('accepted');
    expect(await verdictJson(await signedJson(undefined, { date: new Date(NOW.getTime() - 16 * MINUTE) }))).toBe('skewed');
    expect(await verdictJson(await signedJson(undefined, { date: new Date(NOW.getTime() + 16 * MINUTE) }))).toBe('skewed');
    // The same request, replayed later.
    const sent = await signedJson();
    expect(await verdictJson(sent, new Date(NOW.getTime() + 16 * MINUTE))).toBe('skewed');
  });

  it('is refused when the date header is moved: the date is part of what is signed', async () => {
    const sent = await signedJson();
    const later = new Date(NOW.getTime() + MINUTE).toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/[-:]/g, '');
    const moved = { ...sent, headers: { ...sent.headers, 'x-amz-date': later } };
    expect(await verdictJson(moved)).toBe('mismatch');
  });

  it('refuses a request without a signature, or with both mechanisms, or with a broken header', async () => {
    const sent = await signedJson();
    const { authorization, ...unsigned } = sent.headers;
    expect(await verdictJson({ ...sent, headers: unsigned })).toBe('missing');
    expect(await verdictJson({ ...sent, target: '/?X-Amz-Algorithm=AWS4-HMAC-SHA256' })).toBe('malformed');
    expect(await verdictJson({ ...sent, headers: { ...sent.headers, authorization: `AWS ${credentials.accessKeyId}:c2lnbmF0dXJl` } })).toBe('malformed');
    expect(await verdictJson({ ...sent, headers: { ...sent.headers, authorization: String(authorization).replace(/, Signature=.*/, '') } })).toBe('malformed');
    expect(await verdictJson({ ...sent, headers: { ...sent.headers, 'x-amz-date': '2026-11-25T15:21:11Z' } })).toBe('malformed');
    expect(await verdictJson({ ...sent, target: '/?%E0%A4%A' })).toBe('malformed');
  });

  it('refuses a signature that leaves the host unsigned', async () => {
    const request = dynamoDbRequest();
    const signer = new SignatureV4({ credentials, region: 'us-east-1', service: 'dynamodb', sha256: Sha256, applyChecksum: false });
    const sent = asSent(await signer.sign(request, { signingDate: NOW, unsignableHeaders: new Set(['host']) }));
    expect(String(sent.headers.authorization)).not.toMatch(/SignedHeaders=[^,]*host/);
    expect(await verdictJson(sent)).toBe('malformed');
  });
});

describe('an S3 request signed in the Authorization header', () => {
  async function signedS3(request: HttpRequest, payloadHash = UNSIGNED_PAYLOAD): Promise<ReceivedRequest> {
    const signer = new SignatureV4({ credentials, region: 'us-east-1', service: 's3', sha256: Sha256, uriEscapePath: false });
    return asSent(await signer.sign({ ...request, headers: { ...request.headers, 'x-amz-content-sha256': payloadHash } }, { signingDate: NOW }));
  }

  it('is accepted for the path as sent, encoded characters included, and refused for another path or query', async () => {
    const sent = await signedS3(s3Get('/luma-gateway-videos/generations/a%20b/video%2B1.mp4'));
    expect(await verdictS3(sent)).toBe('accepted');
    expect(await verdictS3({ ...sent, target: '/luma-gateway-videos/generations/a%20b/video+1.mp4' })).toBe('mismatch');
    expect(await verdictS3({ ...sent, target: '/luma-gateway-videos/generations/other/video%2B1.mp4' })).toBe('mismatch');
    expect(await verdictS3({ ...sent, target: '/luma-gateway-videos/?list-type=2' })).toBe('mismatch');
  });

  it('covers the declared payload hash: changing it is a mismatch', async () => {
    const sent = await signedS3({ ...s3Get('/luma-gateway-videos/generations/x/video.mp4'), method: 'PUT' }, UNSIGNED_PAYLOAD);
    expect(await verdictS3(sent)).toBe('accepted');
    expect(await verdictS3({ ...sent, headers: { ...sent.headers, 'x-amz-content-sha256': sha256Hex(Buffer.from('other')) } })).toBe('mismatch');
  });

  it('is accepted with its query in any order, since the canonical query is sorted', async () => {
    const sent = await signedS3(s3Get('/luma-gateway-videos/', { 'list-type': '2', prefix: 'generations/' }));
    expect(sent.target).toBe('/luma-gateway-videos/?list-type=2&prefix=generations%2F');
    expect(await verdictS3({ ...sent, target: '/luma-gateway-videos/?prefix=generations%2F&list-type=2' })).toBe('accepted');
    expect(await verdictS3({ ...sent, target: '/luma-gateway-videos/?list-type=2&prefix=' })).toBe('mismatch');
  });
});

describe('a presigned S3 link', () => {
  const video = () => s3Get('/luma-gateway-videos/generations/9c498cfd-4e0e-44af-948b-2cc00254370e/video.mp4');

  it('is accepted as presigned, with or without response header overrides', async () => {
    expect(await verdictS3(await presigned(video()))).toBe('accepted');
    const download = { ...video(), query: { 'response-content-disposition': 'attachment; filename="video.mp4"' } };
    expect(await verdictS3(await presigned(download))).toBe('accepted');
  });

  it('is refused with its signature replaced, its path or a parameter changed, or a parameter added', async () => {
    const sent = await presigned(video());
    expect(await verdictS3(withQuery(sent, (q) => q.set('X-Amz-Signature', '00')))).toBe('mismatch');
    expect(await verdictS3(withQuery(sent, (q) => q.set('X-Amz-Signature', '0'.repeat(64))))).toBe('mismatch');
    expect(await verdictS3({ ...sent, target: sent.target.replace('/video.mp4?', '/thumbnail.jpg?') })).toBe('mismatch');
    expect(await verdictS3({ ...sent, target: sent.target.replace('/luma-gateway-videos/generations/9c498cfd-4e0e-44af-948b-2cc00254370e/video.mp4?', '/luma-gateway-videos/?list-type=2&') })).toBe('mismatch');
    expect(await verdictS3(withQuery(sent, (q) => q.set('X-Amz-Expires', '604800')))).toBe('mismatch');
    expect(await verdictS3(withQuery(sent, (q) => q.set('response-content-type', 'text/html')))).toBe('mismatch');
    expect(await verdictS3({ ...sent, method: 'PUT' })).toBe('mismatch');
  });

  it('is refused when presigned with another secret', async () => {
    expect(await verdictS3(await presigned(video(), { secret: 'not-the-secret' }))).toBe('mismatch');
  });

  it('is accepted until X-Amz-Date + X-Amz-Expires, and refused after', async () => {
    const sent = await presigned(video(), { expiresIn: 3600 });
    expect(await verdictS3(sent, new Date(NOW.getTime() + 59 * MINUTE))).toBe('accepted');
    expect(await verdictS3(sent, new Date(NOW.getTime() + 61 * MINUTE))).toBe('expired');
  });

  it('is refused when dated in the future, or when its lifetime is out of bounds', async () => {
    expect(await verdictS3(await presigned(video(), { date: new Date(NOW.getTime() + 16 * MINUTE) }))).toBe('skewed');
    const sent = await presigned(video());
    expect(await verdictS3(withQuery(sent, (q) => q.set('X-Amz-Expires', '0')))).toBe('malformed');
    expect(await verdictS3(withQuery(sent, (q) => q.set('X-Amz-Expires', '604801')))).toBe('malformed');
    expect(await verdictS3(withQuery(sent, (q) => q.delete('X-Amz-Credential')))).toBe('malformed');
  });
});
