import { readFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { Mp4Inspector, NotMp4Error, type Mp4Info } from '../../../functions/commons/media/mp4.ts';

setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

/**
 * Bytes of array buffers still referenced. Two full collections first: V8 frees a dead buffer's memory
 * concurrently, and one collection may leave a buffer or two that are garbage still counted.
 */
function referencedBufferBytes(): number {
  collectGarbage();
  collectGarbage();
  return process.memoryUsage().arrayBuffers;
}

// Made with ffmpeg (commands in local/assets/README.md); sizes and durations confirmed with ffprobe.
const SAMPLE = readFileSync(new URL('../../../local/assets/sample.mp4', import.meta.url));
const SAMPLE_INFO: Mp4Info = { width: 320, height: 180, durationSeconds: 3 };
const MOOV_AT_END = readFileSync(new URL('../../fixtures/media/moov-at-end.mp4', import.meta.url));
const MOOV_AT_END_INFO: Mp4Info = { width: 160, height: 90, durationSeconds: 2 };
const JPEG = readFileSync(new URL('../../../local/assets/sample.jpg', import.meta.url));

function inspect(chunks: Iterable<Uint8Array>, options?: { maxMoovBytes?: number }): Mp4Info {
  const inspector = new Mp4Inspector(options);
  for (const chunk of chunks) inspector.push(chunk);
  return inspector.finish();
}

function* chunksOf(bytes: Uint8Array, size: number): Generator<Uint8Array> {
  for (let offset = 0; offset < bytes.length; offset += size) yield bytes.subarray(offset, offset + size);
}

function* splitAt(bytes: Uint8Array, cuts: number[]): Generator<Uint8Array> {
  let start = 0;
  for (const cut of [...cuts].sort((a, b) => a - b)) {
    yield bytes.subarray(start, cut);
    start = cut;
  }
  yield bytes.subarray(start);
}

// ------------------------------------------------------------------ box helpers (test-side, trusted input)

interface TopLevelBox {
  type: string;
  start: number;
  size: number;
  headerBytes: number;
}

/** Top-level layout of a trusted file (32-bit sizes only, as ffmpeg writes small files). */
function topLevelBoxes(file: Uint8Array): TopLevelBox[] {
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const boxes: TopLevelBox[] = [];
  for (let start = 0; start < file.length; ) {
    const size = view.getUint32(start);
    boxes.push({ type: new TextDecoder().decode(file.subarray(start + 4, start + 8)), start, size, headerBytes: 8 });
    start += size;
  }
  return boxes;
}

function payloadOf(file: Uint8Array, type: string): Uint8Array {
  const box = topLevelBoxes(file).find((b) => b.type === type)!;
  return file.subarray(box.start + box.headerBytes, box.start + box.size);
}

function wholeBox(file: Uint8Array, type: string): Uint8Array {
  const box = topLevelBoxes(file).find((b) => b.type === type)!;
  return file.subarray(box.start, box.start + box.size);
}

function concatBytes(...parts: Uint8Array[]): Uint8Array {
  return Uint8Array.from(parts.flatMap((part) => [...part]));
}

function u32(value: number): Uint8Array {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, value);
  return bytes;
}

function u64(value: number): Uint8Array {
  const bytes = new Uint8Array(8);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(value));
  return bytes;
}

function ascii(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

function box(type: string, ...payload: Uint8Array[]): Uint8Array {
  const body = concatBytes(...payload);
  return concatBytes(u32(8 + body.length), ascii(type), body);
}

/** size == 1: the real size follows the type as 64 bits. */
function largeBoxHeader(type: string, payloadBytes: number): Uint8Array {
  return concatBytes(u32(1), ascii(type), u64(16 + payloadBytes));
}

/** size == 0: the box runs to the end of the file. */
function toEndBox(type: string, payload: Uint8Array): Uint8Array {
  return concatBytes(u32(0), ascii(type), payload);
}

const FTYP = box('ftyp', ascii('isom'), u32(0x200), ascii('isomiso2avc1mp41'));

function mvhdV1(timescale: number, duration: number): Uint8Array {
  return box('mvhd', u32(0x01000000), u64(0), u64(0), u32(timescale), u64(duration), new Uint8Array(80));
}

function tkhdV1(width: number, height: number): Uint8Array {
  const times = concatBytes(u64(0), u64(0), u32(1), u32(0), u64(0));
  return box('tkhd', u32(0x01000000), times, new Uint8Array(52), u32(width * 0x10000), u32(height * 0x10000));
}

function trak(handler: string, tkhd: Uint8Array): Uint8Array {
  const hdlr = box('hdlr', u32(0), u32(0), ascii(handler), new Uint8Array(13));
  return box('trak', tkhd, box('mdia', hdlr));
}

// ------------------------------------------------------------------------------------------------- tests

describe('Mp4Inspector on real files', () => {
  it('reads size and duration of the fast-start sample (moov before mdat)', () => {
    expect(topLevelBoxes(SAMPLE).map((b) => b.type)).toEqual(['ftyp', 'moov', 'free', 'mdat']);
    expect(inspect([SAMPLE])).toEqual(SAMPLE_INFO);
  });

  it('reads size and duration when moov comes after mdat', () => {
    expect(topLevelBoxes(MOOV_AT_END).map((b) => b.type)).toEqual(['ftyp', 'free', 'mdat', 'moov']);
    expect(inspect([MOOV_AT_END])).toEqual(MOOV_AT_END_INFO);
  });

  it.each([
    ['fast start', SAMPLE, SAMPLE_INFO],
    ['moov at end', MOOV_AT_END, MOOV_AT_END_INFO],
  ] as const)('gives the same result for chunks of every size from 1 byte to the whole file (%s)', (_, file, info) => {
    for (let size = 1; size <= file.length; size++) {
      // Compared by hand so that a failure names the chunk size that broke it.
      const result = inspect(chunksOf(file, size));
      const same = result.width === info.width && result.height === info.height;
      if (!same || result.durationSeconds !== info.durationSeconds) {
        expect.fail(`chunk size ${size} gave ${JSON.stringify(result)}`);
      }
    }
  });

  it('gives the same result for any random split of the stream', () => {
    for (const [file, info] of [
      [SAMPLE, SAMPLE_INFO],
      [MOOV_AT_END, MOOV_AT_END_INFO],
    ] as const) {
      const cuts = fc.uniqueArray(fc.integer({ min: 1, max: file.length - 1 }), { maxLength: 60 });
      fc.assert(
        fc.property(cuts, (at) => {
          expect(inspect(splitAt(file, at))).toEqual(info);
        }),
        { numRuns: 300 },
      );
    }
  });

  it('accepts empty chunks anywhere', () => {
    const empty = new Uint8Array(0);
    expect(inspect([empty, SAMPLE.subarray(0, 5), empty, SAMPLE.subarray(5), empty])).toEqual(SAMPLE_INFO);
  });

  it('copies what it keeps, so callers may reuse their chunk buffers', () => {
    const moovToEnd = concatBytes(FTYP, wholeBox(SAMPLE, 'mdat'), toEndBox('moov', payloadOf(SAMPLE, 'moov')));
    for (const [file, info] of [
      [MOOV_AT_END, MOOV_AT_END_INFO],
      [moovToEnd, SAMPLE_INFO],
    ] as const) {
      const inspector = new Mp4Inspector();
      const reused = new Uint8Array(512);
      for (const chunk of chunksOf(file, 512)) {
        reused.set(chunk);
        inspector.push(reused.subarray(0, chunk.length));
        reused.fill(0xee);
      }
      expect(inspector.finish()).toEqual(info);
    }
  });
});

describe('Mp4Inspector box sizes', () => {
  it('follows a 64-bit largesize mdat and a moov that runs to the end of the file (size 0)', () => {
    const mdat = payloadOf(SAMPLE, 'mdat');
    const moov = toEndBox('moov', payloadOf(SAMPLE, 'moov'));
    const file = concatBytes(FTYP, largeBoxHeader('mdat', mdat.length), mdat, moov);
    for (const size of [1, 7, 13, 64, file.length]) expect(inspect(chunksOf(file, size))).toEqual(SAMPLE_INFO);
  });

  it('follows an mdat that runs to the end of the file (size 0) after moov', () => {
    const file = concatBytes(FTYP, wholeBox(SAMPLE, 'moov'), toEndBox('mdat', payloadOf(SAMPLE, 'mdat')));
    for (const size of [1, 9, file.length]) expect(inspect(chunksOf(file, size))).toEqual(SAMPLE_INFO);
  });

  it('skips a multi-gigabyte mdat by counting, keeping none of it', () => {
    const MiB = 1024 * 1024;
    const chunkBytes = 16 * MiB;
    const chunkCount = 320; // 5 GiB: past 32-bit sizes, so the mdat needs a largesize
    const inspector = new Mp4Inspector();
    const baseline = referencedBufferBytes();
    inspector.push(concatBytes(FTYP, largeBoxHeader('mdat', chunkBytes * chunkCount)));
    for (let i = 0; i < chunkCount; i++) {
      // A new chunk each time, allocated after the baseline: any the inspector kept, or copied, would
      // count. Zeroed pages the OS hands out lazily, never read while skipped: cheap to make.
      inspector.push(new Uint8Array(chunkBytes));
      // Measured as it goes, so an inspector that keeps chunks fails here before it can exhaust memory.
      // The chunk just pushed may still be referenced from this frame: one chunk, and a little, allowed.
      if (i % 4 === 3) expect(referencedBufferBytes() - baseline, `after ${i + 1} chunks`).toBeLessThan(chunkBytes + MiB);
    }
    inspector.push(wholeBox(SAMPLE, 'moov'));
    expect(inspector.finish()).toEqual(SAMPLE_INFO);
    expect(referencedBufferBytes() - baseline).toBeLessThan(chunkBytes + MiB);
  });

  it('reads version 1 mvhd and tkhd, and picks the video track over an audio track', () => {
    const moov = box('moov', mvhdV1(90_000, 225_000), trak('soun', tkhdV1(0, 0)), trak('vide', tkhdV1(1920, 1080)));
    expect(inspect([concatBytes(FTYP, moov)])).toEqual({ width: 1920, height: 1080, durationSeconds: 2.5 });
  });
});

describe('Mp4Inspector rejects what is not an MP4', () => {
  it('names its error NotMp4Error', () => {
    const error = new NotMp4Error('x');
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('NotMp4Error');
  });

  it.each([
    ['a JPEG', JPEG],
    ['an HTML page', ascii('<!DOCTYPE html><html><body>Service Unavailable</body></html>')],
    ['a JSON error', ascii('{"detail":"Not found"}')],
    ['a PNG signature', Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)],
  ])('refuses %s within its first 8 bytes', (_, bytes) => {
    const inspector = new Mp4Inspector();
    expect(() => inspector.push(bytes.subarray(0, 8))).toThrow(NotMp4Error);
  });

  it('refuses a byte stream as soon as a byte of the first box type differs from ftyp', () => {
    const inspector = new Mp4Inspector();
    inspector.push(SAMPLE.subarray(0, 6)); // size and 'ft': could still be an MP4
    expect(() => new Mp4Inspector().push(concatBytes(SAMPLE.subarray(0, 6), ascii('x')))).toThrow(NotMp4Error);
    expect(() => new Mp4Inspector().push(JPEG.subarray(0, 5))).toThrow(NotMp4Error);
  });

  it('refuses random bytes from the first push, and keeps refusing', () => {
    const notFtyp = fc
      .uint8Array({ minLength: 8, maxLength: 256 })
      .filter((bytes) => new TextDecoder().decode(bytes.subarray(4, 8)) !== 'ftyp');
    fc.assert(
      fc.property(notFtyp, (bytes) => {
        const inspector = new Mp4Inspector();
        expect(() => inspector.push(bytes)).toThrow(NotMp4Error);
        expect(() => inspector.push(SAMPLE)).toThrow(NotMp4Error);
        expect(() => inspector.finish()).toThrow(NotMp4Error);
      }),
    );
  });

  it.each([
    ['a box size below its header', concatBytes(FTYP, u32(3), ascii('free'))],
    ['a largesize below its header', concatBytes(FTYP, u32(1), ascii('mdat'), u64(15))],
    ['a largesize beyond any real file', concatBytes(FTYP, u32(1), ascii('mdat'), new Uint8Array(8).fill(0xff))],
    ['a box type that is not four characters', concatBytes(FTYP, u32(16), Uint8Array.of(0, 1, 2, 3))],
    ['an ftyp too small to hold a brand', concatBytes(u32(8), ascii('ftyp'))],
    ['an ftyp of gigabytes', concatBytes(u32(0x40000000), ascii('ftyp'))],
    ['an ftyp that runs to the end of the file', concatBytes(u32(0), ascii('ftyp'))],
  ])('refuses %s as soon as the header is read', (_, bytes) => {
    expect(() => new Mp4Inspector().push(bytes)).toThrow(NotMp4Error);
  });

  it('refuses a declared moov larger than the cap as soon as its header is read', () => {
    expect(() => new Mp4Inspector().push(concatBytes(FTYP, u32(0x7fffffff), ascii('moov')))).toThrow(/moov/);
    expect(() => new Mp4Inspector().push(largeBoxHeader('moov', 2 ** 40))).toThrow(NotMp4Error);
    expect(() => inspect([SAMPLE], { maxMoovBytes: 1024 })).toThrow(NotMp4Error);
    expect(() => inspect([MOOV_AT_END], { maxMoovBytes: 1024 })).toThrow(NotMp4Error);
  });

  it('refuses a moov running to the end of the file once it outgrows the cap', () => {
    const inspector = new Mp4Inspector({ maxMoovBytes: 4096 });
    inspector.push(concatBytes(FTYP, u32(0), ascii('moov')));
    inspector.push(new Uint8Array(4000));
    expect(() => inspector.push(new Uint8Array(200))).toThrow(NotMp4Error);
  });

  it('accepts a moov exactly at the cap', () => {
    const moov = wholeBox(SAMPLE, 'moov');
    expect(inspect([SAMPLE], { maxMoovBytes: moov.length })).toEqual(SAMPLE_INFO);
  });
});

describe('Mp4Inspector.finish', () => {
  it('refuses any stream cut short, wherever the cut falls', () => {
    for (const file of [SAMPLE, MOOV_AT_END]) {
      fc.assert(
        fc.property(fc.integer({ min: 0, max: file.length - 1 }), (length) => {
          const inspector = new Mp4Inspector();
          inspector.push(file.subarray(0, length)); // a valid prefix: push has nothing to object to
          expect(() => inspector.finish()).toThrow(NotMp4Error);
        }),
        { numRuns: 500 },
      );
    }
  });

  it('refuses a stream cut inside a box header, inside moov, and right after mdat', () => {
    const [, free, mdat, moov] = topLevelBoxes(MOOV_AT_END);
    for (const cut of [3, free!.start + 5, mdat!.start + 12, moov!.start, moov!.start + 4, moov!.start + 100]) {
      expect(() => inspect([MOOV_AT_END.subarray(0, cut)]), `cut at ${cut}`).toThrow(NotMp4Error);
    }
  });

  it('refuses an empty stream and a stream without moov', () => {
    expect(() => inspect([])).toThrow(NotMp4Error);
    expect(() => inspect([FTYP, box('mdat', new Uint8Array(100))])).toThrow(/no moov/);
  });

  it('refuses a movie without a video track', () => {
    const audioOnly = Uint8Array.from(SAMPLE);
    const handler = Buffer.from(audioOnly).indexOf('hdlr') + 12;
    expect(new TextDecoder().decode(audioOnly.subarray(handler, handler + 4))).toBe('vide');
    audioOnly.set(ascii('soun'), handler);
    const inspector = new Mp4Inspector();
    inspector.push(audioOnly);
    expect(() => inspector.finish()).toThrow(/no video track/);
  });

  it('throws nothing but NotMp4Error on corrupted files, and never a non-positive size', () => {
    const moov = topLevelBoxes(SAMPLE).find((b) => b.type === 'moov')!;
    const moovEnd = moov.start + moov.size; // corrupt the headers and the metadata, where the parsing happens
    const edit = fc.tuple(fc.nat({ max: moovEnd + 16 }), fc.integer({ min: 0, max: 255 }));
    const edits = fc.array(edit, { minLength: 1, maxLength: 4 });
    fc.assert(
      fc.property(edits, (changes) => {
        const corrupted = Uint8Array.from(SAMPLE);
        for (const [offset, value] of changes) corrupted[offset] = value;
        try {
          const info = inspect([corrupted]);
          expect(info.width > 0 && info.height > 0 && info.durationSeconds >= 0).toBe(true);
        } catch (error) {
          expect(error).toBeInstanceOf(NotMp4Error);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('refuses a moov whose child boxes overrun it', () => {
    const broken = box('moov', u32(500), ascii('mvhd'), new Uint8Array(20));
    expect(() => inspect([concatBytes(FTYP, broken)])).toThrow(NotMp4Error);
  });
});
