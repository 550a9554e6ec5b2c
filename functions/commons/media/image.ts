/**
 * Image inspection from header bytes alone: enough to tell which of the three keyframe formats a client
 * uploaded and how large it is, without decoding pixels or pulling in an image library.
 *
 * Everything here reads client-controlled bytes, so every read is bounds-checked (out of range reads give
 * `undefined`, never an exception) and every loop advances by at least one byte. A signature alone is not
 * trusted: a PNG must carry a well-formed IHDR with a matching CRC, a JPEG must reach a well-formed frame
 * header through well-formed segments, a WebP must carry a consistent first chunk. That turns away
 * polyglots and garbage that merely start with the right magic bytes.
 */

export type ImageType = 'image/png' | 'image/jpeg' | 'image/webp';

export interface ImageSize {
  width: number;
  height: number;
}

export interface ImageInfo extends ImageSize {
  type: ImageType;
}

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
 * Type and pixel size read from the header; undefined when the bytes are not a well-formed header of one
 * of the three formats, or are cut short before the size.
 */
export function readImageInfo(bytes: Uint8Array): ImageInfo | undefined {
  const type = sniffImageType(bytes);
  if (type === undefined) return undefined;
  const size = SIZE_READERS[type](bytes);
  if (size === undefined || !isPositiveInteger(size.width) || !isPositiveInteger(size.height)) return undefined;
  return { type, width: size.width, height: size.height };
}

const SIZE_READERS: Record<ImageType, (bytes: Uint8Array) => ImageSize | undefined> = {
  'image/png': readPngSize,
  'image/jpeg': readJpegSize,
  'image/webp': readWebpSize,
};

// ---------------------------------------------------------------------------------------------------- PNG

const IHDR_DATA_LENGTH = 13;
/** The PNG spec caps both dimensions at 2^31 - 1 so they fit a signed 32-bit integer. */
const PNG_MAX_DIMENSION = 0x7fffffff;
/** Bit depths each colour type allows (PNG spec, table 11.1); anything else is not a PNG a decoder accepts. */
const PNG_BIT_DEPTHS: Readonly<Record<number, readonly number[]>> = {
  0: [1, 2, 4, 8, 16],
  2: [8, 16],
  3: [1, 2, 4, 8],
  4: [8, 16],
  6: [8, 16],
};

/** IHDR must be the first chunk, so the size sits at a fixed offset; its CRC turns away junk behind a signature. */
function readPngSize(bytes: Uint8Array): ImageSize | undefined {
  const lengthOffset = PNG_SIGNATURE.length;
  const typeOffset = lengthOffset + 4;
  const dataOffset = typeOffset + 4;
  const crcOffset = dataOffset + IHDR_DATA_LENGTH;
  if (u32be(bytes, lengthOffset) !== IHDR_DATA_LENGTH || ascii(bytes, typeOffset, 4) !== 'IHDR') return undefined;
  const storedCrc = u32be(bytes, crcOffset);
  if (storedCrc === undefined || storedCrc !== crc32(bytes.subarray(typeOffset, crcOffset))) return undefined;

  const width = u32be(bytes, dataOffset);
  const height = u32be(bytes, dataOffset + 4);
  const [bitDepth, colourType, compression, filter, interlace] = bytes.subarray(dataOffset + 8, crcOffset);
  const validLayout =
    PNG_BIT_DEPTHS[colourType]?.includes(bitDepth) === true && compression === 0 && filter === 0 && interlace <= 1;
  if (!validLayout || width === undefined || height === undefined) return undefined;
  if (width > PNG_MAX_DIMENSION || height > PNG_MAX_DIMENSION) return undefined;
  return { width, height };
}

let crcTable: Uint32Array | undefined;

function crc32(bytes: Uint8Array): number {
  crcTable ??= buildCrcTable();
  let crc = 0xffffffff;
  for (const byte of bytes) crc = crcTable[(crc ^ byte) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

function buildCrcTable(): Uint32Array {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
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

/** Markers that stand alone, with no length field to skip. */
function isStandaloneMarker(marker: number): boolean {
  return marker === JPEG_MARKER.TEM || (marker >= 0xd0 && marker <= 0xd7);
}

/**
 * Walks the segments after SOI (APPn with EXIF or ICC profiles can be large and come first) until the
 * frame header. Anything that cannot occur before a frame header in a valid file (a scan, end of image, a
 * second SOI, a byte that is not a marker) ends the walk with undefined.
 */
function readJpegSize(bytes: Uint8Array): ImageSize | undefined {
  let offset = 2; // after SOI
  while (offset < bytes.length) {
    if (bytes[offset] !== 0xff) return undefined;
    // A marker may be preceded by any number of 0xFF fill bytes.
    while (bytes[offset] === 0xff) offset++;
    const marker = bytes[offset];
    if (marker === undefined) return undefined;
    offset++;
    if (isStandaloneMarker(marker)) continue;
    if (marker === 0x00 || marker === JPEG_MARKER.SOI || marker === JPEG_MARKER.EOI || marker === JPEG_MARKER.SOS) {
      return undefined;
    }
    const length = u16be(bytes, offset);
    if (length === undefined || length < 2) return undefined;
    if (isStartOfFrame(marker)) return readJpegFrameHeader(bytes, offset, length);
    offset += length;
  }
  return undefined;
}

/** SOFn payload: length(2) precision(1) height(2) width(2) components(1) then 3 bytes per component. */
function readJpegFrameHeader(bytes: Uint8Array, offset: number, length: number): ImageSize | undefined {
  if (offset + length > bytes.length) return undefined;
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

// --------------------------------------------------------------------------------------------------- WebP

const RIFF_HEADER_BYTES = 12;
const CHUNK_HEADER_BYTES = 8;
const FIRST_CHUNK_DATA = RIFF_HEADER_BYTES + CHUNK_HEADER_BYTES;
const VP8_START_CODE = [0x9d, 0x01, 0x2a] as const;
const VP8L_SIGNATURE = 0x2f;
const VP8X_CHUNK_BYTES = 10;
/** The container spec requires canvas width × height to fit 32 bits. */
const VP8X_MAX_AREA = 0xffffffff;

/** The first chunk decides the flavour: lossy (VP8), lossless (VP8L) or extended (VP8X, with a canvas size). */
function readWebpSize(bytes: Uint8Array): ImageSize | undefined {
  const riffPayload = u32le(bytes, 4);
  const chunkType = ascii(bytes, RIFF_HEADER_BYTES, 4);
  const chunkSize = u32le(bytes, RIFF_HEADER_BYTES + 4);
  if (riffPayload === undefined || chunkType === undefined || chunkSize === undefined) return undefined;
  // The RIFF payload is 'WEBP' plus chunks; a first chunk larger than that is a lie about the layout.
  if (chunkSize + CHUNK_HEADER_BYTES + 4 > riffPayload) return undefined;
  switch (chunkType) {
    case 'VP8 ':
      return readVp8Size(bytes, chunkSize);
    case 'VP8L':
      return readVp8lSize(bytes, chunkSize);
    case 'VP8X':
      return readVp8xSize(bytes, chunkSize);
    default:
      return undefined;
  }
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
  const size = { width: widthMinusOne + 1, height: heightMinusOne + 1 };
  return size.width * size.height > VP8X_MAX_AREA ? undefined : size;
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

function isPositiveInteger(value: number): boolean {
  return Number.isSafeInteger(value) && value > 0;
}
