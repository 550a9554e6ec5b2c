/**
 * The copy never runs past its own Lambda timeout: each download's timeout is the configured one, or less
 * when the invocation has less time left than that plus a margin for finishing the upload and recording
 * the task. Out of time is a TransientDownloadError (the workflow retries the copy), never Sandbox.Timedout.
 */
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { COPY_FINISH_MARGIN_MS, copyOutput, type CopyDeps } from '../../../functions/copy/copy-output.ts';
import { newTask, type Task } from '../../../functions/commons/domain/task.ts';
import { TransientDownloadError } from '../../../functions/commons/errors.ts';
import type { DownloadOptions } from '../../../functions/commons/ports/asset-downloader.ts';

const ID = '0b4f1c2e-1111-4000-8000-000000000002';
const copying: Task = {
  ...newTask({ id: ID, owner: 'o', request: { prompt: 'a prompt' }, provider: 'luma', model: 'ray-2', now: new Date(), timeoutSeconds: 1800 }),
  status: 'copying',
  upstreamId: 'gen-1',
  upstreamAssets: { videoUrl: 'https://storage.cdn-luma.com/v.mp4' },
};

/** Where the copy's downloads were opened, and with what; the first open ends the copy with `Stop`. */
class Stop extends Error {}
function deps(remainingMs: number | undefined, opened: DownloadOptions[]): CopyDeps {
  return {
    tasks: { get: async () => copying } as unknown as CopyDeps['tasks'],
    media: {} as CopyDeps['media'],
    maxVideoBytes: 1024,
    downloadTimeoutMs: 600_000,
    downloads: {
      checkAssetUrl: () => undefined,
      open: async (_url: string, options: DownloadOptions) => {
        opened.push(options);
        throw new Stop();
      },
    } as unknown as CopyDeps['downloads'],
    ...(remainingMs !== undefined && { remainingTimeMs: () => remainingMs }),
  };
}

describe('copyOutput: downloads budgeted from the invocation’s remaining time', () => {
  it('plenty of time: the configured download timeout', async () => {
    const opened: DownloadOptions[] = [];
    await expect(copyOutput({ taskId: ID }, deps(900_000, opened))).rejects.toBeInstanceOf(Stop);
    expect(opened[0]!.timeoutMs).toBe(600_000);
  });

  it('less time left than that: what is left, less the margin for finishing', async () => {
    const opened: DownloadOptions[] = [];
    await expect(copyOutput({ taskId: ID }, deps(COPY_FINISH_MARGIN_MS + 90_000, opened))).rejects.toBeInstanceOf(Stop);
    expect(opened[0]!.timeoutMs).toBe(90_000);
  });

  it('no time left for a download: a TransientDownloadError, before anything is fetched', async () => {
    const opened: DownloadOptions[] = [];
    const error = await copyOutput({ taskId: ID }, deps(COPY_FINISH_MARGIN_MS + 500, opened)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransientDownloadError);
    expect((error as Error).message).toMatch(/time/);
    expect(opened).toEqual([]);
  });
});

describe('copyOutput: the thumbnail is budgeted too', () => {
  const SAMPLE_MP4 = readFileSync(new URL('../../../local/assets/sample.mp4', import.meta.url));

  it('after the video, with the time left then; out of time it is skipped and the task completes with its video', async () => {
    const withThumbnail: Task = { ...copying, upstreamAssets: { videoUrl: 'https://storage.cdn-luma.com/v.mp4', imageUrl: 'https://storage.cdn-luma.com/t.jpg' } };
    let remaining = 900_000;
    const opened: { url: string; timeoutMs: number }[] = [];
    const completed: unknown[] = [];
    const result = await copyOutput(
      { taskId: ID },
      {
        tasks: { get: async () => withThumbnail, transition: async (_id: string, change: unknown) => (completed.push(change), { task: { ...withThumbnail, status: 'completed' }, changed: true }) } as unknown as CopyDeps['tasks'],
        media: {
          upload: async (_key: string, body: Readable) => {
            for await (const _ of body); // the video takes all but a moment of the invocation's time
            remaining = COPY_FINISH_MARGIN_MS + 200;
          },
        } as unknown as CopyDeps['media'],
        maxVideoBytes: SAMPLE_MP4.length,
        downloadTimeoutMs: 600_000,
        downloads: {
          checkAssetUrl: () => undefined,
          open: async (url: string, options: DownloadOptions) => {
            opened.push({ url, timeoutMs: options.timeoutMs });
            return { body: Readable.from([SAMPLE_MP4]), contentType: 'video/mp4', contentLength: SAMPLE_MP4.length };
          },
        } as unknown as CopyDeps['downloads'],
        remainingTimeMs: () => remaining,
      },
    );
    expect(result).toEqual({ taskId: ID, next: 'completed' });
    expect(opened.map((o) => o.url)).toEqual(['https://storage.cdn-luma.com/v.mp4']); // the thumbnail was not started
    expect(completed).toEqual([expect.objectContaining({ to: 'completed', output: expect.objectContaining({ thumbnail: undefined }) })]);
  });
});
