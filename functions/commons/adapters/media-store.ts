/**
 * The owner's bucket in S3 (ports/media-store.ts). Layout: `inputs/{task}/frame0.png` (keyframes we host
 * for the upstream, expired by a lifecycle rule), `inputs/uploads/{upload}` (what clients upload, read once
 * checked into the task's own keyframe), `generations/{task}/video.mp4` and `…/thumbnail.jpg` (the
 * outputs, domain/task.ts `outputKeys`). Links are presigned; the bucket itself is private.
 */
import { DeleteObjectCommand, GetObjectCommand, NoSuchKey, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { Readable } from 'node:stream';
import type { Keyframe, Task } from '../domain/task.ts';
import type { KeyframeInput } from '../domain/generation-request.ts';
import type { OutputLinks } from '../domain/public-generation.ts';
import type { BoundedObject, MediaStore, ObjectTags, UploadUrl } from '../ports/media-store.ts';

const EXTENSIONS = { 'image/png': 'png', 'image/jpeg': 'jpg', 'image/webp': 'webp' } as const;

/** Parts of a streamed upload: at least 5 MiB (S3's least), at most 10,000 of them (8 MiB: 80 GB, far above any video). */
export const UPLOAD_PART_BYTES = 8 * 1024 * 1024;
/** Parts uploaded at once. */
export const UPLOAD_QUEUE = 2;

export class S3MediaStore implements MediaStore {
  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    /** Presigns uploads: a client without flexible checksums (clients/s3.ts). @default client */
    private readonly presigner: S3Client = client,
  ) {}

  /** The task id is the keyframe's only metadata: S3 hands every `x-amz-meta-*` header to whoever fetches it. */
  async putKeyframe(name: 'frame0' | 'frame1', frame: Extract<KeyframeInput, { kind: 'inline' }>, taskId: string): Promise<Keyframe> {
    const key = `inputs/${taskId}/${name}.${EXTENSIONS[frame.type]}`;
    await this.send(key, frame.bytes, frame.type, { 'task-id': taskId });
    return { kind: 'stored', key, contentType: frame.type, bytes: frame.bytes.length, width: frame.width, height: frame.height };
  }

  async putObject(key: string, body: Buffer, contentType: string, tags: ObjectTags): Promise<void> {
    await this.send(key, body, contentType, metadataOf(tags));
  }

  private async send(key: string, body: Buffer, contentType: string, metadata: Record<string, string>): Promise<void> {
    await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, ContentType: contentType, Metadata: metadata }));
  }

  /** A URL the upstream can fetch the keyframe from: presigned at submit time, so a queued task's link is fresh. */
  async keyframeUrl(frame: Keyframe, expiresIn: number): Promise<string> {
    if (frame.kind === 'url') return frame.url;
    return getSignedUrl(this.client, new GetObjectCommand({ Bucket: this.bucket, Key: frame.key }), { expiresIn });
  }

  /**
   * A presigned PUT of exactly `bytes` bytes of `contentType` to `key`: both are signed headers, so S3
   * refuses a PUT with another type or length (SignatureDoesNotMatch). It expires after `maxSeconds`, or
   * sooner when the signing credentials do (a URL is no longer valid than they are); undefined when they
   * expire within a minute, too soon to hand out.
   */
  async uploadUrl(key: string, contentType: string, bytes: number, maxSeconds: number, now: Date): Promise<UploadUrl | undefined> {
    // X-Amz-Date has whole seconds: the URL's life is counted from the second it is signed in.
    const signedAt = new Date(Math.floor(now.getTime() / 1000) * 1000);
    const { expiration } = await this.presigner.config.credentials();
    const credentialSeconds = expiration ? Math.floor((expiration.getTime() - signedAt.getTime()) / 1000) : Infinity;
    const expiresIn = Math.min(maxSeconds, credentialSeconds);
    if (expiresIn < 60) return undefined;
    const command = new PutObjectCommand({ Bucket: this.bucket, Key: key, ContentType: contentType, ContentLength: bytes });
    const url = await getSignedUrl(this.presigner, command, {
      expiresIn,
      signingDate: signedAt,
      signableHeaders: new Set(['content-type', 'content-length']),
    });
    return {
      url,
      headers: { 'content-type': contentType, 'content-length': String(bytes) },
      expiresAt: new Date(signedAt.getTime() + expiresIn * 1000),
    };
  }

  /**
   * Reads an object whole, if it is at most `maxBytes` long: a larger one is neither read nor buffered
   * past the bound (its declared length alone refuses it, and a body longer than declared is cut).
   */
  async readBounded(key: string, maxBytes: number): Promise<BoundedObject> {
    let response;
    try {
      response = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
    } catch (error) {
      if (error instanceof NoSuchKey || (error as Error).name === 'NoSuchKey') return { found: false };
      throw error;
    }
    const { ContentType: contentType, ContentLength: contentLength } = response;
    const body = response.Body as Readable | undefined;
    const tooLarge = { found: true, contentType, contentLength, tooLarge: true } as const;
    if (contentLength !== undefined && contentLength > maxBytes) {
      body?.destroy();
      return tooLarge;
    }
    const chunks: Buffer[] = [];
    let length = 0;
    for await (const chunk of body ?? []) {
      length += (chunk as Buffer).length;
      if (length > maxBytes) {
        body?.destroy();
        return tooLarge;
      }
      chunks.push(chunk as Buffer);
    }
    return { found: true, contentType, contentLength, bytes: Buffer.concat(chunks) };
  }

  /**
   * Streams a body into the bucket in parts; a failed stream aborts the upload, so no partial object is
   * left. Memory is bounded by the parts in flight, about (UPLOAD_QUEUE + 2) × UPLOAD_PART_BYTES, whatever
   * the video's size.
   */
  async upload(key: string, body: Readable, contentType: string, tags: ObjectTags): Promise<void> {
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.bucket, Key: key, Body: body, ContentType: contentType, Metadata: metadataOf(tags) },
      partSize: UPLOAD_PART_BYTES,
      queueSize: UPLOAD_QUEUE,
      leavePartsOnError: false,
    });
    await upload.done();
  }

  /** The origin of this store's presigned links: what a page showing them must allow (site.ts's policy). */
  async linkOrigin(): Promise<string> {
    return new URL(await getSignedUrl(this.client, new GetObjectCommand({ Bucket: this.bucket, Key: 'origin' }), { expiresIn: 60 })).origin;
  }

  async outputLinks(task: Task, expiresIn: number): Promise<OutputLinks | undefined> {
    const output = task.output;
    if (!output) return undefined;
    const sign = (key: string, disposition?: string) =>
      getSignedUrl(
        this.client,
        new GetObjectCommand({ Bucket: this.bucket, Key: key, ResponseContentDisposition: disposition }),
        { expiresIn },
      );
    const [videoUrl, videoDownloadUrl, thumbnailUrl] = await Promise.all([
      sign(output.videoKey),
      sign(output.videoKey, `attachment; filename="${task.id}.mp4"`),
      output.thumbnail ? sign(output.thumbnail.key) : undefined,
    ]);
    return { videoUrl, videoDownloadUrl, thumbnailUrl };
  }

  /**
   * One DeleteObject a key, S3 answering 204 for a key with no object as well. One after the other: a task
   * has four at most, and the local S3 emulator (s3rver) fails one of two deletes in one folder at once
   * (each tidies the folder up), which S3 never does; its retry then finds nothing and emits no event.
   */
  async removeObjects(keys: readonly string[]): Promise<void> {
    for (const key of keys) await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
  }
}

function metadataOf(tags: ObjectTags): Record<string, string> {
  return { 'task-id': tags.taskId, owner: tags.owner, 'prompt-sha256': tags.promptSha256 };
}
