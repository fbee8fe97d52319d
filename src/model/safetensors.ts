// safetensors reading and writing (https://github.com/huggingface/safetensors#format):
// 8-byte little-endian header length N, N bytes of JSON header, then the data section.
// Weights arrive from users, so the parser trusts nothing: every structural problem becomes a
// SafetensorsError that names the file and the problem, never a crash or silently wrong numbers.
import { readFileSync, writeFileSync } from 'node:fs';

export type DType = 'F32' | 'F16' | 'BF16';

export interface TensorData {
  /** dtype as stored in the file (or to be written); `data` is always decoded to f32. */
  dtype: DType;
  shape: number[];
  data: Float32Array;
}

export class SafetensorsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SafetensorsError';
  }
}

const ITEM_SIZE: Record<DType, number> = { F32: 4, F16: 2, BF16: 2 };
/** The reference implementation refuses headers above 100 MB; so do we (a huge length is corruption). */
const MAX_HEADER_BYTES = 100_000_000;
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

// ---------------------------------------------------------------------------------------------
// Half-precision conversions (bit-exact, round-to-nearest-even).

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** f32 bit pattern → f16 bit pattern, round-to-nearest-even, subnormals, ±inf, NaN kept NaN. */
function f32BitsToF16Bits(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 | (mant >>> 13) : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // Result is subnormal (or zero): shift the full 24-bit significand into the 10-bit field.
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && (h & 1) !== 0)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  // A carry out of the mantissa correctly bumps the exponent (up to inf).
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1) !== 0)) h++;
  return sign | h;
}

let f16Table: Float32Array | null = null;
/** All 65536 f16 values decoded once: decoding a large F16 checkpoint becomes a table lookup. */
function f16ToF32Table(): Float32Array {
  if (f16Table) return f16Table;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >>> 10) & 0x1f;
    const mant = h & 0x3ff;
    if (exp === 0) t[h] = sign * mant * 2 ** -24;
    else if (exp === 0x1f) t[h] = mant === 0 ? sign * Infinity : NaN;
    else t[h] = sign * (1 + mant / 1024) * 2 ** (exp - 15);
  }
  f16Table = t;
  return t;
}

/** f32 values → f16 bit patterns. */
export function f32ToF16(src: Float32Array): Uint16Array {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = f32BitsToF16Bits(bits[i]);
  return out;
}

/** f16 bit patterns → f32 values (exact). */
export function f16ToF32(src: Uint16Array): Float32Array {
  const t = f16ToF32Table();
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = t[src[i]];
  return out;
}

/** f32 values → bf16 bit patterns, round-to-nearest-even, NaN kept NaN. */
export function f32ToBf16(src: Float32Array): Uint16Array {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) {
    const x = bits[i];
    if ((x & 0x7f800000) === 0x7f800000 && (x & 0x7fffff) !== 0) out[i] = (x >>> 16) | 0x40;
    else out[i] = ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
  }
  return out;
}

/** bf16 bit patterns → f32 values (exact). */
export function bf16ToF32(src: Uint16Array): Float32Array {
  const out = new Float32Array(src.length);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < src.length; i++) bits[i] = src[i] << 16;
  return out;
}

/** Round one number through f16 (useful for tests and for fp16 initialisers). */
export function roundToF16(x: number): number {
  f32Scratch[0] = x;
  return f16ToF32Table()[f32BitsToF16Bits(u32Scratch[0])];
}

// ---------------------------------------------------------------------------------------------
// Parsing.

interface Entry {
  name: string;
  dtype: DType;
  shape: number[];
  begin: number;
  end: number;
}

function isNonNegInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function fmtShape(shape: number[]): string {
  return `[${shape.join(',')}]`;
}

/** Parse a whole safetensors file held in memory. `name` only labels error messages. */
export function parseSafetensors(
  buf: Uint8Array,
  name = '<buffer>',
): { tensors: Map<string, TensorData>; metadata: Record<string, string> } {
  function fail(msg: string): never {
    throw new SafetensorsError(`${name}: ${msg}`);
  }
  if (buf.length < 8) fail(`file is ${buf.length} bytes, too short for the 8-byte header length`);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const lo = dv.getUint32(0, true);
  const hi = dv.getUint32(4, true);
  const headerLen = hi * 4294967296 + lo;
  if (headerLen > buf.length - 8) {
    const exact = (BigInt(hi) << 32n) | BigInt(lo);
    fail(`header length ${exact} exceeds file size ${buf.length}`);
  }
  if (headerLen > MAX_HEADER_BYTES)
    fail(`header length ${headerLen} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  if (headerLen < 2) fail(`header length ${headerLen} is too small for a JSON object`);

  let header: unknown;
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(buf.subarray(8, 8 + headerLen));
    header = JSON.parse(text);
  } catch (e) {
    fail(`invalid JSON header (${(e as Error).message})`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) {
    fail('invalid JSON header: not an object');
  }

  const dataStart = 8 + headerLen;
  const dataLen = buf.length - dataStart;
  const metadata: Record<string, string> = {};
  const entries: Entry[] = [];
  const problems: string[] = [];

  for (const [key, raw] of Object.entries(header as Record<string, unknown>)) {
    if (key === '__metadata__') {
      if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
        fail('__metadata__ is not an object of strings');
      }
      for (const [mk, mv] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof mv !== 'string') fail(`__metadata__ value for '${mk}' is not a string`);
        metadata[mk] = mv as string;
      }
      continue;
    }
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
      problems.push(`tensor '${key}': entry is not an object`);
      continue;
    }
    const { dtype, shape, data_offsets: offsets } = raw as Record<string, unknown>;
    if (typeof dtype !== 'string') {
      problems.push(`tensor '${key}': missing dtype`);
      continue;
    }
    if (!(dtype in ITEM_SIZE)) {
      problems.push(`unsupported dtype ${dtype} for '${key}' (only F32, F16, BF16)`);
      continue;
    }
    if (!Array.isArray(shape)) {
      problems.push(`tensor '${key}': missing shape`);
      continue;
    }
    if (!shape.every(isNonNegInt)) {
      problems.push(`tensor '${key}': shape ${JSON.stringify(shape)} must hold non-negative integers`);
      continue;
    }
    if (!Array.isArray(offsets) || offsets.length !== 2) {
      problems.push(`tensor '${key}': missing or malformed data_offsets`);
      continue;
    }
    const [begin, end] = offsets as unknown[];
    if (!isNonNegInt(begin) || !isNonNegInt(end) || end < begin) {
      problems.push(
        `tensor '${key}': data_offsets ${JSON.stringify(offsets)} are not ordered non-negative integers`,
      );
      continue;
    }
    const d = dtype as DType;
    let count = 1;
    for (const s of shape) count *= s;
    const bytes = count * ITEM_SIZE[d];
    if (!Number.isSafeInteger(bytes) || end - begin !== bytes) {
      problems.push(
        `tensor '${key}': data_offsets [${begin}, ${end}] do not match shape ${fmtShape(shape)} × ${d} = ${bytes} bytes`,
      );
      continue;
    }
    entries.push({ name: key, dtype: d, shape: shape.slice(), begin, end });
  }
  if (problems.length > 0) fail(problems.join('; '));

  // Data-section layout: tensors must tile it exactly, as the reference implementation demands.
  let maxEnd = 0;
  for (const e of entries) maxEnd = Math.max(maxEnd, e.end);
  if (maxEnd > dataLen) fail(`truncated: expected ${maxEnd} bytes of data, file has ${dataLen}`);
  const byOffset = entries.slice().sort((a, b) => a.begin - b.begin || a.end - b.end);
  let pos = 0;
  let prev: Entry | null = null;
  for (const e of byOffset) {
    if (e.begin < pos && prev) fail(`tensor '${e.name}' overlaps '${prev.name}'`);
    if (e.begin > pos) fail(`gap/unused bytes: data bytes [${pos}, ${e.begin}) belong to no tensor`);
    pos = e.end;
    prev = e;
  }
  if (pos < dataLen) fail(`gap/unused bytes: data section has ${dataLen} bytes but tensors end at ${pos}`);

  const tensors = new Map<string, TensorData>();
  for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    tensors.set(e.name, { dtype: e.dtype, shape: e.shape, data: decode(buf, dataStart + e.begin, e) });
  }
  return { tensors, metadata };
}

function decode(buf: Uint8Array, at: number, e: Entry): Float32Array {
  const bytes = e.end - e.begin;
  // Copy into a fresh, aligned ArrayBuffer so the typed views below need no alignment care.
  // (Not buf.slice(): on a Node Buffer that is a view into a shared pool, not a copy.)
  const copy = new Uint8Array(bytes);
  copy.set(buf.subarray(at, at + bytes));
  if (!LITTLE_ENDIAN) swapBytes(copy, ITEM_SIZE[e.dtype]);
  const n = bytes / ITEM_SIZE[e.dtype];
  if (e.dtype === 'F32') return new Float32Array(copy.buffer, 0, n);
  const halves = new Uint16Array(copy.buffer, 0, n);
  return e.dtype === 'F16' ? f16ToF32(halves) : bf16ToF32(halves);
}

function swapBytes(b: Uint8Array, size: number): void {
  for (let i = 0; i + size <= b.length; i += size) b.subarray(i, i + size).reverse();
}

export function readSafetensors(path: string): ReturnType<typeof parseSafetensors> {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (e) {
    throw new SafetensorsError(`${path}: cannot read (${(e as Error).message})`);
  }
  return parseSafetensors(buf, path);
}

// ---------------------------------------------------------------------------------------------
// Writing.

/** Serialise tensors (sorted by name, for byte-identical output) in each tensor's own dtype. */
export function encodeSafetensors(
  tensors: Record<string, TensorData> | Map<string, TensorData>,
  metadata?: Record<string, string>,
): Uint8Array {
  const list = (tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors)).sort(([a], [b]) =>
    a < b ? -1 : a > b ? 1 : 0,
  );
  // Null prototype: a tensor named '__proto__' must stay an ordinary key.
  const header: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  if (metadata && Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  const payloads: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of list) {
    if (name === '__metadata__') throw new SafetensorsError(`tensor name '__metadata__' is reserved`);
    if (!(t.dtype in ITEM_SIZE))
      throw new SafetensorsError(`unsupported dtype ${String(t.dtype)} for '${name}'`);
    if (!t.shape.every(isNonNegInt))
      throw new SafetensorsError(`tensor '${name}': bad shape ${fmtShape(t.shape)}`);
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (count !== t.data.length) {
      throw new SafetensorsError(
        `tensor '${name}': shape ${fmtShape(t.shape)} needs ${count} values, has ${t.data.length}`,
      );
    }
    const p = encodeData(t);
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + p.length] };
    payloads.push(p);
    offset += p.length;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const headerLen = Math.ceil(json.length / 8) * 8; // spaces pad the data section to 8-byte alignment
  const out = new Uint8Array(8 + headerLen + offset);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, headerLen % 4294967296, true);
  dv.setUint32(4, Math.floor(headerLen / 4294967296), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLen);
  let at = 8 + headerLen;
  for (const p of payloads) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function encodeData(t: TensorData): Uint8Array {
  let bytes: Uint8Array;
  let size: number;
  if (t.dtype === 'F32') {
    bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    size = 4;
  } else {
    const h = t.dtype === 'F16' ? f32ToF16(t.data) : f32ToBf16(t.data);
    bytes = new Uint8Array(h.buffer, h.byteOffset, h.byteLength);
    size = 2;
  }
  if (!LITTLE_ENDIAN) {
    bytes = bytes.slice();
    swapBytes(bytes, size);
  }
  return bytes;
}

export function writeSafetensors(
  path: string,
  tensors: Record<string, TensorData> | Map<string, TensorData>,
  metadata?: Record<string, string>,
): void {
  writeFileSync(path, encodeSafetensors(tensors, metadata));
}
