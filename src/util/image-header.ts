// An image's format and pixel size read from its header bytes alone, before anything is decoded. A small
// compressed file can decode to gigabytes (a 20000×20000 PNG of zeros is about 1 MB on disk, 1.2 GB in
// memory), so a decoder is only called once the size is known and allowed. Pure: bytes in, numbers out.

/**
 * Default limit on decoded pixels: a 20 MP line camera with a 3× margin (192 MB as 8-bit RGB). Larger images
 * need the limit raised on purpose (`maxImagePixels` of a files camera, `--max-image-pixels` of infer/train).
 */
export const DEFAULT_MAX_IMAGE_PIXELS = 64_000_000;

export type ImageFormat = 'png' | 'jpeg' | 'bmp' | 'tiff' | 'webp' | 'pnm';

export interface ImageHeader {
  format: ImageFormat;
  width: number;
  height: number;
}

/** Why a header could not give a size: not an image format we know, or a known format cut short. */
export class ImageHeaderError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ImageHeaderError';
  }
}

const ascii = (b: Uint8Array, at: number, n: number): string =>
  at + n <= b.length ? String.fromCharCode(...b.subarray(at, at + n)) : '';

/** The format and size in the header of `bytes` (the whole file or at least its header). */
export function readImageHeader(bytes: Uint8Array): ImageHeader {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const need = (n: number, what: string): void => {
    if (bytes.length < n) throw new ImageHeaderError(`${what} header cut short`);
  };
  if (bytes[0] === 0x89 && ascii(bytes, 1, 3) === 'PNG') {
    need(24, 'PNG');
    if (ascii(bytes, 12, 4) !== 'IHDR') throw new ImageHeaderError('PNG without IHDR first');
    return { format: 'png', width: v.getUint32(16), height: v.getUint32(20) };
  }
  if (bytes[0] === 0xff && bytes[1] === 0xd8) return jpegSize(bytes, v);
  if (ascii(bytes, 0, 2) === 'BM') {
    need(26, 'BMP');
    if (v.getUint32(14, true) === 12) {
      return { format: 'bmp', width: v.getUint16(18, true), height: v.getUint16(20, true) };
    }
    // Height is negative for top-down bitmaps.
    return { format: 'bmp', width: Math.abs(v.getInt32(18, true)), height: Math.abs(v.getInt32(22, true)) };
  }
  const order = ascii(bytes, 0, 2);
  if (order === 'II' || order === 'MM') return tiffSize(bytes, v, order === 'II');
  if (ascii(bytes, 0, 4) === 'RIFF' && ascii(bytes, 8, 4) === 'WEBP') return webpSize(bytes, v);
  if (bytes[0] === 0x50 && bytes[1] >= 0x31 && bytes[1] <= 0x36) return pnmSize(bytes);
  throw new ImageHeaderError('not a PNG, JPEG, BMP, TIFF, WebP or PNM image');
}

/** Start-of-frame markers carry the size: C0-CF except DHT (C4), JPG (C8) and DAC (CC). */
const isSof = (m: number): boolean => m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc;

function jpegSize(bytes: Uint8Array, v: DataView): ImageHeader {
  let at = 2;
  while (at + 4 <= bytes.length) {
    if (bytes[at] !== 0xff) throw new ImageHeaderError(`JPEG: no marker at byte ${at}`);
    const marker = bytes[at + 1];
    if (marker === 0xff) {
      at++; // fill byte
      continue;
    }
    // Markers without a length: TEM, RSTn, SOI.
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd8)) {
      at += 2;
      continue;
    }
    if (marker === 0xd9 || marker === 0xda) break; // EOI or start of scan before any frame header
    const len = v.getUint16(at + 2);
    if (isSof(marker)) {
      if (at + 9 > bytes.length) break;
      const height = v.getUint16(at + 5);
      const width = v.getUint16(at + 7);
      // A height of 0 defers it to a DNL marker after the first scan: the size is not in the header.
      if (height === 0) throw new ImageHeaderError('JPEG with its height in a DNL marker');
      return { format: 'jpeg', width, height };
    }
    at += 2 + len;
  }
  throw new ImageHeaderError('JPEG without a frame header');
}

function tiffSize(bytes: Uint8Array, v: DataView, le: boolean): ImageHeader {
  if (bytes.length < 16) throw new ImageHeaderError('TIFF header cut short');
  const magic = v.getUint16(2, le);
  const big = magic === 43;
  if (magic !== 42 && !big) throw new ImageHeaderError('not a PNG, JPEG, BMP, TIFF, WebP or PNM image');
  // The first image (IFD 0) is what a decoder reads.
  const ifd = big ? Number(v.getBigUint64(8, le)) : v.getUint32(4, le);
  const entrySize = big ? 20 : 12;
  const countSize = big ? 8 : 2;
  if (ifd + countSize > bytes.length) throw new ImageHeaderError('TIFF directory past the end of the file');
  const n = big ? Number(v.getBigUint64(ifd, le)) : v.getUint16(ifd, le);
  let width: number | undefined;
  let height: number | undefined;
  for (let i = 0; i < n; i++) {
    const e = ifd + countSize + i * entrySize;
    if (e + entrySize > bytes.length) break;
    const tag = v.getUint16(e, le);
    if (tag !== 256 && tag !== 257) continue;
    const type = v.getUint16(e + 2, le);
    const valueAt = e + (big ? 12 : 8);
    // SHORT (3), LONG (4) or LONG8 (16), stored in the entry itself.
    const value =
      type === 3
        ? v.getUint16(valueAt, le)
        : type === 16
          ? Number(v.getBigUint64(valueAt, le))
          : v.getUint32(valueAt, le);
    if (tag === 256) width = value;
    else height = value;
  }
  if (width === undefined || height === undefined) throw new ImageHeaderError('TIFF without width or height');
  return { format: 'tiff', width, height };
}

function webpSize(bytes: Uint8Array, v: DataView): ImageHeader {
  if (bytes.length < 30) throw new ImageHeaderError('WebP header cut short');
  const chunk = ascii(bytes, 12, 4);
  if (chunk === 'VP8 ') {
    // Lossy: 14-bit sizes after the frame tag (3 bytes) and start code (3 bytes).
    return { format: 'webp', width: v.getUint16(26, true) & 0x3fff, height: v.getUint16(28, true) & 0x3fff };
  }
  if (chunk === 'VP8L') {
    // Lossless: signature 0x2f, then width-1 and height-1 in 14 bits each.
    const bits = v.getUint32(21, true);
    return { format: 'webp', width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1 };
  }
  if (chunk === 'VP8X') {
    // Extended: 24-bit canvas width-1 and height-1.
    const w = bytes[24] | (bytes[25] << 8) | (bytes[26] << 16);
    const h = bytes[27] | (bytes[28] << 8) | (bytes[29] << 16);
    return { format: 'webp', width: w + 1, height: h + 1 };
  }
  throw new ImageHeaderError(`WebP with an unknown chunk "${chunk}"`);
}

function pnmSize(bytes: Uint8Array): ImageHeader {
  // "P6 <width> <height> ...", whitespace separated, '#' comments to the end of a line.
  const text = ascii(bytes, 0, Math.min(bytes.length, 1024)).replace(/#[^\n\r]*/g, ' ');
  const m = /^P[1-6]\s+(\d+)\s+(\d+)/.exec(text);
  if (!m) throw new ImageHeaderError('PNM header without width and height');
  return { format: 'pnm', width: Number(m[1]), height: Number(m[2]) };
}
