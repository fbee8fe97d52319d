// A small PNG encoder on Node's native zlib (deflate and CRC-32 in C), for the archive worker: fast-png's
// pure-JS deflate (pako) costs 70–170 ms CPU per 640×480 RGB image on a small 2-core PC, this about a third of
// that, with smaller files (`npm run bench -- archive-encode` measures both side by side). It writes
// the plain subset every decoder reads: IHDR, one IDAT, IEND; no interlace, no palette, no ancillary chunks.
// Grey or RGB (or their alpha variants), 8 or 16 bits per sample. Every row uses one fixed filter, "Sub" by
// default, at zlib level 2: measured on a 640×480 synthetic frame, its heatmap and a 16-bit map, Sub gave the
// smallest files of none/sub/up (frame 492 KiB vs 543 up, 625 none; map 115 KiB vs 138, 347) at the same speed,
// and levels above 2 cost more time than they save bytes. An adaptive per-row choice or Paeth would cost more JS
// time per byte, which is what this file exists to avoid.
import { constants, crc32, deflateSync } from 'node:zlib';

export interface PngImage {
  width: number;
  height: number;
  /** 1 grey, 2 grey + alpha, 3 RGB, 4 RGBA; samples interleaved, rows top to bottom, no padding. */
  channels: 1 | 2 | 3 | 4;
  /** 8: data is a Uint8Array (or Buffer); 16: a Uint16Array in native order (written big-endian). */
  depth: 8 | 16;
  data: Uint8Array | Uint16Array;
}

/** PNG row filter types (PNG spec §9.2) offered here; Average and Paeth are left out (see the header). */
export type PngFilter = 'none' | 'sub' | 'up';

export interface PngEncodeOptions {
  /** zlib level 0–9; 1–3 are fast with most of the gain (default 2). */
  level?: number;
  filter?: PngFilter;
}

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const COLOUR_TYPE = { 1: 0, 2: 4, 3: 2, 4: 6 } as const;
const FILTER_CODE: Record<PngFilter, number> = { none: 0, sub: 1, up: 2 };

/** The PNG file's bytes. Throws RangeError when the size, depth or data length do not match. */
export function encodePng(img: PngImage, opts: PngEncodeOptions = {}): Buffer {
  checkImage(img);
  const bytes = sampleBytes(img);
  const stride = img.width * img.channels * (img.depth / 8);
  const filtered = filterRows(
    bytes,
    stride,
    img.height,
    img.channels * (img.depth / 8),
    opts.filter ?? 'sub',
  );
  const idat = deflateSync(filtered, { level: opts.level ?? 2, strategy: constants.Z_DEFAULT_STRATEGY });
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(img.width, 0);
  ihdr.writeUInt32BE(img.height, 4);
  ihdr[8] = img.depth;
  ihdr[9] = COLOUR_TYPE[img.channels];
  // [10..12] = compression 0 (deflate), filter method 0, interlace 0 (none): already zero
  return Buffer.concat([SIGNATURE, chunk('IHDR', ihdr), chunk('IDAT', idat), chunk('IEND', Buffer.alloc(0))]);
}

function checkImage(img: PngImage): void {
  const { width, height, channels, depth, data } = img;
  const dim = (v: number): boolean => Number.isInteger(v) && v >= 1 && v <= 0x7fffffff;
  if (!dim(width) || !dim(height)) throw new RangeError(`encodePng: bad size ${width}×${height}`);
  if (![1, 2, 3, 4].includes(channels)) throw new RangeError(`encodePng: bad channel count ${channels}`);
  if (depth === 8 ? !(data instanceof Uint8Array) : depth === 16 ? !(data instanceof Uint16Array) : true) {
    throw new RangeError(
      `encodePng: depth ${depth} needs ${depth === 16 ? 'a Uint16Array' : 'a Uint8Array'}`,
    );
  }
  if (data.length !== width * height * channels) {
    throw new RangeError(`encodePng: ${data.length} samples is not ${width}×${height}×${channels}`);
  }
}

/** The samples as bytes in PNG order (16-bit: big-endian; on our little-endian platforms, a byte swap). */
function sampleBytes(img: PngImage): Uint8Array {
  const d = img.data;
  if (img.depth === 8) return d as Uint8Array;
  const out = Buffer.allocUnsafe(d.length * 2);
  for (let i = 0; i < d.length; i++) {
    const v = d[i];
    out[2 * i] = v >>> 8;
    out[2 * i + 1] = v & 0xff;
  }
  return out;
}

/** Rows prefixed by their filter type byte, filtered (bpp: bytes per pixel, the "Sub" distance). */
function filterRows(src: Uint8Array, stride: number, height: number, bpp: number, filter: PngFilter): Buffer {
  const out = Buffer.allocUnsafe(height * (stride + 1));
  const code = FILTER_CODE[filter];
  for (let y = 0; y < height; y++) {
    const s = y * stride;
    const o = y * (stride + 1);
    // Row 0 has no row above ("Up" against zeros is "None"): written as None, which every decoder reads alike.
    const f = filter === 'up' && y === 0 ? 0 : code;
    out[o] = f;
    if (f === 0) out.set(src.subarray(s, s + stride), o + 1);
    else if (f === 1) {
      for (let x = 0; x < bpp; x++) out[o + 1 + x] = src[s + x];
      for (let x = bpp; x < stride; x++) out[o + 1 + x] = (src[s + x] - src[s + x - bpp]) & 0xff;
    } else {
      const a = s - stride;
      for (let x = 0; x < stride; x++) out[o + 1 + x] = (src[s + x] - src[a + x]) & 0xff;
    }
  }
  return out;
}

/** One chunk: length, type, data, CRC-32 of type + data. */
function chunk(type: string, data: Buffer): Buffer {
  const out = Buffer.allocUnsafe(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  data.copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)) >>> 0, 8 + data.length);
  return out;
}
