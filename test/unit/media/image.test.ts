import { readFileSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { readImageInfo, sniffImageType, type ImageType } from '../../../functions/commons/media/image.ts';

// Made with ffmpeg (commands in local/assets/README.md); sizes confirmed with ffprobe.
const fixture = (path: string): Uint8Array => new Uint8Array(readFileSync(new URL(path, import.meta.url)));
const JPEG = fixture('../../../local/assets/sample.jpg');
const PNG = fixture('../../fixtures/media/tiny.png');
const WEBP_LOSSY = fixture('../../fixtures/media/tiny.webp');
const WEBP_LOSSLESS = fixture('../../fixtures/media/tiny-lossless.webp');
const WEBP_EXTENDED = fixture('../../fixtures/media/tiny-alpha.webp');
const MP4 = fixture('../../../local/assets/sample.mp4');

const REAL_IMAGES: ReadonlyArray<[string, Uint8Array, ImageType, number, number]> = [
  ['JPEG (JFIF, with a comment segment)', JPEG, 'image/jpeg', 320, 180],
  ['PNG', PNG, 'image/png', 64, 48],
  ['lossy WebP (VP8)', WEBP_LOSSY, 'image/webp', 96, 64],
  ['lossless WebP (VP8L)', WEBP_LOSSLESS, 'image/webp', 40, 30],
  ['extended WebP with alpha (VP8X)', WEBP_EXTENDED, 'image/webp', 50, 20],
];

/** How many leading bytes each real image needs before its size can be read. */
const HEADER_BYTES = new Map<Uint8Array, number>([
  [PNG, 33],
  [WEBP_LOSSY, 30],
  [WEBP_LOSSLESS, 25],
  [WEBP_EXTENDED, 30],
]);

const ascii = (text: string): Uint8Array => new TextEncoder().encode(text);
const concat = (...parts: Uint8Array[]): Uint8Array => Uint8Array.from(parts.flatMap((p) => [...p]));
const PNG_SIGNATURE = PNG.subarray(0, 8);

/** `bytes` with `count` bytes at `offset` replaced by `inserted`. */
function splice(bytes: Uint8Array, offset: number, count: number, inserted: Uint8Array): Uint8Array {
  return concat(bytes.subarray(0, offset), inserted, bytes.subarray(offset + count));
}

function withByte(bytes: Uint8Array, offset: number, value: number): Uint8Array {
  const copy = Uint8Array.from(bytes);
  copy[offset] = value;
  return copy;
}

/** A PNG whose IHDR data is replaced, with a CRC that matches, so only the field values are under test. */
function pngWithIhdr(edit: (data: DataView) => void): Uint8Array {
  const copy = Uint8Array.from(PNG);
  edit(new DataView(copy.buffer, 16, 13));
  new DataView(copy.buffer).setUint32(29, crc32(copy.subarray(12, 29)));
  return copy;
}

/** Offset just past the last segment before the JPEG's frame header (the SOFn marker). */
function jpegFrameHeaderOffset(jpeg: Uint8Array): number {
  for (let i = 2; i < jpeg.length - 1; i++) if (jpeg[i] === 0xff && jpeg[i + 1] === 0xc0) return i;
  throw new Error('no SOF0 in fixture');
}

function u16be(value: number): Uint8Array {
  return Uint8Array.of(value >> 8, value & 0xff);
}

describe('sniffImageType', () => {
  it.each(REAL_IMAGES)('recognises a %s', (_, bytes, type) => {
    expect(sniffImageType(bytes)).toBe(type);
  });

  it.each([
    ['nothing', new Uint8Array(0)],
    ['an MP4', MP4],
    ['a GIF', ascii('GIF89a\x01\x00\x01\x00')],
    ['an HTML page', ascii('<!doctype html><title>x</title>')],
    ['a RIFF that is not WebP (WAV)', ascii('RIFF\x24\x00\x00\x00WAVEfmt ')],
    ['half a PNG signature', PNG.subarray(0, 4)],
    ['a lone JPEG SOI', Uint8Array.of(0xff, 0xd8)],
  ])('does not recognise %s', (_, bytes) => {
    expect(sniffImageType(bytes)).toBeUndefined();
  });
});

describe('readImageInfo on real images', () => {
  it.each(REAL_IMAGES)('reads the type and size of a %s', (_, bytes, type, width, height) => {
    expect(readImageInfo(bytes)).toEqual({ type, width, height });
  });

  it.each(REAL_IMAGES.filter(([, bytes]) => HEADER_BYTES.has(bytes)))(
    'needs only the header of a %s, and refuses anything shorter',
    (_, bytes, type, width, height) => {
      const headerBytes = HEADER_BYTES.get(bytes)!;
      expect(readImageInfo(bytes.subarray(0, headerBytes))).toEqual({ type, width, height });
      for (let length = 0; length < headerBytes; length++) {
        expect(readImageInfo(bytes.subarray(0, length))).toBeUndefined();
      }
    },
  );

  it('refuses a JPEG cut anywhere before the end of its frame header', () => {
    const frameHeaderEnd = jpegFrameHeaderOffset(JPEG) + 2 + 17; // marker + 8 + 3 × 3 components
    expect(readImageInfo(JPEG.subarray(0, frameHeaderEnd))).toEqual({ type: 'image/jpeg', width: 320, height: 180 });
    for (let length = 0; length < frameHeaderEnd; length++) {
      expect(readImageInfo(JPEG.subarray(0, length))).toBeUndefined();
    }
  });
});

describe('readImageInfo on JPEG segment layouts', () => {
  const sof = jpegFrameHeaderOffset(JPEG);

  it('skips a large APP1 (EXIF) segment and fill bytes before the frame header', () => {
    const app1 = concat(Uint8Array.of(0xff, 0xe1), u16be(60_002), ascii('Exif\0\0'), new Uint8Array(59_994).fill(0xff));
    const edited = concat(JPEG.subarray(0, 2), app1, Uint8Array.of(0xff, 0xff, 0xff), JPEG.subarray(2));
    expect(readImageInfo(edited)).toEqual({ type: 'image/jpeg', width: 320, height: 180 });
  });

  it('passes over standalone markers, which have no length', () => {
    const withTem = concat(JPEG.subarray(0, 2), Uint8Array.of(0xff, 0x01), JPEG.subarray(2));
    expect(readImageInfo(withTem)).toEqual({ type: 'image/jpeg', width: 320, height: 180 });
  });

  it('reads a progressive frame header (SOF2)', () => {
    expect(readImageInfo(withByte(JPEG, sof + 1, 0xc2))).toEqual({ type: 'image/jpeg', width: 320, height: 180 });
  });

  it.each([
    ['a height deferred to a DNL marker (0)', (j: Uint8Array) => splice(j, sof + 5, 2, u16be(0))],
    ['a width of 0', (j: Uint8Array) => splice(j, sof + 7, 2, u16be(0))],
    ['a frame header length that disagrees with its components', (j: Uint8Array) => withByte(j, sof + 3, 16)],
    ['a frame header with no components', (j: Uint8Array) => withByte(j, sof + 9, 0)],
    ['a scan before any frame header', (j: Uint8Array) => splice(j, 2, 0, Uint8Array.of(0xff, 0xda, 0, 2))],
    ['an end of image before any frame header', (j: Uint8Array) => splice(j, 2, 0, Uint8Array.of(0xff, 0xd9))],
    ['a segment length below 2', (j: Uint8Array) => splice(j, 2, 0, Uint8Array.of(0xff, 0xe0, 0, 1))],
    ['a segment length that jumps off the marker chain', (j: Uint8Array) => splice(j, 4, 2, u16be(17))],
    ['a SOI followed by text', () => concat(Uint8Array.of(0xff, 0xd8, 0xff), ascii('<html><script>alert(1)</script>'))],
  ])('refuses %s', (_, edit) => {
    expect(readImageInfo(edit(JPEG))).toBeUndefined();
  });
});

describe('readImageInfo on broken PNG and WebP headers', () => {
  it.each([
    ['a PNG signature followed by junk', concat(PNG_SIGNATURE, ascii('<?php system($_GET[0]); ?> and more junk here'))],
    ['a PNG whose IHDR CRC does not match', withByte(PNG, 16 + 3, PNG[19]! ^ 1)],
    ['a PNG whose first chunk is not IHDR', splice(PNG, 12, 4, ascii('IDAT'))],
    ['a PNG with an impossible bit depth', pngWithIhdr((d) => d.setUint8(8, 3))],
    ['a PNG with a bit depth its colour type does not allow', pngWithIhdr((d) => {
        d.setUint8(8, 4); // bit depth 4 ...
        d.setUint8(9, 2); // ... for truecolour, which needs 8 or 16
      })],
    ['a PNG with an unknown colour type', pngWithIhdr((d) => d.setUint8(9, 5))],
    ['a PNG with an unknown interlace method', pngWithIhdr((d) => d.setUint8(12, 2))],
    ['a PNG with a width of 0', pngWithIhdr((d) => d.setUint32(0, 0))],
    ['a PNG with a height of 0', pngWithIhdr((d) => d.setUint32(4, 0))],
    ['a PNG with a width beyond 2^31 - 1', pngWithIhdr((d) => d.setUint32(0, 0x80000000))],
    ['a PNG with an IHDR length other than 13', withByte(PNG, 11, 14)],
    ['a RIFF/WEBP with an unknown first chunk', splice(WEBP_LOSSY, 12, 4, ascii('JUNK'))],
    ['a VP8 chunk without its start code', withByte(WEBP_LOSSY, 23, 0)],
    ['a VP8 chunk that is not a key frame', withByte(WEBP_LOSSY, 20, WEBP_LOSSY[20]! | 1)],
    ['a VP8L chunk without its signature', withByte(WEBP_LOSSLESS, 20, 0x2e)],
    ['a VP8L chunk of an unknown version', withByte(WEBP_LOSSLESS, 24, WEBP_LOSSLESS[24]! | 0x20)],
    ['a VP8X chunk of the wrong size', withByte(WEBP_EXTENDED, 16, 11)],
    ['a first chunk larger than its RIFF container', withByte(WEBP_LOSSY, 19, 0x7f)],
  ])('refuses %s', (_, bytes) => {
    expect(sniffImageType(bytes)).toBeDefined(); // the magic bytes alone would pass
    expect(readImageInfo(bytes)).toBeUndefined();
  });

  it('reads the largest PNG size the format allows', () => {
    const huge = pngWithIhdr((d) => {
      d.setUint32(0, 0x7fffffff);
      d.setUint32(4, 0x7fffffff);
    });
    expect(readImageInfo(huge)).toEqual({ type: 'image/png', width: 0x7fffffff, height: 0x7fffffff });
  });

  it('reads the canvas size of a VP8X chunk, up to 16384 × 16384 and beyond', () => {
    const canvas = splice(WEBP_EXTENDED, 24, 6, Uint8Array.of(0xff, 0x3f, 0, 0xff, 0x3f, 0));
    expect(readImageInfo(canvas)).toEqual({ type: 'image/webp', width: 16384, height: 16384 });
  });

  it('refuses a VP8X canvas whose area does not fit 32 bits', () => {
    const canvas = splice(WEBP_EXTENDED, 24, 6, new Uint8Array(6).fill(0xff));
    expect(readImageInfo(canvas)).toBeUndefined();
  });
});

describe('readImageInfo on hostile input', () => {
  const signatures = [
    PNG_SIGNATURE,
    Uint8Array.of(0xff, 0xd8, 0xff),
    ascii('RIFF'),
    concat(ascii('RIFF'), new Uint8Array(4), ascii('WEBP')),
  ];
  const realImages = REAL_IMAGES.map(([, bytes]) => bytes);

  function expectSaneResult(bytes: Uint8Array): void {
    const info = readImageInfo(bytes);
    if (info === undefined) return;
    expect(Number.isSafeInteger(info.width) && info.width > 0).toBe(true);
    expect(Number.isSafeInteger(info.height) && info.height > 0).toBe(true);
    expect(info.type).toBe(sniffImageType(bytes));
  }

  it('never throws and never returns a non-positive size on arbitrary bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 512 }), expectSaneResult), { numRuns: 2000 });
  });

  it('never throws and never returns a non-positive size on bytes behind a real signature', () => {
    const input = fc
      .tuple(fc.constantFrom(...signatures), fc.uint8Array({ maxLength: 256 }))
      .map(([signature, tail]) => concat(signature, tail));
    fc.assert(fc.property(input, expectSaneResult), { numRuns: 5000 });
  });

  it('never throws and never returns a non-positive size on corrupted real images', () => {
    const corrupted = fc
      .tuple(
        fc.constantFrom(...realImages),
        fc.array(fc.tuple(fc.nat({ max: 80 }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }),
        fc.nat({ max: 400 }),
      )
      .map(([image, edits, length]) => {
        const bytes = Uint8Array.from(image.subarray(0, length));
        for (const [offset, value] of edits) if (offset < bytes.length) bytes[offset] = value;
        return bytes;
      });
    fc.assert(fc.property(corrupted, expectSaneResult), { numRuns: 5000 });
  });

  it('finishes quickly on a JPEG made of nothing but fill bytes or empty segments', () => {
    const fill = concat(Uint8Array.of(0xff, 0xd8), new Uint8Array(1_000_000).fill(0xff));
    const emptyComment = Uint8Array.of(0xff, 0xfe, 0, 2);
    const emptySegments = concat(Uint8Array.of(0xff, 0xd8), ...Array.from({ length: 10_000 }, () => emptyComment));
    expect(readImageInfo(fill)).toBeUndefined();
    expect(readImageInfo(emptySegments)).toBeUndefined();
  });
});
