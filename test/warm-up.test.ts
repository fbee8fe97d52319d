// Warm-up covers every batch size the engine will run on a GPU (the one static size on TensorRT, batch 1 on
// the CPU), before the first part; the deadline check turns measured times into a clear verdict.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { Engine } from '../src/pipeline/engine.js';
import type { EngineModel } from '../src/pipeline/engine.js';
import {
  batchMs,
  configuredFramesPerSec,
  deadlineFeasibility,
  warmUpBatches,
} from '../src/pipeline/warm-up.js';
import { tinyModel } from './helpers/tiny-model.js';
import type { TinyModel } from './helpers/tiny-model.js';

describe('warm-up plan', () => {
  test('a GPU warms every batch size, TensorRT its static batch, the CPU one batch', () => {
    assert.deepEqual(warmUpBatches('cuda', 4), [1, 2, 3, 4]);
    assert.deepEqual(warmUpBatches('webgpu', 2), [1, 2]);
    assert.deepEqual(warmUpBatches('tensorrt', 8, 8), [8]);
    assert.deepEqual(warmUpBatches('cpu', 8), [1]);
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

  test('camera rates count only when every camera has one', () => {
    assert.equal(configuredFramesPerSec([{ fps: 2 }, { fps: 3 }]), 5);
    assert.equal(configuredFramesPerSec([{ fps: 2 }, {}]), undefined);
  });
});

describe('engine warm-up on a real session', () => {
  let model: TinyModel;
  before(async () => {
    model = await tinyModel({ size: 28 });
  });
  after(() => model.release());

  const engine = (m: EngineModel, maxBatch: number) =>
    new Engine({
      model: m,
      cameras: new Map(),
      maxBatch,
      maxWaitMs: 5,
      deadlineMs: 5000,
      failSafe: 'reject',
      log: pino({ level: 'silent' }),
    });

  test('a GPU provider runs each batch size 1..maxBatch (set-up run, then the timed one)', async () => {
    model.calls.length = 0;
    // The real CPU session stands in for the device: only the provider name decides the plan.
    const ms = await engine({ ...model, provider: 'webgpu' }, 3).warmUp();
    assert.deepEqual(model.calls, [1, 1, 2, 2, 3, 3]);
    assert.deepEqual([...ms.keys()], [1, 2, 3]);
    for (const v of ms.values()) assert.ok(v > 0);
  });

  test('a static batch warms only that size; the CPU one batch of 1', async () => {
    model.calls.length = 0;
    await engine({ ...model, provider: 'tensorrt', staticBatch: 4 }, 4).warmUp();
    assert.deepEqual(model.calls, [4, 4]);
    model.calls.length = 0;
    const ms = await engine(model, 4).warmUp();
    assert.deepEqual(model.calls, [1]);
    assert.deepEqual([...ms.keys()], [1]);
  });
});
