/**
 * A copy that outlives its task's end: the task was cancelled (or cancelled and deleted) while the video
 * streamed into the bucket. The cancel stands — the store's transition refuses the completion — and what
 * the copy stored is removed, since no task will ever show it.
 */
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { copyOutput, type CopyDeps } from '../../../functions/copy/copy-output.ts';
import { newTask, TransitionRefusedError, type Task } from '../../../functions/commons/domain/task.ts';
import { InvalidTransitionError } from '../../../functions/commons/errors.ts';
import type { TransitionResult } from '../../../functions/commons/ports/task-store.ts';

const ID = '0b4f1c2e-1111-4000-8000-000000000003';
const SAMPLE_MP4 = readFileSync(new URL('../../../local/assets/sample.mp4', import.meta.url));
const copying: Task = {
  ...newTask({ id: ID, owner: 'o', request: { prompt: 'a prompt' }, provider: 'luma', model: 'ray-2', now: new Date(), timeoutSeconds: 1800 }),
  status: 'copying',
  upstreamId: 'gen-1',
  upstreamAssets: { videoUrl: 'https://storage.cdn-luma.com/v.mp4' },
};
const cancelled: Task = { ...copying, status: 'failed', failure: { code: 'cancelled', reason: 'Cancelled by its owner.' } };

beforeAll(() => void vi.spyOn(console, 'log').mockImplementation(() => undefined));
afterAll(() => void vi.restoreAllMocks());

function deps(transition: () => Promise<TransitionResult>, events: string[]): CopyDeps {
  return {
    tasks: { get: async () => copying, transition: async () => (events.push('transition'), transition()) } as unknown as CopyDeps['tasks'],
    media: {
      upload: async (key: string, body: Readable) => {
        for await (const _ of body);
        events.push(`upload ${key}`);
      },
      removeObjects: async (keys: readonly string[]) => void events.push(`remove ${keys.join(' ')}`),
    } as unknown as CopyDeps['media'],
    maxVideoBytes: SAMPLE_MP4.length,
    downloadTimeoutMs: 60_000,
    downloads: {
      checkAssetUrl: () => undefined,
      open: async () => ({ body: Readable.from([SAMPLE_MP4]), contentType: 'video/mp4', contentLength: SAMPLE_MP4.length }),
    } as unknown as CopyDeps['downloads'],
  };
}

describe('copyOutput after its task ended', () => {
  it('cancelled meanwhile: the cancel stands, the stored outputs are removed, and the step fails as a refused transition', async () => {
    const events: string[] = [];
    const error = await copyOutput({ taskId: ID }, deps(async () => ({ task: cancelled, changed: false }), events)).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(InvalidTransitionError);
    expect(events).toEqual([`upload generations/${ID}/video.mp4`, 'transition', `remove generations/${ID}/video.mp4 generations/${ID}/thumbnail.jpg`]);
  });

  it('deleted meanwhile: the outputs are removed as well', async () => {
    const events: string[] = [];
    const gone = async (): Promise<TransitionResult> => {
      throw new TransitionRefusedError(`Task ${ID} does not exist.`);
    };
    await expect(copyOutput({ taskId: ID }, deps(gone, events))).rejects.toBeInstanceOf(TransitionRefusedError);
    expect(events.at(-1)).toBe(`remove generations/${ID}/video.mp4 generations/${ID}/thumbnail.jpg`);
  });

  it('a repeat of a copy that completed the task keeps everything', async () => {
    const events: string[] = [];
    const completed = { ...copying, status: 'completed' as const };
    expect(await copyOutput({ taskId: ID }, deps(async () => ({ task: completed, changed: false }), events))).toEqual({ taskId: ID, next: 'completed' });
    expect(events.some((event) => event.startsWith('remove'))).toBe(false);
  });
});
