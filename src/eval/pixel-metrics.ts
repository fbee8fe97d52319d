// Pixel-level ranking metrics from a PixelTally's histograms: AUROC (Mann–Whitney, pixels sharing a bin count
// as ties), F1-max over bin thresholds, and the curves the report draws (ROC, and PRO densely sampled). The
// PRO values the tables report come from pro-curve.ts, the reference procedure.
import { BIN_COUNT, binLowerBound } from './score-bins.js';
import type { Curve } from './pro-curve.js';
import { SIZE_CLASSES, type PixelTally } from './pixel-tally.js';

/** Pixel AUROC; null without defect or good pixels. */
export function pixelAuroc(t: PixelTally): number | null {
  if (t.defectPixels === 0 || t.goodPixels === 0) return null;
  let below = 0;
  let wins = 0;
  for (let b = 0; b < BIN_COUNT; b++) {
    const p = t.defect[b];
    const n = t.good[b];
    if (p > 0) wins += p * (below + 0.5 * n);
    below += n;
  }
  return wins / t.defectPixels / t.goodPixels;
}

/** Best F1 of "defect = score ≥ threshold" over bin thresholds; null without defect pixels. */
export function pixelF1Max(t: PixelTally): { f1: number; threshold: number } | null {
  if (t.defectPixels === 0) return null;
  let tp = 0;
  let fp = 0;
  let best = { f1: 0, threshold: 0 };
  for (let b = BIN_COUNT - 1; b >= 0; b--) {
    if (t.defect[b] === 0 && t.good[b] === 0) continue;
    tp += t.defect[b];
    fp += t.good[b];
    const f1 = (2 * tp) / (2 * tp + fp + (t.defectPixels - tp));
    if (f1 > best.f1) best = { f1, threshold: binLowerBound(b) };
  }
  return best;
}

/** Pixel ROC curve (FPR, TPR) thinned to steps of at least `step` in either axis, for drawing. */
export function pixelRocCurve(t: PixelTally, step = 0.002): Curve | null {
  if (t.defectPixels === 0 || t.goodPixels === 0) return null;
  return thinnedCurve(t, (b) => t.defect[b] / t.defectPixels, 1, step);
}

/** Dense PRO curve (all regions) up to FPR `limit`, for drawing; null without regions. */
export function denseProCurve(t: PixelTally, limit = 0.3, step = 0.001): Curve | null {
  let regions = 0;
  for (let c = 0; c < SIZE_CLASSES; c++) regions += t.regions[c];
  if (regions === 0 || t.goodPixels === 0) return null;
  return thinnedCurve(t, (b) => t.overlap.reduce((s, o) => s + o[b], 0) / regions, limit, step);
}

/** Walks the bins from the top: x = good share above, y = Σ gain(bin); keeps points `step` apart. */
function thinnedCurve(t: PixelTally, gain: (bin: number) => number, xLimit: number, step: number): Curve {
  const x = [0];
  const y = [0];
  let fp = 0;
  let g = 0;
  for (let b = BIN_COUNT - 1; b >= 0; b--) {
    if (t.good[b] === 0 && t.defect[b] === 0) continue;
    const nextX = (fp + t.good[b]) / t.goodPixels;
    if (nextX > xLimit) break;
    fp += t.good[b];
    g += gain(b);
    const last = x.length - 1;
    if (nextX - x[last] >= step || g - y[last] >= step || b === 0) {
      x.push(nextX);
      y.push(g);
    }
  }
  return { x, y };
}
