// Warm-up of tiled cameras (issue 15). A tiled frame is many model inputs: its tiles fill whole batches of
// maxBatch and leave a remainder, so on the CPU (where warm-up otherwise runs one batch of 1) the first tiled
// part would be the first to run a full batch, with the session's per-shape set-up (memory plan, arena growth)
// inside its deadline; on a GPU every size is warmed already. And the tiled path has code of its own (tile
// crop and resize, the tile maps, the stitch over the frame, blobs over a frame-sized map) that must not run
// cold on a real part. So before READY (and before a hot swap) the model runs the batch sizes tiling produces,
// and one stand-in frame of 2 × 2 tiles per tiling goes through the whole tiled path; its cost per tile, with
// the measured batch times, says how long a lone frame of each tiled camera takes (warm-up.ts checks that
// against the deadline). Frame sizes come from what the engine saw (a hot swap), else from the config when it
// says (synthetic cameras), else are unknown until the first frame: then only the code and full batches warm.
import { performance } from 'node:perf_hooks';
import type { Image } from './image.js';
import type { ResizeMode } from './letterbox.js';
import { tileInput } from './tile-input.js';
import { TilePlans, inspectTiles } from './tiled-inspection.js';
import type { TilingSpec } from './tiling.js';
import { tileCount, tileGrid, tileSide } from './tiling.js';

/** The timed run's pixel threshold: no blob, a good part's cost (a defect adds its blobs' labelling). */
const NO_BLOBS = 1e30;

/** A tiled camera as warm-up sees it. */
export interface TiledCamera {
  camera: string;
  spec: TilingSpec;
  /** Its frame size when known (seen, or configured); null: not known before the first frame. */
  frame: { width: number; height: number } | null;
}

/** What the stand-in run needs of a model (EngineModel is one). */
export interface TiledWarmUpModel {
  readonly size: number;
  readonly grid: number;
  readonly resize: ResizeMode;
  run(pixels: Uint8Array, batch: number): Promise<Float32Array>;
}

/** Tiles per frame of a camera whose frame size is known and can be tiled, else null. */
export function tilesPerFrame(c: TiledCamera, size: number): number | null {
  if (!c.frame) return null;
  try {
    return tileCount(tileGrid(c.frame.width, c.frame.height, c.spec, size));
  } catch {
    return null; // smaller than a tile: its parts get the error verdict, nothing to warm
  }
}

/**
 * The batch sizes tiled frames make when alone: full batches of maxBatch, and each known frame's remainder
 * (n mod maxBatch). Frames of unknown size: full batches (the remainder's size is not known yet).
 */
export function tiledBatchSizes(cameras: readonly TiledCamera[], size: number, maxBatch: number): number[] {
  const out = new Set<number>();
  for (const c of cameras) {
    const n = tilesPerFrame(c, size);
    if (n === null) {
      out.add(maxBatch);
      continue;
    }
    if (n >= maxBatch) out.add(maxBatch);
    if (n % maxBatch) out.add(n % maxBatch);
  }
  return [...out].sort((a, b) => a - b);
}

/** A frame of 2 × 2 tiles for a spec (every stitch ramp runs, along both axes). */
export function standInFrame(spec: TilingSpec, size: number): Image {
  const T = tileSide(spec, size);
  const side = T + Math.ceil(T / 2);
  const data = new Uint8Array(side * side * 3);
  for (let i = 0; i < data.length; i++) data[i] = (i * 37) & 0xff; // texture, so blobs and maps do some work
  return { width: side, height: side, channels: 3, data };
}

/**
 * Runs a stand-in frame per distinct tiling through tiles → model (batches of at most maxBatch) → stitch →
 * score and blobs, twice: the first run warms the code (with blobs everywhere, so the labelling runs too), the
 * second is timed as a good part. Returns the second run's post-processing ms per tile (crop, tile map, its
 * share of the stitch and of the score), the largest over the tilings, or undefined when no camera is tiled.
 */
export async function warmUpTiledPath(
  model: TiledWarmUpModel,
  cameras: readonly TiledCamera[],
  maxBatch: number,
): Promise<number | undefined> {
  const specs = new Map(cameras.map((c) => [`${c.spec.scale}/${c.spec.overlap}`, c.spec]));
  let perTile: number | undefined;
  for (const spec of specs.values()) {
    const img = standInFrame(spec, model.size);
    await runTiledFrame(model, img, spec, maxBatch, 0); // every pixel a blob pixel: the labelling runs
    const { totalMs, inferMs, tiles } = await runTiledFrame(model, img, spec, maxBatch, NO_BLOBS);
    perTile = Math.max(perTile ?? 0, Math.max(0, totalMs - inferMs) / tiles);
  }
  return perTile;
}

async function runTiledFrame(
  model: TiledWarmUpModel,
  img: Image,
  spec: TilingSpec,
  maxBatch: number,
  pixel: number,
): Promise<{ totalMs: number; inferMs: number; tiles: number }> {
  const t0 = performance.now();
  const S = model.size;
  const cells = model.grid ** 2;
  const plan = new TilePlans().get(img.width, img.height, spec, S);
  const n = tileCount(plan.grid);
  const input = new Uint8Array(Math.min(maxBatch, n) * S * S * 3);
  const grids = new Float32Array(n * cells);
  let inferMs = 0;
  for (let start = 0; start < n; start += maxBatch) {
    const k = Math.min(maxBatch, n - start);
    for (let j = 0; j < k; j++)
      tileInput(img, plan.grid, start + j, input.subarray(j * S * S * 3, (j + 1) * S * S * 3), model.resize);
    const t = performance.now();
    const out = await model.run(input.subarray(0, k * S * S * 3), k);
    inferMs += performance.now() - t;
    grids.set(out.subarray(0, k * cells), start * cells);
  }
  inspectTiles(grids, model.grid, plan, { thresholds: { reject: 1, pixel }, minBlobArea: 1, ignore: [] });
  return { totalMs: performance.now() - t0, inferMs, tiles: n };
}
