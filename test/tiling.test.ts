// Tile grid and stitching maths (issue 15): exact expectations on positions, overlaps, partition of unity,
// constant maps and seam invariance.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../src/util/random.js';
import {
  TilingError,
  tileCount,
  tileGrid,
  tileOrigin,
  tilePositions,
  tileSide,
} from '../src/pipeline/tiling.js';
import { axisWeights, stitchMaps, stitchPlan } from '../src/pipeline/stitch.js';
import { inspectMap, tiledMap } from '../src/pipeline/tiled-inspection.js';
import { postprocess } from '../src/pipeline/anomaly-map.js';
import { computeLetterbox } from '../src/pipeline/letterbox.js';
import { tileInput } from '../src/pipeline/tile-input.js';

describe('tileGrid', () => {
  test('2448×2048 at S = 224, scale 1, overlap 0.125: 13 × 11 tiles, flush with both edges', () => {
    const g = tileGrid(2448, 2048, { scale: 1, overlap: 0.125 }, 224);
    assert.equal(g.tile, 224);
    // O = ⌈0.125·224⌉ = 28, step ≤ 196: ⌈2224/196⌉ + 1 = 13 columns, ⌈1824/196⌉ + 1 = 11 rows
    assert.equal(g.xs.length, 13);
    assert.equal(g.ys.length, 11);
    assert.deepEqual(g.xs.slice(0, 3), [0, 185, 371]); // round(i · 2224 / 12)
    assert.equal(g.xs.at(-1), 2448 - 224);
    assert.equal(g.ys.at(-1), 2048 - 224);
    assert.equal(tileCount(g), 143);
    assert.deepEqual(tileOrigin(g, 14), { x: g.xs[1], y: g.ys[1] });
  });

  test('scale sets frame pixels per tile: round(S / scale)', () => {
    assert.equal(tileSide({ scale: 0.5, overlap: 0 }, 224), 448);
    assert.equal(tileSide({ scale: 1.5, overlap: 0 }, 224), 149);
    assert.equal(tileGrid(1000, 900, { scale: 0.5, overlap: 0.25 }, 224).tile, 448);
  });

  test('every neighbour pair overlaps ≥ ⌈overlap·T⌉, no tile leaves the frame, the count is minimal', () => {
    const rng = new Rng(7);
    for (let it = 0; it < 2000; it++) {
      const T = rng.int(1, 300);
      const L = T + rng.int(0, 3000);
      const overlap = rng.uniform(0, 0.5);
      const O = Math.ceil(overlap * T);
      if (T - O < 1) continue;
      const p = tilePositions(L, T, O);
      assert.equal(p[0], 0);
      assert.equal(p.at(-1), L - T);
      for (let i = 1; i < p.length; i++) {
        assert.ok(p[i] > p[i - 1], `ascending: ${p}`);
        assert.ok(p[i - 1] + T - p[i] >= O, `overlap ${p[i - 1] + T - p[i]} < ${O} (L ${L}, T ${T})`);
      }
      // one tile fewer could not keep the overlap: its even step would exceed T − O
      if (p.length > 2) assert.ok((L - T) / (p.length - 2) > T - O);
      if (p.length === 2) assert.ok(L - T > 0);
    }
  });

  test('a frame as wide as a tile is one tile; a smaller one is refused with a clear error', () => {
    assert.deepEqual(tilePositions(224, 224, 28), [0]);
    assert.throws(
      () => tileGrid(2448, 200, { scale: 1, overlap: 0.125 }, 224),
      (e: Error) =>
        e instanceof TilingError && /frame 2448×200 is smaller than one tile \(224×224/.test(e.message),
    );
    assert.throws(() => tileGrid(500, 500, { scale: 0, overlap: 0.1 }, 224), /scale must be in/);
    assert.throws(() => tileGrid(500, 500, { scale: 1, overlap: 0.5 }, 224), /overlap must be in/);
  });
});

describe('stitch windows', () => {
  test('partition of unity: the windows over each pixel sum to 1 (random grids, triple overlaps included)', () => {
    const rng = new Rng(3);
    for (let it = 0; it < 300; it++) {
      const T = rng.int(4, 120);
      const L = T + rng.int(0, 600);
      const O = Math.floor(rng.uniform(0, 0.5) * T);
      const p = tilePositions(L, T, O);
      const w = axisWeights(p, T, L);
      const sum = new Float64Array(L);
      p.forEach((x, k) => w[k].forEach((v, u) => (sum[x + u] += v)));
      for (let x = 0; x < L; x++) assert.ok(Math.abs(sum[x] - 1) < 1e-6, `pixel ${x}: ${sum[x]}`);
      for (const wk of w) for (const v of wk) assert.ok(v > 0 && v <= 1 + 1e-7);
    }
  });

  test('two tiles: raised-cosine ramps over the overlap, 1 elsewhere and at the frame edges', () => {
    const w = axisWeights([0, 6], 10, 16); // overlap [6, 10), L = 4
    const ramp = [0, 1, 2, 3].map((u) => Math.sin(((Math.PI / 2) * (u + 0.5)) / 4) ** 2);
    assert.deepEqual([...w[0].subarray(0, 6)], [1, 1, 1, 1, 1, 1]);
    for (let u = 0; u < 4; u++) {
      assert.ok(Math.abs(w[1][u] - ramp[u]) < 1e-7);
      assert.ok(Math.abs(w[0][6 + u] - ramp[3 - u]) < 1e-7);
    }
    assert.deepEqual([...w[1].subarray(4)], [1, 1, 1, 1, 1, 1]);
  });
});

/** Tile maps cut from one frame-level function, as a translation-equivariant model would see them. */
function cutMaps(f: (x: number, y: number) => number, W: number, H: number, T: number, O: number) {
  const grid = {
    frameWidth: W,
    frameHeight: H,
    size: T,
    tile: T,
    xs: tilePositions(W, T, O),
    ys: tilePositions(H, T, O),
  };
  const maps = Array.from({ length: tileCount(grid) }, (_, i) => {
    const { x, y } = tileOrigin(grid, i);
    return Float32Array.from({ length: T * T }, (_, k) => f(x + (k % T), y + Math.floor(k / T)));
  });
  return { grid, maps };
}

describe('stitchMaps', () => {
  test('a constant map stays constant', () => {
    const { grid, maps } = cutMaps(() => 0.7, 211, 157, 40, 9);
    const out = stitchMaps(stitchPlan(grid), (i) => maps[i]);
    for (const v of out) assert.ok(Math.abs(v - 0.7) < 1e-6, `${v}`);
  });

  test('tiles that agree give back the frame function exactly (seam invariance)', () => {
    const f = (x: number, y: number) => Math.sin(x / 7) * Math.cos(y / 5) + 2 + 0.01 * x;
    const { grid, maps } = cutMaps(f, 300, 190, 64, 8);
    const out = stitchMaps(stitchPlan(grid), (i) => maps[i]);
    let worst = 0;
    for (let y = 0; y < 190; y++)
      for (let x = 0; x < 300; x++) worst = Math.max(worst, Math.abs(out[y * 300 + x] - f(x, y)));
    assert.ok(worst < 1e-5, `max error ${worst}`);
  });

  test('a defect on a seam is one blob with the peak and area it has inside a tile', () => {
    const W = 300;
    const H = 200;
    const T = 100;
    const O = 25;
    const xs = tilePositions(W, T, O); // [0, 67, 133, 200]: seam overlap 67..99
    const settings = { thresholds: { reject: 1, pixel: 0.5 }, minBlobArea: 1, ignore: [] };
    const bump = (cx: number, cy: number) => (x: number, y: number) =>
      0.1 + Math.exp(-((x + 0.5 - cx) ** 2 + (y + 0.5 - cy) ** 2) / (2 * 4 ** 2));
    const blobsAt = (cx: number) => {
      const { grid, maps } = cutMaps(bump(cx, 100), W, H, T, O);
      const map = stitchMaps(stitchPlan(grid), (i) => maps[i]);
      return inspectMap(map, grid, settings).blobs;
    };
    const seamX = (xs[0] + T + xs[1]) / 2; // middle of the first overlap
    const onSeam = blobsAt(seamX);
    const inside = blobsAt(30.5);
    assert.equal(onSeam.length, 1);
    assert.equal(inside.length, 1);
    assert.ok(Math.abs(onSeam[0].peak - inside[0].peak) < 1e-5 * inside[0].peak);
    assert.equal(onSeam[0].area, inside[0].area);
  });
});

describe('tiled inspection', () => {
  test('K comes from the frame area; ignore zones are in frame coordinates', () => {
    // 200×100 frame: K = ⌊0.001·20000⌋ = 20; 20 pixels at 5, the rest 1: the score is 5
    const W = 200;
    const H = 100;
    const grid = { frameWidth: W, frameHeight: H, size: 50, tile: 50, xs: [0, 50, 100, 150], ys: [0, 50] };
    const map = new Float32Array(W * H).fill(1);
    for (let i = 0; i < 20; i++) map[50 * W + 120 + i] = 5;
    const s = { thresholds: { reject: 2, pixel: 3 }, minBlobArea: 1, ignore: [] };
    const r = inspectMap(map.slice(), grid, s);
    assert.equal(r.score, 5);
    assert.equal(r.verdict, 'reject');
    assert.deepEqual(
      r.blobs.map((b) => [b.box.x, b.box.y, b.area]),
      [[120, 50, 20]],
    );
    const masked = inspectMap(map.slice(), grid, {
      ...s,
      ignore: [
        [
          [110, 40],
          [150, 40],
          [150, 60],
          [110, 60],
        ],
      ],
    });
    assert.equal(masked.score, 1);
    assert.equal(masked.blobs.length, 0);
    assert.equal(masked.verdict, 'ok');
  });

  test('tiledMap: each tile map is the frame recipe on the tile (one tile = the letterbox path)', () => {
    const g = 8;
    const rng = new Rng(5);
    const cells = Float32Array.from({ length: g * g }, () => rng.uniform(0, 1));
    const grid = tileGrid(112, 112, { scale: 1, overlap: 0.125 }, 112);
    const m = tiledMap(cells, g, stitchPlan(grid));
    const ref = postprocess(cells, g, computeLetterbox(112, 112, 112)).map;
    assert.deepEqual([...m], [...ref]);
  });

  test('tileInput copies the frame square at scale 1 (grey replicated), resizes it otherwise', () => {
    const W = 60;
    const H = 40;
    const data = Uint8Array.from({ length: W * H }, (_, i) => i % 251);
    const img = { width: W, height: H, channels: 1 as const, data };
    const grid = tileGrid(W, H, { scale: 1, overlap: 0.25 }, 28);
    const out = new Uint8Array(28 * 28 * 3);
    tileInput(img, grid, 1, out, 'fast');
    const { x, y } = tileOrigin(grid, 1);
    for (let v = 0; v < 28; v++)
      for (let u = 0; u < 28; u++)
        for (let c = 0; c < 3; c++) assert.equal(out[(v * 28 + u) * 3 + c], data[(y + v) * W + x + u]);
    const half = tileGrid(W, H, { scale: 0.5, overlap: 0 }, 14);
    assert.equal(half.tile, 28);
    const small = new Uint8Array(14 * 14 * 3);
    tileInput(img, half, 0, small, 'exact');
    assert.ok(small.some((v) => v > 0));
  });
});
