/**
 * The assets of completed generations, standing in for Luma's CDN links: the sample video and thumbnail,
 * or an injected download fault (a cut body, an HTML page).
 */
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { pickFault, type SimContext } from './context.ts';
import { DOWNLOAD_FAULT_KINDS, GARBAGE_HTML, cutLength } from './faults.ts';
import { HttpError } from './http.ts';
import { assetsAnsweredFromMs, generationStateAt } from './timeline.ts';

/** local/assets, where the sample video and thumbnail are. */
export const DEFAULT_ASSETS_DIR = fileURLToPath(new URL('../assets/', import.meta.url));

const ASSET_FILES: Record<string, { file: string; contentType: string }> = {
  'video.mp4': { file: 'sample.mp4', contentType: 'video/mp4' },
  'thumbnail.jpg': { file: 'sample.jpg', contentType: 'image/jpeg' },
};

export async function serveAsset(ctx: SimContext, req: IncomingMessage, res: ServerResponse, id: string, name: string): Promise<void> {
  const record = ctx.records.get(id);
  // Like a CDN link that does not exist yet: nothing to serve until completed.
  if (!record || generationStateAt(record, ctx.clock.now(), ctx.timing) !== 'completed') {
    throw new HttpError(404, 'Asset not found');
  }
  // A download begun is answered to its end, even should the generation be deleted meanwhile (a CDN does
  // not cut a transfer when its origin deletes the file): the stricter case for a copy racing a cancel.
  const answeredFromMs = assetsAnsweredFromMs(record, ctx.timing);
  if (ctx.clock.now() < answeredFromMs) {
    ctx.counters.assetsHeld += 1;
    if (!(await clockReaches(ctx, answeredFromMs, res))) return;
  }
  const asset = ASSET_FILES[name]!;
  const path = join(ctx.assetsDir, asset.file);
  const size = await fileSize(path);
  if (size === undefined) throw new HttpError(500, `Simulator sample asset missing: ${asset.file}`);
  const fault = req.method === 'HEAD' ? undefined : pickFault(ctx, DOWNLOAD_FAULT_KINDS);
  if (fault === 'download_garbage') {
    ctx.counters.downloads += 1;
    ctx.counters.injected.download_garbage += 1;
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Content-Length': Buffer.byteLength(GARBAGE_HTML) });
    return void res.end(GARBAGE_HTML);
  }
  if (fault === 'download_cut') {
    ctx.counters.downloads += 1;
    ctx.counters.injected.download_cut += 1;
    return sendCutAsset(res, await readFile(path), asset.contentType, ctx.random());
  }
  res.writeHead(200, { 'Content-Type': asset.contentType, 'Content-Length': size });
  if (req.method === 'HEAD') return void res.end();
  ctx.counters.downloads += 1;
  try {
    await pipeline(createReadStream(path), res);
  } catch {
    // The client went away mid-download; nothing useful can be sent anymore.
    res.destroy();
  }
}

/** download_cut: the full Content-Length, part of the body, then the socket is destroyed. */
function sendCutAsset(res: ServerResponse, data: Buffer, contentType: string, u: number): void {
  res.writeHead(200, { 'Content-Type': contentType, 'Content-Length': data.length });
  const keep = cutLength(data.length, u);
  if (keep === 0) {
    res.flushHeaders();
    setImmediate(() => res.destroy());
    return;
  }
  // The callback runs once the bytes are handed to the socket, so the client does receive them.
  res.write(data.subarray(0, keep), () => res.destroy());
}

/** Resolves true once the simulator's clock reaches `atMs`, false if the client goes away first (or close() cuts it). */
function clockReaches(ctx: SimContext, atMs: number, res: ServerResponse): Promise<boolean> {
  return new Promise((resolve) => {
    const check = () => {
      if (res.destroyed) return resolve(false);
      if (ctx.clock.now() >= atMs) return resolve(true);
      setTimeout(check, 10);
    };
    check();
  });
}

async function fileSize(path: string): Promise<number | undefined> {
  try {
    const info = await stat(path);
    return info.isFile() ? info.size : undefined;
  } catch {
    return undefined;
  }
}
