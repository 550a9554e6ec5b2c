/** PNG fixtures of a chosen size, for the tests of size limits: real files, so only their size decides. */
import { readFileSync } from 'node:fs';
import { crc32 } from 'node:zlib';

/** test/fixtures/media/tiny.png: 64 x 48. */
export const TINY_PNG = readFileSync(new URL('../fixtures/media/tiny.png', import.meta.url));

/**
 * A whole PNG of exactly `size` bytes: tiny.png grown by an ancillary chunk before IEND, of zeros, or with
 * `marked` a byte every 4 KiB that is not, so that a cut or shifted copy shows.
 */
export function pngOfSize(size: number, { marked = false } = {}): Buffer {
  const iend = TINY_PNG.length - 12;
  const filler = Buffer.alloc(size - TINY_PNG.length);
  filler.writeUInt32BE(filler.length - 12, 0);
  filler.write('zzZz', 4, 'latin1');
  if (marked) for (let i = 8; i < filler.length - 4; i += 4096) filler[i] = i & 0xff;
  filler.writeUInt32BE(crc32(filler.subarray(4, filler.length - 4)), filler.length - 4);
  return Buffer.concat([TINY_PNG.subarray(0, iend), filler, TINY_PNG.subarray(iend)]);
}
