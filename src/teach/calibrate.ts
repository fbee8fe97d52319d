// Thresholds from held-out good images (method.md, "Beyond the paper"): the paper ranks frames, a line
// has to decide. The teach-in holds out a share of the good images, scores them with the trained model,
// and sets
//   reject = max(margin · max(scores), mean(scores) + k · std(scores))
//   pixel  = pixelMargin · quantile_q(all map pixels of the holdout images)
// The first term keeps every held-out good part below the reject line with headroom; the second
// widens the line when the held-out scores spread. With one held-out image std is 0 and the margin
// alone decides. The pixel threshold starts blobs only where a good part's map practically never goes.
import { computeLetterbox } from '../pipeline/letterbox.js';
import { postprocess } from '../pipeline/anomaly-map.js';
import type { AnomalyModel } from '../pipeline/inference.js';
import { quantileSorted } from '../util/quantile.js';

export interface CalibrationRule {
  /** reject ≥ margin · the largest held-out score. */
  margin: number;
  /** reject ≥ mean + k · std of the held-out scores (population std). */
  k: number;
  /** Quantile of the held-out map pixels the pixel threshold starts from (1 = the largest pixel). */
  pixelQuantile: number;
  pixelMargin: number;
}

export const DEFAULT_RULE: CalibrationRule = { margin: 1.1, k: 3, pixelQuantile: 0.999, pixelMargin: 1.1 };

export interface Thresholds {
  reject: number;
  pixel: number;
  rule: string;
  holdout: number;
  scoreMin: number;
  scoreMax: number;
  scoreMean: number;
  scoreStd: number;
  pixelQuantileValue: number;
  pixelMax: number;
  /** Pixels the quantile was taken over (a strided sample when the holdout maps are large). */
  pixelsSampled: number;
  /** The precision of the session that scored the holdout: the thresholds hold only in it. */
  precision?: 'fp32' | 'fp16';
  [extra: string]: unknown;
}

export function describeRule(r: CalibrationRule): string {
  return (
    `reject = max(${r.margin}·max(holdout scores), mean + ${r.k}·std); ` +
    `pixel = ${r.pixelMargin}·q${r.pixelQuantile}(holdout map pixels)`
  );
}

export function checkRule(r: CalibrationRule): void {
  if (!(r.margin >= 1)) throw new Error(`calibration margin must be ≥ 1, got ${r.margin}`);
  if (!(r.k >= 0)) throw new Error(`calibration k must be ≥ 0, got ${r.k}`);
  if (!(r.pixelQuantile > 0 && r.pixelQuantile <= 1)) {
    throw new Error(`pixel quantile must be in (0, 1], got ${r.pixelQuantile}`);
  }
  if (!(r.pixelMargin >= 1)) throw new Error(`pixel margin must be ≥ 1, got ${r.pixelMargin}`);
}

export { quantileSorted };

/** The rule applied to held-out frame scores and (a sample of) their map pixels, whose max is given. */
export function thresholdsFromHoldout(
  scores: ArrayLike<number>,
  pixels: Float32Array,
  pixelMax: number,
  rule: CalibrationRule = DEFAULT_RULE,
): Thresholds {
  checkRule(rule);
  const n = scores.length;
  if (n === 0) throw new Error('calibration needs at least one held-out image');
  let sum = 0;
  let max = -Infinity;
  let min = Infinity;
  for (let i = 0; i < n; i++) {
    const s = scores[i];
    if (!Number.isFinite(s)) throw new Error(`held-out score ${i} is ${s}`);
    sum += s;
    max = Math.max(max, s);
    min = Math.min(min, s);
  }
  const mean = sum / n;
  let ss = 0;
  for (let i = 0; i < n; i++) ss += (scores[i] - mean) ** 2;
  const std = Math.sqrt(ss / n);
  const sorted = pixels.slice().sort();
  if (sorted.length === 0 || Number.isNaN(sorted[sorted.length - 1])) throw new Error('no valid map pixels');
  const q = quantileSorted(sorted, rule.pixelQuantile);
  const reject = Math.max(rule.margin * max, mean + rule.k * std);
  const pixel = rule.pixelMargin * (rule.pixelQuantile === 1 ? pixelMax : q);
  if (!(reject > 0) || !(pixel > 0)) {
    throw new Error(`calibration gave non-positive thresholds (reject ${reject}, pixel ${pixel})`);
  }
  return {
    reject,
    pixel,
    rule: describeRule(rule),
    holdout: n,
    scoreMin: min,
    scoreMax: max,
    scoreMean: mean,
    scoreStd: std,
    pixelQuantileValue: q,
    pixelMax,
    pixelsSampled: sorted.length,
  };
}

/** A held-out image, letterboxed: S·S·3 bytes plus the original size (maps are at that size). */
export interface HeldOutFrame {
  width: number;
  height: number;
  pixels: Uint8Array;
}

export interface HoldoutScores {
  scores: Float64Array;
  /** Strided sample of all map pixels (every `stride`-th of each map). */
  pixels: Float32Array;
  pixelMax: number;
  stride: number;
}

/** Largest pixel sample the quantile is taken over (16 MB of floats). */
export const MAX_PIXEL_SAMPLE = 4_000_000;

/** Scores held-out frames with the trained model (batches of `batch`), as the inspection engine would. */
export async function scoreHoldout(
  model: AnomalyModel,
  frames: readonly HeldOutFrame[],
  batch = 4,
  signal?: AbortSignal,
): Promise<HoldoutScores> {
  const S = model.size;
  const g = model.grid;
  const frameBytes = S * S * 3;
  const totalPixels = frames.reduce((a, f) => a + f.width * f.height, 0);
  const stride = Math.max(1, Math.ceil(totalPixels / MAX_PIXEL_SAMPLE));
  const sample = new Float32Array(Math.ceil(totalPixels / stride) + frames.length);
  let ns = 0;
  let pixelMax = -Infinity;
  const scores = new Float64Array(frames.length);
  const buf = new Uint8Array(Math.min(batch, frames.length) * frameBytes);
  for (let i = 0; i < frames.length; i += batch) {
    signal?.throwIfAborted();
    const n = Math.min(batch, frames.length - i);
    for (let j = 0; j < n; j++) buf.set(frames[i + j].pixels, j * frameBytes);
    const grids = await model.run(buf.subarray(0, n * frameBytes), n);
    for (let j = 0; j < n; j++) {
      const f = frames[i + j];
      const lb = computeLetterbox(f.width, f.height, S);
      const { map, score } = postprocess(grids.subarray(j * g * g, (j + 1) * g * g), g, lb);
      scores[i + j] = score;
      for (let p = 0; p < map.length; p++) if (map[p] > pixelMax) pixelMax = map[p];
      for (let p = 0; p < map.length; p += stride) sample[ns++] = map[p];
    }
  }
  return { scores, pixels: sample.subarray(0, ns), pixelMax, stride };
}
