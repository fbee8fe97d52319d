// Calibration of a tiled bundle (issue 15): the held-out good images are tiled, run and stitched exactly as
// the engine does (tiled-frame-map.ts), and the thresholds are set on the stitched frame maps: the frame
// score is the top-K mean over the whole frame (K from its area), the pixel sample covers every frame pixel.
import type { Image } from '../pipeline/image.js';
import type { AnomalyModel } from '../pipeline/inference.js';
import { tiledFrameMap } from '../pipeline/tiled-frame-map.js';
import { TilePlans } from '../pipeline/tiled-inspection.js';
import type { TilingSpec } from '../pipeline/tiling.js';
import { MAX_PIXEL_SAMPLE, type HoldoutScores } from './calibrate.js';

export async function scoreHoldoutTiled(
  model: AnomalyModel,
  images: readonly Image[],
  tiling: TilingSpec,
  batch = 4,
  signal?: AbortSignal,
): Promise<HoldoutScores> {
  const totalPixels = images.reduce((a, f) => a + f.width * f.height, 0);
  const stride = Math.max(1, Math.ceil(totalPixels / MAX_PIXEL_SAMPLE));
  const sample = new Float32Array(Math.ceil(totalPixels / stride) + images.length);
  const scores = new Float64Array(images.length);
  const plans = new TilePlans();
  let ns = 0;
  let pixelMax = -Infinity;
  for (let i = 0; i < images.length; i++) {
    signal?.throwIfAborted();
    const { map, score } = await tiledFrameMap(model, images[i], tiling, batch, plans);
    scores[i] = score;
    for (let p = 0; p < map.length; p++) if (map[p] > pixelMax) pixelMax = map[p];
    for (let p = 0; p < map.length; p += stride) sample[ns++] = map[p];
  }
  return { scores, pixels: sample.subarray(0, ns), pixelMax, stride };
}
