// A tiled frame's Δ grids → its anomaly map, score, blobs and verdict (issue 15). Each tile's Δ grid becomes
// its T×T map exactly as a frame's does today (postprocess: upsample, blur; a square tile needs no crop),
// the tile maps are blended into the frame map (stitch.ts), ignore zones are zeroed in frame coordinates,
// the score is the top-K mean over the whole frame map with K from the frame's own area (topKCount(W, H)),
// and blobs are found on the stitched map, so a defect across a seam is one blob. Used by the engine, by
// `infer`/`eval` and by teach-in's calibration: one code path for every tiled map.
import { applyIgnoreMask, postprocess, topKCount, topKMean } from './anomaly-map.js';
import type { Blob } from './blobs.js';
import { computeLetterbox } from './letterbox.js';
import { stitchMaps, stitchPlan, type StitchPlan } from './stitch.js';
import type { TileGrid, TilingSpec } from './tiling.js';
import { tileCount, tileGrid } from './tiling.js';
import type { Inspection, Thresholds, VerdictSettings } from './verdict.js';
import { MAX_BLOBS, decide, findBlobsInRoi } from './verdict.js';

/** Frame sizes whose grids and windows are kept (a few sizes per deployment at most). */
const MAX_PLANS = 8;

/** Tile grids and stitch windows per (frame size, spec, S): computed once per frame size. */
export class TilePlans {
  private readonly plans = new Map<string, StitchPlan>();

  /** Throws a TilingError for a frame smaller than a tile. */
  get(width: number, height: number, spec: TilingSpec, size: number): StitchPlan {
    const k = `${width}x${height}@${spec.scale}/${spec.overlap}/${size}`;
    let p = this.plans.get(k);
    if (!p) {
      if (this.plans.size >= MAX_PLANS) this.plans.clear();
      p = stitchPlan(tileGrid(width, height, spec, size));
      this.plans.set(k, p);
    }
    return p;
  }
}

/**
 * The stitched W×H frame map from the tiles' Δ grids (tile i at grids[i·g·g ..], row-major over the grid).
 * `out` (W·H floats) is filled when given.
 */
export function tiledMap(grids: Float32Array, g: number, plan: StitchPlan, out?: Float32Array): Float32Array {
  const { grid } = plan;
  const cells = g * g;
  if (grids.length !== tileCount(grid) * cells)
    throw new Error(`tiled map: ${grids.length} values are not ${tileCount(grid)} tiles of ${g}×${g}`);
  const lb = computeLetterbox(grid.tile, grid.tile, grid.size);
  const scratch = new Float32Array(grid.tile * grid.tile);
  return stitchMaps(
    plan,
    (i) => postprocess(grids.subarray(i * cells, (i + 1) * cells), g, lb, scratch).map,
    out,
  );
}

export interface TiledInspection extends Inspection {
  /** The stitched frame map (ignore zones zeroed). */
  map: Float32Array;
}

/** Score (top-K mean, K from the frame's area) and blobs of a stitched map, ignore zones zeroed first. */
export function inspectMap(
  map: Float32Array,
  grid: TileGrid,
  s: VerdictSettings & { thresholds: Thresholds },
): TiledInspection {
  const { frameWidth: W, frameHeight: H } = grid;
  const full = { width: W, height: H, data: map };
  if (s.ignore.length > 0) applyIgnoreMask(full, s.ignore);
  const score = topKMean(map, topKCount(W, H));
  const blobs: Blob[] = findBlobsInRoi(full, s.thresholds.pixel, s.minBlobArea);
  if (blobs.length > MAX_BLOBS) blobs.length = MAX_BLOBS; // sorted by peak: the strongest stay
  const { reject, pixel } = s.thresholds;
  return { map, score, threshold: reject, pixelThreshold: pixel, ...decide(score, reject), blobs };
}

/** tiledMap then inspectMap. */
export function inspectTiles(
  grids: Float32Array,
  g: number,
  plan: StitchPlan,
  s: VerdictSettings & { thresholds: Thresholds },
  scratch?: Float32Array,
): TiledInspection {
  return inspectMap(tiledMap(grids, g, plan, scratch), plan.grid, s);
}
