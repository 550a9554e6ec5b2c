/**
 * The owner's bucket: the keyframes the gateway hosts for the upstream, what clients upload, and the
 * finished outputs. Clients and the upstream only ever get time-limited links; the bucket itself is private.
 */
import type { Readable } from 'node:stream';
import type { KeyframeInput } from '../domain/generation-request.ts';
import type { OutputLinks } from '../domain/public-generation.ts';
import type { Keyframe, Task } from '../domain/task.ts';

/**
 * Recorded on the outputs, so consumers of the bucket can tell whose task an object belongs to. Not on
 * keyframes: the upstream fetches those through a link that would hand it every tag, and it has no
 * business learning the tenant or a hash of the prompt.
 */
export interface ObjectTags {
  taskId: string;
  owner: string;
  promptSha256: string;
}

/** A presigned upload: the URL, the headers the PUT must carry exactly, and when the URL stops working. */
export interface UploadUrl {
  url: string;
  headers: { 'content-type': string; 'content-length': string };
  expiresAt: Date;
}

/** An object read with a bound: its bytes, or only what it declared when it is larger than the bound. */
export type BoundedObject =
  | { found: false }
  | { found: true; contentType: string | undefined; contentLength: number | undefined; bytes: Buffer }
  | { found: true; contentType: string | undefined; contentLength: number | undefined; tooLarge: true };

export interface MediaStore {
  /** Stores a keyframe for the upstream to fetch, with the task id as its only tag (see ObjectTags). */
  putKeyframe(name: 'frame0' | 'frame1', frame: Extract<KeyframeInput, { kind: 'inline' }>, taskId: string): Promise<Keyframe>;
  putObject(key: string, body: Buffer, contentType: string, tags: ObjectTags): Promise<void>;
  /** A URL the upstream can fetch the keyframe from, valid for `expiresIn` seconds. */
  keyframeUrl(frame: Keyframe, expiresIn: number): Promise<string>;
  /**
   * A presigned PUT of exactly `bytes` bytes of `contentType` to `key`, for at most `maxSeconds`;
   * undefined when it could not be valid for a minute at least.
   */
  uploadUrl(key: string, contentType: string, bytes: number, maxSeconds: number, now: Date): Promise<UploadUrl | undefined>;
  /** Reads an object whole if it is at most `maxBytes` long; a larger one is neither read nor buffered past the bound. */
  readBounded(key: string, maxBytes: number): Promise<BoundedObject>;
  /** Streams a body into the bucket; a failed stream leaves no partial object. */
  upload(key: string, body: Readable, contentType: string, tags: ObjectTags): Promise<void>;
  /** Links to a completed task's outputs, valid for `expiresIn` seconds; undefined before it has any. */
  outputLinks(task: Task, expiresIn: number): Promise<OutputLinks | undefined>;
  /** Deletes these objects; a key with no object is not an error, so a repeat after a crash is harmless. */
  removeObjects(keys: readonly string[]): Promise<void>;
}
