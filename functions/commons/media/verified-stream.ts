/**
 * A pass-through stream that checks a video while it flows from the upstream into S3: it counts and
 * hashes the bytes and reads the MP4 boxes as they pass. It fails the stream — and with it the upload,
 * before the object is completed — when the bytes are not an MP4, exceed the cap, or stop short of the
 * announced length. Memory stays bounded: only the small `moov` box is ever held.
 */
import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { Mp4Inspector, NotMp4Error, type Mp4Info } from './mp4.ts';
import { DownloadFailedError, TransientDownloadError } from '../errors.ts';

export interface VerifiedVideo extends Mp4Info {
  sizeBytes: number;
  sha256: string;
}

export class VerifyingMp4Stream extends Transform {
  readonly #hash = createHash('sha256');
  readonly #inspector = new Mp4Inspector();
  readonly #expectedBytes: number | undefined;
  readonly #maxBytes: number;
  #bytes = 0;
  #result: VerifiedVideo | undefined;

  constructor(options: { expectedBytes?: number; maxBytes: number }) {
    super();
    this.#expectedBytes = options.expectedBytes;
    this.#maxBytes = options.maxBytes;
  }

  /** Available once the stream has ended without error. */
  get result(): VerifiedVideo {
    if (!this.#result) throw new Error('The video stream has not been verified yet.');
    return this.#result;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#bytes += chunk.length;
    if (this.#bytes > this.#maxBytes) {
      return callback(new DownloadFailedError(`The video is larger than the limit of ${this.#maxBytes} bytes.`));
    }
    try {
      this.#inspector.push(chunk);
    } catch (error) {
      return callback(asDownloadError(error));
    }
    this.#hash.update(chunk);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    if (this.#expectedBytes !== undefined && this.#bytes !== this.#expectedBytes) {
      return callback(
        new TransientDownloadError(`The video download ended after ${this.#bytes} of ${this.#expectedBytes} bytes.`),
      );
    }
    try {
      const info = this.#inspector.finish();
      this.#result = { ...info, sizeBytes: this.#bytes, sha256: this.#hash.digest('hex') };
      callback();
    } catch (error) {
      callback(this.#expectedBytes === undefined ? asPossiblyCutShort(error) : asDownloadError(error));
    }
  }
}

/**
 * Without a declared length, a body that ends where the connection ends (HTTP/1.0 style) cannot be told
 * from one that was cut short, except by what is missing at the end (a box cut in half, no moov yet). So
 * a verdict reached only at the end is worth another try; one reached mid-stream (the bytes seen are not
 * an MP4) never is, and fails in `_transform` instead.
 */
function asPossiblyCutShort(error: unknown): Error {
  if (!(error instanceof NotMp4Error)) return error as Error;
  return new TransientDownloadError(`The video download ended before the video was whole (${error.message}).`, { cause: error });
}

function asDownloadError(error: unknown): Error {
  return error instanceof NotMp4Error ? new DownloadFailedError(`The upstream's video is not a valid MP4: ${error.message}`) : (error as Error);
}
