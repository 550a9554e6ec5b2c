/**
 * The examples of the OpenAPI document, made by the very code that makes real answers: example tasks go
 * through the response builder (public-generation.ts), and the invalid body through the request schema and the
 * issue list a 400 carries. So an example cannot drift from what the gateway sends.
 */
import { applyChange, newTask, type Task } from './task.ts';
import { toPublicGeneration, type OutputLinks, type PublicGeneration } from './public-generation.ts';
import { describeIssues, generationRequestSchema } from './generation-request.ts';
import type { ErrorBody } from './error-body.ts';
import type { UploadTicket } from './upload.ts';
import { encodeCursor, type GenerationList } from './generation-list.ts';
import { CANCELLED_BY_OWNER } from './failure.ts';

const ID = '9c498cfd-4e0e-44af-948b-2cc00254370e';
const REQUEST_ID = '17527ffd-5498-420b-b1c4-e854a8d713b5';
const CREATED = new Date('2026-11-25T15:21:11.930Z');
const PROMPT = 'Cinematic shot of a tranquil indoor pool room. A graceful pink flamingo stands in clear turquoise water.';
const BUCKET = 'https://luma-gateway-videos-123456789012.s3.eu-west-1.amazonaws.com';
const SIGNED = 'X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=3600&X-Amz-Signature=…';

export const exampleRequests = {
  classic: {
    summary: 'The aggregator format’s classic request: a prompt and a start keyframe by URL',
    value: { user_prompt: PROMPT, expand_prompt: true, image_url: 'https://img.upanh.tv/2025/05/23/b69ee84d-849d-48c0-863a-40b646190dd6.png' },
  },
  choices: {
    summary: 'Aspect ratio, resolution and duration chosen',
    value: { user_prompt: 'A lighthouse at dusk, waves rolling in', aspect_ratio: '16:9', resolution: '1080p', duration: '9s', model: 'ray-2' },
  },
  upload: {
    summary: 'Keyframes that were uploaded first (POST /luma/uploads)',
    value: {
      user_prompt: 'A paper boat drifting down a rainy street',
      image_url: 'upload:56903646-3e56-4b11-9181-0cc51211fd27',
      image_end_url: 'upload:0b9e3a52-7d1c-4f4e-9a63-3c1a2f6d8e10',
    },
  },
};

function exampleTask(id = ID, prompt = PROMPT, at = CREATED): Task {
  return newTask({
    id,
    owner: 'own_example',
    request: { prompt, aspectRatio: '16:9', resolution: '720p', duration: '5s' },
    provider: 'luma',
    model: 'ray-2',
    now: at,
    timeoutSeconds: 86_400,
  });
}

const later = (seconds: number, from = CREATED) => new Date(from.getTime() + seconds * 1000).toISOString();

function completed(task: Task): { task: Task; links: OutputLinks } {
  const base = `${BUCKET}/generations/${task.id}`;
  let done = applyChange(task, { to: 'submitted', upstreamId: 'e1b3c2d4-0000-4000-8000-00000000aa01' }, later(1));
  done = applyChange(done, { to: 'dreaming' }, later(20));
  done = applyChange(done, { to: 'copying', assets: { videoUrl: 'https://storage.cdn-luma.com/dream_machine/…/video.mp4' } }, later(70));
  done = applyChange(
    done,
    {
      to: 'completed',
      output: {
        videoKey: `generations/${task.id}/video.mp4`,
        sizeBytes: 2_345_678,
        sha256: '91685b2a809f5ff8e121a0c62bc6171cbce3904221fe8eb9f34a185aa7c0b5b8',
        width: 1280,
        height: 720,
        durationSeconds: 5.04,
        thumbnail: { key: `generations/${task.id}/thumbnail.jpg`, contentType: 'image/jpeg', width: 1280, height: 720, sizeBytes: 48_211 },
      },
    },
    later(74),
  );
  const links = {
    videoUrl: `${base}/video.mp4?${SIGNED}`,
    videoDownloadUrl: `${base}/video.mp4?response-content-disposition=attachment%3B%20filename%3D%22${task.id}.mp4%22&${SIGNED}`,
    thumbnailUrl: `${base}/thumbnail.jpg?${SIGNED}`,
  };
  return { task: done, links };
}

const pending = toPublicGeneration(exampleTask(), undefined, REQUEST_ID);
const queued = toPublicGeneration(exampleTask(), undefined, REQUEST_ID, 3);
const processing = toPublicGeneration(
  applyChange(applyChange(exampleTask(), { to: 'submitted', upstreamId: 'e1b3c2d4-0000-4000-8000-00000000aa01' }, later(1)), { to: 'dreaming' }, later(20)),
  undefined,
  REQUEST_ID,
);
const done = completed(exampleTask());
const completedGeneration = toPublicGeneration(done.task, done.links, REQUEST_ID);
const failed = toPublicGeneration(
  applyChange(
    exampleTask('3f1c9b7e-5a2d-4c8e-b6f0-1d2e3f4a5b6c', 'A famous cartoon mouse dancing'),
    { to: 'failed', failure: { code: 'moderation', reason: 'The upstream’s moderation refused the prompt: Prompt not allowed' } },
    later(3),
  ),
  undefined,
  REQUEST_ID,
);
const cancelled = toPublicGeneration(
  applyChange(exampleTask(), { to: 'failed', failure: CANCELLED_BY_OWNER }, later(9)),
  undefined,
  REQUEST_ID,
);

export const exampleGenerations: Record<string, { summary: string; value: PublicGeneration }> = {
  pending: { summary: 'Just created: pending', value: pending },
  queued: { summary: 'Waiting for an upstream slot: third of the caller’s own queued tasks', value: queued },
  processing: { summary: 'Being generated upstream', value: processing },
  completed: { summary: 'Completed: the video and thumbnail in the gateway’s bucket, presigned', value: completedGeneration },
  failed: { summary: 'Failed: refused by the upstream’s moderation', value: failed },
};

export const exampleCancelled = { summary: 'Cancelled by its owner', value: cancelled };

const second = completed(exampleTask('5b0e2f4a-1c3d-4e5f-8a9b-0c1d2e3f4a5b', 'A heron lifting off a misty pond', new Date('2026-11-25T15:20:02.114Z')));
const page: GenerationList = {
  data: [pending, toPublicGeneration(second.task, second.links, REQUEST_ID)],
  next_cursor: encodeCursor(`${second.task.createdAt}#${second.task.id}`),
};
export const exampleList = { summary: 'The newest two, and a cursor to the rest', value: page };

export const exampleUploadRequest = { summary: 'An 8 MiB PNG', value: { content_type: 'image/png', size_bytes: 8_388_608 } };

const ticket: UploadTicket = {
  upload_url: `${BUCKET}/inputs/uploads/56903646-3e56-4b11-9181-0cc51211fd27?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=900&X-Amz-SignedHeaders=content-length%3Bcontent-type%3Bhost&x-id=PutObject&X-Amz-Signature=…`,
  method: 'PUT',
  headers: { 'content-type': 'image/png', 'content-length': '8388608' },
  image_url: 'upload:56903646-3e56-4b11-9181-0cc51211fd27',
  expires_at: '2026-11-30T02:14:26.000Z',
  upload_expires_at: '2026-11-30T01:29:26.000Z',
  content_type: 'image/png',
  size_bytes: 8_388_608,
};
export const exampleUploadTicket = { summary: 'Where and how to PUT the file', value: ticket };

const invalid = generationRequestSchema.safeParse({ user_prompt: 'hi', aspect_ratio: '2:1' });
const error = (code: string, message: string, details?: ErrorBody['error']['details']): ErrorBody => ({
  error: { code, message, ...(details && { details }) },
});

/** One example per error answer, keyed by status. */
export const exampleErrors: Record<string, { summary: string; value: ErrorBody }> = {
  400: {
    summary: 'An invalid body: each field named',
    value: error('invalid_request', 'The request body is invalid.', invalid.success ? [] : describeIssues(invalid.error)),
  },
  401: { summary: 'No key, or an unknown or revoked one', value: error('unauthorized', 'Missing or invalid API key. Send "Authorization: Bearer <key>".') },
  404: { summary: 'No such task (or another key owner’s)', value: error('not_found', 'No generation with that id.') },
  405: { summary: 'A method the path does not take', value: error('method_not_allowed', 'PUT is not supported here; use POST.') },
  409: { summary: 'The first request with this Idempotency-Key is still being served', value: error('idempotency_in_progress', 'A request with this Idempotency-Key is still being served; retry shortly.') },
  413: {
    summary: 'A body over the limit',
    value: error('payload_too_large', 'The body has 5000000 bytes; this API takes at most 4.125 MiB (4,325,376 bytes).', { limit_bytes: 4_325_376 }),
  },
  415: { summary: 'A body that is not JSON', value: error('unsupported_media_type', 'Send the body as JSON with the header "Content-Type: application/json".') },
  422: { summary: 'An Idempotency-Key reused with another body', value: error('idempotency_key_reused', 'This Idempotency-Key was used with a different body.') },
  429: { summary: 'A per-key limit, or the edge’s per-client limit', value: error('rate_limited', 'Too many requests with this API key: at most 3000 a minute. Retry after 60 seconds.') },
  502: { summary: 'The upstream refused the gateway’s own Luma account', value: error('upstream_rejected', 'The upstream refused the gateway’s Luma API key (HTTP 401): the operator must put a valid key in the secret.') },
  503: { summary: 'The gateway’s own storage kept throttling it', value: error('service_unavailable', 'The service is busy; try again.') },
};

export const exampleAlreadyFinished = {
  summary: 'The task had already finished',
  value: error('already_finished', `Generation ${ID} has already completed; there is nothing to cancel.`, { state: 'completed', failure_code: null }),
};
