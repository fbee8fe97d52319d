// Letterbox: pad a W×H frame to a centred side×side square by edge replication, then resize to S×S (method.md,
// "Input"). Conventions:
// - side = max(W, H), left = ⌊(side−W)/2⌋, top = ⌊(side−H)/2⌋; the map is cropped back with exactly these
//   offsets (the reference's round() crop is one pixel off for some odd differences; not copied).
// - Coordinates are continuous with pixel i covering [i, i+1): frame (x, y) ↔ canvas (x+left, y+top) ↔
//   model input (canvas · S/side).
// - Output: S·S·3 bytes, HWC interleaved RGB (grey replicated), written into a caller's view when given so a
//   batcher can fill its buffer in place.
// - Resampling: the reference is PIL's antialiased bicubic (a = −0.5, support widened by the scale when shrinking,
//   normalised weights) evaluated in float64 and rounded once (PIL itself rounds the horizontal pass to uint8 and
//   uses 22-bit fixed-point weights: within one level of this). 'exact' is a separable typed-array version of
//   it; 'area' and 'fast' are OpenCV approximations, with their costs and measured deviations in
//   docs/preprocessing.md: 'area' is the closest, 'fast' is 4–8× cheaper and the default.
import type { Mat } from '../util/cv.js';
import { cv } from '../util/cv.js';
import type { ResizeMode } from '../model/manifest.js';
import type { Image } from './image.js';
import { assertImage } from './image.js';

export interface Letterbox {
  /** original frame width W */
  width: number;
  /** original frame height H */
  height: number;
  /** padded square side = max(W, H) */
  side: number;
  /** columns of padding on the left: ⌊(side−W)/2⌋ */
  left: number;
  /** rows of padding on top: ⌊(side−H)/2⌋ */
  top: number;
  /** model input size S */
  size: number;
}

export interface Point {
  x: number;
  y: number;
}

export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

// How the padded canvas is resampled to S×S; a bundle records the mode it was taught with.
export { RESIZE_MODES, type ResizeMode } from '../model/manifest.js';

export function computeLetterbox(width: number, height: number, size: number): Letterbox {
  for (const [name, v] of [
    ['width', width],
    ['height', height],
    ['size', size],
  ] as const) {
    if (!Number.isInteger(v) || v < 1)
      throw new Error(`letterbox: ${name} must be a positive integer, got ${v}`);
  }
  const side = Math.max(width, height);
  return {
    width,
    height,
    side,
    left: Math.floor((side - width) / 2),
    top: Math.floor((side - height) / 2),
    size,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Coordinates. Scaling by S/side is not invertible in floating point (about one value in ten comes back one ulp
// off), so results within SNAP px of an integer are snapped: integer pixel positions survive the round trip
// exactly, any other position moves by at most a few ulps.

const SNAP = 1e-9;

function snap(v: number): number {
  const r = Math.round(v);
  return Math.abs(v - r) <= SNAP * Math.max(1, Math.abs(v)) ? r : v;
}

/** Frame pixel coordinates → model-input pixel coordinates. */
export function frameToModel(lb: Letterbox, p: Point): Point {
  return { x: snap(((p.x + lb.left) * lb.size) / lb.side), y: snap(((p.y + lb.top) * lb.size) / lb.side) };
}

/** Model-input pixel coordinates → frame pixel coordinates (may fall outside the frame, in the padding). */
export function modelToFrame(lb: Letterbox, p: Point): Point {
  return { x: snap((p.x * lb.side) / lb.size - lb.left), y: snap((p.y * lb.side) / lb.size - lb.top) };
}

export function frameBoxToModel(lb: Letterbox, b: Box): Box {
  const a = frameToModel(lb, b);
  const c = frameToModel(lb, { x: b.x + b.width, y: b.y + b.height });
  return { x: a.x, y: a.y, width: c.x - a.x, height: c.y - a.y };
}

export function modelBoxToFrame(lb: Letterbox, b: Box): Box {
  const a = modelToFrame(lb, b);
  const c = modelToFrame(lb, { x: b.x + b.width, y: b.y + b.height });
  return { x: a.x, y: a.y, width: c.x - a.x, height: c.y - a.y };
}

/** The rectangle of the side×side canvas that holds the frame: cropping it undoes the padding exactly. */
export function canvasCrop(lb: Letterbox): Box {
  return { x: lb.left, y: lb.top, width: lb.width, height: lb.height };
}

/**
 * The frame region covered by cell (row, col) of a g×g feature/map grid, clipped to the frame (width or height
 * 0 when the cell lies wholly in the padding). Neighbouring cells share their edge values exactly, so the cells
 * tile the frame without gaps or overlaps.
 */
export function cellToFrameBox(lb: Letterbox, g: number, row: number, col: number): Box {
  const edge = (i: number) => (i * lb.side) / g;
  const x0 = Math.min(lb.width, Math.max(0, edge(col) - lb.left));
  const x1 = Math.min(lb.width, Math.max(0, edge(col + 1) - lb.left));
  const y0 = Math.min(lb.height, Math.max(0, edge(row) - lb.top));
  const y1 = Math.min(lb.height, Math.max(0, edge(row + 1) - lb.top));
  return { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
}

/** Smallest integer model-input pixel rectangle (clipped to S×S) that contains a frame box: what to crop. */
export function frameBoxToCrop(lb: Letterbox, b: Box): Box {
  const m = frameBoxToModel(lb, b);
  const x0 = Math.max(0, Math.floor(m.x));
  const y0 = Math.max(0, Math.floor(m.y));
  const x1 = Math.min(lb.size, Math.ceil(m.x + m.width));
  const y1 = Math.min(lb.size, Math.ceil(m.y + m.height));
  return { x: x0, y: y0, width: Math.max(0, x1 - x0), height: Math.max(0, y1 - y0) };
}

// ---------------------------------------------------------------------------------------------------------------
// Resampling kernel (PIL bicubic).

function bicubic(x: number): number {
  const a = -0.5;
  if (x < 0) x = -x;
  if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
  return 0;
}

/**
 * Reference: pad (edge replication) into a float64 canvas, then PIL's antialiased bicubic resize done literally,
 * one float64 pass per axis, one rounding at the end (half up, clipped to 0..255). Slow; for tests and measurements.
 */
export function referenceLetterbox(img: Image, size: number): Uint8Array {
  assertImage(img);
  const { width: W, height: H, channels: C, data } = img;
  const lb = computeLetterbox(W, H, size);
  const { side, left, top } = lb;
  const canvas = new Float64Array(side * side * 3);
  for (let y = 0; y < side; y++) {
    const sy = Math.min(H - 1, Math.max(0, y - top));
    for (let x = 0; x < side; x++) {
      const sx = Math.min(W - 1, Math.max(0, x - left));
      for (let c = 0; c < 3; c++)
        canvas[(y * side + x) * 3 + c] = data[(sy * W + sx) * C + (C === 3 ? c : 0)];
    }
  }
  // One output position of PIL's precompute_coeffs: first input index and normalised weights.
  const taps = (xx: number): { min: number; w: number[] } => {
    const scale = side / size;
    const filterscale = Math.max(1, scale);
    const support = 2 * filterscale;
    const center = (xx + 0.5) * scale;
    const min = Math.max(0, Math.trunc(center - support + 0.5));
    const max = Math.min(side, Math.trunc(center + support + 0.5));
    const w: number[] = [];
    for (let x = min; x < max; x++) w.push(bicubic((x - center + 0.5) / filterscale));
    const sum = w.reduce((s, v) => s + v, 0);
    return { min, w: sum !== 0 ? w.map((v) => v / sum) : w };
  };
  const horizontal = new Float64Array(side * size * 3);
  for (let xx = 0; xx < size; xx++) {
    const { min, w } = taps(xx);
    for (let y = 0; y < side; y++) {
      for (let c = 0; c < 3; c++) {
        let s = 0;
        for (let k = 0; k < w.length; k++) s += w[k] * canvas[(y * side + min + k) * 3 + c];
        horizontal[(y * size + xx) * 3 + c] = s;
      }
    }
  }
  const out = new Uint8Array(size * size * 3);
  for (let yy = 0; yy < size; yy++) {
    const { min, w } = taps(yy);
    for (let x = 0; x < size; x++) {
      for (let c = 0; c < 3; c++) {
        let s = 0;
        for (let k = 0; k < w.length; k++) s += w[k] * horizontal[((min + k) * size + x) * 3 + c];
        out[(yy * size + x) * 3 + c] = Math.min(255, Math.max(0, Math.floor(s + 0.5)));
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// 'exact': the reference kernel as two banded passes over the unpadded frame. Edge replication is folded into the
// coefficients (taps that land in the padding add their weight to the edge pixel), so no padded copy is made.

/** Per output index: first source index and `taps` weights (zero-filled past the real band). */
interface AxisCoefficients {
  taps: number;
  start: Int32Array;
  weights: Float64Array;
}

const COEFF_CACHE_LIMIT = 16;
const coeffCache = new Map<string, AxisCoefficients>();

function axisCoefficients(srcLen: number, pad: number, side: number, size: number): AxisCoefficients {
  const key = `${srcLen}/${pad}/${side}/${size}`;
  const hit = coeffCache.get(key);
  if (hit) {
    coeffCache.delete(key); // re-insert: Map order is the LRU order
    coeffCache.set(key, hit);
    return hit;
  }
  const scale = side / size;
  const filterscale = Math.max(1, scale);
  const support = 2 * filterscale;
  const folded: { lo: number; w: Float64Array }[] = [];
  let taps = 1;
  for (let xx = 0; xx < size; xx++) {
    const center = (xx + 0.5) * scale;
    const min = Math.max(0, Math.trunc(center - support + 0.5));
    const max = Math.min(side, Math.trunc(center + support + 0.5));
    const lo = Math.min(srcLen - 1, Math.max(0, min - pad));
    const hi = Math.min(srcLen - 1, Math.max(0, max - 1 - pad));
    const w = new Float64Array(hi - lo + 1);
    let sum = 0;
    for (let x = min; x < max; x++) {
      const v = bicubic((x - center + 0.5) / filterscale);
      sum += v;
      w[Math.min(srcLen - 1, Math.max(0, x - pad)) - lo] += v;
    }
    if (sum !== 0) for (let k = 0; k < w.length; k++) w[k] /= sum;
    folded.push({ lo, w });
    taps = Math.max(taps, w.length);
  }
  const start = new Int32Array(size);
  const weights = new Float64Array(size * taps);
  for (let xx = 0; xx < size; xx++) {
    const { lo, w } = folded[xx];
    // The band is ≤ srcLen wide, so shifting its start left keeps every read inside the row.
    const s = Math.min(lo, srcLen - taps);
    start[xx] = s;
    weights.set(w, xx * taps + (lo - s));
  }
  const coeffs = { taps, start, weights };
  coeffCache.set(key, coeffs);
  if (coeffCache.size > COEFF_CACHE_LIMIT) coeffCache.delete(coeffCache.keys().next().value as string);
  return coeffs;
}

/** Round half up and clip, like PIL's clip8 (a Uint8Array store would wrap negatives, not clip them). */
function toByte(v: number): number {
  const r = Math.floor(v + 0.5);
  return r < 0 ? 0 : r > 255 ? 255 : r;
}

function letterboxExact(img: Image, lb: Letterbox, out: Uint8Array): void {
  const { width: W, height: H, channels: C, data } = img;
  const S = lb.size;
  const cx = axisCoefficients(W, lb.left, lb.side, S);
  const cy = axisCoefficients(H, lb.top, lb.side, S);
  const rowLen = S * C;
  // Horizontal pass over the H source rows only: padded rows are copies of the edge rows, folded into cy.
  const tmp = new Float32Array(H * rowLen);
  const { taps: tx, start: sx, weights: wx } = cx;
  for (let y = 0; y < H; y++) {
    const src = y * W * C;
    const dst = y * rowLen;
    for (let xx = 0; xx < S; xx++) {
      const base = src + sx[xx] * C;
      const wo = xx * tx;
      if (C === 3) {
        let r = 0;
        let g = 0;
        let b = 0;
        for (let k = 0; k < tx; k++) {
          const w = wx[wo + k];
          const i = base + k * 3;
          r += w * data[i];
          g += w * data[i + 1];
          b += w * data[i + 2];
        }
        const o = dst + xx * 3;
        tmp[o] = r;
        tmp[o + 1] = g;
        tmp[o + 2] = b;
      } else {
        let s = 0;
        for (let k = 0; k < tx; k++) s += wx[wo + k] * data[base + k];
        tmp[dst + xx] = s;
      }
    }
  }
  const { taps: ty, start: sy, weights: wy } = cy;
  const acc = new Float64Array(rowLen);
  for (let yy = 0; yy < S; yy++) {
    acc.fill(0);
    for (let k = 0; k < ty; k++) {
      const w = wy[yy * ty + k];
      if (w === 0) continue;
      const row = (sy[yy] + k) * rowLen;
      for (let i = 0; i < rowLen; i++) acc[i] += w * tmp[row + i];
    }
    const o = yy * S * 3;
    if (C === 3) {
      for (let i = 0; i < rowLen; i++) out[o + i] = toByte(acc[i]);
    } else {
      for (let x = 0; x < S; x++) {
        const v = toByte(acc[x]);
        out[o + 3 * x] = v;
        out[o + 3 * x + 1] = v;
        out[o + 3 * x + 2] = v;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// OpenCV paths. One padded Mat, the resize, one copy into the caller's bytes (the binding cannot resize into a
// given Mat); the source and destination Mats wrap the JS memory without copying.
//
// 'area': one resize, INTER_AREA when shrinking by AREA_FROM_SCALE or more (the closest stand-in for an
//   antialiased kernel), INTER_CUBIC otherwise. Close to the reference, but OpenCV's generic INTER_AREA and
//   INTER_CUBIC are slow (17 and 15 ms for 1280×1024 → 1036 on one core here).
// 'fast' (default): see fastPlan. An exact k× box reduction, an optional Gaussian prefilter, INTER_LINEAR:
//   2.6 ms for 1280×1024 → 1036 with a mean deviation from the reference of 0.39 levels ('area': 0.33), but
//   ≈ 2× 'area''s deviation where the box reduction does most of the shrink (1280×1024 → 448: 0.8 against 0.45).
//   Teach-in records the mode in the bundle, and inference uses the bundle's mode, so the students always see
//   the pre-processing they were trained on.

/** Shrink factor (side / S) from which INTER_AREA beats INTER_CUBIC against the reference (measured crossover). */
export const AREA_FROM_SCALE = 1.15;

/**
 * OpenCV interpolation for the one-step ('area') side → S resize: INTER_AREA when shrinking by AREA_FROM_SCALE
 * or more, INTER_CUBIC when enlarging or barely shrinking (antialiasing hardly matters there; only the kernel
 * shape differs, a = −0.75).
 */
export function areaInterpolation(side: number, size: number): number {
  const c = cv();
  return side >= AREA_FROM_SCALE * size ? c.INTER_AREA : c.INTER_CUBIC;
}

/** Remaining shrink factor from which 'fast' blurs before INTER_LINEAR (below it, bilinear alone measured as close). */
export const PREFILTER_FROM_SCALE = 1.5;

/**
 * The 'fast' plan for a side → S resize (s = side/S):
 * - k, the largest integer ≤ s that divides side: an exact box reduction by k takes OpenCV's integer-factor
 *   INTER_AREA fast path (1 = none);
 * - σ of a Gaussian prefilter (reduced-image pixels) before INTER_LINEAR for the remaining factor r = s/k,
 *   0 = none. σ = 0.35·√(r² − 1) was fitted against the reference (√(r² − 1): bilinear's own blur is
 *   discounted); it matters from r ≈ 1.5 (e.g. 1920 → 1036), or when no k divides the side.
 */
export function fastPlan(side: number, size: number): { k: number; sigma: number } {
  let k = Math.max(1, Math.floor(side / size));
  while (side % k !== 0) k--;
  const r = side / k / size;
  return { k, sigma: r >= PREFILTER_FROM_SCALE ? 0.35 * Math.sqrt(r * r - 1) : 0 };
}

function asBuffer(a: Uint8Array): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

function letterboxOpenCv(img: Image, lb: Letterbox, out: Uint8Array, mode: 'fast' | 'area'): void {
  const c = cv();
  const { width: W, height: H, channels: C } = img;
  const { side, left, top, size: S } = lb;
  const mats: Mat[] = [];
  try {
    const src = new c.Mat(H, W, C === 3 ? c.CV_8UC3 : c.CV_8UC1, asBuffer(img.data));
    mats.push(src);
    let padded = src;
    if (side !== W || side !== H) {
      padded = src.copyMakeBorder(top, side - H - top, left, side - W - left, c.BORDER_REPLICATE);
      mats.push(padded);
    }
    let resized = padded;
    if (side !== S) {
      if (mode === 'area') {
        resized = padded.resize(S, S, 0, 0, areaInterpolation(side, S));
        mats.push(resized);
      } else {
        const { k, sigma } = fastPlan(side, S);
        if (k > 1) {
          resized = resized.resize(side / k, side / k, 0, 0, c.INTER_AREA);
          mats.push(resized);
        }
        if (sigma > 0) {
          resized = resized.gaussianBlur(new c.Size(0, 0), sigma, sigma, c.BORDER_REPLICATE);
          mats.push(resized);
        }
        if (side / k !== S) {
          resized = resized.resize(S, S, 0, 0, c.INTER_LINEAR);
          mats.push(resized);
        }
      }
    }
    if (C === 1) {
      resized = resized.cvtColor(c.COLOR_GRAY2RGB);
      mats.push(resized);
    }
    const dst = new c.Mat(S, S, c.CV_8UC3, asBuffer(out));
    mats.push(dst);
    resized.copyTo(dst);
  } finally {
    for (const m of mats) m.release();
  }
}

/**
 * Letterbox a frame to S×S×3 RGB bytes. `out`, when given, must be a view of exactly S·S·3 bytes (e.g.
 * `batch.subarray(i·S·S·3, (i+1)·S·S·3)`); it is filled and returned. Pure apart from filling `out`.
 */
export function letterbox(img: Image, size: number, out?: Uint8Array, mode: ResizeMode = 'fast'): Uint8Array {
  assertImage(img);
  const lb = computeLetterbox(img.width, img.height, size);
  const n = size * size * 3;
  if (out && out.length !== n)
    throw new Error(`letterbox: output view holds ${out.length} bytes, needs ${n}`);
  const dst = out ?? new Uint8Array(n);
  if (mode === 'exact') letterboxExact(img, lb, dst);
  else letterboxOpenCv(img, lb, dst, mode);
  return dst;
}
