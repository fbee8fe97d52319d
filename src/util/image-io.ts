// Image files in and out through OpenCV, always as 8-bit HWC RGB in memory; and NumPy .npy for anomaly
// maps. Files are read and written by Node (clear ENOENT/EACCES errors, any path) and only the bytes go
// through OpenCV: imread on a missing file logs to stderr, and imdecode of an empty buffer aborts the process.
// The header is read before decoding and images above a pixel limit are refused: a 1 MB PNG can decode to
// gigabytes, and the native decoder then aborts the whole process (no exception to catch).
import { readFileSync, writeFileSync } from 'node:fs';
import { extname } from 'node:path';
import { cv } from './cv.js';
import { DEFAULT_MAX_IMAGE_PIXELS, ImageHeaderError, readImageHeader } from './image-header.js';

export { DEFAULT_MAX_IMAGE_PIXELS };

export interface RgbImage {
  width: number;
  height: number;
  channels: 3;
  /** HWC RGB, 8 bit. */
  data: Uint8Array;
}

export interface ImageData8 {
  width: number;
  height: number;
  channels: 1 | 3;
  /** HWC, RGB when 3 channels. */
  data: Uint8Array;
}

export class ImageReadError extends Error {
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`cannot read image ${path}: ${reason}`);
    this.name = 'ImageReadError';
  }
}

/** An image whose header gives more pixels than allowed: refused before it is decoded. */
export class ImageTooLargeError extends ImageReadError {
  constructor(
    path: string,
    readonly width: number,
    readonly height: number,
    readonly maxPixels: number,
  ) {
    super(
      path,
      `${width}×${height} pixels (${megapixels(width * height)}) is above the limit of ` +
        `${megapixels(maxPixels)}`,
    );
    this.name = 'ImageTooLargeError';
  }
}

const megapixels = (n: number): string => `${+(n / 1e6).toFixed(1)} MP`;

export interface ReadImageOptions {
  /** Images with more pixels than this are refused before decoding. Default DEFAULT_MAX_IMAGE_PIXELS. */
  maxPixels?: number;
}

/**
 * Reads png/jpg/bmp/tif/webp/pnm; grey, 16-bit and alpha inputs become 8-bit RGB (alpha dropped). Throws
 * ImageTooLargeError (before decoding) above `maxPixels`, ImageReadError for anything else unusable.
 */
export function readImage(path: string, opts: ReadImageOptions = {}): RgbImage {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new ImageReadError(path, (e as NodeJS.ErrnoException).code ?? String(e));
  }
  if (bytes.length === 0) throw new ImageReadError(path, 'empty file');
  checkHeader(path, bytes, opts.maxPixels ?? DEFAULT_MAX_IMAGE_PIXELS);
  const c = cv();
  // ANYDEPTH keeps 16-bit samples (scaled below rather than truncated); ANYCOLOR keeps grey as grey.
  const mat = c.imdecode(bytes, c.IMREAD_ANYCOLOR | c.IMREAD_ANYDEPTH);
  if (mat.empty) throw new ImageReadError(path, 'not a decodable image');
  const mats = [mat];
  try {
    let m = mat;
    const depth = m.type & 7;
    if (depth === c.CV_16U) {
      m = m.convertTo(c.CV_8U + ((m.channels - 1) << 3), 255 / 65535);
      mats.push(m);
    } else if (depth !== c.CV_8U) {
      throw new ImageReadError(path, `unsupported sample type (OpenCV depth ${depth})`);
    }
    const code =
      m.channels === 1
        ? c.COLOR_GRAY2RGB
        : m.channels === 3
          ? c.COLOR_BGR2RGB
          : m.channels === 4
            ? c.COLOR_BGRA2RGB
            : -1;
    if (code < 0) throw new ImageReadError(path, `unsupported channel count ${m.channels}`);
    const rgb = m.cvtColor(code);
    mats.push(rgb);
    const buf = rgb.getData();
    return {
      width: rgb.cols,
      height: rgb.rows,
      channels: 3,
      data: new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength),
    };
  } finally {
    for (const m of mats) m.release();
  }
}

function checkHeader(path: string, bytes: Uint8Array, maxPixels: number): void {
  let h;
  try {
    h = readImageHeader(bytes);
  } catch (e) {
    if (e instanceof ImageHeaderError) throw new ImageReadError(path, `not a decodable image: ${e.message}`);
    throw e;
  }
  if (h.width === 0 || h.height === 0) throw new ImageReadError(path, `${h.width}×${h.height} pixels`);
  if (h.width * h.height > maxPixels) throw new ImageTooLargeError(path, h.width, h.height, maxPixels);
}

/** Writes an 8-bit grey or RGB image; the format follows the extension (png, jpg, bmp, tif…). */
export function writeImage(path: string, img: ImageData8): void {
  const { width, height, channels, data } = img;
  if (data.length !== width * height * channels) {
    throw new RangeError(`writeImage ${path}: ${data.length} bytes for ${width}×${height}×${channels}`);
  }
  const c = cv();
  const src = new c.Mat(
    Buffer.from(data.buffer, data.byteOffset, data.byteLength),
    height,
    width,
    channels === 3 ? c.CV_8UC3 : c.CV_8UC1,
  );
  const bgr = channels === 3 ? src.cvtColor(c.COLOR_RGB2BGR) : src;
  let encoded: Buffer;
  try {
    encoded = c.imencode(extname(path) || '.png', bgr);
  } catch (e) {
    throw new Error(`cannot write image ${path}: no encoder for "${extname(path)}" (${String(e)})`);
  } finally {
    if (bgr !== src) bgr.release();
    src.release();
  }
  writeFileSync(path, encoded);
}

const NPY_MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // \x93NUMPY

/** The header NumPy writes for a C-order little-endian float32 array (format 1.0). */
function npyHeader(shape: number[]): Buffer {
  const dims = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  // NumPy ≥ 1.24 leaves room for the first axis to grow to 21 digits in place; we match its bytes.
  const spare = shape.length > 0 ? ' '.repeat(Math.max(0, 21 - String(shape[0]).length)) : '';
  const dict = `{'descr': '<f4', 'fortran_order': False, 'shape': ${dims}, }` + spare;
  // Magic (6) + version (2) + length (2) + dict + padding + '\n' is a multiple of 64.
  const total = Math.ceil((10 + dict.length + 1) / 64) * 64;
  const text = dict + ' '.repeat(total - 10 - dict.length - 1) + '\n';
  const head = Buffer.alloc(10);
  NPY_MAGIC.copy(head, 0);
  head[6] = 1;
  head[7] = 0;
  head.writeUInt16LE(text.length, 8);
  return Buffer.concat([head, Buffer.from(text, 'latin1')]);
}

/** Writes a float32 array as NumPy .npy (v1.0, '<f4', C order), readable by numpy.load. */
export function writeNpy(path: string, data: Float32Array, shape: number[]): void {
  writeFileSync(path, encodeNpy(data, shape, `writeNpy ${path}`));
}

/** The bytes of a .npy file holding `data` (see writeNpy). */
export function encodeNpy(data: Float32Array, shape: number[], what = 'encodeNpy'): Buffer {
  const n = shape.reduce((a, b) => a * b, 1);
  if (!shape.every((d) => Number.isInteger(d) && d >= 0) || n !== data.length) {
    throw new RangeError(`${what}: shape (${shape.join(', ')}) does not hold ${data.length} values`);
  }
  const body = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  // The platforms we run on are little-endian, so the Float32Array bytes are already '<f4'.
  return Buffer.concat([npyHeader(shape), body]);
}

/** Reads a .npy written as '<f4' C-order (what writeNpy and numpy.save of float32 produce). */
export function readNpy(path: string): { shape: number[]; data: Float32Array } {
  const buf = readFileSync(path);
  const bad = (why: string): Error => new Error(`not a supported .npy file ${path}: ${why}`);
  if (buf.length < 10 || !buf.subarray(0, 6).equals(NPY_MAGIC)) throw bad('bad magic');
  const major = buf[6];
  let headerLen: number;
  let start: number;
  if (major === 1) {
    headerLen = buf.readUInt16LE(8);
    start = 10;
  } else if (major === 2 || major === 3) {
    headerLen = buf.readUInt32LE(8);
    start = 12;
  } else {
    throw bad(`version ${major}.${buf[7]}`);
  }
  const header = buf.toString('latin1', start, start + headerLen);
  const descr = /'descr':\s*'([^']*)'/.exec(header)?.[1];
  if (descr !== '<f4') throw bad(`dtype ${descr ?? '?'} (want <f4)`);
  if (!/'fortran_order':\s*False/.test(header)) throw bad('Fortran order');
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (shapeText === undefined) throw bad('no shape');
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map(Number);
  const n = shape.reduce((a, b) => a * b, 1);
  const offset = start + headerLen;
  if (buf.length - offset !== n * 4) throw bad(`${buf.length - offset} data bytes for shape (${shape})`);
  // Copy into a fresh, aligned buffer: the file's data offset need not be 4-byte aligned in the pool.
  const data = new Float32Array(n);
  new Uint8Array(data.buffer).set(buf.subarray(offset));
  return { shape, data };
}
