/** What the world is told of a generation: its public changes, read off its history, and the event of each. */
import { describe, expect, it } from 'vitest';
import { DETAIL_TYPES, deliveryId, generationEvent, parseDeliveryId, publicChanges, unpublishedChanges, webhookChanges } from '../../../functions/commons/domain/generation-events.ts';
import { generationEventDetailSchema } from '../../../functions/commons/domain/generation-event-detail.ts';
import { applyChange, published, type Task, type TaskChange } from '../../../functions/commons/domain/task.ts';
import { webhookTask } from '../../support/tasks.ts';

const ID = '0b6f1c1e-2f4a-4c39-9a53-1d2e3f4a5b6c';
const NOW = new Date('2026-11-30T12:00:00.000Z');
const OUTPUT = {
  videoKey: `generations/${ID}/video.mp4`,
  sizeBytes: 36068,
  sha256: 'ab'.repeat(32),
  width: 320,
  height: 180,
  durationSeconds: 3,
  thumbnail: { key: `generations/${ID}/thumbnail.jpg`, contentType: 'image/jpeg', width: 320, height: 180, sizeBytes: 100 },
};

function task(callbackEvents?: ('processing' | 'completed' | 'failed')[]): Task {
  return webhookTask(ID, NOW, callbackEvents && { url: 'https://hooks.example.com/', events: callbackEvents, keyHash: 'k' });
}

const along = (start: Task, ...changes: TaskChange[]) =>
  changes.reduce((current, change, index) => applyChange(current, change, new Date(NOW.getTime() + (index + 1) * 1000).toISOString()), start);

const completedPath: TaskChange[] = [
  { to: 'submitted', upstreamId: 'up-1' },
  { to: 'dreaming' },
  { to: 'copying', assets: { videoUrl: 'https://cdn.example/v.mp4' } },
  { to: 'completed', output: OUTPUT },
];

describe('publicChanges: one per change of the public state', () => {
  it('pending at recording, processing, completed: moves inside a public state are none', () => {
    expect(publicChanges(along(task(), ...completedPath)).map(({ index, state }) => [index, state])).toEqual([
      [0, 'pending'],
      [2, 'processing'],
      [4, 'completed'],
    ]);
  });

  it('a task submitted again after an upstream-side failure goes back to pending, then processing again', () => {
    const resubmitted = along(task(), { to: 'submitted', upstreamId: 'up-1' }, { to: 'dreaming' }, { to: 'accepted', resubmitOf: 'up-1', reason: 'Job failed' }, { to: 'submitted', upstreamId: 'up-2' }, { to: 'dreaming' });
    expect(publicChanges(resubmitted).map(({ state }) => state)).toEqual(['pending', 'processing', 'pending', 'processing']);
  });

  it('a change is dated by its history entry', () => {
    const done = along(task(), ...completedPath);
    expect(publicChanges(done).at(-1)!.at).toBe(done.history.at(-1)!.at);
  });
});

describe('unpublishedChanges: what is still owed', () => {
  it('everything past publishedThrough; nothing for a task recorded before publishing existed', () => {
    const done = along(task(), ...completedPath);
    expect(unpublishedChanges(done).map(({ state }) => state)).toEqual(['pending', 'processing', 'completed']);
    expect(unpublishedChanges(published(done, 3)).map(({ state }) => state)).toEqual(['completed']);
    expect(unpublishedChanges(published(done, done.history.length))).toEqual([]);
    const { publishedThrough: _none, ...old } = done;
    expect(unpublishedChanges(old)).toEqual([]);
  });
});

describe('webhookChanges: the changes the client subscribed to', () => {
  it('its callback_events only; pending never; none without a callback', () => {
    const done = along(task(['completed', 'failed']), ...completedPath);
    expect(webhookChanges(done).map(({ state }) => state)).toEqual(['completed']);
    expect(webhookChanges(along(task(['processing', 'completed']), ...completedPath)).map(({ state }) => state)).toEqual(['processing', 'completed']);
    expect(webhookChanges(along(task(), ...completedPath))).toEqual([]);
  });
});

describe('generationEvent: the documented detail', () => {
  it('Generation Completed names the stored video and thumbnail', () => {
    const done = along(task(), ...completedPath);
    const event = generationEvent(done, publicChanges(done).at(-1)!, 'videos-bucket');
    expect(event).toEqual({
      detailType: 'Generation Completed',
      time: done.history.at(-1)!.at,
      detail: {
        id: ID,
        owner: 'own_1',
        state: 'completed',
        failure_code: null,
        video: { bucket: 'videos-bucket', key: OUTPUT.videoKey, sha256: OUTPUT.sha256, size_bytes: 36068, width: 320, height: 180, duration: 3 },
        thumbnail: { bucket: 'videos-bucket', key: OUTPUT.thumbnail.key },
      },
    });
    expect(generationEventDetailSchema.parse(event.detail)).toEqual(event.detail);
  });

  it('Generation Failed carries the failure code, the others neither it nor a video', () => {
    const failed = along(task(), { to: 'failed', failure: { code: 'cancelled', reason: 'cancelled by its owner' } });
    const [submitted, failure] = publicChanges(failed).map((change) => generationEvent(failed, change, 'b'));
    expect(submitted).toEqual({ detailType: DETAIL_TYPES.pending, time: failed.createdAt, detail: { id: ID, owner: 'own_1', state: 'pending', failure_code: null } });
    expect(failure!.detailType).toBe('Generation Failed');
    expect(failure!.detail).toEqual({ id: ID, owner: 'own_1', state: 'failed', failure_code: 'cancelled' });
  });
});

describe('delivery ids: the webhook-id of a change', () => {
  it('names the task and the change, and reads back; anything else is no delivery id', () => {
    expect(deliveryId(ID, 4)).toBe(`msg_${ID}_4`);
    expect(parseDeliveryId(deliveryId(ID, 4))).toEqual({ taskId: ID, index: 4 });
    for (const junk of [`msg_${ID}`, `msg_${ID}_`, `msg_${ID}_x`, `msg_${ID.toUpperCase()}_1`, `msg_../_1`, `${ID}_1`, `msg_${ID}_1/retry`]) {
      expect(parseDeliveryId(junk), junk).toBeUndefined();
    }
  });
});
