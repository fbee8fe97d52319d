// Scores a labelled set with a trained bundle: frame scores, maps, image and pixel AUROC. Used by the
// teach-in acceptance test, the benchmark and the defaults study (docs/teach-in.md).
import type { Bundle } from '../model/bundle.js';
import type { Image } from '../pipeline/image.js';
import { openAnomalyModel, type SessionOptions } from '../pipeline/inference.js';
import { computeLetterbox, letterbox } from '../pipeline/letterbox.js';
import { postprocess } from '../pipeline/anomaly-map.js';
import { auroc, PixelAuroc } from '../pipeline/ranking-metrics.js';

export interface LabelledImage {
  image: Image;
  /** H·W ground truth, non-zero = defect; null for a good image. */
  mask: Uint8Array | null;
}

export interface Evaluation {
  scores: Float64Array;
  /** Per image: the largest map value, and the largest inside the defect mask (0 for good images). */
  maxPixel: Float32Array;
  maxInMask: Float32Array;
  /** Per image: 1 = defective. */
  labels: Uint8Array;
  imageAuroc: number;
  pixelAuroc: number;
}

export async function evaluateBundle(
  bundle: Bundle,
  items: readonly LabelledImage[],
  opts: SessionOptions & { batch?: number } = {},
): Promise<Evaluation> {
  const model = await openAnomalyModel(bundle, opts);
  const S = model.size;
  const g = model.grid;
  const batch = opts.batch ?? 4;
  const pixels = new Uint8Array(batch * S * S * 3);
  const scores = new Float64Array(items.length);
  const labels = new Uint8Array(items.length);
  const maxPixel = new Float32Array(items.length);
  const maxInMask = new Float32Array(items.length);
  const px = new PixelAuroc();
  try {
    for (let i = 0; i < items.length; i += batch) {
      const n = Math.min(batch, items.length - i);
      for (let j = 0; j < n; j++) {
        letterbox(items[i + j].image, S, pixels.subarray(j * S * S * 3, (j + 1) * S * S * 3), model.resize);
      }
      const grids = await model.run(pixels.subarray(0, n * S * S * 3), n);
      for (let j = 0; j < n; j++) {
        const { image, mask } = items[i + j];
        const lb = computeLetterbox(image.width, image.height, S);
        const { map, score } = postprocess(grids.subarray(j * g * g, (j + 1) * g * g), g, lb);
        scores[i + j] = score;
        labels[i + j] = mask && mask.some((v) => v !== 0) ? 1 : 0;
        let mx = -Infinity;
        let mm = 0;
        for (let k = 0; k < map.length; k++) {
          if (map[k] > mx) mx = map[k];
          if (mask && mask[k] && map[k] > mm) mm = map[k];
        }
        maxPixel[i + j] = mx;
        maxInMask[i + j] = mm;
        px.add(map, mask ?? new Uint8Array(map.length));
      }
    }
  } finally {
    await model.release();
  }
  return {
    scores,
    maxPixel,
    maxInMask,
    labels,
    imageAuroc: auroc(scores, labels),
    pixelAuroc: px.value(),
  };
}
