/**
 * The generation object the aggregator API returns from both POST and GET: the union of the Luma web-app
 * generation (id, state, video, …) and the Kling-style envelope (code, request_id, data), so that clients
 * written for either shape work. The zod schema (public-generation-schema.ts) is the contract; tests parse
 * real responses with it. This module, the mapping from a task, bundles no zod: the functions that only
 * show a generation (a webhook's delivery) do not build the schema.
 */
import type { Task, TaskStatus } from './task.ts';
import type { PublicGeneration } from './public-generation-schema.ts';

export const PUBLIC_STATES = ['pending', 'processing', 'completed', 'failed'] as const;
export type PublicState = (typeof PUBLIC_STATES)[number];

export type { PublicGeneration } from './public-generation-schema.ts';

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
