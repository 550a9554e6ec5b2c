/**
 * Copies a finished generation into the owner's bucket and completes the task. The video streams through
 * verification into a multipart upload; the thumbnail is small and read whole. Repeating a copy after a
 * crash rewrites the same keys with the same bytes, so the step is safe to retry.
 */
import { pipeline } from 'node:stream';
import { describeNetworkError } from '../commons/outbound-http.ts';
import { VerifyingMp4Stream, type VerifiedVideo } from '../commons/media/verified-stream.ts';
import { readImageInfo } from '../commons/media/image.ts';
import { outputKeys, TransitionRefusedError, type ImageOutput, type Task } from '../commons/domain/task.ts';
import { DownloadRefusedError, GatewayError, InvalidTransitionError, TransientDownloadError } from '../commons/errors.ts';
import { objectTags } from '../commons/services/submit.ts';
import { log } from '../commons/log.ts';
import { recordMetric } from '../commons/observability/metrics.ts';
import type { TaskStore, TransitionResult } from '../commons/ports/task-store.ts';
import type { MediaStore, ObjectTags } from '../commons/ports/media-store.ts';
import type { AssetDownloader, DownloadOptions } from '../commons/ports/asset-downloader.ts';
import type { WorkflowInput } from '../commons/ports/workflow.ts';

export const MAX_THUMBNAIL_BYTES = 10 * 1024 * 1024;
/**
 * Kept back from every download for what follows it: the upload's last part and its completion, the
 * thumbnail's put, the task's write. A download that would need this time gives up first, as a
 * TransientDownloadError the workflow retries, rather than being cut off by Lambda as Sandbox.Timedout.
 */
export const COPY_FINISH_MARGIN_MS = 60_000;
/** Less than this left for a download: not worth starting one. */
const MIN_DOWNLOAD_MS = 1_000;
const VIDEO_TYPES = new Set(['video/mp4', 'application/octet-stream', 'binary/octet-stream', '']);
const GENERIC_TYPES = new Set(['application/octet-stream', 'binary/octet-stream', '']);

export interface CopyDeps {
  tasks: TaskStore;
  media: MediaStore;
  maxVideoBytes: number;
  downloadTimeoutMs: number;
  /** Fetches only what ASSET_HOST_ALLOWLIST allows, from public addresses (see policy/asset-policy.ts). */
  downloads: AssetDownloader;
  /** Milliseconds the invocation has left (Lambda's `context.getRemainingTimeInMillis`); unset: no limit but the configured one. */
  remainingTimeMs?: () => number;
}

/** A download's timeout: the configured one, or what the invocation has left less COPY_FINISH_MARGIN_MS. */
function downloadTimeoutMs(deps: CopyDeps, what: string): number {
  if (!deps.remainingTimeMs) return deps.downloadTimeoutMs;
  const budget = deps.remainingTimeMs() - COPY_FINISH_MARGIN_MS;
  if (budget < MIN_DOWNLOAD_MS) {
    throw new TransientDownloadError(`The copy ran out of time before the ${what} download (its Lambda timeout is near); it will be tried again.`);
  }
  return Math.min(deps.downloadTimeoutMs, budget);
}

export async function copyOutput(input: WorkflowInput, deps: CopyDeps): Promise<{ taskId: string; next: 'completed' }> {
  const task = await deps.tasks.get(input.taskId);
  if (task?.status === 'completed') return { taskId: input.taskId, next: 'completed' };
  if (!task || task.status !== 'copying' || !task.upstreamAssets) {
    throw new InvalidTransitionError(`Task ${input.taskId} is not ready to be copied (${task?.status ?? 'missing'}).`);
  }
  // Both URLs are checked before anything is fetched, so a refused thumbnail leaves no video behind.
  deps.downloads.checkAssetUrl(task.upstreamAssets.videoUrl);
  if (task.upstreamAssets.imageUrl) deps.downloads.checkAssetUrl(task.upstreamAssets.imageUrl);
  const tags = objectTags(task.id, task.owner, task.request.prompt);
  const keys = outputKeys(task.id);
  const started = performance.now();
  const video = await copyVideo(task.upstreamAssets.videoUrl, keys.video, tags, deps);
  recordMetric('copyThroughput', video.sizeBytes / 1_048_576 / Math.max((performance.now() - started) / 1000, 0.001));
  const thumbnail = task.upstreamAssets.imageUrl
    ? await copyThumbnail(task, task.upstreamAssets.imageUrl, keys.thumbnail, tags, deps)
    : undefined;
  let completed: TransitionResult;
  try {
    completed = await deps.tasks.transition(task.id, {
      to: 'completed',
      output: {
        videoKey: keys.video,
        sizeBytes: video.sizeBytes,
        sha256: video.sha256,
        width: video.width,
        height: video.height,
        durationSeconds: video.durationSeconds,
        thumbnail,
      },
    });
  } catch (error) {
    if (error instanceof TransitionRefusedError) await discard(task.id, deps, 'deleted'); // its owner deleted it meanwhile
    throw error;
  }
  if (completed.task.status !== 'completed') {
    // Ended while the copy ran (its owner cancelled it): what the copy stored belongs to no completed task.
    await discard(task.id, deps, completed.task.status);
    throw new InvalidTransitionError(`Task ${task.id} became ${completed.task.status} while it was copied; the copy was discarded.`);
  }
  log({ msg: 'copied', taskId: task.id, bytes: video.sizeBytes });
  return { taskId: task.id, next: 'completed' };
}

/** Removes the outputs a copy stored for a task that will never show them. */
async function discard(taskId: string, deps: CopyDeps, why: string): Promise<void> {
  const keys = outputKeys(taskId);
  await deps.media.removeObjects([keys.video, keys.thumbnail]);
  log({ level: 'warn', msg: 'copy discarded', taskId, status: why });
}

async function copyVideo(url: string, key: string, tags: ObjectTags, deps: CopyDeps): Promise<VerifiedVideo> {
  const options: DownloadOptions = { timeoutMs: downloadTimeoutMs(deps, 'video'), maxBytes: deps.maxVideoBytes };
  const download = await deps.downloads.open(url, options);
  if (!VIDEO_TYPES.has(download.contentType)) {
    download.body.destroy();
    throw new TransientDownloadError(`The video URL served ${download.contentType}, not video/mp4.`);
  }
  const verifier = new VerifyingMp4Stream({ expectedBytes: download.contentLength, maxBytes: deps.maxVideoBytes });
  // Errors are read from the streams themselves (`errored`), not from the pipeline's callback, whose
  // timing relative to the upload's rejection is not something to rely on.
  const body = pipeline(download.body, verifier, () => undefined);
  try {
    await deps.media.upload(key, body, 'video/mp4', tags);
  } catch (error) {
    const streamError = verifier.errored ?? download.body.errored;
    const cause = streamError ?? error;
    if (cause instanceof GatewayError) throw cause;
    // The connection to the asset host broke mid-stream: worth another try from scratch.
    if (streamError) throw new TransientDownloadError(`The video download was interrupted (${describeNetworkError(cause)}).`, { cause });
    throw error;
  }
  return verifier.result;
}

/**
 * A thumbnail is a convenience: if it cannot be had, the task still completes with its video. A URL the
 * policy refuses is not a missing thumbnail but an upstream pointing us somewhere it must not: it fails the task.
 */
async function copyThumbnail(task: Task, url: string, key: string, tags: ObjectTags, deps: CopyDeps): Promise<ImageOutput | undefined> {
  try {
    // Out of time here is a thumbnail skipped like any other: the video is stored, and worth completing.
    const download = await deps.downloads.open(url, { timeoutMs: downloadTimeoutMs(deps, 'thumbnail'), maxBytes: MAX_THUMBNAIL_BYTES });
    if (!download.contentType.startsWith('image/') && !GENERIC_TYPES.has(download.contentType)) {
      download.body.destroy();
      throw new Error(`thumbnail URL served ${download.contentType}, not an image`);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of download.body) {
      size += (chunk as Buffer).length;
      if (size > MAX_THUMBNAIL_BYTES) throw new Error('thumbnail too large');
      chunks.push(chunk as Buffer);
    }
    const bytes = Buffer.concat(chunks);
    const info = readImageInfo(bytes);
    if (!info) throw new Error(`thumbnail is not an image (${download.contentType})`);
    await deps.media.putObject(key, bytes, info.type, tags);
    return { key, contentType: info.type, width: info.width, height: info.height, sizeBytes: bytes.length };
  } catch (error) {
    if (error instanceof DownloadRefusedError) throw error;
    log({ level: 'warn', msg: 'thumbnail not copied', taskId: task.id, reason: describeNetworkError(error) });
    return undefined;
  }
}
