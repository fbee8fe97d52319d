import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../src/util/random.js';
import type { FloatMap } from '../src/pipeline/image.js';
import { findBlobs, float32Below, referenceFindBlobs } from '../src/pipeline/blobs.js';

function mapFrom(rows: string[]): FloatMap {
  // '.' = 0, digits = value/10
  const H = rows.length;
  const W = rows[0].length;
  const data = new Float32Array(W * H);
  rows.forEach((r, y) => [...r].forEach((ch, x) => (data[y * W + x] = ch === '.' ? 0 : Number(ch) / 10)));
  return { width: W, height: H, data };
}

/** Smooth random blobs: sums of a few Gaussian bumps plus noise, like thresholded anomaly maps. */
function blobMap(W: number, H: number, rng: Rng): FloatMap {
  const data = new Float32Array(W * H);
  const bumps = rng.int(0, 8);
  const params = Array.from({ length: bumps }, () => [
    rng.uniform(0, W),
    rng.uniform(0, H),
    rng.uniform(1, 8),
    rng.uniform(0.3, 1),
  ]);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      let v = 0.05 * rng.next();
      for (const [cx, cy, s, a] of params) v += a * Math.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * s * s));
      data[y * W + x] = v;
    }
  }
  return { width: W, height: H, data };
}

describe('findBlobs', () => {
  test('OpenCV path equals the flood-fill reference on random maps', () => {
    const rng = new Rng(1);
    for (let it = 0; it < 60; it++) {
      const W = rng.int(1, 120);
      const H = rng.int(1, 90);
      const map =
        it % 3 === 0
          ? { width: W, height: H, data: new Float32Array(W * H).map(() => rng.next()) }
          : blobMap(W, H, rng);
      const threshold = it % 3 === 0 ? rng.uniform(0.4, 0.95) : rng.uniform(0.1, 0.6);
      const minArea = rng.int(1, 6);
      assert.deepEqual(
        findBlobs(map, threshold, minArea),
        referenceFindBlobs(map, threshold, minArea),
        `it ${it}`,
      );
    }
  });

  test('diagonal neighbours join (8-connectivity); separated pixels do not', () => {
    const map = mapFrom([
      '9.......', //
      '.9......',
      '..9...9.',
      '........',
      '.....9..',
    ]);
    for (const f of [findBlobs, referenceFindBlobs]) {
      const blobs = f(map, 0.5, 1);
      assert.equal(blobs.length, 3);
      const big = blobs.find((b) => b.area === 3)!;
      assert.deepEqual(big.box, { x: 0, y: 0, width: 3, height: 3 });
      assert.deepEqual(big.centroid, { x: 1.5, y: 1.5 });
    }
  });

  test('reports box, area, centroid (pixel centres), peak and mean; sorted by peak', () => {
    const map = mapFrom([
      '.....', //
      '.66..',
      '.68..',
      '.....',
      '...9.',
    ]);
    const blobs = findBlobs(map, 0.5, 1);
    assert.deepEqual(
      blobs.map((b) => ({
        ...b,
        mean: Math.round(b.mean * 1e6) / 1e6,
        peak: Math.round(b.peak * 1e6) / 1e6,
      })),
      [
        {
          box: { x: 3, y: 4, width: 1, height: 1 },
          area: 1,
          centroid: { x: 3.5, y: 4.5 },
          peak: 0.9,
          mean: 0.9,
        },
        {
          box: { x: 1, y: 1, width: 2, height: 2 },
          area: 4,
          centroid: { x: 2, y: 2 },
          peak: 0.8,
          mean: 0.65,
        },
      ],
    );
  });

  test('minArea filters small components', () => {
    const map = mapFrom([
      '99....9', //
      '99.....',
      '.......',
    ]);
    for (const f of [findBlobs, referenceFindBlobs]) {
      assert.deepEqual(
        f(map, 0.5, 2).map((b) => b.area),
        [4],
      );
      assert.deepEqual(
        f(map, 0.5, 1).map((b) => b.area),
        [4, 1],
      );
      assert.deepEqual(f(map, 0.5, 5), []);
    }
  });

  test('an empty or all-below-threshold map gives no blobs', () => {
    const zero = { width: 30, height: 20, data: new Float32Array(600) };
    assert.deepEqual(findBlobs(zero, 0, 1), []);
    assert.deepEqual(referenceFindBlobs(zero, 0, 1), []);
    const low = { width: 30, height: 20, data: new Float32Array(600).fill(0.3) };
    assert.deepEqual(findBlobs(low, Math.fround(0.3), 1), [], 'strictly greater than the threshold');
    const all = findBlobs(low, 0.2, 1);
    assert.equal(all.length, 1);
    assert.equal(all[0].area, 600);
  });

  test('the threshold compares exactly, also between float32 values', () => {
    const f = Math.fround(0.1); // 0.100000001490116…, just above the double 0.1
    const map = { width: 3, height: 1, data: new Float32Array([f, 0.05, f]) };
    for (const fn of [findBlobs, referenceFindBlobs]) {
      assert.equal(fn(map, 0.1, 1).length, 2, 'f > 0.1');
      assert.equal(fn(map, f, 1).length, 0, 'f > f is false');
    }
    assert.equal(float32Below(0.1), Math.fround(0.1) - 2 ** -27 * 1); // one float32 ulp below fround(0.1)
    assert.equal(float32Below(0.5), 0.5);
    assert.equal(float32Below(-0.1), Math.fround(-0.1));
    assert.ok(float32Below(-1e-50) < 0 && float32Below(-1e-50) > -1e-44, 'tiny negatives step to −2⁻¹⁴⁹');
    assert.equal(float32Below(Infinity), Infinity);
  });

  test('rejects a map whose buffer does not match its size', () => {
    assert.throws(() => findBlobs({ width: 3, height: 3, data: new Float32Array(8) }, 0.5, 1), /holds 8/);
  });
});
