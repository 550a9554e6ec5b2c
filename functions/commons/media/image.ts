/**
 * Image inspection without decoding pixels or pulling in an image library: enough to tell which of the
 * three keyframe formats a client uploaded, how large it is, and that the file is that format from its
 * first byte to its last.
 *
 * Everything here reads client-controlled bytes, so every read is bounds-checked (out of range reads give
 * `undefined`, never an exception) and every loop advances by at least one byte. A signature or a header
 * alone is not trusted: the whole file is walked, chunk by chunk or segment by segment, and must end where
 * the format says it ends, with nothing after it. A PNG is IHDR, …, IDAT…, …, IEND with every CRC right; a
 * JPEG reaches a frame header and at least one scan through well-formed segments and ends at EOI; a WebP's
 * RIFF size is the file's size and its chunks fill it exactly. That turns away polyglots (an image header
 * followed by HTML or a ZIP), truncated files and headers with nothing behind them.
 */
import { crc32 } from 'node:zlib';

export type ImageType = 'image/png' | 'image/jpeg' | 'image/webp';

export interface ImageSize {
  width: number;
  height: number;
}

export interface ImageInfo extends ImageSize {
  type: ImageType;
}

/**
 * Width and height are capped, whatever the format allows (PNG 2^31 - 1, WebP 16384): a keyframe is a video
 * frame, and 8192 is twice the widest video the upstream makes.
 */
export const MAX_IMAGE_DIMENSION = 8192;

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a] as const;
const JPEG_SIGNATURE = [0xff, 0xd8, 0xff] as const;

/** Magic-byte sniffing; undefined when not one of the three. */
export function sniffImageType(bytes: Uint8Array): ImageType | undefined {
  if (startsWith(bytes, PNG_SIGNATURE)) return 'image/png';
  if (startsWith(bytes, JPEG_SIGNATURE)) return 'image/jpeg';
  if (ascii(bytes, 0, 4) === 'RIFF' && ascii(bytes, 8, 4) === 'WEBP') return 'image/webp';
  return undefined;
}

/**
 * Type and pixel size; undefined when the bytes are not, from start to end, a well-formed file of one of
 * the three formats, or declare a size of 0 or over MAX_IMAGE_DIMENSION.
 */
export function readImageInfo(bytes: Uint8Array): ImageInfo | undefined {
  const type = sniffImageType(bytes);
  if (type === undefined) return undefined;
  const size = READERS[type](bytes);
  if (size === undefined || !isDimension(size.width) || !isDimension(size.height)) return undefined;
  return { type, width: size.width, height: size.height };
}

const READERS: Record<ImageType, (bytes: Uint8Array) => ImageSize | undefined> = {
  'image/png': readPng,
  'image/jpeg': readJpeg,
  'image/webp': readWebp,
};

// ---------------------------------------------------------------------------------------------------- PNG

const IHDR_DATA_LENGTH = 13;
/** Chunk lengths are at most 2^31 - 1 (PNG spec, 5.3). */
const PNG_MAX_CHUNK_LENGTH = 0x7fffffff;
/** Bit depths each colour type allows (PNG spec, table 11.1); anything else is not a PNG a decoder accepts. */
const PNG_BIT_DEPTHS: Readonly<Record<number, readonly number[]>> = {
  0: [1, 2, 4, 8, 16],
  2: [8, 16],
  3: [1, 2, 4, 8],
  4: [8, 16],
  6: [8, 16],
};
const PALETTE_COLOUR_TYPE = 3;
/** The critical chunks a decoder knows; any other critical one (upper-case first letter) it must refuse. */
const PNG_CRITICAL_CHUNKS = new Set(['IHDR', 'PLTE', 'IDAT', 'IEND']);
const CHUNK_TYPE = /^[A-Za-z]{4}$/;

/**
 * Walks every chunk: IHDR first, its size and layout valid; each chunk's CRC right; PLTE (required for
 * palette images) before the image data; IDAT chunks one run, at least one; IEND empty and last, with no
 * byte after it.
 */
function readPng(bytes: Uint8Array): ImageSize | undefined {
  let offset = PNG_SIGNATURE.length;
  let size: ImageSize | undefined;
  let colourType: number | undefined;
  let palette = false;
  let idat: 'before' | 'in' | 'after' = 'before';
  while (offset < bytes.length) {
    const length = u32be(bytes, offset);
    const type = ascii(bytes, offset + 4, 4);
    if (length === undefined || type === undefined || length > PNG_MAX_CHUNK_LENGTH || !CHUNK_TYPE.test(type)) return undefined;
    const dataOffset = offset + 8;
    const crcOffset = dataOffset + length;
    if (u32be(bytes, crcOffset) !== crc32(bytes.subarray(offset + 4, crcOffset))) return undefined;
    const first = offset === PNG_SIGNATURE.length;
    offset = crcOffset + 4;

    if (first !== (type === 'IHDR')) return undefined;
    if (type === 'IHDR') {
      if (length !== IHDR_DATA_LENGTH) return undefined;
      size = readIhdr(bytes, dataOffset);
      colourType = bytes[dataOffset + 9];
      if (!size) return undefined;
      continue;
    }
    if (type === 'IDAT') {
      if (idat === 'after') return undefined;
      idat = 'in';
      continue;
    }
    if (idat === 'in') idat = 'after';
    if (type === 'PLTE') {
      if (palette || idat !== 'before') return undefined;
      palette = true;
    } else if (type === 'IEND') {
      const complete = length === 0 && idat === 'after' && (palette || colourType !== PALETTE_COLOUR_TYPE);
      return complete && offset === bytes.length ? size : undefined;
    } else if (isCritical(type) && !PNG_CRITICAL_CHUNKS.has(type)) {
      return undefined;
    }
  }
  return undefined; // no IEND
}

function readIhdr(bytes: Uint8Array, dataOffset: number): ImageSize | undefined {
  const width = u32be(bytes, dataOffset);
  const height = u32be(bytes, dataOffset + 4);
  const [bitDepth, colourType, compression, filter, interlace] = bytes.subarray(dataOffset + 8, dataOffset + IHDR_DATA_LENGTH);
  const validLayout =
    PNG_BIT_DEPTHS[colourType]?.includes(bitDepth) === true && compression === 0 && filter === 0 && interlace <= 1;
  if (!validLayout || width === undefined || height === undefined) return undefined;
  return { width, height };
}

/** Bit 5 of a chunk type's first byte: clear (upper case) for critical chunks. */
function isCritical(type: string): boolean {
  return (type.charCodeAt(0) & 0x20) === 0;
}

// --------------------------------------------------------------------------------------------------- JPEG

const JPEG_MARKER = {
  SOI: 0xd8,
  EOI: 0xd9,
  SOS: 0xda,
  TEM: 0x01,
} as const;

/**
 * Start-of-frame markers carry the size: SOF0–SOF15 except DHT (C4), JPG (C8) and DAC (CC), which share
 * the range but are tables or reserved.
 */
function isStartOfFrame(marker: number): boolean {
  return marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
}

/** Markers that stand alone, with no length field to skip: TEM and the restart markers RST0–RST7. */
function isStandaloneMarker(marker: number): boolean {
  return marker === JPEG_MARKER.TEM || isRestartMarker(marker);
}

function isRestartMarker(marker: number): boolean {
  return marker >= 0xd0 && marker <= 0xd7;
}

/**
 * Walks the segments after SOI (APPn with EXIF or ICC profiles can be large and come first): exactly one
 * frame header, then one or more scans (a progressive JPEG has several, with tables between them), each
 * followed by its entropy-coded data, up to EOI. After EOI only zero bytes may follow: some encoders pad
 * files with them, and they carry nothing; any other byte is refused.
 */
function readJpeg(bytes: Uint8Array): ImageSize | undefined {
  let offset = 2; // after SOI
  let size: ImageSize | undefined;
  let scans = 0;
  while (offset < bytes.length) {
    if (bytes[offset] !== 0xff) return undefined;
    // A marker may be preceded by any number of 0xFF fill bytes.
    while (bytes[offset] === 0xff) offset++;
    const marker = bytes[offset];
    if (marker === undefined) return undefined;
    offset++;
    if (isStandaloneMarker(marker)) continue;
    if (marker === JPEG_MARKER.EOI) {
      return size !== undefined && scans > 0 && onlyZeros(bytes, offset) ? size : undefined;
    }
    if (marker === 0x00 || marker === JPEG_MARKER.SOI) return undefined;
    const length = u16be(bytes, offset);
    if (length === undefined || length < 2 || offset + length > bytes.length) return undefined;
    if (isStartOfFrame(marker)) {
      if (size !== undefined) return undefined;
      size = readJpegFrameHeader(bytes, offset, length);
      if (size === undefined) return undefined;
    }
    if (marker === JPEG_MARKER.SOS) {
      const components = bytes[offset + 2];
      if (size === undefined || components === undefined || components < 1 || components > 4 || length !== 6 + 2 * components) {
        return undefined;
      }
      scans++;
      const end = endOfEntropyCodedData(bytes, offset + length);
      if (end === undefined) return undefined;
      offset = end;
      continue;
    }
    offset += length;
  }
  return undefined; // no EOI
}

/** SOFn payload: length(2) precision(1) height(2) width(2) components(1) then 3 bytes per component. */
function readJpegFrameHeader(bytes: Uint8Array, offset: number, length: number): ImageSize | undefined {
  const precision = bytes[offset + 2];
  const height = u16be(bytes, offset + 3);
  const width = u16be(bytes, offset + 5);
  const components = bytes[offset + 7];
  if (components === undefined || components === 0 || length !== 8 + 3 * components) return undefined;
  if (precision < 2 || precision > 16) return undefined;
  // Height 0 defers the real height to a DNL marker after the first scan: not readable from the header.
  if (width === undefined || height === undefined || width === 0 || height === 0) return undefined;
  return { width, height };
}

/**
 * Where a scan's entropy-coded data ends: at the first 0xFF that starts a marker, that is one followed
 * (after any fill bytes) by neither a stuffed 0x00 nor a restart marker. Undefined when the file ends first.
 */
function endOfEntropyCodedData(bytes: Uint8Array, offset: number): number | undefined {
  let from = offset;
  for (;;) {
    const ff = bytes.indexOf(0xff, from);
    if (ff === -1) return undefined;
    let next = ff + 1;
    while (bytes[next] === 0xff) next++;
    const byte = bytes[next];
    if (byte === undefined) return undefined;
    if (byte !== 0x00 && !isRestartMarker(byte)) return ff;
    from = next + 1;
  }
}

function onlyZeros(bytes: Uint8Array, offset: number): boolean {
  for (let i = offset; i < bytes.length; i++) if (bytes[i] !== 0) return false;
  return true;
}

// --------------------------------------------------------------------------------------------------- WebP

const RIFF_HEADER_BYTES = 12;
const CHUNK_HEADER_BYTES = 8;
const FIRST_CHUNK_DATA = RIFF_HEADER_BYTES + CHUNK_HEADER_BYTES;
const VP8_START_CODE = [0x9d, 0x01, 0x2a] as const;
const VP8L_SIGNATURE = 0x2f;
const VP8X_CHUNK_BYTES = 10;
/** Chunks that carry a frame: an extended file (VP8X) must have one after its header. */
const WEBP_IMAGE_CHUNKS = new Set(['VP8 ', 'VP8L', 'ANMF']);
const FOURCC = /^[\x20-\x7e]{4}$/;

/**
 * The RIFF size must be the file's size, and its chunks (each padded to an even length) must fill it
 * exactly. The first chunk decides the flavour: lossy (VP8), lossless (VP8L) or extended (VP8X, with a
 * canvas size, then the frame in a later chunk).
 */
function readWebp(bytes: Uint8Array): ImageSize | undefined {
  const riffPayload = u32le(bytes, 4);
  if (riffPayload === undefined || riffPayload + 8 !== bytes.length) return undefined;
  const chunks = webpChunks(bytes);
  const first = chunks?.[0];
  if (!first) return undefined;
  switch (first.type) {
    case 'VP8 ':
      return readVp8Size(bytes, first.size);
    case 'VP8L':
      return readVp8lSize(bytes, first.size);
    case 'VP8X':
      return chunks.some((chunk) => WEBP_IMAGE_CHUNKS.has(chunk.type)) ? readVp8xSize(bytes, first.size) : undefined;
    default:
      return undefined;
  }
}

/** The chunks after the RIFF header, or undefined unless they end exactly at the end of the file. */
function webpChunks(bytes: Uint8Array): { type: string; size: number }[] | undefined {
  const chunks: { type: string; size: number }[] = [];
  let offset = RIFF_HEADER_BYTES;
  while (offset < bytes.length) {
    const type = ascii(bytes, offset, 4);
    const size = u32le(bytes, offset + 4);
    if (type === undefined || size === undefined || !FOURCC.test(type)) return undefined;
    offset += CHUNK_HEADER_BYTES + size + (size & 1);
    if (offset > bytes.length) return undefined;
    chunks.push({ type, size });
  }
  return chunks;
}

/** Lossy bitstream: a key-frame tag (3 bytes), the start code, then 14-bit width and height (2 scale bits each). */
function readVp8Size(bytes: Uint8Array, chunkSize: number): ImageSize | undefined {
  const frameTag = bytes[FIRST_CHUNK_DATA];
  const isKeyFrame = frameTag !== undefined && (frameTag & 1) === 0;
  const hasStartCode = VP8_START_CODE.every((b, i) => bytes[FIRST_CHUNK_DATA + 3 + i] === b);
  const width = u16le(bytes, FIRST_CHUNK_DATA + 6);
  const height = u16le(bytes, FIRST_CHUNK_DATA + 8);
  if (chunkSize < 10 || !isKeyFrame || !hasStartCode || width === undefined || height === undefined) return undefined;
  return { width: width & 0x3fff, height: height & 0x3fff };
}

/** Lossless bitstream: signature byte, then 14 bits width-1, 14 bits height-1, alpha bit, 3-bit version (0). */
function readVp8lSize(bytes: Uint8Array, chunkSize: number): ImageSize | undefined {
  const bits = u32le(bytes, FIRST_CHUNK_DATA + 1);
  if (chunkSize < 5 || bytes[FIRST_CHUNK_DATA] !== VP8L_SIGNATURE || bits === undefined) return undefined;
  if (bits >>> 29 !== 0) return undefined;
  return { width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1 };
}

/** Extended format: flags(1) reserved(3) then 24-bit canvas width-1 and height-1. */
function readVp8xSize(bytes: Uint8Array, chunkSize: number): ImageSize | undefined {
  const widthMinusOne = u24le(bytes, FIRST_CHUNK_DATA + 4);
  const heightMinusOne = u24le(bytes, FIRST_CHUNK_DATA + 7);
  if (chunkSize !== VP8X_CHUNK_BYTES || widthMinusOne === undefined || heightMinusOne === undefined) return undefined;
  return { width: widthMinusOne + 1, height: heightMinusOne + 1 };
}

// ------------------------------------------------------------------------------------- bounds-checked reads

function startsWith(bytes: Uint8Array, prefix: readonly number[]): boolean {
  return bytes.length >= prefix.length && prefix.every((b, i) => bytes[i] === b);
}

function ascii(bytes: Uint8Array, offset: number, length: number): string | undefined {
  if (offset + length > bytes.length) return undefined;
  return String.fromCharCode(...bytes.subarray(offset, offset + length));
}

function u16be(bytes: Uint8Array, offset: number): number | undefined {
  if (offset + 2 > bytes.length) return undefined;
  return (bytes[offset] << 8) | bytes[offset + 1];
}

function u32be(bytes: Uint8Array, offset: number): number | undefined {
  if (offset + 4 > bytes.length) return undefined;
  return bytes[offset] * 0x1000000 + ((bytes[offset + 1] << 16) | (bytes[offset + 2] << 8) | bytes[offset + 3]);
}

function u16le(bytes: Uint8Array, offset: number): number | undefined {
  if (offset + 2 > bytes.length) return undefined;
  return bytes[offset] | (bytes[offset + 1] << 8);
}

function u24le(bytes: Uint8Array, offset: number): number | undefined {
  if (offset + 3 > bytes.length) return undefined;
  return bytes[offset] | (bytes[offset + 1] << 8) | (bytes[offset + 2] << 16);
}

function u32le(bytes: Uint8Array, offset: number): number | undefined {
  if (offset + 4 > bytes.length) return undefined;
  return (bytes[offset] | (bytes[offset + 1] << 8) | (bytes[offset + 2] << 16)) + bytes[offset + 3] * 0x1000000;
}

function isDimension(value: number): boolean {
  return Number.isSafeInteger(value) && value > 0 && value <= MAX_IMAGE_DIMENSION;
}
