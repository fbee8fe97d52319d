// Warm-up covers every batch size the engine will run on a GPU (the one static size on TensorRT, batch 1 on
// the CPU), and for tiled cameras the batch sizes their tiles make and the tiled code path, before the first
// part; the deadline check turns measured times into a clear verdict, a tiled frame counting its tiles.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { Engine } from '../src/pipeline/engine.js';
import type { EngineModel } from '../src/pipeline/engine.js';
import {
  batchMs,
  configuredFramesPerSec,
  deadlineFeasibility,
  tiledFrameMs,
  warmUpBatches,
} from '../src/pipeline/warm-up.js';
import { tiledBatchSizes, tilesPerFrame } from '../src/pipeline/tiled-warm-up.js';
import type { EngineCamera } from '../src/pipeline/engine.js';
import type { EngineFrame } from '../src/pipeline/engine.js';
import { from, lastValueFrom, toArray } from 'rxjs';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deadlineCheck } from '../src/cli/deadline-check.js';
import { configSchema } from '../src/config/schema.js';
import { writeWarmUpRecord } from '../src/pipeline/warm-up-record.js';
import { tinyBundle, tinyTeacher } from './helpers/model-versions.js';
import { tinyModel } from './helpers/tiny-model.js';
import type { TinyModel } from './helpers/tiny-model.js';

describe('warm-up plan', () => {
  test('a GPU warms every batch size, TensorRT its static batch, the CPU one batch', () => {
    assert.deepEqual(warmUpBatches('cuda', 4), [1, 2, 3, 4]);
    assert.deepEqual(warmUpBatches('webgpu', 2), [1, 2]);
    assert.deepEqual(warmUpBatches('tensorrt', 8, 8), [8]);
    assert.deepEqual(warmUpBatches('cpu', 8), [1]);
  });

  test('tiled cameras add the sizes their tiles make: full batches and each known remainder', () => {
    const spec = { scale: 1, overlap: 0.125 };
    const cam = (frame: { width: number; height: number } | null) => ({ camera: 't', spec, frame });
    // S = 56: 112×100 is 3 × 2 tiles, 160×120 is 4 × 3, 2448×2048 at scale 0.5 (T = 112) 25 × 21
    assert.equal(tilesPerFrame(cam({ width: 112, height: 100 }), 56), 6);
    assert.equal(tilesPerFrame(cam({ width: 160, height: 120 }), 56), 12);
    assert.equal(tilesPerFrame(cam({ width: 40, height: 40 }), 56), null, 'smaller than a tile');
    assert.equal(tilesPerFrame(cam(null), 56), null, 'size unknown');
    assert.deepEqual(tiledBatchSizes([cam({ width: 112, height: 100 })], 56, 4), [2, 4]);
    assert.deepEqual(tiledBatchSizes([cam({ width: 160, height: 120 })], 56, 4), [4]);
    assert.deepEqual(tiledBatchSizes([cam({ width: 112, height: 100 })], 56, 8), [6]);
    assert.deepEqual(tiledBatchSizes([cam(null)], 56, 4), [4], 'unknown size: full batches');
    assert.deepEqual(warmUpBatches('cpu', 4, undefined, [2, 4]), [1, 2, 4]);
    assert.deepEqual(warmUpBatches('cuda', 4, undefined, [2, 4]), [1, 2, 3, 4], 'a GPU has them all');
  });
});

describe('deadline feasibility', () => {
  test('ViT-B at S=1036 on a 2-core CPU (~14 s a frame) cannot meet the 2 s default', () => {
    const f = deadlineFeasibility({
      msByBatch: new Map([[1, 14000]]),
      maxBatch: 4,
      maxWaitMs: 10,
      deadlineMs: 2000,
    });
    assert.equal(f.ok, false);
    assert.equal(Math.round(f.loneMs), 14010);
    assert.match(f.message, /deadlineMs 2000 cannot be met: a lone frame takes 14010 ms/);
    assert.match(f.message, /fail-safe/);
  });

  test('capacity below the configured camera rates is an error, with both numbers', () => {
    const f = deadlineFeasibility({
      msByBatch: new Map([
        [1, 100],
        [4, 300],
      ]),
      maxBatch: 4,
      maxWaitMs: 10,
      deadlineMs: 2000,
      framesPerSec: 20,
    });
    assert.equal(f.ok, false);
    assert.ok(Math.abs(f.capacityPerSec - 13.33) < 0.01);
    assert.match(f.message, /13\.33 frames\/s for 20\.00 frames\/s configured/);
  });

  test('a fast model passes; a tight deadline under load is flagged but not fatal', () => {
    const ms = new Map([
      [1, 20],
      [2, 30],
    ]);
    const ok = deadlineFeasibility({
      msByBatch: ms,
      maxBatch: 2,
      maxWaitMs: 10,
      deadlineMs: 500,
      framesPerSec: 10,
    });
    assert.equal(ok.ok, true);
    assert.equal(ok.loadedMs, 70);
    const tight = deadlineFeasibility({ msByBatch: ms, maxBatch: 2, maxWaitMs: 10, deadlineMs: 50 });
    assert.equal(tight.ok, true);
    assert.match(tight.message, /not under full batches/);
  });

  test('unmeasured sizes are extrapolated from the nearest measured one; static batches use their size', () => {
    assert.equal(batchMs(new Map([[1, 100]]), 4), 400);
    assert.equal(
      batchMs(
        new Map([
          [2, 50],
          [8, 160],
        ]),
        6,
      ),
      120,
    );
    const f = deadlineFeasibility({
      msByBatch: new Map([[8, 80]]),
      maxBatch: 8,
      maxWaitMs: 0,
      deadlineMs: 100,
      staticBatch: 8,
    });
    assert.equal(f.loneMs, 80, 'a lone frame runs the padded batch of 8');
  });

  test('camera rates count only when every camera has one; a tiled frame counts its tiles', () => {
    assert.equal(configuredFramesPerSec([{ fps: 2 }, { fps: 3 }]), 5);
    assert.equal(configuredFramesPerSec([{ fps: 2 }, {}]), undefined);
    assert.equal(configuredFramesPerSec([{ fps: 2, tiles: 12 }, { fps: 3 }]), 27);
  });

  test('a lone tiled frame is its batches in turn plus its post-processing: a 5 MP camera at S = 224 on a CPU', () => {
    const ms = new Map([
      [1, 30],
      [3, 80],
      [4, 100],
    ]);
    // 143 tiles in batches of 4: 35 full batches and one of 3; 2 ms of post-processing a tile runs meanwhile,
    // the last batch's after it
    assert.equal(tiledFrameMs(ms, 143, 4, undefined, 2), 35 * 100 + 80 + 286 / 36);
    assert.equal(tiledFrameMs(ms, 143, 4, 4), 36 * 100, 'a static batch pads the remainder');
    assert.equal(tiledFrameMs(ms, 143, 4, undefined, 40), 143 * 40 + 3580 / 36, 'post-processing bound');
    const f = deadlineFeasibility({
      msByBatch: ms,
      maxBatch: 4,
      maxWaitMs: 10,
      deadlineMs: 2000,
      tiled: [
        { camera: 'small', tiles: 6 },
        { camera: 'top', tiles: 143 },
      ],
      tilePostMs: 2,
    });
    assert.equal(f.ok, false);
    assert.equal(f.loneMs, 10 + 3580 + 286 / 36);
    assert.match(f.message, /a lone frame of tiled camera top \(143 tiles\) 3598 ms/);
    assert.match(f.message, /the parts of tiled camera top get the fail-safe verdict/);
    assert.match(f.message, /fewer tiles/);
    const at = (fps: number) =>
      deadlineFeasibility({
        msByBatch: ms,
        maxBatch: 4,
        maxWaitMs: 10,
        deadlineMs: 5000,
        framesPerSec: fps * 143,
        tiled: [{ camera: 'top', tiles: 143 }],
        tilePostMs: 2,
      });
    // 0.5 frames/s looks slow, but it is 71.5 model inputs/s against 40
    assert.equal(at(0.5).ok, false);
    assert.match(at(0.5).message, /40\.00 inputs\/s for 71\.50 inputs\/s configured/);
    assert.equal(at(0.25).ok, true, at(0.25).message);
  });
});

describe('doctor --config: the deadline check from the last warm-up record', () => {
  test('a tiled synthetic camera counts as its tiles: a 5 MP frame at S = 56 cannot make 2 s', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pinpoint-warm-up-'));
    try {
      const bundleDir = join(dir, 'model');
      const m = tinyBundle(tinyTeacher(dir), bundleDir, 1);
      const cacheDir = join(dir, 'cache');
      mkdirSync(cacheDir);
      writeWarmUpRecord(cacheDir, {
        modelId: m.modelId,
        provider: 'cpu',
        precision: 'fp32',
        size: 56,
        msByBatch: { '1': 5, '4': 12 },
        tilePostMs: 0.5,
        measuredAt: new Date().toISOString(),
      });
      const config = (tiling: unknown) =>
        configSchema.parse({
          cameras: { top: { type: 'synthetic', width: 2448, height: 2048, fps: 0.1, tiling } },
          model: { path: bundleDir, cacheDir },
          pipeline: { inputSize: 56, allowTilingMismatch: true },
        });
      // 2448×2048 in 56-px tiles overlapping by 7: 50 × 42 = 2100 tiles, 525 batches of 12 ms
      const tiled = deadlineCheck(config({ scale: 1, overlap: 0.125 }), dir);
      assert.equal(tiled.ok, false, tiled.detail);
      assert.match(tiled.detail, /a lone frame of tiled camera top \(2100 tiles\) \d+ ms/);
      const letterboxed = deadlineCheck(config('off'), dir);
      assert.equal(letterboxed.ok, true, letterboxed.detail);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('engine warm-up on a real session', () => {
  let model: TinyModel;
  before(async () => {
    model = await tinyModel({ size: 28 });
  });
  after(() => model.release());

  const engine = (m: EngineModel, maxBatch: number, cameras = new Map<string, EngineCamera>()) =>
    new Engine({
      model: m,
      cameras,
      maxBatch,
      maxWaitMs: 5,
      deadlineMs: 5000,
      failSafe: 'reject',
      log: pino({ level: 'silent' }),
    });

  test('a GPU provider runs each batch size 1..maxBatch (set-up run, then the timed one)', async () => {
    model.calls.length = 0;
    // The real CPU session stands in for the device: only the provider name decides the plan.
    const { msByBatch: ms } = await engine({ ...model, provider: 'webgpu' }, 3).warmUp();
    assert.deepEqual(model.calls, [1, 1, 2, 2, 3, 3]);
    assert.deepEqual([...ms.keys()], [1, 2, 3]);
    for (const v of ms.values()) assert.ok(v > 0);
  });

  test('a static batch warms only that size; the CPU one batch of 1', async () => {
    model.calls.length = 0;
    await engine({ ...model, provider: 'tensorrt', staticBatch: 4 }, 4).warmUp();
    assert.deepEqual(model.calls, [4, 4]);
    model.calls.length = 0;
    const w = await engine(model, 4).warmUp();
    assert.deepEqual(model.calls, [1]);
    assert.deepEqual([...w.msByBatch.keys()], [1]);
    assert.deepEqual([w.tiled, w.tilePostMs], [[], undefined], 'no tiled camera: nothing more');
  });

  const tiledCamera = (frameSize?: { width: number; height: number }): EngineCamera => ({
    queue: { depth: 4, policy: 'drop-oldest' },
    verdict: { thresholds: { reject: 1e9, pixel: 1e9 }, minBlobArea: 1, ignore: [] },
    triggerWindowMs: null,
    tiling: { scale: 2, overlap: 0.125 },
    frameSize,
  });

  test('a tiled camera on the CPU: its full batch and remainder, then a stand-in frame through the tiled path', async () => {
    model.calls.length = 0;
    // S = 28 at scale 2: tiles of 14 frame px resized to 28 (the resize path runs too); 30×24 is 3 × 2 tiles
    const cams = new Map([['t', tiledCamera({ width: 30, height: 24 })]]);
    const w = await engine(model, 4, cams).warmUp();
    assert.deepEqual([...w.msByBatch.keys()], [1, 2, 4], 'batch 1, the remainder 6 mod 4, the full batch');
    // then the stand-in frame of 2 × 2 tiles, twice (cold, then timed): one batch of 4 each time
    assert.deepEqual(model.calls, [1, 2, 4, 4, 4]);
    assert.deepEqual(w.tiled, [{ camera: 't', tiles: 6 }]);
    assert.ok(w.tilePostMs !== undefined && w.tilePostMs >= 0);
  });

  test('a hot swap warms for the frame size the engine saw, not the configured one', async () => {
    const e = engine(model, 4, new Map([['t', tiledCamera({ width: 30, height: 24 })]]));
    assert.deepEqual(e.tiledCameras()[0].frame, { width: 30, height: 24 });
    const image = { width: 44, height: 30, channels: 3 as const, data: new Uint8Array(44 * 30 * 3) };
    const frame: EngineFrame = { cameraId: 't', seq: 1, captureTime: Date.now(), image };
    const rs = await lastValueFrom(e.run(from([frame])).pipe(toArray()));
    assert.equal(rs[0].verdict, 'ok', rs[0].detail);
    assert.deepEqual(e.tiledCameras(), [
      { camera: 't', spec: { scale: 2, overlap: 0.125 }, frame: { width: 44, height: 30 } },
    ]);
  });
});
