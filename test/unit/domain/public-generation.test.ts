import { describe, it, expect } from 'vitest';
import { publicState, publicTimestamp, toPublicGeneration, type OutputLinks } from '../../../functions/commons/domain/public-generation.ts';
import { publicGenerationSchema } from '../../../functions/commons/domain/public-generation-schema.ts';
import { TASK_STATUSES, applyChange, newTask, type Task, type TaskOutput, type TaskStatus } from '../../../functions/commons/domain/task.ts';

const CREATED = new Date('2025-05-23T07:05:23.342Z');
const PROMPT = 'a graceful pink flamingo in a pool';
const ASSETS = { videoUrl: 'https://upstream.example/raw.mp4', imageUrl: 'https://upstream.example/raw.jpg' };
const OUTPUT: TaskOutput = {
  videoKey: 'owner/t1/video.mp4',
  sizeBytes: 2_345_678,
  sha256: 'c0'.repeat(32),
  width: 1280,
  height: 720,
  durationSeconds: 5.04,
  thumbnail: { key: 'owner/t1/thumb.jpg', contentType: 'image/jpeg', width: 640, height: 360, sizeBytes: 12345 },
};
const LINKS: OutputLinks = {
  videoUrl: 'https://bucket.example/video.mp4?sig=1',
  videoDownloadUrl: 'https://bucket.example/video.mp4?sig=1&download=1',
  thumbnailUrl: 'https://bucket.example/thumb.jpg?sig=2',
};
const REQUEST_ID = 'req-123';

/** Every key the aggregator's 200 schema lists (plus `data`'s own). */
const PUBLIC_GENERATION_KEYS = [
  'batch_id',
  'created_at',
  'estimate_wait_seconds',
  'id',
  'last_frame',
  'liked',
  'message',
  'prompt',
  'queue_state',
  'state',
  'thumbnail',
  'video',
  'video_raw',
  'code',
  'request_id',
  'data',
];
const MICROSECONDS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

const at = (seconds: number) => new Date(CREATED.getTime() + seconds * 1000).toISOString();

function taskIn(status: TaskStatus, output: TaskOutput = OUTPUT): Task {
  let task = newTask({
    id: 'b2f7c1d0-0000-4000-8000-000000000001',
    owner: 'owner',
    request: { prompt: PROMPT, aspectRatio: '16:9' },
    provider: 'luma',
    model: 'ray-2',
    now: CREATED,
    timeoutSeconds: 3600,
  });
  if (status === 'failed') {
    return applyChange(task, { to: 'failed', failure: { code: 'moderation', reason: 'Prompt failed moderation' } }, at(9));
  }
  const path = TASK_STATUSES.slice(1, TASK_STATUSES.indexOf(status) + 1);
  for (const [index, to] of path.entries()) {
    const when = at(10 * (index + 1));
    if (to === 'submitted') task = applyChange(task, { to, upstreamId: 'up-1' }, when);
    if (to === 'dreaming') task = applyChange(task, { to }, when);
    if (to === 'copying') task = applyChange(task, { to, assets: ASSETS }, when);
    if (to === 'completed') task = applyChange(task, { to, output }, when);
  }
  return task;
}

/** What a task in each status shows: its `state`, its `data.task_status` and its `message`. */
const EXPECTED: Record<TaskStatus, readonly [state: string, taskStatus: string, message: string]> = {
  accepted: ['pending', 'submitted', 'Generation accepted; waiting to be submitted upstream'],
  submitted: ['pending', 'submitted', 'Generation queued upstream'],
  dreaming: ['processing', 'processing', 'Generation in progress'],
  copying: ['processing', 'processing', 'Generation finished; storing the video'],
  completed: ['completed', 'succeed', 'Generation completed'],
  failed: ['failed', 'failed', 'Generation failed'],
};

describe('toPublicGeneration, for a task in each status', () => {
  describe.each(TASK_STATUSES)('%s', (status) => {
    const task = taskIn(status);
    const links = status === 'completed' ? LINKS : undefined;
    const generation = toPublicGeneration(task, links, REQUEST_ID);
    const [state, taskStatus, message] = EXPECTED[status];

    it('parses with publicGenerationSchema, unchanged', () => {
      expect(publicGenerationSchema.parse(generation)).toEqual(generation);
      expect(publicGenerationSchema.parse(JSON.parse(JSON.stringify(generation)))).toEqual(generation);
    });

    it('has every key the aggregator lists, present even when null', () => {
      for (const key of PUBLIC_GENERATION_KEYS) expect(Object.keys(generation)).toContain(key);
      expect(Object.keys(generation.data).sort()).toEqual(['created_at', 'task_id', 'task_status', 'updated_at']);
      const json = JSON.parse(JSON.stringify(generation)) as Record<string, unknown>;
      for (const key of PUBLIC_GENERATION_KEYS) expect(json, key).toHaveProperty(key);
    });

    it('maps state and the Kling task_status word', () => {
      expect(generation.state).toBe(state);
      expect(publicState(status)).toBe(state);
      expect(generation.data.task_status).toBe(taskStatus);
    });

    it('names the task the same way in both shapes', () => {
      expect(generation.id).toBe(task.id);
      expect(generation.data.task_id).toBe(generation.id);
      expect(generation.request_id).toBe(REQUEST_ID);
      expect(generation.code).toBe(0);
      expect(generation.prompt).toBe(PROMPT);
      expect(generation.batch_id).toBe('');
      expect(generation.message).toBe(message);
    });

    it('carries microsecond ISO time and integer epoch seconds', () => {
      expect(generation.created_at).toMatch(MICROSECONDS);
      expect(generation.created_at).toBe('2025-05-23T07:05:23.342000Z');
      expect(Date.parse(generation.created_at)).toBe(CREATED.getTime());
      expect(generation.data.created_at).toBe(Math.floor(CREATED.getTime() / 1000));
      expect(Number.isInteger(generation.data.updated_at)).toBe(true);
      expect(generation.data.updated_at).toBe(Math.floor(Date.parse(task.updatedAt) / 1000));
      expect(generation.data.updated_at).toBeGreaterThanOrEqual(generation.data.created_at);
    });

    it('fills failure fields only when failed', () => {
      if (status === 'failed') {
        expect(generation.failure_reason).toBe('Prompt failed moderation');
        expect(generation.failure_code).toBe('moderation');
      } else {
        expect(generation.failure_reason).toBeNull();
        expect(generation.failure_code).toBeNull();
      }
    });

    it('has a video only when completed', () => {
      if (status === 'completed') expect(generation.video).toMatchObject({ url: LINKS.videoUrl, download_url: LINKS.videoDownloadUrl });
      else expect(generation.video).toBeNull();
      if (status !== 'completed') expect(generation.thumbnail).toBeNull();
    });
  });

  it('shows the model, resolution, duration and aspect ratio the task is generated with, at the top level', () => {
    const task = { ...taskIn('dreaming'), model: 'ray-flash-2' };
    const chosen = { ...task, request: { ...task.request, resolution: '1080p', duration: '9s', aspectRatio: '21:9' } } as Task;
    expect(toPublicGeneration(chosen, undefined, REQUEST_ID)).toMatchObject({
      model: 'ray-flash-2',
      resolution: '1080p',
      duration: '9s',
      aspect_ratio: '21:9',
    });
    expect(publicGenerationSchema.parse(toPublicGeneration(chosen, undefined, REQUEST_ID))).toMatchObject({ resolution: '1080p' });
  });

  it('null where the task recorded none: no aspect ratio asked for, or a task from before resolution and duration were kept', () => {
    const old = { ...taskIn('accepted'), request: { prompt: PROMPT } };
    const generation = toPublicGeneration(old, undefined, REQUEST_ID);
    expect(generation).toMatchObject({ model: 'ray-2', resolution: null, duration: null, aspect_ratio: null });
    expect(publicGenerationSchema.safeParse(generation).success).toBe(true);
  });

  it('a completed task with links fills video and thumbnail with the stored output', () => {
    const generation = toPublicGeneration(taskIn('completed'), LINKS, REQUEST_ID);
    expect(generation.video).toEqual({
      url: LINKS.videoUrl,
      download_url: LINKS.videoDownloadUrl,
      width: 1280,
      height: 720,
      duration: 5.04,
      size_bytes: 2_345_678,
      sha256: 'c0'.repeat(32),
      thumbnail: LINKS.thumbnailUrl,
    });
    expect(generation.thumbnail).toEqual({ url: LINKS.thumbnailUrl, width: 640, height: 360 });
    expect(generation.video_raw).toEqual({ url: ASSETS.videoUrl, width: 1280, height: 720, duration: 5.04 });
    expect(generation.last_frame).toBeNull();
  });

  it('a completed task without a stored thumbnail has a video but no thumbnail', () => {
    const { thumbnail: _none, ...withoutThumbnail } = OUTPUT;
    const generation = toPublicGeneration(taskIn('completed', withoutThumbnail), LINKS, REQUEST_ID);
    expect(generation.thumbnail).toBeNull();
    expect(generation.video).toMatchObject({ url: LINKS.videoUrl, thumbnail: null });
    expect(publicGenerationSchema.safeParse(generation).success).toBe(true);
  });

  it('a thumbnail without a link is not shown', () => {
    const { thumbnailUrl: _none, ...noThumbLink } = LINKS;
    const generation = toPublicGeneration(taskIn('completed'), noThumbLink, REQUEST_ID);
    expect(generation.thumbnail).toBeNull();
    expect(generation.video?.thumbnail).toBeNull();
  });

  it('links are ignored for a task that is not completed', () => {
    for (const status of ['accepted', 'dreaming', 'copying', 'failed'] as const) {
      const generation = toPublicGeneration(taskIn(status), LINKS, REQUEST_ID);
      expect(generation.video).toBeNull();
      expect(generation.thumbnail).toBeNull();
    }
  });

  it('a copying task reports the upstream video with sizes not yet known', () => {
    expect(toPublicGeneration(taskIn('copying'), undefined, REQUEST_ID).video_raw).toEqual({
      url: ASSETS.videoUrl,
      width: null,
      height: null,
      duration: null,
    });
  });

  it('a failed task after the upstream finished still says failed, with the reason', () => {
    const failed = applyChange(taskIn('copying'), { to: 'failed', failure: { code: 'download_failed', reason: 'truncated' } }, at(99));
    const generation = toPublicGeneration(failed, undefined, REQUEST_ID);
    expect(generation).toMatchObject({ state: 'failed', failure_code: 'download_failed', failure_reason: 'truncated', video: null });
    expect(generation.data).toMatchObject({ task_status: 'failed', updated_at: Math.floor(Date.parse(at(99)) / 1000) });
  });
});

describe('publicTimestamp', () => {
  it('turns milliseconds into microseconds', () => {
    expect(publicTimestamp('2025-05-23T07:05:23.342Z')).toBe('2025-05-23T07:05:23.342000Z');
    expect(publicTimestamp('2025-01-01T00:00:00.000Z')).toBe('2025-01-01T00:00:00.000000Z');
    expect(publicTimestamp(new Date(0).toISOString())).toMatch(MICROSECONDS);
  });
});
