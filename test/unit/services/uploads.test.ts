/**
 * Uploads without I/O: the store and the bucket are in memory, the clock is the test's.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createUpload, resolveUploads, type UploadDeps } from '../../../functions/commons/services/uploads.ts';
import type { UploadRecord } from '../../../functions/commons/domain/upload.ts';
import { generationRequestSchema } from '../../../functions/commons/domain/generation-request.ts';
import { BadRequestError, TransientAwsError } from '../../../functions/commons/errors.ts';
import type { BoundedObject, UploadUrl } from '../../../functions/commons/ports/media-store.ts';

const PNG = readFileSync(new URL('../../fixtures/media/tiny.png', import.meta.url));
const WEBP = readFileSync(new URL('../../fixtures/media/tiny.webp', import.meta.url));
const NOW = new Date('2026-11-30T12:00:00Z');
const ID = '0b4f1c2e-0000-4000-8000-00000000000a';

function world(now = NOW) {
  const records = new Map<string, UploadRecord>();
  const objects = new Map<string, { contentType: string; bytes: Buffer }>();
  const clock = { now };
  const deps: UploadDeps = {
    uploads: {
      create: async (record) => void records.set(record.id, record),
      get: async (id) => records.get(id),
    },
    media: {
      uploadUrl: async (key, contentType, bytes, maxSeconds, at): Promise<UploadUrl> => ({
        url: `http://s3.test/${key}?signed`,
        headers: { 'content-type': contentType, 'content-length': String(bytes) },
        expiresAt: new Date(at.getTime() + maxSeconds * 1000),
      }),
      readBounded: async (key, maxBytes): Promise<BoundedObject> => {
        const object = objects.get(key);
        if (!object) return { found: false };
        const base = { found: true as const, contentType: object.contentType, contentLength: object.bytes.length };
        return object.bytes.length > maxBytes ? { ...base, tooLarge: true } : { ...base, bytes: object.bytes };
      },
    },
    clock: () => clock.now,
    newId: () => ID,
  };
  return { deps, records, objects, clock };
}

const body = (fields: Record<string, unknown>) => generationRequestSchema.parse({ user_prompt: 'A kite over the dunes', ...fields });
const reference = `upload:${ID}`;

async function issuesOf(promise: Promise<unknown>): Promise<unknown> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(BadRequestError);
  return (error as BadRequestError).details;
}

describe('createUpload', () => {
  it('records the owner, the announced type and size, and an expiry an hour on; answers the URL and the reference', async () => {
    const { deps, records } = world();
    const ticket = await createUpload('own_alice', { content_type: 'image/png', size_bytes: PNG.length }, deps);
    expect(records.get(ID)).toEqual({ id: ID, owner: 'own_alice', contentType: 'image/png', sizeBytes: PNG.length, createdAt: NOW.toISOString(), expiresAt: NOW.getTime() / 1000 + 3600 });
    expect(ticket).toEqual({
      upload_url: `http://s3.test/inputs/uploads/${ID}?signed`,
      method: 'PUT',
      headers: { 'content-type': 'image/png', 'content-length': String(PNG.length) },
      image_url: reference,
      expires_at: '2026-11-30T13:00:00.000Z',
      upload_expires_at: '2026-11-30T12:15:00.000Z',
      content_type: 'image/png',
      size_bytes: PNG.length,
    });
  });

  it('answers 503 and records nothing when no URL can be signed (credentials about to expire)', async () => {
    const { deps, records } = world();
    deps.media.uploadUrl = async () => undefined;
    await expect(createUpload('own_alice', { content_type: 'image/png', size_bytes: 10 }, deps)).rejects.toBeInstanceOf(TransientAwsError);
    expect(records.size).toBe(0);
  });
});

describe('resolveUploads', () => {
  async function uploaded(bytes: Buffer, options: { owner?: string; contentType?: string; storedAs?: string; size?: number } = {}) {
    const w = world();
    await createUpload(options.owner ?? 'own_alice', { content_type: (options.contentType ?? 'image/png') as 'image/png', size_bytes: options.size ?? bytes.length }, w.deps);
    w.objects.set(`inputs/uploads/${ID}`, { contentType: options.storedAs ?? options.contentType ?? 'image/png', bytes });
    return w;
  }

  it('turns the caller’s upload into the checked image, for either field; URLs and inline images pass as they are', async () => {
    const { deps } = await uploaded(PNG);
    const resolved = await resolveUploads('own_alice', body({ image_url: reference, image_end_url: reference.toUpperCase().replace('UPLOAD:', 'upload:') }), deps);
    expect(resolved.image_url).toEqual({ kind: 'inline', bytes: PNG, type: 'image/png', width: 64, height: 48 });
    expect(resolved.image_end_url).toEqual(resolved.image_url);
    const plain = await resolveUploads('own_alice', body({ image_url: 'https://example.com/a.png', image_end_url: false }), deps);
    expect(plain.image_url).toEqual({ kind: 'url', url: 'https://example.com/a.png' });
    expect(plain.image_end_url).toBeUndefined();
  });

  it('answers another owner’s upload exactly like a missing one', async () => {
    const { deps } = await uploaded(PNG);
    const foreign = await issuesOf(resolveUploads('own_bob', body({ image_url: reference }), deps));
    const missing = await issuesOf(resolveUploads('own_bob', body({ image_url: 'upload:0b4f1c2e-0000-4000-8000-0000000000ff' }), deps));
    expect(foreign).toEqual(missing);
    expect(foreign).toEqual([{ field: 'image_url', message: expect.stringMatching(/^no such upload/) }]);
  });

  it('refuses an expired upload, from the second it expires, whatever DynamoDB’s TTL has not deleted yet', async () => {
    const w = await uploaded(PNG);
    w.clock.now = new Date(NOW.getTime() + 3600_000 - 1);
    await expect(resolveUploads('own_alice', body({ image_url: reference }), w.deps)).resolves.toMatchObject({ image_url: { kind: 'inline', bytes: PNG, type: 'image/png' } });
    w.clock.now = new Date(NOW.getTime() + 3600_000);
    expect(await issuesOf(resolveUploads('own_alice', body({ image_url: reference }), w.deps))).toEqual([
      { field: 'image_url', message: expect.stringMatching(/^the upload expired at 2026-11-30T13:00:00.000Z/) },
    ]);
  });

  it.each([
    ['nothing was uploaded', (w: ReturnType<typeof world>) => w.objects.clear(), /^nothing has been uploaded/],
    ['fewer bytes than announced', (w: ReturnType<typeof world>) => w.objects.set(`inputs/uploads/${ID}`, { contentType: 'image/png', bytes: PNG.subarray(1) }), /has \d+ bytes, not the/],
    ['more bytes than announced', (w: ReturnType<typeof world>) => w.objects.set(`inputs/uploads/${ID}`, { contentType: 'image/png', bytes: Buffer.concat([PNG, Buffer.from([0])]) }), /has more than \d+ bytes/],
    ['another content type', (w: ReturnType<typeof world>) => w.objects.set(`inputs/uploads/${ID}`, { contentType: 'image/jpeg', bytes: PNG }), /uploaded as image\/jpeg/],
  ])('names the field when %s', async (_what, change, message) => {
    const w = await uploaded(PNG);
    change(w);
    expect(await issuesOf(resolveUploads('own_alice', body({ image_end_url: reference }), w.deps))).toEqual([{ field: 'image_end_url', message: expect.stringMatching(message) }]);
  });

  it('refuses a file that is not a whole image, or another format than announced', async () => {
    const corrupt = Buffer.concat([PNG.subarray(0, 40), Buffer.alloc(PNG.length - 40, 0x41)]);
    let w = await uploaded(corrupt);
    expect(await issuesOf(resolveUploads('own_alice', body({ image_url: reference }), w.deps))).toEqual([
      { field: 'image_url', message: expect.stringMatching(/^the uploaded file is not a whole PNG, JPEG or WebP image of at most 8192 × 8192 pixels/) },
    ]);
    w = await uploaded(WEBP, { contentType: 'image/png' });
    expect(await issuesOf(resolveUploads('own_alice', body({ image_url: reference }), w.deps))).toEqual([
      { field: 'image_url', message: 'the uploaded file is image/webp, not the image/png announced' },
    ]);
  });

  it('names every field that fails at once', async () => {
    const { deps } = world();
    const details = await issuesOf(resolveUploads('own_alice', body({ image_url: reference, image_end_url: reference }), deps));
    expect((details as { field: string }[]).map((issue) => issue.field)).toEqual(['image_url', 'image_end_url']);
  });
});
