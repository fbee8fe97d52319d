// Warm-up plan and deadline feasibility: which batch sizes must run before READY, and whether the measured
// times can meet verdict.deadlineMs at the configured camera rates. Pure maths; the engine runs the plan.
//
// Why every batch size on a GPU: CUDA picks cuDNN algorithms per input shape (an exhaustive search on the
// first run of each shape, which the binding cannot turn off) and TensorRT builds an engine per shape
// (minutes). A batch size first seen mid-shift would stall every part meanwhile into a fail-safe verdict.
// The CPU has no per-shape set-up, so one batch is enough there (a ViT-B frame at S = 1036 takes seconds).

/** The batch sizes warm-up runs, in order. */
export function warmUpBatches(provider: string, maxBatch: number, staticBatch?: number): number[] {
  if (staticBatch !== undefined) return [staticBatch];
  if (provider === 'cpu') return [1];
  return Array.from({ length: maxBatch }, (_, i) => i + 1);
}

export interface FeasibilityInput {
  /** Measured wall time per batch size, ms (at least one entry). */
  msByBatch: ReadonlyMap<number, number>;
  maxBatch: number;
  maxWaitMs: number;
  deadlineMs: number;
  /** Sum of the cameras' frame rates when all are known (files, synthetic), else undefined. */
  framesPerSec?: number;
  /** The session pads every batch to this size (TensorRT). */
  staticBatch?: number;
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

export function deadlineFeasibility(i: FeasibilityInput): Feasibility {
  const one = batchMs(i.msByBatch, i.staticBatch ?? 1);
  const full = batchMs(i.msByBatch, i.staticBatch ?? i.maxBatch);
  const loneMs = i.maxWaitMs + one;
  const loadedMs = i.maxWaitMs + 2 * full;
  const capacityPerSec = ((i.staticBatch ?? i.maxBatch) * 1000) / full;
  const numbers =
    `a lone frame takes ${Math.round(loneMs)} ms, one behind a full batch ${Math.round(loadedMs)} ms, ` +
    `capacity ${capacityPerSec.toFixed(2)} frames/s` +
    (i.framesPerSec !== undefined ? ` for ${i.framesPerSec.toFixed(2)} frames/s configured` : '');
  if (loneMs > i.deadlineMs) {
    return {
      ok: false,
      loneMs,
      loadedMs,
      capacityPerSec,
      message: `verdict.deadlineMs ${i.deadlineMs} cannot be met: ${numbers}; every part gets the fail-safe verdict (use a GPU, a smaller pipeline.inputSize, or a longer deadline)`,
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

/** The cameras' summed frame rate when every enabled camera has a configured one (files, synthetic). */
export function configuredFramesPerSec(cameras: readonly { fps?: number }[]): number | undefined {
  if (cameras.length === 0 || cameras.some((c) => c.fps === undefined)) return undefined;
  return cameras.reduce((s, c) => s + (c.fps ?? 0), 0);
}
