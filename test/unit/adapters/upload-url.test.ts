/**
 * Presigned upload URLs, as the API function makes them: bound to the announced type and length, free of
 * the checksum the SDK's defaults would put in (the CRC32 of an empty body, which S3 would hold every real
 * upload against), and no longer valid than the credentials that sign them. Nothing leaves the process:
 * presigning is computation.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { S3MediaStore } from '../../../functions/commons/adapters/media-store.ts';

const NOW = new Date('2026-11-30T12:00:00.750Z');

async function productionPresigner(expiration?: Date): Promise<S3Client> {
  // The API function's own client, built from its module as the bundle builds it; only the region and the
  // credentials (the Lambda environment's) are the test's.
  vi.stubEnv('AWS_REGION', 'eu-west-1');
  vi.resetModules();
  const { s3Presigner } = await import('../../../functions/commons/clients/s3.ts');
  s3Presigner.config.credentials = async () => ({ accessKeyId: 'ASIAEXAMPLE', secretAccessKey: 'not-a-secret', sessionToken: 'token', expiration });
  return s3Presigner;
}
afterEach(() => void vi.unstubAllEnvs());

const params = (url: string) => new URL(url).searchParams;

describe('an upload URL', () => {
  it('signs content-type and content-length, and carries no checksum', async () => {
    const presigner = await productionPresigner();
    const media = new S3MediaStore(presigner, 'bucket', presigner);
    const upload = (await media.uploadUrl('inputs/uploads/u1', 'image/png', 8_388_608, 900, NOW))!;
    const query = params(upload.url);
    expect(query.get('X-Amz-SignedHeaders')).toBe('content-length;content-type;host');
    expect(query.get('X-Amz-Expires')).toBe('900');
    expect(query.get('X-Amz-Date')).toBe('20261130T120000Z');
    expect([...query.keys()].filter((name) => /checksum/i.test(name))).toEqual([]);
    expect(upload.headers).toEqual({ 'content-type': 'image/png', 'content-length': '8388608' });
    // Counted from the whole second X-Amz-Date names, as S3 counts it.
    expect(upload.expiresAt.toISOString()).toBe('2026-11-30T12:15:00.000Z');
  });

  it('would carry the CRC32 of an empty body with the SDK’s default checksums (why the presigner turns them off)', async () => {
    const client = new S3Client({ region: 'eu-west-1', credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'not-a-secret' } });
    const url = await getSignedUrl(client, new PutObjectCommand({ Bucket: 'bucket', Key: 'k', ContentType: 'image/png', ContentLength: 10 }), { expiresIn: 60 });
    expect(params(url).get('x-amz-checksum-crc32')).toBe('AAAAAA==');
  });

  it('expires with the signing credentials when they expire first, and is not made when they expire within a minute', async () => {
    const soon = await productionPresigner(new Date(NOW.getTime() + 5 * 60_000));
    const upload = (await new S3MediaStore(soon, 'bucket', soon).uploadUrl('inputs/uploads/u2', 'image/webp', 10, 900, NOW))!;
    expect(params(upload.url).get('X-Amz-Expires')).toBe('300');
    expect(upload.expiresAt.toISOString()).toBe('2026-11-30T12:05:00.000Z');
    const now = await productionPresigner(new Date(NOW.getTime() + 59_000));
    expect(await new S3MediaStore(now, 'bucket', now).uploadUrl('inputs/uploads/u3', 'image/webp', 10, 900, NOW)).toBeUndefined();
  });
});
