/**
 * Streaming MP4 inspection with bounded memory: the video flows from the upstream into S3 chunk by chunk,
 * and this sees each chunk on the way. Top-level boxes are followed by counting bytes; only `moov` (the
 * metadata, small next to `mdat`) is ever held, and only up to a cap. Whether `moov` comes before the media
 * data (fast start) or after it makes no difference.
 *
 * Errors that prove the stream is not an MP4 (wrong first box, impossible sizes, an oversized moov) are
 * thrown by `push` as soon as they are seen, so a bogus upload is cut off early instead of being copied in
 * full. Errors that only the end can tell (no moov, no video track, a stream cut mid-box) come from `finish`.
 */

export interface Mp4Info {
  width: number;
  height: number;
  durationSeconds: number;
}

export class NotMp4Error extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NotMp4Error';
  }
}

const DEFAULT_MAX_MOOV_BYTES = 16 * 1024 * 1024;
const BOX_HEADER_BYTES = 8;
const LARGE_BOX_HEADER_BYTES = 16;
/** An ftyp holds a major brand, a minor version and a list of brands: anything past a few KiB is not one. */
const MAX_FTYP_BYTES = 4096;
const MIN_FTYP_BYTES = BOX_HEADER_BYTES + 8;
const FTYP = [0x66, 0x74, 0x79, 0x70] as const; // 'ftyp'

/** Where the inspector is within the top-level box sequence. */
type State =
  | { kind: 'header' }
  | { kind: 'skip'; remaining: number }
  | { kind: 'skipToEnd' }
  | { kind: 'moov'; payload: Uint8Array; filled: number }
  | { kind: 'moovToEnd'; chunks: Uint8Array[]; size: number };

interface BoxHeader {
  type: string;
  headerBytes: number;
  /** Whole box size, header included; undefined when the box runs to the end of the file (size 0). */
  size: number | undefined;
}

export class Mp4Inspector {
  readonly #maxMoovBytes: number;
  #state: State = { kind: 'header' };
  readonly #header = new Uint8Array(LARGE_BOX_HEADER_BYTES);
  #headerFilled = 0;
  #boxesSeen = 0;
  /** Settled when moov has been read whole: the info, or why it cannot be had (reported by `finish`). */
  #moov: Mp4Info | NotMp4Error | undefined;
  /** Once the stream is known not to be an MP4, the state is meaningless: every later call repeats the verdict. */
  #failure: NotMp4Error | undefined;

  constructor(options?: { maxMoovBytes?: number }) {
    const max = options?.maxMoovBytes ?? DEFAULT_MAX_MOOV_BYTES;
    if (!Number.isSafeInteger(max) || max < BOX_HEADER_BYTES) throw new RangeError(`invalid maxMoovBytes: ${max}`);
    this.#maxMoovBytes = max;
  }

  /** Feed the next chunk, in order. Throws NotMp4Error as soon as the bytes cannot be an MP4. */
  push(chunk: Uint8Array): void {
    if (this.#failure) throw this.#failure;
    try {
      let offset = 0;
      while (offset < chunk.length) offset += this.#consume(chunk.subarray(offset));
    } catch (error) {
      if (error instanceof NotMp4Error) this.#failure = error;
      throw error;
    }
  }

  /** Call at end of stream: the info read from moov, or NotMp4Error when the stream did not hold a whole one. */
  finish(): Mp4Info {
    if (this.#failure) throw this.#failure;
    const state = this.#state;
    if (state.kind === 'moovToEnd') {
      this.#moov = readMoovSafely(concat(state.chunks, state.size));
      this.#state = { kind: 'skipToEnd' };
    }
    if (this.#boxesSeen === 0 && this.#headerFilled === 0) throw new NotMp4Error('empty stream');
    if (this.#endsMidBox()) throw new NotMp4Error('stream ended in the middle of a box');
    if (this.#moov === undefined) throw new NotMp4Error('no moov box');
    if (this.#moov instanceof NotMp4Error) throw this.#moov;
    return this.#moov;
  }

  #endsMidBox(): boolean {
    const { kind } = this.#state;
    return kind === 'skip' || kind === 'moov' || (kind === 'header' && this.#headerFilled > 0);
  }

  /** Consumes a prefix of `bytes` (at least one byte) and returns how many bytes it took. */
  #consume(bytes: Uint8Array): number {
    const state = this.#state;
    switch (state.kind) {
      case 'header':
        return this.#consumeHeader(bytes);
      case 'skip': {
        const taken = Math.min(state.remaining, bytes.length);
        state.remaining -= taken;
        if (state.remaining === 0) this.#state = { kind: 'header' };
        return taken;
      }
      case 'skipToEnd':
        return bytes.length;
      case 'moov': {
        const taken = Math.min(state.payload.length - state.filled, bytes.length);
        state.payload.set(bytes.subarray(0, taken), state.filled);
        state.filled += taken;
        if (state.filled === state.payload.length) this.#settleMoov(state.payload);
        return taken;
      }
      case 'moovToEnd': {
        state.size += bytes.length;
        if (state.size > this.#maxMoovBytes) throw moovTooLarge(state.size, this.#maxMoovBytes);
        // Copied: the caller may reuse its chunk buffers once push returns.
        state.chunks.push(bytes.slice());
        return bytes.length;
      }
    }
  }

  #consumeHeader(bytes: Uint8Array): number {
    const needed = this.#headerBytesNeeded() - this.#headerFilled;
    const taken = Math.min(needed, bytes.length);
    this.#header.set(bytes.subarray(0, taken), this.#headerFilled);
    this.#headerFilled += taken;
    if (this.#boxesSeen === 0) this.#rejectUnlessFtypSoFar();
    if (this.#headerFilled === this.#headerBytesNeeded()) this.#beginBox(parseBoxHeader(this.#header));
    return taken;
  }

  /** 8 bytes, or 16 once the 32-bit size says a 64-bit size follows the type. */
  #headerBytesNeeded(): number {
    return this.#headerFilled >= 4 && readU32(this.#header, 0) === 1 ? LARGE_BOX_HEADER_BYTES : BOX_HEADER_BYTES;
  }

  /** Checks the type bytes as they arrive, so that a JPEG or an HTML page is refused within its first 8 bytes. */
  #rejectUnlessFtypSoFar(): void {
    for (let i = 4; i < Math.min(this.#headerFilled, BOX_HEADER_BYTES); i++) {
      if (this.#header[i] !== FTYP[i - 4]) throw new NotMp4Error('the first box is not ftyp');
    }
  }

  #beginBox(box: BoxHeader): void {
    checkFourCharacterCode(box.type);
    if (this.#boxesSeen === 0) checkFtyp(box);
    this.#boxesSeen++;
    this.#headerFilled = 0;
    const isFirstMoov = box.type === 'moov' && this.#moov === undefined;
    if (box.size === undefined) {
      this.#state = isFirstMoov ? { kind: 'moovToEnd', chunks: [], size: 0 } : { kind: 'skipToEnd' };
      return;
    }
    const payloadBytes = box.size - box.headerBytes;
    if (isFirstMoov) {
      if (box.size > this.#maxMoovBytes) throw moovTooLarge(box.size, this.#maxMoovBytes);
      const payload = new Uint8Array(payloadBytes);
      this.#state = { kind: 'moov', payload, filled: 0 };
      if (payloadBytes === 0) this.#settleMoov(payload);
    } else {
      this.#state = payloadBytes === 0 ? { kind: 'header' } : { kind: 'skip', remaining: payloadBytes };
    }
  }

  #settleMoov(payload: Uint8Array): void {
    this.#moov = readMoovSafely(payload);
    this.#state = { kind: 'header' };
  }
}

function moovTooLarge(size: number, max: number): NotMp4Error {
  return new NotMp4Error(`moov box of ${size} bytes exceeds the ${max}-byte limit`);
}

function checkFtyp(box: BoxHeader): void {
  if (box.type !== 'ftyp') throw new NotMp4Error('the first box is not ftyp');
  if (box.size === undefined || box.size < MIN_FTYP_BYTES || box.size > MAX_FTYP_BYTES) {
    throw new NotMp4Error(`impossible ftyp size: ${box.size ?? 'to end of file'}`);
  }
}

/** Reads the box header at the start of `bytes`; throws when it is cut short or its size is impossible. */
function parseBoxHeader(bytes: Uint8Array): BoxHeader {
  const size32 = readU32(bytes, 0);
  if (size32 === undefined || bytes.length < BOX_HEADER_BYTES) throw new NotMp4Error('truncated box header');
  const type = String.fromCharCode(...bytes.subarray(4, 8));
  if (size32 === 0) return { type, headerBytes: BOX_HEADER_BYTES, size: undefined };
  if (size32 === 1) {
    const size = readU64(bytes, 8);
    if (size === undefined || size < LARGE_BOX_HEADER_BYTES) throw new NotMp4Error(`unreadable size for box ${type}`);
    return { type, headerBytes: LARGE_BOX_HEADER_BYTES, size };
  }
  if (size32 < BOX_HEADER_BYTES) throw new NotMp4Error(`impossible size ${size32} for box ${type}`);
  return { type, headerBytes: BOX_HEADER_BYTES, size: size32 };
}

/**
 * Box types are four printable characters (Apple's metadata adds '©'). Checked on top-level boxes only:
 * there, any other byte means the walk lost sync with the file, or never had it. Inside moov the sizes
 * already bound the walk, and an odd child type is simply not one we read.
 */
function checkFourCharacterCode(type: string): void {
  const printable = [...type].every((c) => (c >= ' ' && c <= '~') || c === '\u00a9');
  if (!printable) throw new NotMp4Error('box type is not a four-character code');
}

// ---------------------------------------------------------------------------------------------- moov parsing

interface Box {
  type: string;
  body: Uint8Array;
}

function readMoovSafely(payload: Uint8Array): Mp4Info | NotMp4Error {
  try {
    return readMoovInfo(payload);
  } catch (error) {
    if (error instanceof NotMp4Error) return error;
    throw error;
  }
}

/**
 * Duration from mvhd; size from the tkhd of the first track whose handler is 'vide'. tkhd holds the
 * presentation size (after pixel aspect ratio), which is the size a player shows.
 */
export function readMoovInfo(moovPayload: Uint8Array): Mp4Info {
  const children = readBoxes(moovPayload);
  const mvhd = children.find((box) => box.type === 'mvhd');
  if (!mvhd) throw new NotMp4Error('moov has no mvhd');
  const durationSeconds = readMovieDuration(mvhd.body);
  for (const trak of children.filter((box) => box.type === 'trak')) {
    const size = readVideoTrackSize(trak.body);
    if (size) return { ...size, durationSeconds };
  }
  throw new NotMp4Error('no video track');
}

/** mvhd (full box): v0 has 32-bit times and duration, v1 64-bit; the timescale is 32-bit in both. */
function readMovieDuration(mvhd: Uint8Array): number {
  const version = mvhd[0];
  if (version === 0) return toSeconds(readU32(mvhd, 16), readU32(mvhd, 12), 0xffffffff);
  if (version === 1) return toSeconds(readU64(mvhd, 24), readU32(mvhd, 20));
  throw new NotMp4Error(`unknown mvhd version ${version}`);
}

/** `unknown` is the all-ones value a writer stores when it does not know the duration (v1's reads as undefined). */
function toSeconds(duration: number | undefined, timescale: number | undefined, unknown?: number): number {
  if (duration === undefined || timescale === undefined) throw new NotMp4Error('unreadable mvhd');
  if (timescale === 0) throw new NotMp4Error('mvhd timescale is zero');
  if (duration === unknown) throw new NotMp4Error('mvhd duration is unknown');
  return duration / timescale;
}

function readVideoTrackSize(trak: Uint8Array): { width: number; height: number } | undefined {
  const children = readBoxes(trak);
  const mdia = children.find((box) => box.type === 'mdia');
  const hdlr = mdia && readBoxes(mdia.body).find((box) => box.type === 'hdlr');
  if (!hdlr || readHandlerType(hdlr.body) !== 'vide') return undefined;
  const tkhd = children.find((box) => box.type === 'tkhd');
  if (!tkhd) throw new NotMp4Error('video track has no tkhd');
  return readTrackSize(tkhd.body);
}

/** hdlr (full box): version/flags(4) pre_defined(4) handler_type(4). */
function readHandlerType(hdlr: Uint8Array): string | undefined {
  return hdlr.length >= 12 ? String.fromCharCode(...hdlr.subarray(8, 12)) : undefined;
}

/**
 * tkhd (full box): after the times, track id and duration (20 bytes in v0, 32 in v1) come 52 bytes of
 * reserved, layer, group, volume and matrix, then width and height as 16.16 fixed point.
 */
function readTrackSize(tkhd: Uint8Array): { width: number; height: number } {
  const version = tkhd[0];
  if (version !== 0 && version !== 1) throw new NotMp4Error(`unknown tkhd version ${version}`);
  const widthOffset = version === 0 ? 76 : 88;
  const width = readU32(tkhd, widthOffset);
  const height = readU32(tkhd, widthOffset + 4);
  if (width === undefined || height === undefined) throw new NotMp4Error('truncated tkhd');
  const size = { width: Math.round(width / 0x10000), height: Math.round(height / 0x10000) };
  if (size.width <= 0 || size.height <= 0) throw new NotMp4Error('video track has no size');
  return size;
}

/** Child boxes of a container payload. Every child must fit its parent: a walk that overruns is malformed. */
function readBoxes(container: Uint8Array): Box[] {
  const boxes: Box[] = [];
  let offset = 0;
  while (offset < container.length) {
    const rest = container.subarray(offset);
    const header = parseBoxHeader(rest);
    const size = header.size ?? rest.length;
    if (size > rest.length) throw new NotMp4Error(`box ${header.type} overruns its parent`);
    boxes.push({ type: header.type, body: rest.subarray(header.headerBytes, size) });
    offset += size;
  }
  return boxes;
}

// ------------------------------------------------------------------------------------------------ byte reads

function readU32(bytes: Uint8Array, offset: number): number | undefined {
  if (offset + 4 > bytes.length) return undefined;
  return bytes[offset] * 0x1000000 + ((bytes[offset + 1] << 16) | (bytes[offset + 2] << 8) | bytes[offset + 3]);
}

/** A 64-bit big-endian value, or undefined beyond 2^53: no real file or duration is that large. */
function readU64(bytes: Uint8Array, offset: number): number | undefined {
  const high = readU32(bytes, offset);
  const low = readU32(bytes, offset + 4);
  if (high === undefined || low === undefined || high > 0x1fffff) return undefined;
  return high * 0x100000000 + low;
}

function concat(chunks: Uint8Array[], size: number): Uint8Array {
  const whole = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    whole.set(chunk, offset);
    offset += chunk.length;
  }
  return whole;
}
