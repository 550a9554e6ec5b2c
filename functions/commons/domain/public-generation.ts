/**
 * The generation object the aggregator API returns from both POST and GET: the union of the Luma web-app
 * generation (id, state, video, …) and the Kling-style envelope (code, request_id, data), so that clients
 * written for either shape work. The zod schema is the contract; tests parse real responses with it.
 */
// A namespace import: `import { z }` keeps all of zod (every locale) in a bundle, this only what is used.
import * as z from 'zod';
import type { Task, TaskStatus } from './task.ts';
import { FAILURE_CODES } from './failure.ts';
import { LUMA_ASPECT_RATIOS, LUMA_DURATIONS, LUMA_RESOLUTIONS } from './luma-options.ts';

export const PUBLIC_STATES = ['pending', 'processing', 'completed', 'failed'] as const;
export type PublicState = (typeof PUBLIC_STATES)[number];

const media = z.object({ url: z.string(), width: z.number().int().nullable(), height: z.number().int().nullable() });

export const publicGenerationSchema = z.object({
  id: z.string(),
  state: z.enum(PUBLIC_STATES),
  created_at: z.string(),
  prompt: z.string(),
  /**
   * What the task is generated with: the request's choice or the gateway's default (`ray-2`, `720p`, `5s`
   * unless the operator set others). `resolution` and `duration` are null for tasks recorded before the
   * gateway kept them; `aspect_ratio` is null when the client chose none (the upstream's default, 16:9).
   */
  model: z.string(),
  resolution: z.enum(LUMA_RESOLUTIONS).nullable(),
  duration: z.enum(LUMA_DURATIONS).nullable(),
  aspect_ratio: z.enum(LUMA_ASPECT_RATIOS).nullable(),
  batch_id: z.string(),
  message: z.string(),
  estimate_wait_seconds: z.number().nullable(),
  last_frame: media.nullable(),
  liked: z.boolean().nullable(),
  /** `queued` while the task waits for an upstream slot; then null. */
  queue_state: z.enum(['queued']).nullable(),
  /** 1-based place in the line for an upstream slot, while queued. */
  queue_position: z.number().int().positive().nullable(),
  thumbnail: media.nullable(),
  video: media
    .extend({
      duration: z.number().nullable(),
      size_bytes: z.number().int(),
      sha256: z.string(),
      download_url: z.string(),
      thumbnail: z.string().nullable(),
    })
    .nullable(),
  video_raw: media.extend({ duration: z.number().nullable() }).nullable(),
  failure_reason: z.string().nullable(),
  failure_code: z.enum(FAILURE_CODES).nullable(),
  code: z.number().int(),
  request_id: z.string(),
  data: z.object({
    task_id: z.string(),
    task_status: z.enum(['submitted', 'processing', 'succeed', 'failed']),
    created_at: z.number().int(),
    updated_at: z.number().int(),
  }),
});

export type PublicGeneration = z.infer<typeof publicGenerationSchema>;

/** Time-limited links to the stored output, made by the storage adapter for the task's owner. */
export interface OutputLinks {
  videoUrl: string;
  videoDownloadUrl: string;
  thumbnailUrl?: string;
}

export function publicState(status: TaskStatus): PublicState {
  switch (status) {
    case 'accepted':
    case 'submitted':
      return 'pending';
    case 'dreaming':
    case 'copying':
      return 'processing';
    default:
      return status;
  }
}

const KLING_STATUS: Record<PublicState, PublicGeneration['data']['task_status']> = {
  pending: 'submitted',
  processing: 'processing',
  completed: 'succeed',
  failed: 'failed',
};

const MESSAGES: Record<TaskStatus, string> = {
  accepted: 'Generation accepted; waiting to be submitted upstream',
  submitted: 'Generation queued upstream',
  dreaming: 'Generation in progress',
  copying: 'Generation finished; storing the video',
  completed: 'Generation completed',
  failed: 'Generation failed',
};

/** The aggregator's timestamps carry microseconds (`2025-05-23T07:05:23.342674Z`); ours have milliseconds. */
export function publicTimestamp(iso: string): string {
  return iso.replace(/\.(\d{3})Z$/, '.$1000Z');
}

const epochSeconds = (iso: string) => Math.floor(Date.parse(iso) / 1000);

export function toPublicGeneration(
  task: Task,
  links: OutputLinks | undefined,
  requestId: string,
  queuePosition?: number,
): PublicGeneration {
  const state = publicState(task.status);
  const output = task.status === 'completed' ? task.output : undefined;
  const thumbnail =
    output?.thumbnail && links?.thumbnailUrl
      ? { url: links.thumbnailUrl, width: output.thumbnail.width, height: output.thumbnail.height }
      : null;
  return {
    id: task.id,
    state,
    created_at: publicTimestamp(task.createdAt),
    prompt: task.request.prompt,
    model: task.model,
    resolution: task.request.resolution ?? null,
    duration: task.request.duration ?? null,
    aspect_ratio: task.request.aspectRatio ?? null,
    batch_id: '',
    message: MESSAGES[task.status],
    estimate_wait_seconds: null,
    last_frame: null,
    liked: null,
    queue_state: queuePosition === undefined ? null : 'queued',
    queue_position: queuePosition ?? null,
    thumbnail,
    video:
      output && links
        ? {
            url: links.videoUrl,
            download_url: links.videoDownloadUrl,
            width: output.width,
            height: output.height,
            duration: output.durationSeconds,
            size_bytes: output.sizeBytes,
            sha256: output.sha256,
            thumbnail: thumbnail?.url ?? null,
          }
        : null,
    video_raw: task.upstreamAssets
      ? {
          url: task.upstreamAssets.videoUrl,
          width: output?.width ?? null,
          height: output?.height ?? null,
          duration: output?.durationSeconds ?? null,
        }
      : null,
    failure_reason: task.failure?.reason ?? null,
    failure_code: task.failure?.code ?? null,
    code: 0,
    request_id: requestId,
    data: {
      task_id: task.id,
      task_status: KLING_STATUS[state],
      created_at: epochSeconds(task.createdAt),
      updated_at: epochSeconds(task.updatedAt),
    },
  };
}
