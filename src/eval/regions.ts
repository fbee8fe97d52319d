// Ground-truth defect regions: 8-connected components of a mask (as the MVTec evaluation code labels them,
// scipy.ndimage.label with a 3×3 structure), and the defect-size quartiles that split them into classes.
import { cv, type Mat } from '../util/cv.js';
import type { LabelledMask } from './pixel-tally.js';

export interface Regions {
  /** H·W; 0 = good, k ≥ 1 = region k. */
  labels: Int32Array;
  /** Index k: area of region k in pixels; index 0 is 0. */
  sizes: Int32Array;
}

/** Labels the non-zero pixels of an H·W mask into 8-connected regions. */
export function labelRegions(mask: Uint8Array, width: number, height: number): Regions {
  if (mask.length !== width * height)
    throw new Error(`mask holds ${mask.length} pixels, not ${width}×${height}`);
  const c = cv();
  const mats: Mat[] = [];
  try {
    const src = new c.Mat(
      height,
      width,
      c.CV_8UC1,
      Buffer.from(mask.buffer, mask.byteOffset, mask.byteLength),
    );
    mats.push(src);
    const { labels, stats } = src.connectedComponentsWithStats(8, c.CV_32S);
    mats.push(labels, stats);
    const lab = copyInt32(labels.getData());
    const st = copyInt32(stats.getData()); // rows of [left, top, width, height, area]
    const sizes = new Int32Array(stats.rows);
    for (let k = 1; k < stats.rows; k++) sizes[k] = st[k * 5 + 4];
    return { labels: lab, sizes };
  } finally {
    for (const m of mats) m.release();
  }
}

function copyInt32(b: Buffer): Int32Array {
  const out = new Int32Array(b.byteLength / 4);
  new Uint8Array(out.buffer).set(b);
  return out;
}

/** q1, q2, q3 of region sizes, by linear interpolation between order statistics (numpy.quantile's default). */
export function sizeQuartiles(sizes: readonly number[]): [number, number, number] {
  if (sizes.length === 0) throw new Error('size quartiles need at least one defect region');
  const s = [...sizes].sort((a, b) => a - b);
  const q = (p: number): number => {
    const h = (s.length - 1) * p;
    const lo = Math.floor(h);
    const hi = Math.min(lo + 1, s.length - 1);
    return s[lo] + (h - lo) * (s[hi] - s[lo]);
  };
  return [q(0.25), q(0.5), q(0.75)];
}

/** Size class 0..3 of a region: the first quartile it does not exceed (Q4 = larger than q3). */
export function sizeClass(size: number, quartiles: readonly [number, number, number]): number {
  for (let i = 0; i < 3; i++) if (size <= quartiles[i]) return i;
  return 3;
}

/** Regions with their size classes, ready for PixelTally.add. */
export function classify(r: Regions, quartiles: readonly [number, number, number]): LabelledMask {
  const classes = new Uint8Array(r.sizes.length);
  for (let k = 1; k < r.sizes.length; k++) classes[k] = sizeClass(r.sizes[k], quartiles);
  return { labels: r.labels, sizes: r.sizes, classes };
}
