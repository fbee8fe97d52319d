import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { findBlobs } from '../src/pipeline/blobs.js';
import type { FloatMap } from '../src/pipeline/image.js';
import {
  aboveThresholdBox,
  decide,
  findBlobsInRoi,
  resolveVerdictSettings,
} from '../src/pipeline/verdict.js';
import { Rng } from '../src/util/random.js';

/** Gaussian bumps on low noise, like an anomaly map. */
function bumps(W: number, H: number, rng: Rng, n: number): FloatMap {
  const data = new Float32Array(W * H);
  const ps = Array.from({ length: n }, () => [
    rng.uniform(0, W),
    rng.uniform(0, H),
    rng.uniform(1, 12),
    rng.uniform(0.3, 1),
  ]);
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) {
      let v = 0.05 * rng.next();
      for (const [cx, cy, s, a] of ps) v += a * Math.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * s * s));
      data[y * W + x] = v;
    }
  return { width: W, height: H, data };
}

describe('verdict', () => {
  test('thresholds: camera over config over bundle; missing ones named', () => {
    const bundle = { reject: 0.3, pixel: 0.2 };
    assert.deepEqual(resolveVerdictSettings(bundle, { minBlobArea: 16 }, {}), {
      thresholds: { reject: 0.3, pixel: 0.2 },
      minBlobArea: 16,
      ignore: [],
      missing: [],
    });
    const r = resolveVerdictSettings(
      bundle,
      { minBlobArea: 16, rejectThreshold: 0.5 },
      { pixelThreshold: 0.1, minBlobArea: 4 },
    );
    assert.deepEqual([r.thresholds, r.minBlobArea], [{ reject: 0.5, pixel: 0.1 }, 4]);
    const none = resolveVerdictSettings(undefined, { minBlobArea: 16, pixelThreshold: 0.1 }, {});
    assert.equal(none.thresholds, null);
    assert.deepEqual(none.missing, ['reject threshold']);
  });

  test('decide: above the threshold rejects, at or below passes, NaN rejects', () => {
    assert.deepEqual(decide(0.31, 0.3), { verdict: 'reject', reason: 'score' });
    assert.deepEqual(decide(0.3, 0.3), { verdict: 'ok', reason: 'pass' });
    assert.deepEqual(decide(NaN, 0.3), { verdict: 'reject', reason: 'score' });
  });

  test('aboveThresholdBox is the exact box of the pixels above the threshold', () => {
    const map = { width: 6, height: 4, data: new Float32Array(24) };
    assert.equal(aboveThresholdBox(map, 0), null);
    map.data[1 * 6 + 4] = 1;
    map.data[3 * 6 + 1] = 1;
    map.data[2 * 6 + 5] = 0.5; // equal to the threshold: not above
    assert.deepEqual(aboveThresholdBox(map, 0.5), { x: 1, y: 1, width: 4, height: 3 });
  });

  test('findBlobsInRoi finds exactly what findBlobs finds, in frame coordinates', () => {
    const rng = new Rng(4);
    let nonEmpty = 0;
    for (let it = 0; it < 60; it++) {
      const W = rng.int(8, 160);
      const H = rng.int(8, 120);
      const map = bumps(W, H, rng, rng.int(0, 4));
      const t = rng.uniform(0.05, 0.6);
      const minArea = rng.int(1, 6);
      const got = findBlobsInRoi(map, t, minArea);
      const want = findBlobs(map, t, minArea);
      assert.equal(got.length, want.length);
      if (got.length > 0) nonEmpty++;
      got.forEach((b, i) => {
        const w = want[i];
        assert.deepEqual([b.box, b.area, b.peak, b.mean], [w.box, w.area, w.peak, w.mean]);
        assert.ok(
          Math.abs(b.centroid.x - w.centroid.x) < 1e-9 && Math.abs(b.centroid.y - w.centroid.y) < 1e-9,
        );
      });
    }
    assert.ok(nonEmpty > 20, `${nonEmpty} maps with blobs`);
  });
});
