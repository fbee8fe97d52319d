// Blobs: 8-connected components of (map > threshold) with area ≥ minArea, in original-frame pixel coordinates
// (method.md, "Beyond the paper"). Conventions (as in letterbox.ts, pixel i covers [i, i+1)):
// - box: integer pixel rectangle [x, x+width) × [y, y+height) holding the component;
// - centroid: mean of the pixel centres, so a one-pixel blob at (3, 4) has centroid (3.5, 4.5);
// - peak / mean: max and mean of the map over the component (mean summed in float64, raster order);
// - order: peak descending, ties by box top, box left, area descending, so the result never depends on how a
//   labelling algorithm numbers its components.
// "> threshold" compares the float32 pixel with the float64 threshold exactly; the OpenCV path gets the float32
// that draws the same line (see float32Below).
import type { Mat } from '../util/cv.js';
import { cv } from '../util/cv.js';
import type { FloatMap } from './image.js';

export interface Blob {
  box: { x: number; y: number; width: number; height: number };
  area: number;
  centroid: { x: number; y: number };
  peak: number;
  mean: number;
}

function compareBlobs(a: Blob, b: Blob): number {
  return (
    b.peak - a.peak ||
    a.box.y - b.box.y ||
    a.box.x - b.box.x ||
    b.area - a.area ||
    a.centroid.y - b.centroid.y ||
    a.centroid.x - b.centroid.x
  );
}

function checkMap(map: FloatMap): void {
  if (map.data.length !== map.width * map.height) {
    throw new Error(`blobs: map ${map.width}x${map.height} holds ${map.data.length} values`);
  }
}

/** Per-label accumulation in raster order; shared by both paths so their sums are bit-identical. */
class Accumulator {
  readonly minX: Int32Array;
  readonly minY: Int32Array;
  readonly maxX: Int32Array;
  readonly maxY: Int32Array;
  readonly area: Float64Array;
  readonly sumX: Float64Array;
  readonly sumY: Float64Array;
  readonly sum: Float64Array;
  readonly peak: Float64Array;

  constructor(n: number) {
    this.minX = new Int32Array(n).fill(0x7fffffff);
    this.minY = new Int32Array(n).fill(0x7fffffff);
    this.maxX = new Int32Array(n).fill(-1);
    this.maxY = new Int32Array(n).fill(-1);
    this.area = new Float64Array(n);
    this.sumX = new Float64Array(n);
    this.sumY = new Float64Array(n);
    this.sum = new Float64Array(n);
    this.peak = new Float64Array(n).fill(-Infinity);
  }

  add(l: number, x: number, y: number, v: number): void {
    if (x < this.minX[l]) this.minX[l] = x;
    if (x > this.maxX[l]) this.maxX[l] = x;
    if (y < this.minY[l]) this.minY[l] = y;
    if (y > this.maxY[l]) this.maxY[l] = y;
    this.area[l]++;
    this.sumX[l] += x;
    this.sumY[l] += y;
    this.sum[l] += v;
    if (v > this.peak[l]) this.peak[l] = v;
  }

  blob(l: number): Blob {
    const area = this.area[l];
    return {
      box: {
        x: this.minX[l],
        y: this.minY[l],
        width: this.maxX[l] - this.minX[l] + 1,
        height: this.maxY[l] - this.minY[l] + 1,
      },
      area,
      centroid: { x: this.sumX[l] / area + 0.5, y: this.sumY[l] / area + 0.5 },
      peak: this.peak[l],
      mean: this.sum[l] / area,
    };
  }
}

/** Reference: flood-fill labelling (explicit stack, 8 neighbours), then one raster pass for the statistics. */
export function referenceFindBlobs(map: FloatMap, threshold: number, minArea: number): Blob[] {
  checkMap(map);
  const { width: W, height: H, data } = map;
  const labels = new Int32Array(W * H); // 0 = background / unvisited
  let next = 1;
  const stack: number[] = [];
  for (let i = 0; i < W * H; i++) {
    if (labels[i] !== 0 || !(data[i] > threshold)) continue;
    const l = next++;
    labels[i] = l;
    stack.push(i);
    while (stack.length > 0) {
      const p = stack.pop()!;
      const px = p % W;
      const py = (p - px) / W;
      for (let dy = -1; dy <= 1; dy++) {
        for (let dx = -1; dx <= 1; dx++) {
          const x = px + dx;
          const y = py + dy;
          if (x < 0 || y < 0 || x >= W || y >= H) continue;
          const q = y * W + x;
          if (labels[q] === 0 && data[q] > threshold) {
            labels[q] = l;
            stack.push(q);
          }
        }
      }
    }
  }
  const acc = new Accumulator(next);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const l = labels[y * W + x];
      if (l !== 0) acc.add(l, x, y, data[y * W + x]);
    }
  }
  const blobs: Blob[] = [];
  for (let l = 1; l < next; l++) if (acc.area[l] >= minArea) blobs.push(acc.blob(l));
  return blobs.sort(compareBlobs);
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/**
 * The largest float32 f ≤ t: for every float32 v, v > t ⇔ v > f. OpenCV compares float maps against a float
 * threshold, and a float64 threshold rounded up would drop pixels equal to that float.
 */
export function float32Below(t: number): number {
  const f = Math.fround(t);
  if (f <= t || Number.isNaN(f)) return f;
  f32[0] = f; // f > t, so f is not −∞; step one float32 toward −∞
  if (f > 0) u32[0]--;
  else if (f === 0)
    u32[0] = 0x80000001; // the largest negative float32 (−2⁻¹⁴⁹)
  else u32[0]++;
  return f32[0];
}

/** Above this many kept components the whole label image is fetched once instead of one region per component. */
const MAX_REGION_FETCHES = 32;

/** An Int32Array over a Buffer's bytes; copied only when the Buffer is not 4-byte aligned (pooled Buffers). */
function int32s(b: Buffer): Int32Array {
  return b.byteOffset % 4 === 0
    ? new Int32Array(b.buffer, b.byteOffset, b.byteLength / 4)
    : new Int32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

/**
 * Fast path: OpenCV threshold → connectedComponentsWithStats (8-connectivity, CV_32S labels); peak, mean and the
 * centroid from a raster pass over the labels inside each kept component's box (or over the whole label image
 * when there are many components or their boxes are large). All Mats are released.
 */
export function findBlobs(map: FloatMap, threshold: number, minArea: number): Blob[] {
  checkMap(map);
  const c = cv();
  const { width: W, height: H, data } = map;
  const mats: Mat[] = [];
  try {
    const src = new c.Mat(H, W, c.CV_32F, Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    mats.push(src);
    const binary = src.threshold(float32Below(threshold), 1, c.THRESH_BINARY);
    mats.push(binary);
    const mask = binary.convertTo(c.CV_8U);
    mats.push(mask);
    if (mask.countNonZero() === 0) return [];
    const { labels, stats } = mask.connectedComponentsWithStats(8, c.CV_32S);
    mats.push(labels, stats);
    const st = int32s(stats.getData()); // rows of [left, top, width, height, area]
    const n = stats.rows;
    const kept: number[] = [];
    let boxArea = 0;
    for (let l = 1; l < n; l++) {
      if (st[l * 5 + 4] >= minArea) {
        kept.push(l);
        boxArea += st[l * 5 + 2] * st[l * 5 + 3];
      }
    }
    if (kept.length === 0) return [];
    const acc = new Accumulator(n);
    if (kept.length <= MAX_REGION_FETCHES && boxArea <= (W * H) / 4) {
      // Few, small components (the usual defect): fetch only the labels inside each box, not the whole image.
      for (const l of kept) {
        const x0 = st[l * 5];
        const y0 = st[l * 5 + 1];
        const bw = st[l * 5 + 2];
        const bh = st[l * 5 + 3];
        const roi = labels.getRegion(new c.Rect(x0, y0, bw, bh));
        const roiCopy = roi.copy(); // getData refuses ROIs
        mats.push(roi, roiCopy);
        const lab = int32s(roiCopy.getData());
        // The box and area are OpenCV's; the sums in registers, in raster order as Accumulator.add adds them
        // (so the results stay bit-identical to the reference's).
        let sumX = 0;
        let sumY = 0;
        let sum = 0;
        let peak = -Infinity;
        for (let y = 0, i = 0; y < bh; y++) {
          for (let x = 0, o = (y0 + y) * W + x0; x < bw; x++, i++, o++) {
            if (lab[i] !== l) continue;
            const v = data[o];
            sumX += x0 + x;
            sumY += y0 + y;
            sum += v;
            if (v > peak) peak = v;
          }
        }
        acc.minX[l] = x0;
        acc.minY[l] = y0;
        acc.maxX[l] = x0 + bw - 1;
        acc.maxY[l] = y0 + bh - 1;
        acc.area[l] = st[l * 5 + 4];
        acc.sumX[l] = sumX;
        acc.sumY[l] = sumY;
        acc.sum[l] = sum;
        acc.peak[l] = peak;
      }
    } else {
      const lab = int32s(labels.getData());
      for (let y = 0, i = 0; y < H; y++) {
        for (let x = 0; x < W; x++, i++) if (lab[i] !== 0) acc.add(lab[i], x, y, data[i]);
      }
    }
    return kept.map((l) => acc.blob(l)).sort(compareBlobs);
  } finally {
    for (const m of mats) m.release();
  }
}
