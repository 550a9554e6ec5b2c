/**
 * Upload requests and references: what `POST /luma/uploads` accepts, and how a generation request tells an
 * upload reference from a URL.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  looksLikeUploadReference,
  parseUploadReference,
  uploadExpired,
  uploadObjectKey,
  uploadReference,
  uploadRequestSchema,
} from '../../../functions/commons/domain/upload.ts';
import { describeIssues, generationRequestSchema } from '../../../functions/commons/domain/generation-request.ts';
import { MAX_UPLOAD_BYTES } from '../../../functions/commons/domain/payload-limits.ts';

const ID = '0b4f1c2e-0000-4000-8000-00000000000a';

describe('the upload request', () => {
  it('takes a PNG, JPEG or WebP of 1 byte to 20 MiB', () => {
    for (const content_type of ['image/png', 'image/jpeg', 'image/webp']) {
      for (const size_bytes of [1, MAX_UPLOAD_BYTES]) expect(uploadRequestSchema.parse({ content_type, size_bytes })).toEqual({ content_type, size_bytes });
    }
  });

  it.each([
    [{ content_type: 'image/gif', size_bytes: 10 }, 'content_type'],
    [{ content_type: 'IMAGE/PNG', size_bytes: 10 }, 'content_type'],
    [{ size_bytes: 10 }, 'content_type'],
    [{ content_type: 'image/png', size_bytes: 0 }, 'size_bytes'],
    [{ content_type: 'image/png', size_bytes: MAX_UPLOAD_BYTES + 1 }, 'size_bytes'],
    [{ content_type: 'image/png', size_bytes: 1.5 }, 'size_bytes'],
    [{ content_type: 'image/png', size_bytes: '10' }, 'size_bytes'],
    [{ content_type: 'image/png' }, 'size_bytes'],
  ])('refuses %j, naming %s', (body, field) => {
    const result = uploadRequestSchema.safeParse(body);
    expect(result.success).toBe(false);
    expect(describeIssues(result.error!).map((issue) => issue.field)).toEqual([field]);
  });
});

describe('upload references', () => {
  it('are upload:<id>, the id a UUID, the prefix in any case', () => {
    expect(uploadReference(ID)).toBe(`upload:${ID}`);
    expect(parseUploadReference(`upload:${ID}`)).toBe(ID);
    expect(parseUploadReference(`UPLOAD:${ID.toUpperCase()}`)).toBe(ID);
    for (const text of ['upload:', 'upload:abc', `upload:${ID}/x`, `upload://${ID}`, `https://x/upload:${ID}`]) expect(parseUploadReference(text)).toBeUndefined();
    expect(uploadObjectKey(ID)).toBe(`inputs/uploads/${ID}`);
  });

  it('are read by the generation schema as references, and only as references: a bad one is a 400, never a URL', () => {
    expect(generationRequestSchema.parse({ user_prompt: 'A kite', image_url: ` upload:${ID} ` }).image_url).toEqual({ kind: 'upload', id: ID });
    expect(generationRequestSchema.parse({ user_prompt: 'A kite', image_end_url: `upload:${ID}` }).image_end_url).toEqual({ kind: 'upload', id: ID });
    const result = generationRequestSchema.safeParse({ user_prompt: 'A kite', image_url: 'upload:../../etc/passwd' });
    expect(describeIssues(result.error!)).toEqual([{ field: 'image_url', message: expect.stringMatching(/^is not an upload reference/) }]);
  });

  it('never come out of the schema as a URL for the upstream (property)', () => {
    fc.assert(
      fc.property(fc.string(), fc.constantFrom('upload:', 'UPLOAD:', 'Upload:'), (rest, prefix) => {
        const result = generationRequestSchema.safeParse({ user_prompt: 'A kite', image_url: prefix + rest });
        expect(looksLikeUploadReference(prefix + rest)).toBe(true);
        if (result.success) expect(result.data.image_url?.kind).toBe('upload');
      }),
    );
  });

  it('expire at their expiresAt second', () => {
    expect(uploadExpired({ expiresAt: 100 }, new Date(99_999))).toBe(false);
    expect(uploadExpired({ expiresAt: 100 }, new Date(100_000))).toBe(true);
  });
});
