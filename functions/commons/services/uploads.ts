/**
 * Uploads from asking for one to using it (domain/upload.ts). `createUpload` records who asked and what
 * they announced, and hands out a presigned PUT bound to that type and size. `resolveUploads` turns the
 * upload references of a generation request into checked images, as if they had been sent inline: the
 * caller's own, unexpired, uploaded with the announced size and type, and a whole PNG, JPEG or WebP file
 * (media/image.ts). The task then stores those very bytes as its keyframe (`inputs/<task>/frameN`, with
 * the task id as its only metadata), so nothing the client does to the upload afterwards reaches the
 * upstream, and no header the client sent with its PUT does either.
 */
import { randomUUID } from 'node:crypto';
import type { UploadStore } from '../ports/upload-store.ts';
import type { GenerationRequest, GenerationRequestBody, KeyframeInput, KeyframeReference, ValidationIssue } from '../domain/generation-request.ts';
import {
  UPLOAD_LIFETIME_SECONDS,
  UPLOAD_URL_MAX_SECONDS,
  uploadExpired,
  uploadObjectKey,
  uploadReference,
  type UploadRecord,
  type UploadRequest,
  type UploadTicket,
} from '../domain/upload.ts';
import { MAX_IMAGE_DIMENSION, readImageInfo } from '../media/image.ts';
import { BadRequestError, TransientAwsError } from '../errors.ts';
import { log } from '../log.ts';
import { systemClock, type Clock } from '../clock.ts';
import type { MediaStore } from '../ports/media-store.ts';

export interface UploadDeps {
  uploads: UploadStore;
  media: Pick<MediaStore, 'uploadUrl' | 'readBounded'>;
  clock?: Clock;
  newId?: () => string;
}

/** The `POST /luma/uploads` answer: its one schema is domain/upload.ts's `uploadTicketSchema`. */
export type { UploadTicket };

export async function createUpload(owner: string, request: UploadRequest, deps: UploadDeps): Promise<UploadTicket> {
  const now = (deps.clock ?? systemClock)();
  const id = (deps.newId ?? randomUUID)();
  const key = uploadObjectKey(id);
  const url = await deps.media.uploadUrl(key, request.content_type, request.size_bytes, UPLOAD_URL_MAX_SECONDS, now);
  if (!url) throw new TransientAwsError('The gateway’s signing credentials are about to be renewed; ask for the upload again in a minute.');
  const record: UploadRecord = {
    id,
    owner,
    contentType: request.content_type,
    sizeBytes: request.size_bytes,
    createdAt: now.toISOString(),
    expiresAt: Math.floor(now.getTime() / 1000) + UPLOAD_LIFETIME_SECONDS,
  };
  await deps.uploads.create(record);
  log({ msg: 'upload created', uploadId: id, owner, contentType: record.contentType, sizeBytes: record.sizeBytes });
  return {
    upload_url: url.url,
    method: 'PUT',
    headers: url.headers,
    image_url: uploadReference(id),
    expires_at: new Date(record.expiresAt * 1000).toISOString(),
    upload_expires_at: url.expiresAt.toISOString(),
    content_type: record.contentType,
    size_bytes: record.sizeBytes,
  };
}

/** The request with each upload reference replaced by the checked image; a 400 naming each field that fails. */
export async function resolveUploads(owner: string, body: GenerationRequestBody, deps: UploadDeps): Promise<GenerationRequest> {
  const now = (deps.clock ?? systemClock)();
  const issues: ValidationIssue[] = [];
  const resolve = async (field: string, frame: KeyframeReference): Promise<KeyframeInput | undefined> => {
    if (frame.kind !== 'upload') return frame;
    const outcome = await resolveUpload(owner, frame.id, now, deps);
    if (typeof outcome === 'string') issues.push({ field, message: outcome });
    else return outcome;
    return undefined;
  };
  const [imageUrl, imageEndUrl] = await Promise.all([
    body.image_url ? resolve('image_url', body.image_url) : body.image_url,
    body.image_end_url ? resolve('image_end_url', body.image_end_url) : undefined,
  ]);
  if (issues.length > 0) throw new BadRequestError('The request body is invalid.', { details: issues });
  return { ...body, image_url: imageUrl, image_end_url: imageEndUrl };
}

/** The upload as a checked image, or what is wrong with it (a message for the field). */
async function resolveUpload(owner: string, id: string, now: Date, deps: UploadDeps): Promise<KeyframeInput | string> {
  const upload = await deps.uploads.get(id);
  // Another owner's upload is answered exactly like a missing one: ids reveal nothing across tenants.
  if (!upload || upload.owner !== owner) return 'no such upload: send the image_url POST /luma/uploads returned to this API key’s owner';
  if (uploadExpired(upload, now)) {
    return `the upload expired at ${new Date(upload.expiresAt * 1000).toISOString()}: ask for a new one (POST /luma/uploads) and upload the image again`;
  }
  const object = await deps.media.readBounded(uploadObjectKey(id), upload.sizeBytes);
  if (!object.found) return 'nothing has been uploaded for this upload yet: PUT the image to its upload_url first';
  const declared = `${upload.sizeBytes} bytes of ${upload.contentType}`;
  if ('tooLarge' in object || object.bytes.length !== upload.sizeBytes) {
    const size = 'tooLarge' in object ? `more than ${upload.sizeBytes}` : object.bytes.length;
    return `the uploaded file has ${size} bytes, not the ${declared} announced`;
  }
  if (object.contentType !== upload.contentType) return `the file was uploaded as ${object.contentType ?? 'no type'}, not the ${declared} announced`;
  const info = readImageInfo(object.bytes);
  if (!info) {
    log({ level: 'warn', msg: 'upload is not an image', uploadId: id });
    return `the uploaded file is not a whole PNG, JPEG or WebP image of at most ${MAX_IMAGE_DIMENSION} × ${MAX_IMAGE_DIMENSION} pixels`;
  }
  if (info.type !== upload.contentType) return `the uploaded file is ${info.type}, not the ${upload.contentType} announced`;
  return { kind: 'inline', bytes: object.bytes, ...info };
}
