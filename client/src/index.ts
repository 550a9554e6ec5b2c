/**
 * The Node.js entry point: the client with file access (upload a path, download to a path), and
 * everything else the package exports. Browsers import `./client.ts` (the package's `./browser` export).
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import { LumaVideoClient as BaseClient, type FileAccess, type LumaVideoClientOptions } from './client.ts';

export const nodeFiles: FileAccess = {
  readFile: async (path) => new Uint8Array(await readFile(path)),
  async save(body, path) {
    const hash = createHash('sha256');
    let bytes = 0;
    const tap = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        bytes += chunk.length;
        hash.update(chunk);
        done(null, chunk);
      },
    });
    await pipeline(Readable.fromWeb(body as NodeReadableStream<Uint8Array>), tap, createWriteStream(path));
    return { bytes, sha256: hash.digest('hex') };
  },
  remove: (path) => rm(path, { force: true }),
};

/** The client, able to read and write files. */
export class LumaVideoClient extends BaseClient {
  constructor(options: LumaVideoClientOptions) {
    super({ files: nodeFiles, ...options });
  }
}

/** The SHA-256 of a file, hex: to check a download against `video.sha256` yourself. */
export async function fileSha256(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), hash);
  return hash.digest('hex');
}

export { sniffImageType } from './client.ts';
export type { DownloadResult, FileAccess, ListOptions, LumaVideoClientOptions, Progress, RequestOptions, UploadOptions, WaitOptions } from './client.ts';
export { DownloadIntegrityError, GenerationFailedError, LumaVideoApiError } from './errors.ts';
export * from './types.ts';
