import { readFileSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { MAX_IMAGE_DIMENSION, readImageInfo, sniffImageType, type ImageType } from '../../../functions/commons/media/image.ts';

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

/** A PNG chunk: length, type, data and the CRC of type and data (or `crc`). */
function pngChunk(type: string, data: Uint8Array, crc?: number): Uint8Array {
  const typeAndData = concat(ascii(type), data);
  const out = new Uint8Array(8 + data.length + 4);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  out.set(typeAndData, 4);
  view.setUint32(8 + data.length, crc ?? crc32(typeAndData));
  return out;
}

/** The fixture PNG's chunks, in order: IHDR, pHYs, IDAT, IEND. */
function pngChunks(png: Uint8Array): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  for (let offset = 8; offset < png.length; ) {
    const length = new DataView(png.buffer, png.byteOffset).getUint32(offset);
    chunks.push(png.subarray(offset, offset + 12 + length));
    offset += 12 + length;
  }
  return chunks;
}
const [IHDR, PHYS, IDAT, IEND] = pngChunks(PNG) as [Uint8Array, Uint8Array, Uint8Array, Uint8Array];
const pngOf = (...chunks: Uint8Array[]) => concat(PNG_SIGNATURE, ...chunks);

/** A WebP made of these chunks, with a RIFF size that matches. */
function webpOf(...chunks: Uint8Array[]): Uint8Array {
  const body = concat(ascii('WEBP'), ...chunks);
  const header = concat(ascii('RIFF'), new Uint8Array(4));
  new DataView(header.buffer).setUint32(4, body.length, true);
  return concat(header, body);
}

function webpChunk(type: string, data: Uint8Array): Uint8Array {
  const header = concat(ascii(type), new Uint8Array(4));
  new DataView(header.buffer).setUint32(4, data.length, true);
  return concat(header, data, data.length % 2 ? Uint8Array.of(0) : new Uint8Array(0));
}
/** The chunks after a WebP's RIFF header. */
const webpBody = (webp: Uint8Array) => webp.subarray(12);

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

  it.each(REAL_IMAGES)('refuses a %s cut short anywhere', (_, bytes) => {
    for (let length = 0; length < bytes.length; length++) {
      expect(readImageInfo(bytes.subarray(0, length)), `first ${length} bytes`).toBeUndefined();
    }
  });

  it.each(REAL_IMAGES)('refuses a %s with anything after its end', (_, bytes) => {
    for (const tail of [ascii('<html><script>alert(1)</script></html>'), ascii('PK\u0003\u0004'), Uint8Array.of(1), Uint8Array.of(0xff)]) {
      expect(readImageInfo(concat(bytes, tail))).toBeUndefined();
    }
  });

  it('refuses zero bytes after the end of a PNG or WebP, and accepts them after a JPEG’s EOI (encoders pad with them)', () => {
    const zeros = new Uint8Array(16);
    expect(readImageInfo(concat(PNG, zeros))).toBeUndefined();
    expect(readImageInfo(concat(WEBP_LOSSY, zeros))).toBeUndefined();
    expect(readImageInfo(concat(JPEG, zeros))).toEqual({ type: 'image/jpeg', width: 320, height: 180 });
    expect(readImageInfo(concat(JPEG, zeros, Uint8Array.of(1)))).toBeUndefined();
  });
});

describe('readImageInfo: the audit’s polyglots', () => {
  it('refuses a PNG header declaring 2147483647 × 2147483647 with HTML behind it and no IDAT or IEND', () => {
    const ihdr = Uint8Array.from(IHDR.subarray(8, 21));
    new DataView(ihdr.buffer).setUint32(0, 0x7fffffff);
    new DataView(ihdr.buffer).setUint32(4, 0x7fffffff);
    const polyglot = concat(PNG_SIGNATURE, pngChunk('IHDR', ihdr), ascii('<html><script>alert(document.cookie)</script></html>'));
    expect(sniffImageType(polyglot)).toBe('image/png');
    expect(readImageInfo(polyglot)).toBeUndefined();
  });

  it('refuses a complete small PNG whose IHDR declares more than 8192 pixels either way, and accepts 8192', () => {
    const sized = (width: number, height: number) => pngWithIhdr((d) => {
      d.setUint32(0, width);
      d.setUint32(4, height);
    });
    expect(MAX_IMAGE_DIMENSION).toBe(8192);
    expect(readImageInfo(sized(8192, 8192))).toEqual({ type: 'image/png', width: 8192, height: 8192 });
    expect(readImageInfo(sized(8193, 1))).toBeUndefined();
    expect(readImageInfo(sized(1, 8193))).toBeUndefined();
    expect(readImageInfo(sized(0x7fffffff, 0x7fffffff))).toBeUndefined();
  });
});

describe('readImageInfo: the PNG chunk chain', () => {
  it('accepts ancillary chunks anywhere between IHDR and IEND, and a split IDAT', () => {
    const text = pngChunk('tEXt', ascii('Comment\0made by hand'));
    const half = IDAT.length / 2;
    const idatData = IDAT.subarray(8, IDAT.length - 4);
    const split = [pngChunk('IDAT', idatData.subarray(0, half)), pngChunk('IDAT', idatData.subarray(half))];
    expect(readImageInfo(pngOf(IHDR, text, PHYS, ...split, text, IEND))).toEqual({ type: 'image/png', width: 64, height: 48 });
  });

  it.each([
    ['no IEND', () => pngOf(IHDR, PHYS, IDAT)],
    ['no IDAT', () => pngOf(IHDR, PHYS, IEND)],
    ['IDAT chunks that are not one run', () => pngOf(IHDR, IDAT, PHYS, IDAT, IEND)],
    ['a second IHDR', () => pngOf(IHDR, PHYS, IHDR, IDAT, IEND)],
    ['IHDR not first', () => pngOf(PHYS, IHDR, IDAT, IEND)],
    ['an IEND with data', () => pngOf(IHDR, IDAT, pngChunk('IEND', Uint8Array.of(0)))],
    ['a chunk after IEND', () => concat(PNG, PHYS)],
    ['a wrong CRC on IDAT', () => pngOf(IHDR, PHYS, withByte(IDAT, IDAT.length - 1, IDAT[IDAT.length - 1]! ^ 1), IEND)],
    ['a corrupted byte inside IDAT', () => pngOf(IHDR, PHYS, withByte(IDAT, 20, IDAT[20]! ^ 0x40), IEND)],
    ['a wrong CRC on an ancillary chunk', () => pngOf(IHDR, withByte(PHYS, PHYS.length - 1, 0), IDAT, IEND)],
    ['an unknown critical chunk', () => pngOf(IHDR, pngChunk('ABCD', Uint8Array.of(1, 2, 3)), IDAT, IEND)],
    ['a chunk type that is not letters', () => pngOf(IHDR, pngChunk('ab<d', Uint8Array.of(1)), IDAT, IEND)],
    ['a chunk longer than the file', () => pngOf(IHDR, splice(PHYS, 0, 4, Uint8Array.of(0x7f, 0xff, 0xff, 0xff)), IDAT, IEND)],
    ['a PLTE after IDAT', () => pngOf(IHDR, IDAT, pngChunk('PLTE', Uint8Array.of(0, 0, 0)), IEND)],
    ['a palette image without PLTE', () => {
      const ihdr = Uint8Array.from(IHDR.subarray(8, 21));
      ihdr[9] = 3; // palette colour type
      return pngOf(pngChunk('IHDR', ihdr), IDAT, IEND);
    }],
  ])('refuses %s', (_, build) => {
    expect(readImageInfo(build())).toBeUndefined();
  });

  it('any ancillary chunks with any data keep a PNG valid; any byte after IEND does not', () => {
    const ancillary = fc.tuple(fc.stringMatching(/^[a-z][A-Za-z][A-Z][a-z]$/), fc.uint8Array({ maxLength: 64 }));
    fc.assert(
      fc.property(fc.array(ancillary, { maxLength: 4 }), fc.uint8Array({ minLength: 1, maxLength: 16 }), (chunks, tail) => {
        const extra = chunks.map(([type, data]) => pngChunk(type, data));
        const png = pngOf(IHDR, ...extra, IDAT, IEND);
        return readImageInfo(png) !== undefined && readImageInfo(concat(png, tail)) === undefined;
      }),
      { numRuns: 300 },
    );
  });
});

describe('readImageInfo: the JPEG segments and scans', () => {
  const sos = JPEG.findIndex((b, i) => b === 0xff && JPEG[i + 1] === 0xda);
  const beforeScan = JPEG.subarray(0, sos);
  const scan = JPEG.subarray(sos, JPEG.length - 2); // SOS, its header and the entropy-coded data
  const EOI = Uint8Array.of(0xff, 0xd9);

  it('accepts a progressive layout: tables and a second scan after the first', () => {
    const comment = Uint8Array.of(0xff, 0xfe, 0, 4, 0x68, 0x69);
    expect(readImageInfo(concat(beforeScan, scan, comment, scan, EOI))).toEqual({ type: 'image/jpeg', width: 320, height: 180 });
  });

  it('accepts restart markers, stuffed bytes and fill bytes inside a scan', () => {
    const entropy = Uint8Array.of(0x12, 0xff, 0x00, 0x34, 0xff, 0xd0, 0x56, 0xff, 0xff, 0xd1, 0x78);
    const header = scan.subarray(0, 2 + ((scan[2]! << 8) | scan[3]!));
    expect(readImageInfo(concat(beforeScan, header, entropy, Uint8Array.of(0xff, 0xff), EOI))).toMatchObject({ width: 320 });
  });

  it.each([
    ['no scan', () => concat(beforeScan, EOI)],
    ['no EOI', () => JPEG.subarray(0, JPEG.length - 2)],
    ['a scan that runs to the end of the file', () => concat(beforeScan, scan)],
    ['a scan before the frame header', () => {
      const sof = jpegFrameHeaderOffset(JPEG);
      return concat(JPEG.subarray(0, sof), scan, JPEG.subarray(sof, sos), EOI);
    }],
    ['two frame headers', () => {
      const sof = jpegFrameHeaderOffset(JPEG);
      return concat(beforeScan, JPEG.subarray(sof, sof + 19), scan, EOI);
    }],
    ['a scan header of the wrong length', () => concat(beforeScan, withByte(scan, 3, scan[3]! + 1), EOI)],
    ['text after EOI', () => concat(JPEG, ascii('<?php system($_GET[0]); ?>'))],
    ['a second image after EOI', () => concat(JPEG, JPEG)],
    ['a segment running past the end of the file', () => concat(beforeScan, Uint8Array.of(0xff, 0xfe, 0xff, 0xff, 1, 2))],
  ])('refuses %s', (_, build) => {
    expect(readImageInfo(build())).toBeUndefined();
  });

  it('comment segments with any content keep a JPEG valid; a non-zero byte after EOI does not', () => {
    const comment = fc.uint8Array({ maxLength: 200 }).map((data) => concat(Uint8Array.of(0xff, 0xfe), u16be(data.length + 2), data));
    fc.assert(
      fc.property(fc.array(comment, { maxLength: 3 }), fc.uint8Array({ minLength: 1, maxLength: 8 }), (comments, tail) => {
        const jpeg = concat(JPEG.subarray(0, 2), ...comments, JPEG.subarray(2));
        const tailed = readImageInfo(concat(jpeg, tail));
        return readImageInfo(jpeg) !== undefined && (tail.every((b) => b === 0) ? tailed !== undefined : tailed === undefined);
      }),
      { numRuns: 300 },
    );
  });
});

describe('readImageInfo: the WebP RIFF container', () => {
  it.each([
    ['a RIFF size larger than the file', () => withByte(WEBP_LOSSY, 4, WEBP_LOSSY[4]! + 2)],
    ['a RIFF size smaller than the file', () => withByte(WEBP_LOSSY, 4, WEBP_LOSSY[4]! - 2)],
    ['a chunk after the RIFF container', () => concat(WEBP_LOSSY, webpChunk('EXIF', ascii('junk')))],
    ['a chunk running past the RIFF container', () => webpOf(webpBody(WEBP_LOSSY).subarray(0, 8 + 1306), concat(ascii('EXIF'), Uint8Array.of(0xff, 0, 0, 0)))],
    ['an odd-sized last chunk without its padding byte', () => webpOf(webpBody(WEBP_LOSSY), webpChunk('EXIF', ascii('abc')).subarray(0, 11))],
    ['a chunk type that is not printable', () => webpOf(webpBody(WEBP_LOSSY), webpChunk('EX\u0000F', ascii('ab')))],
    ['an extended file (VP8X) with no frame', () => webpOf(webpBody(WEBP_EXTENDED).subarray(0, 18 + 18))],
  ])('refuses %s', (_, build) => {
    expect(readImageInfo(build())).toBeUndefined();
  });

  it('accepts metadata chunks after the frame, padded to even lengths', () => {
    expect(readImageInfo(webpOf(webpBody(WEBP_EXTENDED), webpChunk('EXIF', ascii('abc')), webpChunk('XMP ', ascii('<x/>'))))).toEqual({
      type: 'image/webp',
      width: 50,
      height: 20,
    });
  });

  it('any extra chunks keep an extended WebP valid when the RIFF size says so, and break it when it does not', () => {
    const chunk = fc.tuple(fc.constantFrom('EXIF', 'XMP ', 'ICCP', 'UNKN'), fc.uint8Array({ maxLength: 64 })).map(([type, data]) => webpChunk(type, data));
    fc.assert(
      fc.property(fc.array(chunk, { minLength: 1, maxLength: 4 }), (chunks) => {
        const webp = webpOf(webpBody(WEBP_EXTENDED), ...chunks);
        const lying = withByte(webp, 4, (webp[4]! + 2) & 0xff);
        return readImageInfo(webp) !== undefined && readImageInfo(lying) === undefined;
      }),
      { numRuns: 300 },
    );
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
  ])('refuses %s', (name, bytes) => {
    expect(sniffImageType(bytes)).toBe(name.includes('PNG') ? 'image/png' : 'image/webp'); // the magic bytes alone would pass
    expect(readImageInfo(bytes)).toBeUndefined();
  });

  it('reads the canvas size of a VP8X chunk up to 8192 × 8192, and refuses one larger', () => {
    const canvas = (widthMinusOne: number, heightMinusOne: number) =>
      splice(WEBP_EXTENDED, 24, 6, Uint8Array.of(widthMinusOne & 0xff, widthMinusOne >> 8, 0, heightMinusOne & 0xff, heightMinusOne >> 8, 0));
    expect(readImageInfo(canvas(8191, 8191))).toEqual({ type: 'image/webp', width: 8192, height: 8192 });
    expect(readImageInfo(canvas(8192, 0))).toBeUndefined();
    expect(readImageInfo(canvas(0, 16383))).toBeUndefined();
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
