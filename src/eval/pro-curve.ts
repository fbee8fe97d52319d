// Per-region overlap (PRO) and the area under its curve, as the MVTec reference evaluation code computes them
// (MVTec 3D-AD / AD 2 `pro_curve_util.compute_pro` and `generic_util.trapezoid`, the code the paper's tables
// were made with; method.md "Evaluation"):
//   - thresholds: the good-pixel scores at `num` evenly spaced ranks (numpy.linspace(0, N−1, num, dtype=int))
//     of all good pixels of all test images, good images included;
//   - at each, FPR = 1 − (rank + 1)/N and PRO = mean over defect regions of the share of the region's pixels
//     scoring strictly above the threshold; the point (1, 1) closes the curve;
//   - AUPRO@L = trapezoid integral of PRO over FPR up to L (the last segment interpolated linearly), / L.
// Scores come binned (score-bins.ts): pixels in the threshold's own bin count as ties, at or below it.
import { BIN_COUNT } from './score-bins.js';
import { SIZE_CLASSES, type PixelTally } from './pixel-tally.js';

/** Thresholds of the reference code (num_thresholds = 99 in its calculate_au_pro calls). */
export const PRO_THRESHOLDS = 99;

export interface Curve {
  /** Ascending. */
  x: number[];
  y: number[];
}

/** numpy.linspace(0, n − 1, num, dtype=int): start + k·step truncated, the last one exactly n − 1. */
export function rankPositions(n: number, num: number): number[] {
  const step = (n - 1) / (num - 1);
  return Array.from({ length: num }, (_, k) => (k === num - 1 ? n - 1 : Math.trunc(k * step)));
}

/**
 * The reference PRO curve counting regions of size classes 0..upToClass (3 = all regions). Null when no
 * region is in those classes or there are no good pixels.
 */
export function proCurve(t: PixelTally, upToClass = SIZE_CLASSES - 1, num = PRO_THRESHOLDS): Curve | null {
  let regions = 0;
  for (let c = 0; c <= upToClass; c++) regions += t.regions[c];
  const N = t.goodPixels;
  if (regions === 0 || N === 0) return null;
  // Overlap weight strictly above each bin, summed over the classes counted (suffix sums).
  const above = new Float64Array(BIN_COUNT);
  for (let c = 0; c <= upToClass; c++) {
    const o = t.overlap[c];
    for (let b = 0; b < BIN_COUNT - 1; b++) above[b] += o[b + 1];
  }
  for (let b = BIN_COUNT - 2; b >= 0; b--) above[b] += above[b + 1];
  const fprs: number[] = [1];
  const pros: number[] = [1];
  let bin = 0;
  let below = t.good[0]; // good pixels in bins 0..bin
  for (const pos of rankPositions(N, num)) {
    while (below <= pos) below += t.good[++bin]; // the bin holding the pos-th smallest good score
    fprs.push(1 - (pos + 1) / N);
    pros.push(above[bin] / regions);
  }
  return { x: fprs.reverse(), y: pros.reverse() };
}

/** generic_util.trapezoid: area under (x ascending, y) up to xMax, the last segment linearly interpolated. */
export function trapezoid(x: readonly number[], y: readonly number[], xMax: number): number {
  let area = 0;
  for (let i = 1; i < x.length && x[i] <= xMax; i++) area += 0.5 * (y[i] + y[i - 1]) * (x[i] - x[i - 1]);
  if (!x.includes(xMax)) {
    const ins = x.findIndex((v) => v > xMax); // bisect_right
    if (ins <= 0) throw new Error(`integration limit ${xMax} outside the curve's range`);
    const yi = y[ins - 1] + ((y[ins] - y[ins - 1]) * (xMax - x[ins - 1])) / (x[ins] - x[ins - 1]);
    area += 0.5 * (yi + y[ins - 1]) * (xMax - x[ins - 1]);
  }
  return area;
}

/** AUPRO up to the FPR limit, normalised by it (1 = perfect). */
export function aupro(curve: Curve, limit: number): number {
  return trapezoid(curve.x, curve.y, limit) / limit;
}
