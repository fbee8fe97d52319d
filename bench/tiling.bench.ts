// Tiling (issue 15) against letterboxing, side by side in one run, on a dev-teacher bundle:
//   1. ms/frame and frames/s of a 2448×2048 frame through the engine, tiled (tile count printed) and
//      letterboxed, same model, same batch;
//   2. the session alone on the same number of tile inputs: the tiling overhead beyond the tiles' inference
//      = engine ms/frame ÷ (tiles × session ms/input) − 1, goal ≤ 10 %;
//   3. pre + post CPU per tile on this thread: tile crop, map (upsample + blur) and the stitch's share.
// Knobs: BENCH_SIZE (S, default 224), BENCH_FRAMES (default 3), BENCH_BATCH (default 4), BENCH_DIM (teacher
// width, default 64: the ratio, not the absolute speed, is the point), BENCH_THREADS (default cores − 1).
import { mkdtempSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { from, lastValueFrom, toArray } from 'rxjs';
import { pino } from 'pino';
import { createBundle } from '../src/model/bundle.js';
import { writeDevTeacher } from '../src/model/dev-teacher.js';
import { Engine, type EngineCamera, type EngineFrame } from '../src/pipeline/engine.js';
import { openModelInWorker } from '../src/pipeline/worker-model.js';
import { postprocess } from '../src/pipeline/anomaly-map.js';
import { computeLetterbox } from '../src/pipeline/letterbox.js';
import { stitchMaps } from '../src/pipeline/stitch.js';
import { tileInput } from '../src/pipeline/tile-input.js';
import { TilePlans } from '../src/pipeline/tiled-inspection.js';
import { tileCount, type TilingSpec } from '../src/pipeline/tiling.js';
import { Rng } from '../src/util/random.js';

const S = Number(process.env.BENCH_SIZE ?? 224);
const FRAMES = Number(process.env.BENCH_FRAMES ?? 3);
const BATCH = Number(process.env.BENCH_BATCH ?? 4);
const DIM = Number(process.env.BENCH_DIM ?? 64);
const THREADS = Number(process.env.BENCH_THREADS ?? Math.max(1, cpus().length - 1));
const W = 2448;
const H = 2048;
const TILING: TilingSpec = { scale: 1, overlap: 0.125 };

function frames(n: number): EngineFrame[] {
  const rng = new Rng(1);
  const data = new Uint8Array(W * H * 3);
  for (let i = 0; i < data.length; i++) data[i] = rng.int(0, 255);
  const image = { width: W, height: H, channels: 3 as const, data };
  return Array.from({ length: n }, (_, seq) => ({ cameraId: 'cam', seq, captureTime: Date.now(), image }));
}

export async function run(): Promise<void> {
  const tmp = mkdtempSync(join(tmpdir(), 'pinpoint-bench-tiling-'));
  writeDevTeacher(join(tmp, 't.safetensors'), { dim: DIM, heads: 4, depth: 4 });
  createBundle({ teacherPath: join(tmp, 't.safetensors'), outDir: join(tmp, 'b'), size: S, layers: [2, 4] });
  // In a worker thread, as `pinpoint run` has it: post-processing overlaps the next batch's inference.
  const model = await openModelInWorker(join(tmp, 'b'), {
    device: 'cpu',
    threads: THREADS,
    maxBatch: BATCH,
    log: pino({ level: 'warn' }),
  });
  const plan = new TilePlans().get(W, H, TILING, S);
  const tiles = tileCount(plan.grid);
  const verdict = { thresholds: { reject: 1e9, pixel: 1e9 }, minBlobArea: 16, ignore: [] };
  const through = async (tiling: TilingSpec | null): Promise<number> => {
    const cam: EngineCamera = {
      queue: { depth: 64, policy: 'drop-newest' },
      verdict,
      triggerWindowMs: null,
      tiling,
    };
    const engine = new Engine({
      model,
      cameras: new Map([['cam', cam]]),
      maxBatch: BATCH,
      maxWaitMs: 0,
      deadlineMs: 600_000,
      failSafe: 'reject',
      log: pino({ level: 'silent' }),
    });
    await lastValueFrom(engine.run(from(frames(1))).pipe(toArray())); // warm
    const t0 = performance.now();
    const out = await lastValueFrom(engine.run(from(frames(FRAMES))).pipe(toArray()));
    if (out.some((r) => r.verdict === 'error'))
      throw new Error(`bench: ${out.find((r) => r.verdict === 'error')!.detail}`);
    return (performance.now() - t0) / FRAMES;
  };
  const tiledMs = await through(TILING);
  const letterboxMs = await through(null);

  // The session alone on the same inputs, in batches of BATCH.
  const input = new Uint8Array(new SharedArrayBuffer(BATCH * S * S * 3));
  const batches = Math.ceil(tiles / BATCH);
  const t1 = performance.now();
  for (let b = 0; b < batches * FRAMES; b++) await model.run(input, BATCH);
  const sessionPerInput = (performance.now() - t1) / (batches * FRAMES * BATCH);

  // Pre + post CPU per tile.
  const img = frames(1)[0].image;
  const one = new Uint8Array(S * S * 3);
  const grid = new Float32Array(model.grid * model.grid).fill(0.1);
  const lb = computeLetterbox(plan.grid.tile, plan.grid.tile, S);
  const maps = Array.from({ length: tiles }, () => new Float32Array(plan.grid.tile ** 2));
  const t2 = performance.now();
  for (let i = 0; i < tiles; i++) tileInput(img, plan.grid, i, one, model.resize);
  const t3 = performance.now();
  for (let i = 0; i < tiles; i++) postprocess(grid, model.grid, lb, maps[i]);
  const t4 = performance.now();
  stitchMaps(plan, (i) => maps[i]);
  const t5 = performance.now();
  await model.release();

  const overhead = tiledMs / (tiles * sessionPerInput) - 1;
  console.log(
    `2448×2048, S = ${S}, batch ${BATCH}, dev teacher width ${DIM}, ${THREADS} threads, ${FRAMES} frames`,
  );
  console.log(
    `tiled:       ${tiles} tiles (${plan.grid.xs.length} × ${plan.grid.ys.length}), ${tiledMs.toFixed(0)} ms/frame, ${(1000 / tiledMs).toFixed(2)} frames/s`,
  );
  console.log(
    `letterboxed: 1 input, ${letterboxMs.toFixed(0)} ms/frame, ${(1000 / letterboxMs).toFixed(2)} frames/s`,
  );
  console.log(
    `session alone: ${sessionPerInput.toFixed(2)} ms/input → ${(tiles * sessionPerInput).toFixed(0)} ms for the tiles`,
  );
  console.log(`tiling overhead beyond the tiles' inference: ${(100 * overhead).toFixed(1)} % (goal ≤ 10 %)`);
  console.log(
    `pre + post CPU per tile: crop ${((t3 - t2) / tiles).toFixed(3)} ms, map ${((t4 - t3) / tiles).toFixed(3)} ms, ` +
      `stitch ${((t5 - t4) / tiles).toFixed(3)} ms = ${((t5 - t2) / tiles).toFixed(3)} ms`,
  );
}
