// A small PNG encoder on Node's native zlib (deflate and CRC-32 in C), for the archive worker: fast-png's
// pure-JS deflate (pako) costs 70–170 ms CPU per 640×480 RGB image on a small 2-core PC, this about a third of
// that, with smaller files (`npm run bench -- archive-encode` measures both side by side). It writes
// the plain subset every decoder reads: IHDR, one IDAT, IEND; no interlace, no palette, no ancillary chunks.
// Grey or RGB (or their alpha variants), 8 or 16 bits per sample. Every row uses one fixed filter, "Sub" by
// default, at zlib level 2: measured on a 640×480 synthetic frame, its heatmap and a 16-bit map, Sub gave the
// smallest files of none/sub/up (frame 492 KiB vs 543 up, 625 none; map 115 KiB vs 138, 347) at the same speed,
// and levels above 2 cost more time than they save bytes. An adaptive per-row choice or Paeth would cost more JS
// time per byte, which is what this file exists to avoid.
//
// Large images are encoded in bands of rows (~128 KiB each): every band is its own raw deflate stream ended by a
// sync flush, and the bands joined under one zlib header and the Adler-32 of all rows make one valid zlib stream
// (what pigz does; each band starts with an empty window, which costs well under 1 % in size here). The caller's
// `step` runs each band, so the archive worker can pause between bands while inspection is busy
// (inspection-gate.ts): one step is a few ms instead of the whole image's 30 ms or, at 20 MP, a second.
import { constants, crc32, deflateRawSync, deflateSync } from 'node:zlib';

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

/** Runs one piece of work and returns its result (the caller may pause around it). */
export type Step = <T>(work: () => T) => T;
/** The step that just runs the work. */
export const runNow: Step = (work) => work();

export interface PngEncodeOptions {
  /** zlib level 0–9; 1–3 are fast with most of the gain (default 2). */
  level?: number;
  filter?: PngFilter;
  /** Runs the encoding of each band of rows (see the header); default: at once. */
  step?: Step;
  /** Filtered bytes per band, about (default 128 KiB). */
  bandBytes?: number;
}

const BAND_BYTES = 128 * 1024;

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const COLOUR_TYPE = { 1: 0, 2: 4, 3: 2, 4: 6 } as const;
const FILTER_CODE: Record<PngFilter, number> = { none: 0, sub: 1, up: 2 };

/** The PNG file's bytes. Throws RangeError when the size, depth or data length do not match. */
export function encodePng(img: PngImage, opts: PngEncodeOptions = {}): Buffer {
  checkImage(img);
  const step = opts.step ?? runNow;
  const bytes = step(() => sampleBytes(img));
  const stride = img.width * img.channels * (img.depth / 8);
  const rowsPerBand = Math.max(1, Math.floor((opts.bandBytes ?? BAND_BYTES) / (stride + 1)));
  const rows: Rows = {
    src: bytes,
    stride,
    bpp: img.channels * (img.depth / 8),
    filter: opts.filter ?? 'sub',
  };
  const level = opts.level ?? 2;
  const idat =
    img.height <= rowsPerBand
      ? step(() =>
          deflateSync(filterRows(rows, 0, img.height), { level, strategy: constants.Z_DEFAULT_STRATEGY }),
        )
      : deflateBands(rows, img.height, rowsPerBand, level, step);
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(img.width, 0);
  ihdr.writeUInt32BE(img.height, 4);
  ihdr[8] = img.depth;
  ihdr[9] = COLOUR_TYPE[img.channels];
  // [10..12] = compression 0 (deflate), filter method 0, interlace 0 (none): already zero
  return Buffer.concat([SIGNATURE, chunk('IHDR', ihdr), chunk('IDAT', idat), chunk('IEND', Buffer.alloc(0))]);
}

/** The zlib stream of all rows, band by band (see the header): header, raw deflate bands, Adler-32. */
function deflateBands(rows: Rows, height: number, rowsPerBand: number, level: number, step: Step): Buffer {
  const parts: Buffer[] = [Buffer.from([0x78, 0x01])]; // deflate, 32 KiB window; FLEVEL is informative only
  let adler = 1;
  for (let y = 0; y < height; y += rowsPerBand) {
    const y1 = Math.min(height, y + rowsPerBand);
    const last = y1 === height;
    step(() => {
      const band = filterRows(rows, y, y1);
      adler = adler32(adler, band);
      parts.push(
        deflateRawSync(band, {
          level,
          strategy: constants.Z_DEFAULT_STRATEGY,
          // Not the last band: end byte-aligned without the final-block bit, so the next band can follow.
          finishFlush: last ? constants.Z_FINISH : constants.Z_SYNC_FLUSH,
        }),
      );
    });
  }
  const tail = Buffer.alloc(4);
  tail.writeUInt32BE(adler >>> 0, 0);
  parts.push(tail);
  return Buffer.concat(parts);
}

/** Adler-32 (RFC 1950) continued over `buf`; sums reduced every 3800 bytes so they stay small integers. */
export function adler32(adler: number, buf: Uint8Array): number {
  let a = adler & 0xffff;
  let b = adler >>> 16;
  for (let i = 0; i < buf.length;) {
    const end = Math.min(buf.length, i + 3800);
    for (; i < end; i++) {
      a += buf[i];
      b += a;
    }
    a %= 65521;
    b %= 65521;
  }
  return ((b << 16) | a) >>> 0;
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

/** The image's sample bytes and how its rows are filtered. bpp: bytes per pixel, the "Sub" distance. */
interface Rows {
  src: Uint8Array;
  stride: number;
  bpp: number;
  filter: PngFilter;
}

/** Rows y0 (incl.) to y1 (excl.), each prefixed by its filter type byte, filtered. */
function filterRows({ src, stride, bpp, filter }: Rows, y0: number, y1: number): Buffer {
  const out = Buffer.allocUnsafe((y1 - y0) * (stride + 1));
  const code = FILTER_CODE[filter];
  for (let y = y0; y < y1; y++) {
    const s = y * stride;
    const o = (y - y0) * (stride + 1);
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
