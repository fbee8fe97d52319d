// The teach-in feature cache: every placement (memory / disk, float32 / float16) returns the rows the
// teacher produced, and the automatic plan follows the documented size limits.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBundle, loadBundle } from '../src/model/bundle.js';
import { writeDevTeacher } from '../src/model/dev-teacher.js';
import { openFeatureModel, type FeatureModel } from '../src/pipeline/inference.js';
import { letterbox } from '../src/pipeline/letterbox.js';
import { makeDataset } from '../src/synthetic/parts.js';
import { extractFeatures, FP32_LIMIT, planCache, type FeatureCacheOptions } from '../src/teach/features.js';
import { roundToF16 } from '../src/model/safetensors.js';

const tmp = mkdtempSync(join(tmpdir(), 'pinpoint-features-'));
let model: FeatureModel;
let frames: Uint8Array[];
let reference: { a: Float32Array; b: Float32Array };

before(async () => {
  writeDevTeacher(join(tmp, 't.safetensors'), { depth: 2, dim: 16, heads: 2, registers: 1, posGrid: 8 });
  createBundle({ teacherPath: join(tmp, 't.safetensors'), outDir: join(tmp, 'b'), size: 56, layers: [1, 2] });
  model = await openFeatureModel(loadBundle(join(tmp, 'b')), { device: 'cpu', threads: 1 });
  frames = makeDataset({ good: 5, defective: 0, seed: 3, width: 60, height: 50 }).map((p) =>
    letterbox({ width: p.width, height: p.height, channels: 3, data: p.rgb }, 56),
  );
  // All five images in one run: the rows every cache must give back.
  const all = new Uint8Array(frames.length * 56 * 56 * 3);
  frames.forEach((f, i) => all.set(f, i * f.length));
  const out = await model.run(all, frames.length);
  reference = { a: out.a.slice(), b: out.b.slice() };
});
after(async () => {
  await model.release();
  rmSync(tmp, { recursive: true, force: true });
});

describe('teach-in feature cache', () => {
  const cases: [string, FeatureCacheOptions][] = [
    ['memory fp32', { location: 'memory', precision: 'fp32' }],
    ['memory fp16', { location: 'memory', precision: 'fp16' }],
    ['disk fp16', { location: 'disk', precision: 'fp16' }],
    ['disk fp32', { location: 'disk', precision: 'fp32' }],
  ];
  for (const [name, cache] of cases) {
    test(`${name}: gathered rows equal the teacher's (fp16: rounded once)`, async () => {
      const dir = join(tmp, name.replace(' ', '-'));
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir);
      // Batches of 2 (the last one short): rows must still come out in image order.
      const store = await extractFeatures(model, frames, { batch: 2, cache: { ...cache, dir } });
      const D = 16;
      assert.equal(store.rows, 5 * 16);
      assert.equal(store.plan.location, cache.location);
      assert.equal(store.plan.precision, cache.precision);
      const idx = Uint32Array.from([79, 0, 17, 17, 42, 63]);
      const a = new Float32Array(idx.length * D);
      const b = new Float32Array(idx.length * D);
      store.gather(idx, a, b);
      const round = cache.precision === 'fp16' ? roundToF16 : (x: number) => x;
      idx.forEach((r, i) => {
        for (let d = 0; d < D; d++) {
          assert.equal(a[i * D + d], round(reference.a[r * D + d]));
          assert.equal(b[i * D + d], round(reference.b[r * D + d]));
        }
      });
      if (cache.location === 'disk') assert.equal(readdirSync(dir).length, 1, 'one cache file while open');
      store.close();
      assert.equal(readdirSync(dir).length, 0, 'the cache file is removed on close');
      assert.ok(existsSync(dir));
    });
  }

  test('automatic plan: fp32 in memory when small, fp16 beyond 1 GiB, disk beyond the memory budget', () => {
    const D = 768;
    const rowsAt = (bytes: number): number => Math.floor(bytes / (D * 2 * 4));
    assert.deepEqual(planCache(rowsAt(FP32_LIMIT), D, { memoryBudget: 4 * FP32_LIMIT }).precision, 'fp32');
    const big = planCache(rowsAt(2 * FP32_LIMIT), D, { memoryBudget: 4 * FP32_LIMIT });
    assert.deepEqual([big.location, big.precision], ['memory', 'fp16']);
    const huge = planCache(rowsAt(16 * FP32_LIMIT), D, { memoryBudget: 4 * FP32_LIMIT });
    assert.deepEqual([huge.location, huge.precision], ['disk', 'fp16']);
    // ViT-B at S = 1036: 30 images are 0.94 GiB as float32; 200 images are 3.1 GiB as float16.
    const few = planCache(30 * 5476, D, { memoryBudget: 8 * 2 ** 30 });
    assert.deepEqual([few.location, few.precision], ['memory', 'fp32']);
    const many = planCache(200 * 5476, D, { memoryBudget: 8 * 2 ** 30 });
    assert.deepEqual([many.location, many.precision, many.bytes], ['memory', 'fp16', 200 * 5476 * D * 2 * 2]);
  });
});
