// Anomaly-map post-processing (method.md, Inference 3–6): the g×g patch-distance grid Δ becomes a per-pixel map
// of the original frame and a frame score. Conventions:
// - bilinear upsampling g×g → side×side with PyTorch's align_corners=False rule
//   (src = (dst+0.5)·g/side − 0.5, clamped at 0; the upper neighbour is clamped to g−1);
// - blur = 5 passes of a 5×5 box, then 3 passes of a 7×7 box, each a "same" convolution with zero padding (pixels
//   outside the canvas count as 0, the divisor stays 25 / 49, so borders darken as in the reference);
// - crop exactly the letterbox's left/top (padding scores are meaningless and must not count);
// - score = mean of the K largest pixels, K = max(1, ⌊0.001·H·W⌋): the max(1, …) guard keeps frames under 1000
//   pixels (where the method's K would be 0 and the mean undefined) scored by their peak;
// - maps are row-major H×W in frame pixels; ignore polygons are in frame pixel coordinates.
// The fast path uses that every step is linear and separable: map = A_y · Δ · A_xᵀ with banded 1-D operators
// (crop ∘ 8 box passes ∘ bilinear) precomputed once per geometry, exactly, in float64.
import type { FloatMap } from './image.js';
import type { Box, Letterbox } from './letterbox.js';

export type Polygon = [number, number][];

export interface PostprocessResult {
  map: Float32Array;
  score: number;
}

/** Number of pixels averaged for the frame score. */
export function topKCount(width: number, height: number): number {
  return Math.max(1, Math.floor(0.001 * width * height));
}

function checkGrid(grid: ArrayLike<number>, g: number): void {
  if (!Number.isInteger(g) || g < 1 || grid.length !== g * g) {
    throw new Error(`anomaly map: grid of ${grid.length} values is not ${g}×${g}`);
  }
}

/** One output position of 1-D bilinear (align_corners=False): neighbours i0, i1 and the weight of i1. */
function bilinearSource(dst: number, inSize: number, outSize: number): [number, number, number] {
  const scale = inSize / outSize;
  const src = Math.max(0, (dst + 0.5) * scale - 0.5);
  const i0 = Math.floor(src);
  const i1 = i0 < inSize - 1 ? i0 + 1 : i0;
  return [i0, i1, src - i0];
}

const BLUR_PASSES: readonly number[] = [5, 5, 5, 5, 5, 7, 7, 7];

// ---------------------------------------------------------------------------------------------------------------
// Reference: the recipe done literally on the side×side canvas in float64. O(side²·270); for tests.

/** Bilinear g×g → side×side, align_corners=False, literally per output pixel. */
export function referenceUpsample(grid: ArrayLike<number>, g: number, side: number): Float64Array {
  checkGrid(grid, g);
  const canvas = new Float64Array(side * side);
  for (let y = 0; y < side; y++) {
    const [y0, y1, ly] = bilinearSource(y, g, side);
    for (let x = 0; x < side; x++) {
      const [x0, x1, lx] = bilinearSource(x, g, side);
      canvas[y * side + x] =
        (1 - ly) * ((1 - lx) * grid[y0 * g + x0] + lx * grid[y0 * g + x1]) +
        ly * ((1 - lx) * grid[y1 * g + x0] + lx * grid[y1 * g + x1]);
    }
  }
  return canvas;
}

/** The 8 box passes as 2-D "same" convolutions with zero padding, literally. */
export function referenceBlur(canvas: Float64Array, side: number): Float64Array {
  for (const k of BLUR_PASSES) {
    const r = (k - 1) / 2;
    const next = new Float64Array(side * side);
    for (let y = 0; y < side; y++) {
      for (let x = 0; x < side; x++) {
        let s = 0;
        for (let dy = -r; dy <= r; dy++) {
          const yy = y + dy;
          if (yy < 0 || yy >= side) continue;
          for (let dx = -r; dx <= r; dx++) {
            const xx = x + dx;
            if (xx >= 0 && xx < side) s += canvas[yy * side + xx];
          }
        }
        next[y * side + x] = s / (k * k);
      }
    }
    canvas = next;
  }
  return canvas;
}

/** The whole recipe on the side×side canvas in float64, then the crop and a full sort for the score. */
export function referencePostprocess(
  grid: ArrayLike<number>,
  g: number,
  lb: Letterbox,
): { map: Float64Array; score: number } {
  const { side, width: W, height: H, left, top } = lb;
  const canvas = referenceBlur(referenceUpsample(grid, g, side), side);
  const map = new Float64Array(W * H);
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) map[y * W + x] = canvas[(y + top) * side + x + left];
  const sorted = Float64Array.from(map).sort().reverse();
  const k = topKCount(W, H);
  let sum = 0;
  for (let i = 0; i < k; i++) sum += sorted[i];
  return { map, score: sum / k };
}

// ---------------------------------------------------------------------------------------------------------------
// Fast path.

/**
 * crop(offset, n) ∘ blur ∘ bilinear(g → side) as a dense n×g float64 matrix, built by pushing the g unit vectors
 * through the 1-D chain. Plain (not running) sums keep the zeros outside each support exactly zero, so the bands
 * found from it are tight. Zero padding makes each 2-D box pass the outer product of two such 1-D passes, hence
 * the separability. All weights are ≥ 0 (bilinear and box weights are), which the top-K bounds rely on.
 */
function denseOperator(g: number, side: number, offset: number, n: number): Float64Array {
  const dense = new Float64Array(n * g);
  let v = new Float64Array(side);
  let w = new Float64Array(side);
  for (let j = 0; j < g; j++) {
    for (let d = 0; d < side; d++) {
      const [i0, i1, l] = bilinearSource(d, g, side);
      v[d] = (i0 === j ? 1 - l : 0) + (i1 === j ? l : 0);
    }
    for (const k of BLUR_PASSES) {
      const r = (k - 1) / 2;
      for (let d = 0; d < side; d++) {
        let s = 0;
        const lo = Math.max(0, d - r);
        const hi = Math.min(side - 1, d + r);
        for (let e = lo; e <= hi; e++) s += v[e];
        w[d] = s / k;
      }
      [v, w] = [w, v];
    }
    for (let i = 0; i < n; i++) dense[i * g + j] = v[offset + i];
  }
  return dense;
}

/** Support [first, last] of the rows lo..hi−1 of a dense n×g operator taken together. */
function support(dense: Float64Array, g: number, lo: number, hi: number): [number, number] {
  let first = g;
  let last = -1;
  for (let i = lo; i < hi; i++) {
    for (let j = 0; j < g; j++) {
      if (dense[i * g + j] !== 0) {
        first = Math.min(first, j);
        last = Math.max(last, j);
      }
    }
  }
  return last < 0 ? [0, 0] : [first, last];
}

/** Row blocks share one window of input rows, so each input value loaded serves several outputs. */
const BLOCK = 4;
/** Taps per kernel sweep (the unrolled kernel's width); wider windows take several sweeps. */
const SWEEP = 5;
/** Fine tiles per coarse tile of the two-level bounds. */
const COARSE = 4;
/** Columns per cell of the bounds: 32 keeps them tight enough that a good part computes ≈ 3 % of its map (128: 16 %). */
const TILE = 32;

/** A_x (W×g) as per-column windows of `band` weights starting at start[x] (zero-filled; start + band ≤ g). */
interface ColumnOperator {
  band: number;
  start: Int32Array;
  weights: Float32Array;
}

/**
 * A_y (H×g) in blocks of BLOCK rows: block b reads input rows start[b] .. start[b] + taps − 1 (taps a multiple of
 * SWEEP, zero-filled; rows past g−1 read T's zero padding); weights are [block][row in block][tap].
 */
interface RowOperator {
  taps: number;
  start: Int32Array;
  weights: Float32Array;
  /** the same weights in float64, for the bounds */
  weights64: Float64Array;
  /** 1 where a block needs at most 4 taps (taps = 5 only): its sweep skips the fifth, zero, row */
  narrow: Uint8Array;
}

function columnOperator(dense: Float64Array, g: number, n: number): ColumnOperator {
  const spans: [number, number][] = [];
  // at least SWEEP wide (when the grid allows) so the unrolled kernel serves the usual case
  let band = Math.min(g, SWEEP);
  for (let i = 0; i < n; i++) {
    const sp = support(dense, g, i, i + 1);
    spans.push(sp);
    band = Math.max(band, sp[1] - sp[0] + 1);
  }
  const start = new Int32Array(n);
  const weights = new Float32Array(n * band);
  for (let i = 0; i < n; i++) {
    // shifted left where needed so every read stays inside the grid row (band ≤ g)
    start[i] = Math.min(spans[i][0], g - band);
    for (let j = spans[i][0]; j <= spans[i][1]; j++) weights[i * band + j - start[i]] = dense[i * g + j];
  }
  return { band, start, weights };
}

function rowOperator(dense: Float64Array, g: number, n: number): RowOperator {
  const blocks = Math.ceil(n / BLOCK);
  const spans: [number, number][] = [];
  let width = 1;
  for (let b = 0; b < blocks; b++) {
    const sp = support(dense, g, b * BLOCK, Math.min(n, (b + 1) * BLOCK));
    spans.push(sp);
    width = Math.max(width, sp[1] - sp[0] + 1);
  }
  const taps = Math.ceil(width / SWEEP) * SWEEP;
  const start = new Int32Array(blocks);
  const narrow = new Uint8Array(blocks);
  const weights64 = new Float64Array(blocks * BLOCK * taps);
  for (let b = 0; b < blocks; b++) {
    start[b] = spans[b][0];
    narrow[b] = taps === SWEEP && spans[b][1] - spans[b][0] < 4 ? 1 : 0;
    for (let r = 0; r < BLOCK && b * BLOCK + r < n; r++) {
      const i = b * BLOCK + r;
      for (let j = spans[b][0]; j <= spans[b][1]; j++)
        weights64[(b * BLOCK + r) * taps + j - start[b]] = dense[i * g + j];
    }
  }
  return { taps, start, weights: Float32Array.from(weights64), weights64, narrow };
}

interface Geometry {
  ax: ColumnOperator;
  ay: RowOperator;
  /** T = Δ·A_xᵀ, g rows of W plus `ay.taps` zero rows that windows may run into */
  t: Float32Array;
  /** max of T over each TILE-wide column tile, per row: [(g + taps) × tiles] (padding rows stay 0) */
  tmax: Float64Array;
  /** scratch for the top-K candidates */
  candidates: Float32Array;
  /** max of T over each coarse tile (COARSE tiles), per row: [(g + taps) × coarse tiles] */
  cmax: Float64Array;
  /** per (block, tile) cell: an upper bound of the map over the cell (see cellBounds) */
  bounds: Float64Array;
  /** per cell: 1 once the lazy map has computed it for the current frame */
  done: Uint8Array;
}

const GEOMETRY_CACHE_LIMIT = 8;
const geometries = new Map<string, Geometry>();

function geometry(g: number, lb: Letterbox): Geometry {
  const { width: W, height: H, side, left, top } = lb;
  const key = `${g}/${W}/${H}/${side}/${left}/${top}`;
  const hit = geometries.get(key);
  if (hit) {
    geometries.delete(key); // re-insert: Map order is the LRU order
    geometries.set(key, hit);
    return hit;
  }
  const dx = denseOperator(g, side, left, W);
  const dy = W === H && left === top ? dx : denseOperator(g, side, top, H);
  const ax = columnOperator(dx, g, W);
  const ay = rowOperator(dy, g, H);
  const tiles = Math.ceil(W / TILE);
  const geo: Geometry = {
    ax,
    ay,
    t: new Float32Array((g + ay.taps) * W),
    tmax: new Float64Array((g + ay.taps) * tiles),
    candidates: new Float32Array(W * H),
    cmax: new Float64Array((g + ay.taps) * Math.ceil(tiles / COARSE)),
    bounds: new Float64Array(Math.ceil(H / BLOCK) * tiles),
    done: new Uint8Array(Math.ceil(H / BLOCK) * tiles),
  };
  geometries.set(key, geo);
  if (geometries.size > GEOMETRY_CACHE_LIMIT) geometries.delete(geometries.keys().next().value as string);
  return geo;
}

/** T = Δ·A_xᵀ (g×W), and the per-tile row maxima of T. Column by column, so each column's weights load once. */
function applyColumns(grid: Float32Array, g: number, W: number, geo: Geometry): void {
  const { band, start, weights } = geo.ax;
  const { t, tmax } = geo;
  if (band === SWEEP) {
    for (let x = 0; x < W; x++) {
      const wo = x * SWEEP;
      const w0 = weights[wo], w1 = weights[wo + 1], w2 = weights[wo + 2], w3 = weights[wo + 3], w4 = weights[wo + 4]; // prettier-ignore
      for (let r = 0, i = start[x], o = x; r < g; r++, i += g, o += W) {
        t[o] = w0 * grid[i] + w1 * grid[i + 1] + w2 * grid[i + 2] + w3 * grid[i + 3] + w4 * grid[i + 4];
      }
    }
  } else {
    for (let x = 0; x < W; x++) {
      const wo = x * band;
      for (let r = 0, i = start[x], o = x; r < g; r++, i += g, o += W) {
        let s = 0;
        for (let k = 0; k < band; k++) s += weights[wo + k] * grid[i + k];
        t[o] = s;
      }
    }
  }
  const tiles = Math.ceil(W / TILE);
  for (let r = 0; r < g; r++) {
    const o = r * W;
    for (let tile = 0; tile < tiles; tile++) {
      let m = -Infinity;
      for (let i = o + tile * TILE, end = o + Math.min(W, (tile + 1) * TILE); i < end; i++)
        if (t[i] > m) m = t[i];
      tmax[r * tiles + tile] = m;
    }
  }
}

/**
 * map = A_y·T (H×W). Each block of four output rows is a combination of the same `taps` rows of T: one sweep over
 * x per SWEEP taps, loading each T value once for four outputs (the first sweep assigns, later ones add).
 */
function applyRows(geo: Geometry, W: number, H: number, out: Float32Array): void {
  const blocks = Math.ceil(H / BLOCK);
  for (let b = 0; b < blocks; b++) applyRowsCell(geo, W, H, b, 0, W, out);
}

/**
 * Rows of block b, columns x0 ≤ x < x1, of map = A_y·T. The full map and the lazy one (postprocessLazy) both go
 * through here, so a pixel has the same float32 value whichever computed it; pixelValue mirrors it for one pixel.
 */
function applyRowsCell(
  geo: Geometry,
  W: number,
  H: number,
  b: number,
  x0: number,
  x1: number,
  out: Float32Array,
): void {
  const { taps, start, weights, narrow } = geo.ay;
  const t = geo.t;
  if ((b + 1) * BLOCK > H) {
    // the last, partial block: row by row
    for (let y = b * BLOCK; y < H; y++) {
      const o = y * W;
      out.fill(0, o + x0, o + x1);
      for (let k = 0; k < taps; k++) {
        const a = weights[y * taps + k];
        if (a === 0) continue;
        const r = (start[b] + k) * W;
        for (let x = x0; x < x1; x++) out[o + x] += a * t[r + x];
      }
    }
    return;
  }
  const o0 = b * BLOCK * W;
  const o1 = o0 + W;
  const o2 = o1 + W;
  const o3 = o2 + W;
  if (narrow[b] === 1) {
    // the common case at ~17 px per cell: four taps, one sweep
    const w = b * BLOCK * SWEEP;
    const a0 = weights[w], a1 = weights[w + 1], a2 = weights[w + 2], a3 = weights[w + 3]; // prettier-ignore
    const b0 = weights[w + 5], b1 = weights[w + 6], b2 = weights[w + 7], b3 = weights[w + 8]; // prettier-ignore
    const c0 = weights[w + 10], c1 = weights[w + 11], c2 = weights[w + 12], c3 = weights[w + 13]; // prettier-ignore
    const d0 = weights[w + 15], d1 = weights[w + 16], d2 = weights[w + 17], d3 = weights[w + 18]; // prettier-ignore
    const r0 = start[b] * W;
    const r1 = r0 + W;
    const r2 = r1 + W;
    const r3 = r2 + W;
    for (let x = x0; x < x1; x++) {
      const v0 = t[r0 + x], v1 = t[r1 + x], v2 = t[r2 + x], v3 = t[r3 + x]; // prettier-ignore
      out[o0 + x] = a0 * v0 + a1 * v1 + a2 * v2 + a3 * v3;
      out[o1 + x] = b0 * v0 + b1 * v1 + b2 * v2 + b3 * v3;
      out[o2 + x] = c0 * v0 + c1 * v1 + c2 * v2 + c3 * v3;
      out[o3 + x] = d0 * v0 + d1 * v1 + d2 * v2 + d3 * v3;
    }
    return;
  }
  for (let k = 0; k < taps; k += SWEEP) {
    const w = b * BLOCK * taps + k;
    const a0 = weights[w], a1 = weights[w + 1], a2 = weights[w + 2], a3 = weights[w + 3], a4 = weights[w + 4]; // prettier-ignore
    const b0 = weights[w + taps], b1 = weights[w + taps + 1], b2 = weights[w + taps + 2], b3 = weights[w + taps + 3], b4 = weights[w + taps + 4]; // prettier-ignore
    const w2 = w + 2 * taps;
    const c0 = weights[w2], c1 = weights[w2 + 1], c2 = weights[w2 + 2], c3 = weights[w2 + 3], c4 = weights[w2 + 4]; // prettier-ignore
    const w3 = w + 3 * taps;
    const d0 = weights[w3], d1 = weights[w3 + 1], d2 = weights[w3 + 2], d3 = weights[w3 + 3], d4 = weights[w3 + 4]; // prettier-ignore
    const r0 = (start[b] + k) * W;
    const r1 = r0 + W;
    const r2 = r1 + W;
    const r3 = r2 + W;
    const r4 = r3 + W;
    if (k === 0) {
      for (let x = x0; x < x1; x++) {
        const v0 = t[r0 + x], v1 = t[r1 + x], v2 = t[r2 + x], v3 = t[r3 + x], v4 = t[r4 + x]; // prettier-ignore
        out[o0 + x] = a0 * v0 + a1 * v1 + a2 * v2 + a3 * v3 + a4 * v4;
        out[o1 + x] = b0 * v0 + b1 * v1 + b2 * v2 + b3 * v3 + b4 * v4;
        out[o2 + x] = c0 * v0 + c1 * v1 + c2 * v2 + c3 * v3 + c4 * v4;
        out[o3 + x] = d0 * v0 + d1 * v1 + d2 * v2 + d3 * v3 + d4 * v4;
      }
    } else {
      for (let x = x0; x < x1; x++) {
        const v0 = t[r0 + x], v1 = t[r1 + x], v2 = t[r2 + x], v3 = t[r3 + x], v4 = t[r4 + x]; // prettier-ignore
        out[o0 + x] += a0 * v0 + a1 * v1 + a2 * v2 + a3 * v3 + a4 * v4;
        out[o1 + x] += b0 * v0 + b1 * v1 + b2 * v2 + b3 * v3 + b4 * v4;
        out[o2 + x] += c0 * v0 + c1 * v1 + c2 * v2 + c3 * v3 + c4 * v4;
        out[o3 + x] += d0 * v0 + d1 * v1 + d2 * v2 + d3 * v3 + d4 * v4;
      }
    }
  }
}

/** One map pixel, with exactly applyRowsCell's arithmetic (float32 stores where it stores). */
function pixelValue(geo: Geometry, W: number, H: number, y: number, x: number): number {
  const { taps, start, weights, narrow } = geo.ay;
  const t = geo.t;
  const f = Math.fround;
  const b = Math.floor(y / BLOCK);
  const row = start[b] * W + x;
  if ((b + 1) * BLOCK > H) {
    let acc = 0;
    for (let k = 0; k < taps; k++) {
      const a = weights[y * taps + k];
      if (a !== 0) acc = f(acc + a * t[row + k * W]);
    }
    return acc;
  }
  const w = y * taps;
  if (narrow[b] === 1) {
    return f(weights[w] * t[row] + weights[w + 1] * t[row + W] + weights[w + 2] * t[row + 2 * W] + weights[w + 3] * t[row + 3 * W]); // prettier-ignore
  }
  let acc = 0;
  for (let k = 0; k < taps; k += SWEEP) {
    const r = row + k * W;
    const s =
      weights[w + k] * t[r] + weights[w + k + 1] * t[r + W] + weights[w + k + 2] * t[r + 2 * W] + weights[w + k + 3] * t[r + 3 * W] + weights[w + k + 4] * t[r + 4 * W]; // prettier-ignore
    acc = k === 0 ? f(s) : f(acc + s);
  }
  return acc;
}

// ---------------------------------------------------------------------------------------------------------------
// Top-K mean. A threshold from a small pseudo-random sample keeps most pixels out of the selection; a quickselect
// then isolates the K largest candidates. Exact (equal to a full sort): if the threshold leaves fewer than K
// candidates, every pixel is taken.

const SAMPLE = 4096;
const GOLDEN = 0.6180339887498949;

/** Reorder a[lo, hi) so that its k largest values come first (Hoare partition, median-of-three pivot). */
function selectLargest(a: Float32Array, lo: number, hi: number, k: number): void {
  let l = lo;
  let r = hi - 1;
  const target = lo + k - 1;
  while (r > l) {
    const m = (l + r) >> 1;
    let p0 = a[l];
    let p1 = a[m];
    let p2 = a[r];
    if (p0 < p1) [p0, p1] = [p1, p0];
    if (p1 < p2) [p1, p2] = [p2, p1];
    if (p0 < p1) [p0, p1] = [p1, p0];
    const pivot = p1;
    let i = l;
    let j = r;
    while (i <= j) {
      while (a[i] > pivot) i++;
      while (a[j] < pivot) j--;
      if (i <= j) {
        const tmp = a[i];
        a[i] = a[j];
        a[j] = tmp;
        i++;
        j--;
      }
    }
    if (target <= j) r = j;
    else if (target >= i) l = i;
    else return;
  }
}

/** A value with about 2k of the n values at or above it, from a pseudo-random sample (−∞ for small n). */
function sampledThreshold(values: Float32Array, k: number, scratch: Float32Array): number {
  return sampledThresholdOf(values.length, k, scratch, (i) => values[i]);
}

/** sampledThreshold over n values read through `at` (the lazy map computes the sampled pixels alone). */
function sampledThresholdOf(n: number, k: number, scratch: Float32Array, at: (i: number) => number): number {
  if (n <= 8 * SAMPLE) return -Infinity;
  const sample = scratch.subarray(0, SAMPLE);
  // golden-ratio positions: spread over rows and columns whatever the width
  for (let i = 0; i < SAMPLE; i++) sample[i] = at(Math.floor(((i * GOLDEN) % 1) * n));
  const q = Math.min(SAMPLE, Math.ceil((2 * k * SAMPLE) / n) + 4);
  selectLargest(sample, 0, SAMPLE, q);
  let t = Infinity;
  for (let i = 0; i < q; i++) if (sample[i] < t) t = sample[i];
  return t;
}

function meanOfLargest(buf: Float32Array, c: number, k: number): number {
  selectLargest(buf, 0, c, k);
  let sum = 0;
  for (let i = 0; i < k; i++) sum += buf[i];
  return sum / k;
}

/** Mean of the k largest values (k clamped to 1..n). `scratch` (≥ values.length) avoids an allocation. */
export function topKMean(values: Float32Array, k: number, scratch?: Float32Array): number {
  const n = values.length;
  if (n === 0) throw new Error('topKMean: no values');
  k = Math.min(n, Math.max(1, Math.floor(k)));
  const buf = scratch && scratch.length >= n ? scratch : new Float32Array(n);
  const threshold = sampledThreshold(values, k, buf);
  let c = 0;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (v >= threshold) buf[c++] = v;
  }
  if (c < k) {
    buf.set(values);
    c = n;
  }
  return meanOfLargest(buf, c, k);
}

/**
 * Upper bounds of the map over each (block, tile) cell, into geo.bounds. Every map value is Σ a·T with a ≥ 0, so
 * it is ≤ Σ a·max(T over the tile), maximised over the block's rows; `floor` (0 after an ignore mask) covers
 * pixels that masking raised. Users compare with a relative slack (SLACK) for float32 rounding.
 */
function cellBounds(geo: Geometry, W: number, H: number, floor: number, needed = -Infinity): void {
  const { taps, start, weights64 } = geo.ay;
  const { tmax, cmax, bounds } = geo;
  const tiles = Math.ceil(W / TILE);
  const blocks = Math.ceil(H / BLOCK);
  const coarse = Math.ceil(tiles / COARSE);
  // Two levels: bounds over COARSE tiles at once first (a quarter of the work), then the fine bounds only where
  // the coarse one may reach `needed`; elsewhere the coarse bound stands in (it is a bound of each fine cell too).
  for (let r = 0, rows = tmax.length / tiles; r < rows; r++) {
    for (let ct = 0; ct < coarse; ct++) {
      let m = -Infinity;
      for (let t = ct * COARSE, e = Math.min(tiles, t + COARSE); t < e; t++)
        if (tmax[r * tiles + t] > m) m = tmax[r * tiles + t];
      cmax[r * coarse + ct] = m;
    }
  }
  for (let b = 0; b < blocks; b++) {
    const y0 = b * BLOCK;
    const y1 = Math.min(H, y0 + BLOCK);
    const w0 = y0 * taps;
    const wn = (y1 - y0) * taps;
    for (let ct = 0; ct < coarse; ct++) {
      const cb = blockBound(weights64, w0, wn, taps, cmax, start[b] * coarse + ct, coarse, floor);
      const t0 = ct * COARSE;
      const t1 = Math.min(tiles, t0 + COARSE);
      if (!reaches(cb, needed)) {
        bounds.fill(cb, b * tiles + t0, b * tiles + t1);
        continue;
      }
      for (let tile = t0; tile < t1; tile++)
        bounds[b * tiles + tile] = blockBound(
          weights64,
          w0,
          wn,
          taps,
          tmax,
          start[b] * tiles + tile,
          tiles,
          floor,
        );
    }
  }
}

/**
 * max over the block's rows (weights w[w0 .. w0 + wn), `taps` per row) of Σ_j w_j·maxima[m0 + j·stride]: the
 * bound of one cell, from T's maxima over its columns (fine tiles or coarse ones).
 */
function blockBound(
  w: Float64Array,
  w0: number,
  wn: number,
  taps: number,
  maxima: Float64Array,
  m0: number,
  stride: number,
  floor: number,
): number {
  let bound = floor;
  for (let r = 0; r < wn; r += taps) {
    let s = 0;
    for (let j = 0, m = m0; j < taps; j++, m += stride) s += w[w0 + r + j] * maxima[m];
    if (s > bound) bound = s;
  }
  return bound;
}

const SLACK = 1e-5;

/** Whether a cell with this bound may hold a value ≥ v (or > v: the slack makes both the same test). */
function reaches(bound: number, v: number): boolean {
  return bound + Math.abs(bound) * SLACK >= v;
}

/** Whether cell c may hold a value ≥ v. */
function mayReach(bounds: Float64Array, c: number, v: number): boolean {
  return reaches(bounds[c], v);
}

/**
 * Mean of the k largest values of `map`, scanning only the cells that may reach a sampled threshold (`ensure`
 * makes a cell's values present first: a no-op for a full map). Exact, equal to a full sort: when the threshold
 * leaves fewer than k candidates, every cell is made present and all pixels are taken.
 */
function topKMeanBounded(
  geo: Geometry,
  map: Float32Array,
  W: number,
  H: number,
  k: number,
  threshold: number,
  ensure: (c: number) => void,
  ensureAll: () => void,
): number {
  const buf = geo.candidates;
  if (threshold === -Infinity) {
    ensureAll();
    return topKMean(map, k, buf);
  }
  const tiles = Math.ceil(W / TILE);
  const blocks = Math.ceil(H / BLOCK);
  let c = 0;
  for (let b = 0; b < blocks; b++) {
    const y0 = b * BLOCK;
    const y1 = Math.min(H, y0 + BLOCK);
    for (let tile = 0; tile < tiles; tile++) {
      if (!mayReach(geo.bounds, b * tiles + tile, threshold)) continue;
      ensure(b * tiles + tile);
      const x0 = tile * TILE;
      const x1 = Math.min(W, x0 + TILE);
      for (let y = y0; y < y1; y++) {
        for (let i = y * W + x0, e = y * W + x1; i < e; i++) {
          const v = map[i];
          if (v >= threshold) buf[c++] = v;
        }
      }
    }
  }
  if (c < k) {
    ensureAll();
    return topKMean(map, k, buf);
  }
  return meanOfLargest(buf, c, k);
}

// ---------------------------------------------------------------------------------------------------------------

export interface PostprocessOptions {
  /** zones to zero before scoring (frame pixel coordinates); see applyIgnoreMask */
  ignore?: readonly Polygon[];
}

/** Checks the inputs, takes the output buffer and the geometry's operators, and computes T = Δ·A_xᵀ. */
function begin(
  grid: Float32Array,
  g: number,
  lb: Letterbox,
  out: Float32Array | undefined,
): { W: number; H: number; map: Float32Array; geo: Geometry } {
  checkGrid(grid, g);
  const { width: W, height: H } = lb;
  if (out && out.length !== W * H)
    throw new Error(`postprocess: output holds ${out.length} floats, needs ${W * H}`);
  const geo = geometry(g, lb);
  applyColumns(grid, g, W, geo);
  return { W, H, map: out ?? new Float32Array(W * H), geo };
}

/**
 * Δ grid (g×g, row-major) → H×W anomaly map of the original frame and its score. `out` (H·W floats) is filled
 * when given. Operators and scratch are cached per geometry (small LRU), so steady-state calls allocate nothing.
 */
export function postprocess(
  grid: Float32Array,
  g: number,
  lb: Letterbox,
  out?: Float32Array,
  opts: PostprocessOptions = {},
): PostprocessResult {
  const { W, H, map, geo } = begin(grid, g, lb, out);
  applyRows(geo, W, H, map);
  const masked = opts.ignore !== undefined && opts.ignore.length > 0;
  if (masked) applyIgnoreMask({ width: W, height: H, data: map }, opts.ignore!);
  cellBounds(geo, W, H, masked ? 0 : -Infinity);
  const k = topKCount(W, H);
  const threshold = sampledThreshold(map, k, geo.candidates);
  const none = (): void => {};
  return { map, score: topKMeanBounded(geo, map, W, H, k, threshold, none, none) };
}

export interface LazyPostprocessResult extends PostprocessResult {
  /**
   * The smallest rectangle holding every map pixel > pixelThreshold (null: none). `map` is exact inside it and
   * at every pixel above the threshold; elsewhere it holds whatever the buffer held (see postprocessLazy).
   */
  above: Box | null;
  /** Computes the rest of the map (e.g. for a heatmap): afterwards `map` equals postprocess's. */
  complete(): void;
}

/**
 * postprocess without the full map: the score and the region above `pixelThreshold` are exactly postprocess's
 * (same float32 values, same top-K set), but only the (4-row × TILE) cells that may hold a top-K pixel or a pixel
 * above the threshold are computed, found by upper bounds (cellBounds). For a good part that is a few cells of
 * the frame instead of all of it.
 */
export function postprocessLazy(
  grid: Float32Array,
  g: number,
  lb: Letterbox,
  pixelThreshold: number,
  out?: Float32Array,
  opts: PostprocessOptions = {},
): LazyPostprocessResult {
  const { W, H, map, geo } = begin(grid, g, lb, out);
  const masked = opts.ignore !== undefined && opts.ignore.length > 0;
  const zones = masked ? ignoreRows(opts.ignore!, W, H) : null;
  const tiles = Math.ceil(W / TILE);
  const cells = Math.ceil(H / BLOCK) * tiles;
  const { done, bounds } = geo;
  done.fill(0);
  const ensure = (c: number): void => {
    if (done[c] === 1) return;
    done[c] = 1;
    const b = Math.floor(c / tiles);
    const x0 = (c % tiles) * TILE;
    const x1 = Math.min(W, x0 + TILE);
    applyRowsCell(geo, W, H, b, x0, x1, map);
    if (zones) zeroZones(zones, map, W, b * BLOCK, Math.min(H, (b + 1) * BLOCK), x0, x1);
  };
  const ensureAll = (): void => {
    for (let c = 0; c < cells; c++) ensure(c);
  };

  const k = topKCount(W, H);
  const threshold = sampledThresholdOf(W * H, k, geo.candidates, (i) => {
    const y = Math.floor(i / W);
    const x = i - y * W;
    return zones && inZones(zones, y, x) ? 0 : pixelValue(geo, W, H, y, x);
  });
  // only cells that may reach the lower of the two thresholds need tight bounds
  cellBounds(geo, W, H, masked ? 0 : -Infinity, Math.min(threshold, pixelThreshold));
  const score = topKMeanBounded(geo, map, W, H, k, threshold, ensure, ensureAll);

  // Pixels above the pixel threshold can only lie in cells whose bound exceeds it.
  let x0 = W;
  let x1 = -1;
  let y0 = H;
  let y1 = -1;
  for (let c = 0; c < cells; c++) {
    if (!mayReach(bounds, c, pixelThreshold)) continue;
    ensure(c);
    const b = Math.floor(c / tiles);
    const cx0 = (c % tiles) * TILE;
    const cx1 = Math.min(W, cx0 + TILE);
    for (let y = b * BLOCK, ye = Math.min(H, y + BLOCK); y < ye; y++) {
      for (let x = cx0, i = y * W + cx0; x < cx1; x++, i++) {
        if (map[i] > pixelThreshold) {
          if (x < x0) x0 = x;
          if (x > x1) x1 = x;
          if (y < y0) y0 = y;
          if (y > y1) y1 = y;
        }
      }
    }
  }
  let above: Box | null = null;
  if (x1 >= 0) {
    above = { x: x0, y: y0, width: x1 - x0 + 1, height: y1 - y0 + 1 };
    // make the rectangle exact: its other cells hold no pixel above the threshold, but the buffer is stale there
    for (let b = Math.floor(y0 / BLOCK); b <= Math.floor(y1 / BLOCK); b++)
      for (let tile = Math.floor(x0 / TILE); tile <= Math.floor(x1 / TILE); tile++) ensure(b * tiles + tile);
  }
  return { map, score, above, complete: ensureAll };
}

// ---------------------------------------------------------------------------------------------------------------
// Ignore zones. A pixel is inside a polygon when its centre (x+0.5, y+0.5) is, by the even-odd rule, with
// half-open edges (a centre exactly on a left/top edge is in, on a right/bottom edge is out), so a square
// [[10,10],[20,10],[20,20],[10,20]] covers exactly the 100 pixels 10..19 × 10..19. Several polygons are united
// (each is filled on its own). The fill is cached as row runs per (polygon list, frame size), indexed by row so
// the lazy map can zero one cell's part of it.

/** Ignore zones as runs per row: row y's runs are pairs (x0, x1) at spans[offsets[y]] .. spans[offsets[y + 1]]. */
interface ZoneRows {
  width: number;
  height: number;
  offsets: Int32Array;
  spans: Int32Array;
}

const zoneRowCache = new WeakMap<readonly Polygon[], ZoneRows>();

function ignoreRows(polygons: readonly Polygon[], W: number, H: number): ZoneRows {
  const hit = zoneRowCache.get(polygons);
  if (hit && hit.width === W && hit.height === H) return hit;
  const runs = polygonRuns(polygons, W, H);
  const offsets = new Int32Array(H + 1);
  for (let i = 0; i < runs.length; i += 3) offsets[runs[i] + 1] += 2;
  for (let y = 0; y < H; y++) offsets[y + 1] += offsets[y];
  const spans = new Int32Array(offsets[H]);
  const fill = offsets.slice(0, H);
  for (let i = 0; i < runs.length; i += 3) {
    const y = runs[i];
    spans[fill[y]++] = runs[i + 1];
    spans[fill[y]++] = runs[i + 2];
  }
  const rows = { width: W, height: H, offsets, spans };
  zoneRowCache.set(polygons, rows);
  return rows;
}

function inZones(z: ZoneRows, y: number, x: number): boolean {
  for (let i = z.offsets[y], e = z.offsets[y + 1]; i < e; i += 2)
    if (x >= z.spans[i] && x < z.spans[i + 1]) return true;
  return false;
}

/** Zero the zone pixels of rows y0 ≤ y < y1 within columns x0 ≤ x < x1. */
function zeroZones(
  z: ZoneRows,
  map: Float32Array,
  W: number,
  y0: number,
  y1: number,
  x0: number,
  x1: number,
): void {
  for (let y = y0; y < y1; y++) {
    for (let i = z.offsets[y], e = z.offsets[y + 1]; i < e; i += 2) {
      const a = Math.max(x0, z.spans[i]);
      const b = Math.min(x1, z.spans[i + 1]);
      if (b > a) map.fill(0, y * W + a, y * W + b);
    }
  }
}

function polygonRuns(polygons: readonly Polygon[], W: number, H: number): Int32Array {
  const out: number[] = [];
  const xs: number[] = [];
  for (const poly of polygons) {
    if (poly.length < 3) continue;
    let minY = Infinity;
    let maxY = -Infinity;
    for (const [, py] of poly) {
      minY = Math.min(minY, py);
      maxY = Math.max(maxY, py);
    }
    const y0 = Math.max(0, Math.ceil(minY - 0.5));
    const y1 = Math.min(H - 1, Math.ceil(maxY - 0.5) - 1);
    for (let y = y0; y <= y1; y++) {
      const yc = y + 0.5;
      xs.length = 0;
      for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
        const [xi, yi] = poly[i];
        const [xj, yj] = poly[j];
        if (yi <= yc !== yj <= yc) xs.push(xi + ((yc - yi) * (xj - xi)) / (yj - yi));
      }
      xs.sort((a, b) => a - b);
      for (let p = 0; p + 1 < xs.length; p += 2) {
        const a = Math.max(0, Math.ceil(xs[p] - 0.5));
        const b = Math.min(W, Math.ceil(xs[p + 1] - 0.5));
        if (b > a) out.push(y, a, b);
      }
    }
  }
  return Int32Array.from(out);
}

/** Zero the pixels of `map` inside any of the polygons (frame pixel coordinates, vertices as [x, y]). */
export function applyIgnoreMask(map: FloatMap, polygons: readonly Polygon[]): void {
  const { width: W, height: H, data } = map;
  zeroZones(ignoreRows(polygons, W, H), data, W, 0, H, 0, W);
}
