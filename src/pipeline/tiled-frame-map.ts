// One image's tiled anomaly map outside the engine (issue 15): `infer`, `eval` and teach-in's calibration run
// an image's tiles through the model `batch` at a time and stitch the maps with the same code the engine uses
// (tile-input.ts, tiled-inspection.ts), so every tool sees the map a line would.
import { topKCount, topKMean } from './anomaly-map.js';
import type { Image } from './image.js';
import type { ResizeMode } from './letterbox.js';
import { tileInput } from './tile-input.js';
import { TilePlans, tiledMap } from './tiled-inspection.js';
import type { StitchPlan } from './stitch.js';
import type { TilingSpec } from './tiling.js';
import { tileCount } from './tiling.js';

/** What this needs of a model (pipeline/inference.ts's AnomalyModel is one). */
export interface TileModel {
  readonly size: number;
  readonly grid: number;
  readonly resize: ResizeMode;
  run(pixels: Uint8Array, batch: number): Promise<Float32Array>;
}

export interface TiledFrameMap {
  /** W×H stitched map, frame pixels. */
  map: Float32Array;
  /** Top-K mean over the frame map, K from the frame's area (no ignore zones). */
  score: number;
  plan: StitchPlan;
}

/** Every tile of `img` as a model input (S·S·3 bytes each), in grid order. */
export function tileInputs(img: Image, plan: StitchPlan, mode: ResizeMode): Uint8Array[] {
  const S = plan.grid.size;
  return Array.from({ length: tileCount(plan.grid) }, (_, i) => {
    const out = new Uint8Array(S * S * 3);
    tileInput(img, plan.grid, i, out, mode);
    return out;
  });
}

/** The image's tiles through the model, `batch` at a time; the stitched map and its score. */
export async function tiledFrameMap(
  model: TileModel,
  img: Image,
  spec: TilingSpec,
  batch: number,
  plans: TilePlans = new TilePlans(),
): Promise<TiledFrameMap> {
  const S = model.size;
  const cells = model.grid * model.grid;
  const plan = plans.get(img.width, img.height, spec, S);
  const n = tileCount(plan.grid);
  const frame = S * S * 3;
  const input = new Uint8Array(Math.min(batch, n) * frame);
  const grids = new Float32Array(n * cells);
  for (let start = 0; start < n; start += batch) {
    const k = Math.min(batch, n - start);
    for (let j = 0; j < k; j++)
      tileInput(img, plan.grid, start + j, input.subarray(j * frame, (j + 1) * frame), model.resize);
    const out = await model.run(input.subarray(0, k * frame), k);
    grids.set(out.subarray(0, k * cells), start * cells);
  }
  const map = tiledMap(grids, model.grid, plan);
  return { map, score: topKMean(map, topKCount(img.width, img.height)), plan };
}
