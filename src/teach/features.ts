// Teacher features of the training images, computed once and cached so every epoch runs on the students
// only (method.md, "Training"). Each image gives P rows of both layers (layer a: 8, layer b: 12).
//
// Size: rows · D · 2 layers · 4 bytes; at S = 1036 that is 33.6 MB per image for ViT-B (5476 × 768).
// Where the cache lives is chosen from that ('auto'):
//   - float32 in memory up to FP32_LIMIT (exact);
//   - float16 in memory up to the memory budget (half the bytes; relative rounding ≤ 2⁻¹¹, far below
//     the students' own error);
//   - float16 in a file beyond it (one [a | b] record per row, read back row by row with pread; the
//     rows of a batch are read in file order, and the OS page cache keeps what fits).
import { closeSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { freemem } from 'node:os';
import { join } from 'node:path';
import { f16ToF32, f32ToF16 } from '../model/safetensors.js';
import type { FeatureModel } from '../pipeline/inference.js';

export type CacheLocation = 'memory' | 'disk';
export type CachePrecision = 'fp32' | 'fp16';

export interface FeatureCacheOptions {
  location?: CacheLocation | 'auto';
  precision?: CachePrecision | 'auto';
  /** Largest in-memory cache in bytes; default half the free memory at start, at most 8 GiB. */
  memoryBudget?: number;
  /** Directory for a disk cache (its file is removed on close). */
  dir?: string;
}

/** float32 stays exact up to this size (every few-shot set at S ≤ 518, and the dev teacher at any S). */
export const FP32_LIMIT = 1 << 30;

export interface CachePlan {
  location: CacheLocation;
  precision: CachePrecision;
  bytes: number;
}

/** Where and how precisely `rows` rows of two D-wide layers are cached (see the header). */
export function planCache(rows: number, dim: number, opts: FeatureCacheOptions = {}): CachePlan {
  const fp32Bytes = rows * dim * 2 * 4;
  const budget = opts.memoryBudget ?? Math.min(8 * 2 ** 30, freemem() / 2);
  let precision: CachePrecision =
    opts.precision && opts.precision !== 'auto' ? opts.precision : fp32Bytes <= FP32_LIMIT ? 'fp32' : 'fp16';
  const bytes = precision === 'fp32' ? fp32Bytes : fp32Bytes / 2;
  let location: CacheLocation;
  if (opts.location && opts.location !== 'auto') location = opts.location;
  else location = bytes <= budget ? 'memory' : 'disk';
  if (location === 'disk' && opts.precision === undefined) precision = 'fp16';
  return { location, precision, bytes: precision === 'fp32' ? fp32Bytes : fp32Bytes / 2 };
}

/** Cached rows of both layers; rows are numbered in the order they were appended. */
export interface FeatureStore {
  readonly rows: number;
  readonly dim: number;
  readonly plan: CachePlan;
  /** Copies the rows idx[0..count) of both layers into outA / outB (count · D floats each, row-major). */
  gather(idx: Uint32Array, outA: Float32Array, outB: Float32Array): void;
  close(): void;
}

let f16Lut: Float32Array | undefined;
function lut(): Float32Array {
  f16Lut ??= f16ToF32(Uint16Array.from({ length: 65536 }, (_, i) => i));
  return f16Lut;
}

interface Writable extends FeatureStore {
  append(a: Float32Array, b: Float32Array): void;
}

class MemoryStore implements Writable {
  rows = 0;
  private readonly a: Float32Array | Uint16Array;
  private readonly b: Float32Array | Uint16Array;

  constructor(
    readonly dim: number,
    capacity: number,
    readonly plan: CachePlan,
  ) {
    const Arr = plan.precision === 'fp32' ? Float32Array : Uint16Array;
    this.a = new Arr(capacity * dim);
    this.b = new Arr(capacity * dim);
  }

  append(a: Float32Array, b: Float32Array): void {
    const o = this.rows * this.dim;
    if (this.a instanceof Float32Array) {
      this.a.set(a, o);
      (this.b as Float32Array).set(b, o);
    } else {
      this.a.set(f32ToF16(a), o);
      (this.b as Uint16Array).set(f32ToF16(b), o);
    }
    this.rows += a.length / this.dim;
  }

  gather(idx: Uint32Array, outA: Float32Array, outB: Float32Array): void {
    const D = this.dim;
    if (this.a instanceof Float32Array) {
      const a = this.a;
      const b = this.b as Float32Array;
      for (let i = 0; i < idx.length; i++) {
        const s = idx[i] * D;
        outA.set(a.subarray(s, s + D), i * D);
        outB.set(b.subarray(s, s + D), i * D);
      }
      return;
    }
    const t = lut();
    const a = this.a;
    const b = this.b as Uint16Array;
    for (let i = 0; i < idx.length; i++) {
      const s = idx[i] * D;
      const o = i * D;
      for (let d = 0; d < D; d++) {
        outA[o + d] = t[a[s + d]];
        outB[o + d] = t[b[s + d]];
      }
    }
  }

  close(): void {}
}

class DiskStore implements Writable {
  rows = 0;
  private fd: number;
  private readonly recordBytes: number;
  private readonly scratch: Buffer;

  constructor(
    readonly dim: number,
    readonly plan: CachePlan,
    private readonly file: string,
  ) {
    this.fd = openSync(file, 'w+');
    const bytesPer = plan.precision === 'fp32' ? 4 : 2;
    this.recordBytes = 2 * dim * bytesPer;
    this.scratch = Buffer.alloc(this.recordBytes);
  }

  append(a: Float32Array, b: Float32Array): void {
    const D = this.dim;
    const n = a.length / D;
    const half = this.plan.precision === 'fp16';
    const ea = half ? f32ToF16(a) : a;
    const eb = half ? f32ToF16(b) : b;
    const buf = Buffer.alloc(n * this.recordBytes);
    const view = half
      ? new Uint16Array(buf.buffer, buf.byteOffset, n * 2 * D)
      : new Float32Array(buf.buffer, buf.byteOffset, n * 2 * D);
    for (let r = 0; r < n; r++) {
      view.set(ea.subarray(r * D, (r + 1) * D), 2 * r * D);
      view.set(eb.subarray(r * D, (r + 1) * D), (2 * r + 1) * D);
    }
    writeSync(this.fd, buf, 0, buf.length, this.rows * this.recordBytes);
    this.rows += n;
  }

  gather(idx: Uint32Array, outA: Float32Array, outB: Float32Array): void {
    const D = this.dim;
    const s = this.scratch;
    const half = this.plan.precision === 'fp16';
    const t = half ? lut() : undefined;
    const u16 = new Uint16Array(s.buffer, s.byteOffset, 2 * D);
    const f32 = half ? undefined : new Float32Array(s.buffer, s.byteOffset, 2 * D);
    for (let i = 0; i < idx.length; i++) {
      readSync(this.fd, s, 0, this.recordBytes, idx[i] * this.recordBytes);
      const o = i * D;
      if (t) {
        for (let d = 0; d < D; d++) {
          outA[o + d] = t[u16[d]];
          outB[o + d] = t[u16[D + d]];
        }
      } else {
        outA.set(f32!.subarray(0, D), o);
        outB.set(f32!.subarray(D, 2 * D), o);
      }
    }
  }

  close(): void {
    if (this.fd < 0) return;
    closeSync(this.fd);
    this.fd = -1;
    rmSync(this.file, { force: true });
  }
}

export interface ExtractOptions {
  /** Images per feature-model run. */
  batch?: number;
  cache?: FeatureCacheOptions;
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

/**
 * Runs the teacher on letterboxed frames (each S·S·3 RGB bytes) in batches and caches the patch rows of
 * both layers: image i owns rows i·P … (i+1)·P − 1.
 */
export async function extractFeatures(
  model: FeatureModel,
  frames: readonly Uint8Array[],
  opts: ExtractOptions = {},
): Promise<FeatureStore> {
  const P = model.grid * model.grid;
  const D = model.dim;
  const S = model.size;
  const frameBytes = S * S * 3;
  const total = frames.length;
  const plan = planCache(total * P, D, opts.cache);
  let store: Writable;
  if (plan.location === 'memory') store = new MemoryStore(D, total * P, plan);
  else {
    if (!opts.cache?.dir) throw new Error('a disk feature cache needs a directory');
    const file = join(opts.cache.dir, `teach-features-${process.pid}-${Date.now()}.bin`);
    store = new DiskStore(D, plan, file);
  }
  const batch = Math.max(1, Math.min(opts.batch ?? 4, total));
  const pixels = new Uint8Array(batch * frameBytes);
  try {
    for (let i = 0; i < total; i += batch) {
      opts.signal?.throwIfAborted();
      const n = Math.min(batch, total - i);
      for (let j = 0; j < n; j++) {
        const f = frames[i + j];
        if (f.length !== frameBytes)
          throw new Error(`frame ${i + j}: ${f.length} bytes, expected ${frameBytes}`);
        pixels.set(f, j * frameBytes);
      }
      const { a, b } = await model.run(n === batch ? pixels : pixels.subarray(0, n * frameBytes), n);
      store.append(a, b);
      opts.onProgress?.(i + n, total);
    }
  } catch (e) {
    store.close();
    throw e;
  }
  return store;
}
