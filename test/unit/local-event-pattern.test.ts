/** The local EventBridge matches rules as EventBridge does, and refuses the patterns it would refuse or cannot honour. */
import { describe, expect, it } from 'vitest';
import { checkPattern, matches, type EventPattern } from '../../local/event-bridge/event-pattern.ts';
import { metadataFor } from '../../functions/example-consumer/metadata.ts';

const EVENT = {
  version: '0',
  id: 'e-1',
  'detail-type': 'Generation Completed',
  source: 'luma-video-gateway',
  account: '000000000000',
  time: '2026-11-30T12:00:00Z',
  region: 'us-east-1',
  resources: [],
  detail: {
    id: '0b6f1c1e-2f4a-4c39-9a53-1d2e3f4a5b6c',
    owner: 'own_1',
    state: 'completed',
    failure_code: null,
    video: { bucket: 'videos', key: 'generations/0b6f1c1e-2f4a-4c39-9a53-1d2e3f4a5b6c/video.mp4', sha256: 'ab', size_bytes: 36068, width: 320, height: 180, duration: 3 },
    thumbnail: null,
    tags: ['a', 'b'],
  },
};

const pattern = (value: unknown): EventPattern => {
  checkPattern(value);
  return value;
};

describe('matching', () => {
  it.each([
    [{ source: ['luma-video-gateway'], 'detail-type': ['Generation Completed'] }, true],
    [{ source: ['luma-video-gateway'], 'detail-type': ['Generation Failed'] }, false],
    [{ source: ['other', 'luma-video-gateway'] }, true],
    [{ detail: { state: ['completed'], video: { width: [320] } } }, true],
    [{ detail: { video: { width: [320.0] } } }, true],
    [{ detail: { video: { width: ['320'] } } }, false], // a string is not the number
    [{ detail: { failure_code: [null] } }, true],
    [{ detail: { tags: ['b'] } }, true], // any element of a list
    [{ detail: { missing: ['x'] } }, false],
    [{ detail: { missing: [{ exists: false }] } }, true],
    [{ detail: { id: [{ exists: true }] } }, true],
    [{ detail: { id: [{ exists: false }] } }, false],
    [{ detail: { video: { key: [{ prefix: 'generations/' }] } } }, true],
    [{ detail: { video: { key: [{ suffix: '.MP4' }] } } }, false],
    [{ detail: { video: { key: [{ suffix: { 'equals-ignore-case': '.MP4' } }] } } }, true],
    [{ detail: { state: [{ 'anything-but': ['failed', 'pending'] }] } }, true],
    [{ detail: { state: [{ 'anything-but': 'completed' }] } }, false],
    [{ detail: { state: [{ 'anything-but': { prefix: 'comp' } }] } }, false],
    [{ detail: { missing: [{ 'anything-but': 'x' }] } }, false],
    [{ detail: { video: { size_bytes: [{ numeric: ['>', 0, '<=', 36068] }] } } }, true],
    [{ detail: { video: { size_bytes: [{ numeric: ['<', 100] }] } } }, false],
    [{ detail: { state: [{ 'equals-ignore-case': 'COMPLETED' }] } }, true],
    [{ detail: { video: { key: [{ wildcard: 'generations/*/video.mp4' }] } } }, true],
    [{ detail: ['x'] }, false], // a list where the event has an object
    [{ detail: { video: ['x'] } }, false],
  ])('%j → %s', (value, expected) => {
    expect(matches(pattern(value), EVENT)).toBe(expected);
  });
});

describe('patterns the local EventBridge refuses', () => {
  it.each([
    [{}, /empty/],
    [{ source: 'luma-video-gateway' }, /list of matchers/],
    [{ source: [] }, /empty list/],
    [{ source: [['a']] }, /nest/],
    [{ detail: { ip: [{ cidr: '10.0.0.0/24' }] } }, /not supported/],
    [{ detail: { n: [{ numeric: ['>'] }] } }, /numeric/],
    [{ detail: { n: [{ numeric: ['!=', 1] }] } }, /numeric/],
    [{ detail: { s: [{ prefix: 1 }] } }, /prefix takes a string/],
    [{ detail: { s: [{ exists: 'yes' }] } }, /exists/],
    [{ detail: { s: [{ 'anything-but': [] }] } }, /anything-but/],
  ])('%j', (value, message) => {
    expect(() => checkPattern(value)).toThrow(message);
  });
});

describe('the example consumer', () => {
  it('writes metadata.json beside the video, from the event alone', () => {
    const object = metadataFor(EVENT, 'videos');
    expect(object).toMatchObject({ bucket: 'videos', key: 'generations/0b6f1c1e-2f4a-4c39-9a53-1d2e3f4a5b6c/metadata.json' });
    expect(JSON.parse(object!.body)).toEqual({
      id: EVENT.detail.id,
      completed_at: EVENT.time,
      video: { key: EVENT.detail.video.key, sha256: 'ab', size_bytes: 36068, width: 320, height: 180, duration: 3 },
      thumbnail: null,
      event_id: 'e-1',
    });
  });

  it('ignores an event of another bucket or state, and refuses a detail that is not the documented one', () => {
    expect(metadataFor(EVENT, 'other-bucket')).toBeUndefined();
    expect(metadataFor({ ...EVENT, detail: { ...EVENT.detail, state: 'failed', video: undefined } }, 'videos')).toBeUndefined();
    expect(() => metadataFor({ ...EVENT, detail: { id: 1 } }, 'videos')).toThrow();
  });
});
