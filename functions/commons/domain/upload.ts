/**
 * Uploads: a keyframe too large to send inline (over 1.5 MiB, payload-limits.ts) goes straight to the bucket.
 * The client asks for an upload (`POST /luma/uploads`, its type and size), PUTs exactly those bytes to the
 * presigned URL it gets, then names the upload in a generation by its reference, `upload:<id>`.
 *
 * The reference is its own scheme, not a URL under the gateway's base URL: the request schema reads any
 * `upload:` value as a reference and nothing else, and refuses every scheme but http(s) for keyframe URLs,
 * so a reference can never be taken for a client's URL and handed to the upstream as it is. It also means
 * nothing without the gateway's table: it does not depend on which base URL (the API's own, a custom
 * domain, a local port) the client called.
 */
// A namespace import: `import { z }` keeps all of zod (every locale) in a bundle, this only what is used.
import * as z from 'zod';
import type { ImageType } from '../media/image.ts';
import { isGatewayId } from './ids.ts';
import { describeBytes, MAX_UPLOAD_BYTES } from './payload-limits.ts';

export const UPLOAD_CONTENT_TYPES = ['image/png', 'image/jpeg', 'image/webp'] as const satisfies readonly ImageType[];

/**
 * The longest an upload URL is valid. A presigned URL stops working when the credentials that signed it
 * expire, whatever its own expiry says, and a Lambda function's credentials are temporary ones it cannot
 * always date: a short life keeps the expiry the client is told honest, and limits what a leaked URL is
 * good for (one PUT of those bytes, to one key).
 */
export const UPLOAD_URL_MAX_SECONDS = 15 * 60;
/** How long after its creation an upload may be named in a generation. */
export const UPLOAD_LIFETIME_SECONDS = 60 * 60;

export const UPLOAD_REFERENCE_PREFIX = 'upload:';

/** The `POST /luma/uploads` body. */
export const uploadRequestSchema = z.object({
  content_type: z.enum(UPLOAD_CONTENT_TYPES, { error: `must be one of ${UPLOAD_CONTENT_TYPES.join(', ')}` }),
  size_bytes: z
    .number({ error: 'must be the file’s size, a whole number of bytes' })
    .int('must be the file’s size, a whole number of bytes')
    .min(1, `must be 1 to ${describeBytes(MAX_UPLOAD_BYTES)}`)
    .max(MAX_UPLOAD_BYTES, `must be 1 to ${describeBytes(MAX_UPLOAD_BYTES)}: larger keyframes are not taken`),
});

export type UploadRequest = z.output<typeof uploadRequestSchema>;

/** The `POST /luma/uploads` answer: where to PUT the file, how, and what to name it by afterwards. */
export const uploadTicketSchema = z.object({
  /** PUT the file here, with exactly `headers`, before `upload_expires_at`. */
  upload_url: z.string(),
  method: z.literal('PUT'),
  /** The announced type and size: both are signed, so a PUT with any other is refused. */
  headers: z.object({ 'content-type': z.string(), 'content-length': z.string().regex(/^[1-9]\d*$/) }),
  /** What to send as `image_url` or `image_end_url`, until `expires_at`. */
  image_url: z.string().startsWith(UPLOAD_REFERENCE_PREFIX),
  expires_at: z.iso.datetime(),
  upload_expires_at: z.iso.datetime(),
  /** The announcement, echoed. */
  content_type: z.enum(UPLOAD_CONTENT_TYPES),
  size_bytes: z.number().int().positive(),
});

export type UploadTicket = z.output<typeof uploadTicketSchema>;

/** One upload, as the table keeps it (`UPLOAD#<id>`): whose it is and what was announced. */
export interface UploadRecord {
  id: string;
  owner: string;
  contentType: ImageType;
  sizeBytes: number;
  createdAt: string;
  /** Epoch seconds after which the upload may not be named (also the item's TTL). */
  expiresAt: number;
}

/** Where the uploaded bytes are: under `inputs/`, which the bucket expires, never read by the upstream. */
export const uploadObjectKey = (id: string): string => `inputs/uploads/${id}`;

export const uploadReference = (id: string): string => `${UPLOAD_REFERENCE_PREFIX}${id}`;

/** Whether a keyframe value is meant as an upload reference (then it is one, or a 400). */
export function looksLikeUploadReference(text: string): boolean {
  return text.slice(0, UPLOAD_REFERENCE_PREFIX.length).toLowerCase() === UPLOAD_REFERENCE_PREFIX;
}

/** The upload id a reference names, or undefined when it is not `upload:<id>` as the gateway makes them. */
export function parseUploadReference(text: string): string | undefined {
  if (!looksLikeUploadReference(text)) return undefined;
  const id = text.slice(UPLOAD_REFERENCE_PREFIX.length).toLowerCase();
  return isGatewayId(id) ? id : undefined;
}

/** Whether the upload may still be named at `now`. */
export function uploadExpired(upload: Pick<UploadRecord, 'expiresAt'>, now: Date): boolean {
  return now.getTime() >= upload.expiresAt * 1000;
}
