/**
 * The aggregator API's `POST /luma/generations` body: one zod schema that validates, normalises and types it.
 * Keyframes arrive as an http(s) URL, as Base64 (a data URI or bare), or as the reference of an upload
 * (`upload:<id>`, domain/upload.ts); Base64 is decoded and checked here to be a real PNG, JPEG or WebP
 * image, because the upstream accepts URLs only and we will store it. An upload reference is resolved
 * after the schema, against the table and the bucket (services/uploads.ts), into the same checked image.
 * `model`, `resolution` and `duration` are Luma's own choices, limited to what the operator offers
 * (luma-options.ts): the schema is built for a deployment's offer. `callback_url` and `callback_events` are
 * the client's webhook (domain/generation-events.ts), held to the callback policy (policy/callback-policy.ts)
 * and never sent upstream.
 */
// A namespace import: `import { z }` keeps all of zod (every locale) in a bundle, this only what is used.
import * as z from 'zod';
import { readImageInfo, type ImageType } from '../media/image.ts';
import { describeBytes, MAX_INLINE_KEYFRAME_BYTES } from './payload-limits.ts';
import { looksLikeUploadReference, parseUploadReference, UPLOAD_REFERENCE_PREFIX } from './upload.ts';
import {
  FULL_OFFER,
  LUMA_ASPECT_RATIOS,
  LUMA_DURATIONS,
  LUMA_MODELS,
  LUMA_RESOLUTIONS,
  type GenerationOffer,
} from './luma-options.ts';
import { carriesCredentials } from './url-credentials.ts';
import { WEBHOOK_EVENTS } from './generation-events.ts';
import { callbackUrlProblem, DEPLOYED_CALLBACK_POLICY, type CallbackPolicy } from '../policy/callback-policy.ts';

export const PROMPT_MIN_LENGTH = 3;
export const PROMPT_MAX_LENGTH = 5000;
export const KEYFRAME_URL_MAX_LENGTH = 2048;
/**
 * Decoded size of an inline keyframe: two of them and the rest of a body fit the body limit, which every
 * event fits (payload-limits.ts). A larger image is uploaded and referenced instead.
 */
export const MAX_KEYFRAME_BYTES = MAX_INLINE_KEYFRAME_BYTES;
const KEYFRAME_TOO_LARGE = `image is larger than ${describeBytes(MAX_KEYFRAME_BYTES)}, the most a Base64 keyframe may weigh: upload it (POST /luma/uploads) and send the image_url it returns`;

/** A keyframe ready to record: a client's URL, or a checked image to store. */
export type KeyframeInput =
  | { kind: 'url'; url: string }
  | { kind: 'inline'; bytes: Buffer; type: ImageType; width: number; height: number };

/** A keyframe as the body names it: one ready to record, or an upload still to be resolved. */
export type KeyframeReference = KeyframeInput | { kind: 'upload'; id: string };

/** Characters between `data:` and the comma: a media type and a few parameters need far fewer. */
export const DATA_URI_HEADER_MAX_LENGTH = 256;
const DATA_URI_SHAPE = `data URI must be data:image/<type>[;<name>=<value>…];base64,<data>, with at most ${DATA_URI_HEADER_MAX_LENGTH} characters before the comma`;
const MEDIA_TYPE = /^[a-z0-9.+/-]*$/i;
const PARAMETER = /^[a-z0-9-]+=[^;,]*$/i;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$|^[A-Za-z0-9_-]+={0,2}$/;

function parseKeyframe(value: string, ctx: z.RefinementCtx): KeyframeReference | typeof z.NEVER {
  const text = value.trim();
  if (looksLikeUploadReference(text)) {
    const id = parseUploadReference(text);
    if (id) return { kind: 'upload', id };
    ctx.addIssue({ code: 'custom', message: `is not an upload reference: send the image_url POST /luma/uploads returned (${UPLOAD_REFERENCE_PREFIX}<id>)` });
    return z.NEVER;
  }
  if (/^[a-z][a-z0-9+.-]*:/i.test(text) && !/^data:/i.test(text)) {
    return parseKeyframeUrl(text, ctx);
  }
  const dataUri = /^data:/i.test(text) ? parseDataUri(text) : undefined;
  if (typeof dataUri === 'string') {
    ctx.addIssue({ code: 'custom', message: dataUri });
    return z.NEVER;
  }
  const base64 = (dataUri ? dataUri.payload : text).replace(/\s+/g, '');
  if (!base64 || !BASE64.test(base64)) {
    ctx.addIssue({ code: 'custom', message: 'must be an http(s) URL or a Base64-encoded PNG, JPEG or WebP image' });
    return z.NEVER;
  }
  // Checked before decoding, so an oversized body costs no memory: 4 Base64 characters carry 3 bytes.
  const padding = base64.endsWith('==') ? 2 : base64.endsWith('=') ? 1 : 0;
  if (Math.floor((base64.length * 3) / 4) - padding > MAX_KEYFRAME_BYTES) {
    ctx.addIssue({ code: 'too_big', maximum: MAX_KEYFRAME_BYTES, origin: 'string', message: KEYFRAME_TOO_LARGE });
    return z.NEVER;
  }
  const bytes = Buffer.from(base64, base64.includes('-') || base64.includes('_') ? 'base64url' : 'base64');
  const info = readImageInfo(bytes);
  if (!info) {
    ctx.addIssue({ code: 'custom', message: 'Base64 data is not a PNG, JPEG or WebP image' });
    return z.NEVER;
  }
  return { kind: 'inline', bytes, ...info };
}

/**
 * `data:[<media type>][;<name>=<value>]…;base64,<payload>`, or what is wrong with it. The header is found
 * with indexOf and read only up to a fixed length, then split: no regular expression runs over a header a
 * client made long (a backtracking one over a million `;a=` overflowed the stack).
 */
function parseDataUri(text: string): { payload: string } | string {
  const comma = text.slice(0, 'data:'.length + DATA_URI_HEADER_MAX_LENGTH + 1).indexOf(',');
  if (comma === -1) return DATA_URI_SHAPE;
  const [mediaType = '', ...parameters] = text.slice('data:'.length, comma).split(';');
  if (parameters.pop()?.toLowerCase() !== 'base64' || !MEDIA_TYPE.test(mediaType) || !parameters.every((p) => PARAMETER.test(p))) {
    return DATA_URI_SHAPE;
  }
  if (mediaType && !/^image\//i.test(mediaType)) return `data URI must carry an image, not ${mediaType.slice(0, 50)}`;
  return { payload: text.slice(comma + 1) };
}

function parseKeyframeUrl(text: string, ctx: z.RefinementCtx): KeyframeInput | typeof z.NEVER {
  if (text.length > KEYFRAME_URL_MAX_LENGTH) {
    ctx.addIssue({ code: 'custom', message: `URL is longer than ${KEYFRAME_URL_MAX_LENGTH} characters` });
    return z.NEVER;
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    ctx.addIssue({ code: 'custom', message: 'is not a valid URL' });
    return z.NEVER;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    ctx.addIssue({ code: 'custom', message: 'URL must use http or https' });
    return z.NEVER;
  }
  if (carriesCredentials(url)) {
    ctx.addIssue({ code: 'custom', message: 'URL must not carry credentials' });
    return z.NEVER;
  }
  return { kind: 'url', url: url.href };
}

const keyframe = z.string().min(1, 'must not be empty').transform(parseKeyframe);

/**
 * One of Luma's values for a choice: an unknown value lists what this gateway offers; a value Luma knows
 * but the operator does not offer says so, so the client can tell a typo from a gateway's policy.
 */
function offered<const T extends readonly [string, ...string[]]>(field: string, values: T, allowed: readonly T[number][]) {
  const list = allowed.join(', ');
  return z
    .enum(values, { error: `must be one of ${list}` })
    .superRefine((value, ctx) => {
      if (!allowed.includes(value)) ctx.addIssue({ code: 'custom', message: `${field} ${value} is not offered by this gateway; allowed: ${list}` });
    })
    .optional();
}

/** A webhook URL the policy lets the gateway call. */
function callbackUrl(policy: CallbackPolicy) {
  return z
    .string({ error: 'must be a string' })
    .trim()
    .min(1, 'must not be empty')
    .superRefine((value, ctx) => {
      const problem = callbackUrlProblem(value, policy);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    });
}

const callbackEvents = z
  .array(z.enum(WEBHOOK_EVENTS, { error: `must be one of ${WEBHOOK_EVENTS.join(', ')}` }), { error: `must be a list of ${WEBHOOK_EVENTS.join(', ')}` })
  .min(1, `must name at least one of ${WEBHOOK_EVENTS.join(', ')}`)
  .max(WEBHOOK_EVENTS.length * 2, `must be a list of ${WEBHOOK_EVENTS.join(', ')}`)
  .transform((events) => WEBHOOK_EVENTS.filter((event) => events.includes(event)));

/**
 * The request schema of a deployment that offers `offer` (its operator's allowed models, resolutions,
 * durations) and calls webhooks under `callbacks` (deployed: https on public addresses only).
 */
export function generationRequestSchemaFor(offer: GenerationOffer, callbacks: CallbackPolicy = DEPLOYED_CALLBACK_POLICY) {
  return z
    .object({
      user_prompt: z
        .string({ error: (issue) => (issue.input === undefined ? 'is required' : 'must be a string') })
        .trim()
        .min(PROMPT_MIN_LENGTH, `must be ${PROMPT_MIN_LENGTH} to ${PROMPT_MAX_LENGTH} characters`)
        .max(PROMPT_MAX_LENGTH, `must be ${PROMPT_MIN_LENGTH} to ${PROMPT_MAX_LENGTH} characters`)
        // A lone surrogate is not text: stores and the upstream may refuse it, so it becomes U+FFFD here.
        .transform((prompt) => prompt.toWellFormed()),
      expand_prompt: z.boolean().optional(),
      loop: z.boolean().optional(),
      image_url: keyframe.nullish(),
      // The aggregator documents this as "boolean, default false" but describes a URL: take the URL, read false as "none".
      image_end_url: z
        .union([z.literal(false), z.string().min(1, 'must not be empty')], { error: 'must be an http(s) URL, Base64 image, or false' })
        .nullish()
        .transform((value, ctx) => (typeof value === 'string' ? parseKeyframe(value, ctx) : undefined)),
      aspect_ratio: z.enum(LUMA_ASPECT_RATIOS, { error: `must be one of ${LUMA_ASPECT_RATIOS.join(', ')}` }).optional(),
      model: offered('model', LUMA_MODELS, offer.model.allowed),
      resolution: offered('resolution', LUMA_RESOLUTIONS, offer.resolution.allowed),
      duration: offered('duration', LUMA_DURATIONS, offer.duration.allowed),
      callback_url: callbackUrl(callbacks).nullish(),
      callback_events: callbackEvents.optional(),
    })
    .refine((body) => !(body.loop && body.image_end_url), {
      message: 'loop cannot be combined with image_end_url: the upstream cannot loop towards an end frame',
      path: ['loop'],
    })
    .refine((body) => !(body.callback_events && !body.callback_url), {
      message: 'needs a callback_url to send them to',
      path: ['callback_events'],
    });
}

/** The schema with everything Luma offers allowed: a deployment whose operator restricts nothing. */
export const generationRequestSchema = generationRequestSchemaFor(FULL_OFFER);

/** The body as the schema reads it: keyframes may still name uploads. */
export type GenerationRequestBody = z.output<typeof generationRequestSchema>;

/** The body with its uploads resolved: what a generation is created from. */
export type GenerationRequest = Omit<GenerationRequestBody, 'image_url' | 'image_end_url'> & {
  image_url?: KeyframeInput | null;
  image_end_url?: KeyframeInput;
};

export interface ValidationIssue {
  field: string;
  message: string;
}

/** Turns zod's issues into a short list a client can show: `{ field: 'user_prompt', message: '…' }`. */
export function describeIssues(error: z.ZodError): ValidationIssue[] {
  return error.issues.map((issue) => ({
    field: issue.path.map(String).join('.') || '(body)',
    message: issue.message,
  }));
}
