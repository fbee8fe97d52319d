// Runs a model's warm-up plan (warm-up.ts): dummy frames through letterbox, inference and post-processing at
// every batch size it will see, and for tiled cameras the batch sizes their tiles make and a stand-in frame
// through the tiled path (tiled-warm-up.ts), before it gets real parts. The engine warms its first model with
// it before READY, and a hot swap warms the incoming model with it before the swap (model-swap.ts).
import { performance } from 'node:perf_hooks';
import type { EngineModel } from './engine.js';
import { computeLetterbox, letterbox } from './letterbox.js';
import type { TiledCamera } from './tiled-warm-up.js';
import { tiledBatchSizes, tilesPerFrame, warmUpTiledPath } from './tiled-warm-up.js';
import { inspectGrid } from './verdict.js';
import { warmUpBatches } from './warm-up.js';

export interface WarmUpTimes {
  /** ms per batch size (on a GPU the second run of each size; on the CPU the only run, an upper bound). */
  msByBatch: Map<number, number>;
  /** Post-processing ms per tile of a tiled frame (undefined: no camera is tiled). */
  tilePostMs?: number;
  /** Each tiled camera and its tiles per frame (null: frame size not known yet). */
  tiled: { camera: string; tiles: number | null }[];
}

/**
 * Loading OpenCV, a session's first run and the first operator set-up block for up to a second, and on a GPU
 * every new batch size sets up kernels: all of it happens here, not on the first parts.
 */
export async function warmUpModel(
  model: EngineModel,
  maxBatch: number,
  tiled: readonly TiledCamera[] = [],
): Promise<WarmUpTimes> {
  const S = model.size;
  const provider = model.provider ?? 'cpu';
  const sizes = warmUpBatches(provider, maxBatch, model.staticBatch, tiledBatchSizes(tiled, S, maxBatch));
  const largest = Math.max(...sizes);
  const buffer = new Uint8Array(largest * S * S * 3);
  const image = { width: 64, height: 48, channels: 3 as const, data: new Uint8Array(64 * 48 * 3).fill(128) };
  const lb = computeLetterbox(image.width, image.height, S);
  for (let i = 0; i < largest; i++)
    letterbox(image, S, buffer.subarray(i * S * S * 3, (i + 1) * S * S * 3), model.resize);
  const ms = new Map<number, number>();
  let grid: Float32Array | undefined;
  for (const b of sizes) {
    const pixels = buffer.subarray(0, b * S * S * 3);
    if (provider !== 'cpu') await model.run(pixels, b); // per-shape set-up, not timed
    const t0 = performance.now();
    grid = await model.run(pixels, b);
    ms.set(b, performance.now() - t0);
  }
  inspectGrid(grid!.subarray(0, model.grid * model.grid), model.grid, lb, {
    thresholds: { reject: 1, pixel: 1 },
    minBlobArea: 1,
    ignore: [],
  });
  const batch = model.staticBatch ?? maxBatch;
  return {
    msByBatch: ms,
    tilePostMs: tiled.length > 0 ? await warmUpTiledPath(model, tiled, batch) : undefined,
    tiled: tiled.map((c) => ({ camera: c.camera, tiles: tilesPerFrame(c, S) })),
  };
}
