import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../src/util/random.js';
import { computeLetterbox } from '../src/pipeline/letterbox.js';
import { aboveThresholdBox, findBlobsInRoi, inspectGrid } from '../src/pipeline/verdict.js';
import type { Polygon } from '../src/pipeline/anomaly-map.js';
import {
  applyIgnoreMask,
  postprocess,
  postprocessLazy,
  referenceBlur,
  referencePostprocess,
  referenceUpsample,
  topKCount,
  topKMean,
} from '../src/pipeline/anomaly-map.js';

function randomGrid(g: number, rng: Rng): Float32Array {
  // skewed like real Δ maps: mostly low, a few high cells
  return new Float32Array(g * g).map(() => rng.next() ** 4);
}

function fullSortTopK(values: ArrayLike<number>, k: number): number {
  const sorted = Float64Array.from(values).sort().reverse();
  let s = 0;
  for (let i = 0; i < k; i++) s += sorted[i];
  return s / k;
}

describe('reference stages', () => {
  test('bilinear upsampling has PyTorch align_corners=False semantics', () => {
    // F.interpolate(x, size=4, mode='bilinear', align_corners=False) of [0, 1] → [0, .25, .75, 1]
    const up = referenceUpsample([0, 1, 0, 1], 2, 4);
    assert.deepEqual([...up.subarray(0, 4)], [0, 0.25, 0.75, 1]);
    // [0, 1, 2] → 5: src = (d + 0.5)·0.6 − 0.5 = −0.2→0, 0.4, 1.0, 1.6, 2.2→clamped to 2
    const up3 = referenceUpsample([0, 1, 2, 0, 1, 2, 0, 1, 2], 3, 5);
    const row = [...up3.subarray(0, 5)].map((v) => Math.round(v * 1e12) / 1e12);
    assert.deepEqual(row, [0, 0.4, 1, 1.6, 2]);
    // separable: the vertical direction behaves the same
    const col = referenceUpsample([0, 0, 1, 1], 2, 4);
    assert.deepEqual([col[0], col[4], col[8], col[12]], [0, 0.25, 0.75, 1]);
  });

  test('blur is a mass-preserving box cascade with zero padding', () => {
    const side = 61;
    const impulse = new Float64Array(side * side);
    impulse[30 * side + 30] = 1;
    const blurred = referenceBlur(impulse, side);
    let sum = 0;
    for (const v of blurred) sum += v;
    assert.ok(Math.abs(sum - 1) < 1e-12, 'far from the borders nothing is lost');
    // support: 5 passes of radius 2 and 3 of radius 3 reach 19 pixels
    assert.ok(blurred[30 * side + 30 + 19] > 0);
    assert.equal(blurred[30 * side + 30 + 20], 0);
    // a constant image darkens at the border (zero padding, divisor stays 25/49) and not inside
    const flat = referenceBlur(new Float64Array(side * side).fill(1), side);
    assert.ok(Math.abs(flat[30 * side + 30] - 1) < 1e-12);
    const edge = flat[30 * side];
    assert.ok(edge > 0.2 && edge < 0.4, `edge ${edge}`);
    // zero padding keeps the 2-D cascade separable: the corner is the product of two 1-D edges
    assert.ok(Math.abs(flat[0] - edge * edge) < 1e-12, `corner ${flat[0]}`);
  });

  test('the crop removes exactly the padding (no rounding of the offset)', () => {
    // Landscape 9×4 (side 9, top = ⌊5/2⌋ = 2): the cropped map is canvas rows 2..5
    const lb = computeLetterbox(9, 4, 14);
    const g = 3;
    const grid = [0, 0, 0, 1, 2, 3, 0, 0, 0];
    const canvas = referenceBlur(referenceUpsample(grid, g, 9), 9);
    const { map } = referencePostprocess(grid, g, lb);
    for (let y = 0; y < 4; y++)
      for (let x = 0; x < 9; x++) assert.equal(map[y * 9 + x], canvas[(y + 2) * 9 + x]);
  });
});

describe('topK', () => {
  test('K = max(1, ⌊0.001·H·W⌋)', () => {
    assert.equal(topKCount(1280, 1024), 1310);
    assert.equal(topKCount(1000, 1000), 1000);
    assert.equal(topKCount(30, 30), 1, 'tiny frames still get a score (the peak)');
    assert.equal(topKCount(1, 1), 1);
  });

  test('topKMean equals a full sort, including the sampled-threshold path and its fallbacks', () => {
    const rng = new Rng(7);
    const n = 200_000; // > 8·4096: the sampled threshold is used
    const cases: [string, Float32Array][] = [
      ['uniform', new Float32Array(n).map(() => rng.next())],
      ['negative', new Float32Array(n).map(() => -rng.next() * 5)],
      ['all equal', new Float32Array(n).fill(0.25)],
      ['ties', new Float32Array(n).map(() => rng.int(0, 3))],
      ['ascending', new Float32Array(n).map((_, i) => i)],
      ['one hot pixel', new Float32Array(n).map((_, i) => (i === 12345 ? 9 : 0.1))],
      // the hot values avoid every sampled position: the threshold is too high and the fallback must kick in
      [
        'hot spots between samples',
        new Float32Array(n).map((_, i) => (i % 97 === 1 ? 5 + (i % 7) : rng.next())),
      ],
      ['small', new Float32Array(100).map(() => rng.normal())],
    ];
    // every sampled position (golden-ratio positions, as in the implementation) high, the rest lower: for
    // k = 5000 the sampled threshold keeps fewer than k values and the full-scan fallback must take over
    const trap = new Float32Array(n).map(() => rng.next());
    for (let i = 0; i < 4096; i++) trap[Math.floor(((i * 0.6180339887498949) % 1) * n)] = 2;
    cases.push(['sample trap', trap]);
    for (const [name, values] of cases) {
      for (const k of [1, 7, 200, 1310, 5000]) {
        const kk = Math.min(k, values.length);
        const want = fullSortTopK(values, kk);
        const got = topKMean(values, k);
        assert.ok(
          Math.abs(got - want) <= 1e-12 * Math.max(1, Math.abs(want)),
          `${name} k=${k}: ${got} vs ${want}`,
        );
      }
    }
    assert.equal(topKMean(new Float32Array([1, 2, 3]), 10), 2, 'k is clamped to n');
  });
});

describe('postprocess', () => {
  // [W, H, g]: landscape, portrait, square, odd differences, tiny frames, g = 4..16
  const geometries: [number, number, number][] = [
    [120, 80, 8],
    [80, 120, 8],
    [64, 64, 4],
    [97, 64, 16],
    [64, 97, 5],
    [101, 100, 6],
    [5, 3, 16],
    [1, 1, 4],
    [2, 7, 9],
    [150, 37, 12],
  ];

  test('equals the literal float64 recipe (map and score within 1e-5 relative)', () => {
    const rng = new Rng(1);
    for (const [W, H, g] of geometries) {
      const lb = computeLetterbox(W, H, 14 * g);
      const grid = randomGrid(g, rng);
      const ref = referencePostprocess(grid, g, lb);
      const fast = postprocess(grid, g, lb);
      assert.equal(fast.map.length, W * H);
      let peak = 0;
      for (const v of ref.map) peak = Math.max(peak, Math.abs(v));
      for (let i = 0; i < W * H; i++) {
        assert.ok(Math.abs(fast.map[i] - ref.map[i]) <= 1e-5 * peak, `${W}x${H} g=${g} pixel ${i}`);
      }
      assert.ok(Math.abs(fast.score - ref.score) <= 1e-5 * Math.abs(ref.score), `${W}x${H} g=${g} score`);
    }
  });

  test('a frame large enough for the bounded top-K scan scores like a full sort of its map', () => {
    const rng = new Rng(2);
    for (const [W, H, g, hot] of [
      [300, 200, 16, 0],
      [300, 200, 16, 1],
      [190, 260, 14, 1],
      [300, 200, 16, 2],
      [260, 190, 14, 2],
    ] as const) {
      const lb = computeLetterbox(W, H, 14 * g);
      const grid = new Float32Array(g * g).map(() => 0.1 + 0.05 * rng.next());
      // a small defect: most tiles are skipped by their bounds
      if (hot >= 1) grid[5 * g + 9] = 3;
      // and a weaker, larger one: enough candidates that a wrongly skipped tile would change the score, not
      // just trigger the fallback
      if (hot >= 2) for (const c of [10, 11, 12]) grid[10 * g + c] = grid[11 * g + c] = 2;
      const out = new Float32Array(W * H);
      const r = postprocess(grid, g, lb, out);
      assert.equal(r.map, out, 'fills the caller buffer');
      assert.ok(Math.abs(r.score - fullSortTopK(out, topKCount(W, H))) <= 1e-12 * r.score);
      const ref = referencePostprocess(grid, g, lb);
      assert.ok(Math.abs(r.score - ref.score) <= 1e-5 * ref.score);
    }
  });

  test('the bounded top-K scan stays exact on random skewed grids', () => {
    const rng = new Rng(4);
    for (let it = 0; it < 40; it++) {
      const W = rng.int(180, 260);
      const H = rng.int(180, 260);
      const g = rng.int(4, 20);
      const grid = new Float32Array(g * g).map(() => rng.next() ** (1 + rng.int(0, 8)));
      const { map, score } = postprocess(grid, g, computeLetterbox(W, H, 14 * g));
      const want = fullSortTopK(map, topKCount(W, H));
      assert.ok(Math.abs(score - want) <= 1e-12 * want, `it ${it} ${W}x${H} g=${g}: ${score} vs ${want}`);
    }
  });

  test('repeated calls over several geometries reuse cached operators without cross-talk', () => {
    const rng = new Rng(3);
    const gs: [number, number, number][] = [];
    for (let i = 0; i < 12; i++) gs.push([rng.int(1, 60), rng.int(1, 60), rng.int(4, 10)]); // more than the cache holds
    const first = gs.map(([W, H, g]) => {
      const grid = randomGrid(g, rng);
      return { grid, r: postprocess(grid, g, computeLetterbox(W, H, 14 * g)) };
    });
    gs.forEach(([W, H, g], i) => {
      const again = postprocess(first[i].grid, g, computeLetterbox(W, H, 14 * g));
      assert.deepEqual(again.map, first[i].r.map);
      assert.equal(again.score, first[i].r.score);
    });
  });

  test('ignore zones are zeroed before scoring', () => {
    const g = 8;
    const lb = computeLetterbox(120, 90, 112);
    const grid = new Float32Array(g * g).fill(0.1);
    grid[1 * g + 1] = 5; // hot cell in the top-left corner of the frame
    const plain = postprocess(grid, g, lb);
    const zone: Polygon[] = [
      [
        [0, 0],
        [60, 0],
        [60, 60],
        [0, 60],
      ],
    ];
    const masked = postprocess(grid, g, lb, undefined, { ignore: zone });
    assert.ok(masked.score < plain.score / 2, `${masked.score} vs ${plain.score}`);
    for (let y = 0; y < 60; y++) for (let x = 0; x < 60; x++) assert.equal(masked.map[y * 120 + x], 0);
    assert.equal(masked.score, topKMean(masked.map, topKCount(120, 90)));
  });

  test('rejects a grid of the wrong size or a wrong output buffer', () => {
    const lb = computeLetterbox(10, 10, 14);
    assert.throws(() => postprocess(new Float32Array(15), 4, lb), /not 4×4/);
    assert.throws(() => postprocess(new Float32Array(16), 4, lb, new Float32Array(99)), /needs 100/);
  });
});

describe('applyIgnoreMask', () => {
  /** Even-odd crossing test at the pixel centre, half-open like the fill. */
  function inside(poly: Polygon, px: number, py: number): boolean {
    let c = false;
    for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
      const [xi, yi] = poly[i];
      const [xj, yj] = poly[j];
      if (yi <= py !== yj <= py && px < xi + ((py - yi) * (xj - xi)) / (yj - yi)) c = !c;
    }
    return c;
  }

  function ones(W: number, H: number) {
    return { width: W, height: H, data: new Float32Array(W * H).fill(1) };
  }

  test('a square covers exactly its pixels', () => {
    const map = ones(40, 30);
    applyIgnoreMask(map, [
      [
        [10, 10],
        [20, 10],
        [20, 20],
        [10, 20],
      ],
    ]);
    for (let y = 0; y < 30; y++) {
      for (let x = 0; x < 40; x++) {
        assert.equal(map.data[y * 40 + x], x >= 10 && x < 20 && y >= 10 && y < 20 ? 0 : 1, `(${x}, ${y})`);
      }
    }
  });

  test('a triangle covers the pixels whose centres it holds', () => {
    const map = ones(20, 20);
    applyIgnoreMask(map, [
      [
        [0, 0],
        [10, 0],
        [0, 10],
      ],
    ]);
    let zeroed = 0;
    for (let y = 0; y < 20; y++) {
      for (let x = 0; x < 20; x++) {
        const z = map.data[y * 20 + x] === 0;
        assert.equal(z, x + y <= 8, `(${x}, ${y})`); // centre (x+.5, y+.5) left of x + y = 10
        if (z) zeroed++;
      }
    }
    assert.equal(zeroed, 45);
  });

  test('arbitrary polygons match a per-pixel crossing test; parts outside the frame are clipped', () => {
    const rng = new Rng(9);
    for (let it = 0; it < 20; it++) {
      const W = rng.int(5, 50);
      const H = rng.int(5, 50);
      const polys: Polygon[] = [];
      for (let p = 0; p < rng.int(1, 3); p++) {
        const poly: Polygon = [];
        for (let v = 0; v < rng.int(3, 7); v++)
          poly.push([rng.uniform(-10, W + 10), rng.uniform(-10, H + 10)]);
        polys.push(poly);
      }
      const map = ones(W, H);
      applyIgnoreMask(map, polys);
      for (let y = 0; y < H; y++) {
        for (let x = 0; x < W; x++) {
          const want = polys.some((poly) => inside(poly, x + 0.5, y + 0.5));
          assert.equal(map.data[y * W + x] === 0, want, `it ${it} (${x}, ${y})`);
        }
      }
    }
  });

  test('the cached fill follows a change of frame size', () => {
    const zone: Polygon[] = [
      [
        [0, 0],
        [4, 0],
        [4, 4],
        [0, 4],
      ],
    ];
    const a = ones(10, 10);
    applyIgnoreMask(a, zone);
    const b = ones(3, 5);
    applyIgnoreMask(b, zone);
    assert.equal(a.data.filter((v) => v === 0).length, 16);
    assert.equal(b.data.filter((v) => v === 0).length, 12);
  });
});

describe('postprocessLazy (only the cells that decide)', () => {
  /** A Δ grid like a real one: low noise everywhere, optionally one defect bump. */
  function partGrid(g: number, rng: Rng, bump: boolean): Float32Array {
    const cx = 2 + rng.next() * (g - 4);
    const cy = 2 + rng.next() * (g - 4);
    return new Float32Array(g * g).map((_, i) => {
      const x = i % g;
      const y = Math.floor(i / g);
      return (
        0.05 + 0.03 * rng.next() ** 3 + (bump ? 0.6 * Math.exp(-((x - cx) ** 2 + (y - cy) ** 2) / 2) : 0)
      );
    });
  }

  test('score, region above the threshold and blobs equal the full map exactly; stale buffers do not leak', () => {
    const rng = new Rng(41);
    const cases: [number, number, number, number][] = [
      [640, 480, 448, 32], // landscape, sampled top-K path
      [300, 520, 280, 20], // portrait
      [401, 401, 280, 20], // square, odd
      [130, 90, 140, 10], // small: below the sampling size
    ];
    let checked = 0;
    for (const [W, H, S, g] of cases) {
      const lb = computeLetterbox(W, H, S);
      const scratch = new Float32Array(W * H);
      for (let trial = 0; trial < 6; trial++) {
        const grid = trial % 3 === 2 ? randomGrid(g, rng) : partGrid(g, rng, trial % 3 === 1);
        const ignore: Polygon[] =
          trial >= 3
            ? [
                [
                  [W * 0.1, H * 0.2],
                  [W * 0.5, H * 0.1],
                  [W * 0.4, H * 0.7],
                ],
              ]
            : [];
        const full = postprocess(grid, g, lb, undefined, { ignore });
        const sorted = Float32Array.from(full.map).sort();
        // nothing above, a defect-sized region, and more than half the frame above
        for (const q of [1.01, 0.995, 0.3]) {
          const pixel = q > 1 ? sorted[sorted.length - 1] * q : sorted[Math.floor(q * sorted.length)];
          scratch.fill(Number.NaN); // stale content from "the previous frame"
          const lazy = postprocessLazy(grid, g, lb, pixel, scratch, { ignore });
          assert.equal(lazy.score, full.score, `${W}x${H} trial ${trial}: score`);
          const fullMap = { width: W, height: H, data: full.map };
          assert.deepEqual(lazy.above, aboveThresholdBox(fullMap, pixel), `${W}x${H} trial ${trial} q ${q}`);
          if (lazy.above) {
            const { x, y, width, height } = lazy.above;
            for (let yy = y; yy < y + height; yy++)
              for (let xx = x; xx < x + width; xx++)
                assert.equal(
                  lazy.map[yy * W + xx],
                  full.map[yy * W + xx],
                  `(${xx}, ${yy}) inside the region`,
                );
          }
          // inspectGrid (lazy) and the blobs of the full map agree
          scratch.fill(Number.NaN);
          const ins = inspectGrid(
            grid,
            g,
            lb,
            { thresholds: { reject: 0.1, pixel }, minBlobArea: 4, ignore },
            scratch,
          );
          assert.equal(ins.score, full.score);
          assert.deepEqual(ins.blobs, findBlobsInRoi(fullMap, pixel, 4).slice(0, 32));
          lazy.complete();
          scratch.fill(Number.NaN);
          const again = postprocessLazy(grid, g, lb, pixel, scratch, { ignore });
          again.complete();
          assert.deepEqual(again.map, full.map, 'complete() gives the full map');
          checked++;
        }
      }
    }
    assert.equal(checked, 72);
  });

  test('a good part computes a small share of the map', () => {
    const rng = new Rng(42);
    const W = 1280;
    const H = 1024;
    const g = 74;
    const lb = computeLetterbox(W, H, 1036);
    const grid = partGrid(g, rng, false);
    const full = postprocess(grid, g, lb);
    const pixel = Float32Array.from(full.map).sort()[W * H - 1] * 1.2; // calibrated above every good pixel
    const scratch = new Float32Array(W * H).fill(Number.NaN);
    const lazy = postprocessLazy(grid, g, lb, pixel, scratch);
    assert.equal(lazy.score, full.score);
    assert.equal(lazy.above, null);
    let computed = 0;
    for (const v of scratch) if (!Number.isNaN(v)) computed++;
    assert.ok(computed < 0.05 * W * H, `computed ${computed} of ${W * H} pixels`);
    assert.ok(computed >= topKCount(W, H), 'at least the top-K pixels');
  });
});
