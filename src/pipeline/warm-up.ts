// Warm-up plan and deadline feasibility: which batch sizes must run before READY, and whether the measured
// times can meet verdict.deadlineMs at the configured camera rates. Pure maths; the engine runs the plan.
//
// Why every batch size on a GPU: CUDA picks cuDNN algorithms per input shape (an exhaustive search on the
// first run of each shape, which the binding cannot turn off) and TensorRT builds an engine per shape
// (minutes). A batch size first seen mid-shift would stall every part meanwhile into a fail-safe verdict.
// The CPU has no per-shape kernel set-up, so one batch is enough there (a ViT-B frame at S = 1036 takes
// seconds), plus the sizes tiled frames make (tiled-warm-up.ts): a tiled camera's first part would otherwise be
// the first full batch, with the session's memory planning for that shape inside its deadline.
// A tiled frame is many inputs: its lone time is its batches one after another, overlapped with the tiles'
// post-processing (tiledFrameMs), and the camera rates count inputs (a tile is one), so the check below covers
// tiled cameras whose frame size is known.

/** The batch sizes warm-up runs, in order; `tiled`: the sizes tiled frames make (tiledBatchSizes). */
export function warmUpBatches(
  provider: string,
  maxBatch: number,
  staticBatch?: number,
  tiled: readonly number[] = [],
): number[] {
  if (staticBatch !== undefined) return [staticBatch];
  if (provider === 'cpu') return [...new Set([1, ...tiled])].sort((a, b) => a - b);
  return Array.from({ length: maxBatch }, (_, i) => i + 1);
}

export interface FeasibilityInput {
  /** Measured wall time per batch size, ms (at least one entry). */
  msByBatch: ReadonlyMap<number, number>;
  maxBatch: number;
  maxWaitMs: number;
  deadlineMs: number;
  /** Sum of the cameras' frame rates when all are known (files, synthetic), else undefined; tiles count each. */
  framesPerSec?: number;
  /** The session pads every batch to this size (TensorRT). */
  staticBatch?: number;
  /** Tiled cameras whose frame size is known, with their tiles per frame. */
  tiled?: readonly { camera: string; tiles: number }[];
  /** Post-processing ms per tile (crop, tile map, stitch share), measured by the tiled warm-up. */
  tilePostMs?: number;
}

export interface Feasibility {
  /** false: parts will get the fail-safe verdict (at any load, or at the configured rates). */
  ok: boolean;
  /** Time of a lone frame: wait for the batch to close + one batch of 1 (or the static batch), ms. */
  loneMs: number;
  /** A frame arriving behind a full batch: that batch + its own full batch + the wait, ms. */
  loadedMs: number;
  /** Frames per second the model sustains in full batches. */
  capacityPerSec: number;
  message: string;
}

/** ms of a batch of b: measured, else extrapolated linearly from the nearest measured size. */
export function batchMs(msByBatch: ReadonlyMap<number, number>, b: number): number {
  const exact = msByBatch.get(b);
  if (exact !== undefined) return exact;
  let best: [number, number] | undefined;
  for (const [size, ms] of msByBatch)
    if (!best || Math.abs(size - b) < Math.abs(best[0] - b)) best = [size, ms];
  if (!best) throw new Error('no measured batch time');
  return (best[1] / best[0]) * b;
}

/**
 * ms of a lone tiled frame of `tiles` inputs: its full batches and its remainder in turn, and the tiles'
 * post-processing. The two overlap (the model runs in its worker thread while the event loop post-processes
 * the previous batch), so the slower sets the pace, plus one batch's worth of the other (measured: a 525-tile
 * frame estimated at 3.95 s took 4.1–4.3 s).
 */
export function tiledFrameMs(
  msByBatch: ReadonlyMap<number, number>,
  tiles: number,
  maxBatch: number,
  staticBatch?: number,
  tilePostMs = 0,
): number {
  const B = staticBatch ?? maxBatch;
  const rest = tiles % B;
  const restMs = rest === 0 ? 0 : batchMs(msByBatch, staticBatch ?? rest);
  const inferMs = Math.floor(tiles / B) * batchMs(msByBatch, B) + restMs;
  const postMs = tiles * tilePostMs;
  return Math.max(inferMs, postMs) + Math.min(inferMs, postMs) / Math.ceil(tiles / B);
}

export function deadlineFeasibility(i: FeasibilityInput): Feasibility {
  const one = batchMs(i.msByBatch, i.staticBatch ?? 1);
  const full = batchMs(i.msByBatch, i.staticBatch ?? i.maxBatch);
  const tiled = (i.tiled ?? [])
    .map((t) => ({ ...t, ms: tiledFrameMs(i.msByBatch, t.tiles, i.maxBatch, i.staticBatch, i.tilePostMs) }))
    .sort((a, b) => b.ms - a.ms)[0];
  const frameLoneMs = i.maxWaitMs + one;
  const loneMs = Math.max(frameLoneMs, tiled ? i.maxWaitMs + tiled.ms : 0);
  const loadedMs = Math.max(i.maxWaitMs + 2 * full, tiled ? i.maxWaitMs + full + tiled.ms : 0);
  const capacityPerSec = ((i.staticBatch ?? i.maxBatch) * 1000) / full;
  const unit = tiled ? 'inputs/s' : 'frames/s';
  const numbers =
    `a lone frame takes ${Math.round(frameLoneMs)} ms` +
    (tiled
      ? `, a lone frame of tiled camera ${tiled.camera} (${tiled.tiles} tiles) ${Math.round(i.maxWaitMs + tiled.ms)} ms`
      : '') +
    `, one behind a full batch ${Math.round(loadedMs)} ms, capacity ${capacityPerSec.toFixed(2)} ${unit}` +
    (i.framesPerSec !== undefined ? ` for ${i.framesPerSec.toFixed(2)} ${unit} configured` : '') +
    (tiled ? ' (a tile is one input)' : '');
  if (loneMs > i.deadlineMs) {
    const who = frameLoneMs > i.deadlineMs ? 'every part' : `the parts of tiled camera ${tiled!.camera}`;
    const fix =
      frameLoneMs > i.deadlineMs ? 'a smaller pipeline.inputSize' : 'fewer tiles (a smaller tiling.scale)';
    return {
      ok: false,
      loneMs,
      loadedMs,
      capacityPerSec,
      message: `verdict.deadlineMs ${i.deadlineMs} cannot be met: ${numbers}; ${who} get${who === 'every part' ? 's' : ''} the fail-safe verdict (use a GPU, ${fix}, or a longer deadline)`,
    };
  }
  if (i.framesPerSec !== undefined && i.framesPerSec > capacityPerSec) {
    return {
      ok: false,
      loneMs,
      loadedMs,
      capacityPerSec,
      message: `the cameras send more frames than the model can inspect: ${numbers}; queues overflow and parts get the fail-safe verdict`,
    };
  }
  if (loadedMs > i.deadlineMs) {
    return {
      ok: true,
      loneMs,
      loadedMs,
      capacityPerSec,
      message: `verdict.deadlineMs ${i.deadlineMs} holds for spaced parts but not under full batches: ${numbers}`,
    };
  }
  return {
    ok: true,
    loneMs,
    loadedMs,
    capacityPerSec,
    message: `deadline ${i.deadlineMs} ms holds: ${numbers}`,
  };
}

/**
 * The cameras' summed frame rate when every enabled camera has a configured one (files, synthetic), in model
 * inputs: a tiled camera's frame counts its tiles.
 */
export function configuredFramesPerSec(
  cameras: readonly { fps?: number; tiles?: number }[],
): number | undefined {
  if (cameras.length === 0 || cameras.some((c) => c.fps === undefined)) return undefined;
  return cameras.reduce((s, c) => s + (c.fps ?? 0) * (c.tiles ?? 1), 0);
}
