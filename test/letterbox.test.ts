import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../src/util/random.js';
import type { Image } from '../src/pipeline/image.js';
import {
  canvasCrop,
  cellToFrameBox,
  computeLetterbox,
  frameBoxToCrop,
  frameBoxToModel,
  frameToModel,
  letterbox,
  modelBoxToFrame,
  modelToFrame,
  fastPlan,
  RESIZE_MODES,
  referenceLetterbox,
} from '../src/pipeline/letterbox.js';

function noiseImage(W: number, H: number, channels: 1 | 3, rng: Rng): Image {
  const data = new Uint8Array(W * H * channels);
  for (let i = 0; i < data.length; i++) data[i] = rng.int(0, 255);
  return { width: W, height: H, channels, data };
}

/** Smooth shading + sharp edges + sensor noise: closer to a camera frame than pure noise. */
function sceneImage(W: number, H: number, rng: Rng): Image {
  const data = new Uint8Array(W * H * 3);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      for (let c = 0; c < 3; c++) {
        let v = 110 + 40 * Math.sin(x / 37 + c) + 30 * Math.cos(y / 23) + 20 * Math.sin((x + y) / 5.3);
        if (Math.floor(x / 97) % 2 !== Math.floor(y / 61) % 2) v += 50;
        v += rng.normal() * 6;
        data[(y * W + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(v)));
      }
    }
  }
  return { width: W, height: H, channels: 3, data };
}

function deviation(a: Uint8Array, b: Uint8Array): { max: number; mean: number } {
  assert.equal(a.length, b.length);
  let max = 0;
  let sum = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    max = Math.max(max, d);
    sum += d;
  }
  return { max, mean: sum / a.length };
}

const GEOMETRIES: [number, number, number][] = [
  [1500, 1000, 1036], // landscape
  [1000, 1500, 1036], // portrait
  [1024, 1024, 518], // square
  [1919, 1082, 1036], // odd width difference
  [641, 478, 280], // odd difference, enlarging-ish
  [3, 1, 14],
];

describe('computeLetterbox', () => {
  test('centres with floor offsets', () => {
    assert.deepEqual(computeLetterbox(1500, 1000, 1036), {
      width: 1500,
      height: 1000,
      side: 1500,
      left: 0,
      top: 250,
      size: 1036,
    });
    assert.deepEqual(computeLetterbox(1000, 1501, 280), {
      width: 1000,
      height: 1501,
      side: 1501,
      left: 250, // ⌊501/2⌋: the reference's round() would say 250 or 251 depending on rounding mode
      top: 0,
      size: 280,
    });
    const sq = computeLetterbox(64, 64, 28);
    assert.equal(sq.left, 0);
    assert.equal(sq.top, 0);
    assert.equal(computeLetterbox(10, 7, 14).top, 1);
  });

  test('rejects non-integer or empty sizes', () => {
    assert.throws(() => computeLetterbox(0, 10, 14));
    assert.throws(() => computeLetterbox(10, 10.5, 14));
    assert.throws(() => computeLetterbox(10, 10, 0));
  });
});

describe('coordinates', () => {
  test('integer frame and model positions round-trip exactly', () => {
    for (const [W, H, S] of GEOMETRIES) {
      const lb = computeLetterbox(W, H, S);
      for (let x = 0; x <= W; x++) {
        const y = x % (H + 1);
        assert.deepEqual(modelToFrame(lb, frameToModel(lb, { x, y })), { x, y }, `${W}x${H} x=${x}`);
      }
      for (let m = 0; m <= S; m++) {
        assert.deepEqual(frameToModel(lb, modelToFrame(lb, { x: m, y: S - m })), { x: m, y: S - m });
      }
    }
  });

  test('frame padding maps to the model edges', () => {
    const lb = computeLetterbox(1500, 1000, 1036);
    assert.deepEqual(frameToModel(lb, { x: 0, y: -250 }), { x: 0, y: 0 });
    assert.deepEqual(frameToModel(lb, { x: 1500, y: 1250 }), { x: 1036, y: 1036 });
    assert.deepEqual(frameToModel(lb, { x: 750, y: 500 }), { x: 518, y: 518 });
  });

  test('integer frame boxes round-trip through model coordinates', () => {
    const rng = new Rng(11);
    for (const [W, H, S] of GEOMETRIES) {
      const lb = computeLetterbox(W, H, S);
      for (let i = 0; i < 200; i++) {
        const x = rng.int(0, W - 1);
        const y = rng.int(0, H - 1);
        const box = { x, y, width: rng.int(1, W - x), height: rng.int(1, H - y) };
        assert.deepEqual(modelBoxToFrame(lb, frameBoxToModel(lb, box)), box);
        const crop = frameBoxToCrop(lb, box);
        const m = frameBoxToModel(lb, box);
        assert.ok(Number.isInteger(crop.x) && Number.isInteger(crop.width));
        assert.ok(crop.x <= m.x && crop.y <= m.y, 'crop starts at or before the box');
        assert.ok(
          crop.x + crop.width >= m.x + m.width && crop.y + crop.height >= m.y + m.height,
          'and ends after',
        );
        assert.ok(crop.x + crop.width - (m.x + m.width) < 1 && m.x - crop.x < 1, 'by less than a pixel');
      }
    }
  });

  test('grid cells tile the frame exactly; padding cells are empty', () => {
    for (const [W, H, S] of GEOMETRIES) {
      const lb = computeLetterbox(W, H, S);
      const g = Math.max(1, Math.floor(S / 14));
      let area = 0;
      for (let r = 0; r < g; r++) {
        for (let c = 0; c < g; c++) {
          const b = cellToFrameBox(lb, g, r, c);
          assert.ok(b.width >= 0 && b.height >= 0);
          area += b.width * b.height;
          if (c + 1 < g) {
            const right = cellToFrameBox(lb, g, r, c + 1);
            if (b.width > 0 && right.width > 0) assert.equal(b.x + b.width, right.x, 'shared vertical edge');
          }
          if (r + 1 < g) {
            const below = cellToFrameBox(lb, g, r + 1, c);
            if (b.height > 0 && below.height > 0)
              assert.equal(b.y + b.height, below.y, 'shared horizontal edge');
          }
        }
      }
      assert.ok(Math.abs(area - W * H) < 1e-6 * W * H, `${W}x${H}: cells cover ${area}`);
    }
    const lb = computeLetterbox(1500, 1000, 1036);
    assert.equal(cellToFrameBox(lb, 74, 0, 5).height, 0, 'the top row of cells is padding');
    assert.deepEqual(canvasCrop(lb), { x: 0, y: 250, width: 1500, height: 1000 });
  });
});

describe('referenceLetterbox', () => {
  test("matches PIL's antialiased bicubic worked by hand (4 → 2)", () => {
    // Shrinking by 2: support 4, taps at (x − centre + 0.5)/2 = ±0.25, 0.75, 1.25 → weights 0.8671875, 0.8671875,
    // 0.2265625, −0.0703125 (sum 1.890625); columns 0, 100, 200, 255 give 60.35 → 60 and 220.68 → 221.
    const data = new Uint8Array(16);
    for (let y = 0; y < 4; y++) [0, 100, 200, 255].forEach((v, x) => (data[y * 4 + x] = v));
    const out = referenceLetterbox({ width: 4, height: 4, channels: 1, data }, 2);
    assert.deepEqual([...out], [60, 60, 60, 221, 221, 221, 60, 60, 60, 221, 221, 221]);
  });

  test('pads by edge replication, centred, and is the identity when S = side', () => {
    const rng = new Rng(1);
    const img = noiseImage(5, 2, 3, rng);
    const out = referenceLetterbox(img, 5); // side 5, top = 1: rows = [row0, row0, row1, row1, row1]
    const src = [0, 0, 1, 1, 1];
    for (let y = 0; y < 5; y++) {
      assert.deepEqual(
        [...out.subarray(y * 15, y * 15 + 15)],
        [...img.data.subarray(src[y] * 15, src[y] * 15 + 15)],
      );
    }
  });

  test('keeps a constant image constant, clipping overshoot to 0..255', () => {
    const img: Image = { width: 37, height: 21, channels: 3, data: new Uint8Array(37 * 21 * 3).fill(201) };
    assert.ok(referenceLetterbox(img, 28).every((v) => v === 201));
    assert.ok(referenceLetterbox(img, 70).every((v) => v === 201));
    // a hard 0/255 step rings with a = −0.5; results must still be clipped bytes
    const step: Image = {
      width: 8,
      height: 8,
      channels: 1,
      data: new Uint8Array(64).map((_, i) => (i % 8 < 4 ? 0 : 255)),
    };
    const up = referenceLetterbox(step, 19);
    assert.equal(Math.min(...up), 0);
    assert.equal(Math.max(...up), 255);
  });
});

describe('letterbox', () => {
  test("'exact' equals the reference within one level (rounding) on every geometry", () => {
    const rng = new Rng(2);
    const cases: [number, number, 1 | 3, number][] = [
      [90, 60, 3, 56], // landscape shrink
      [60, 90, 3, 56], // portrait shrink
      [64, 64, 3, 42], // square
      [71, 40, 1, 28], // odd difference, grey
      [30, 19, 3, 70], // enlarge
      [33, 50, 3, 50], // side = S: padding only
      [1, 1, 3, 14],
      [300, 7, 3, 28], // extreme aspect: the band folds into few source rows
    ];
    for (const [W, H, C, S] of cases) {
      const img = noiseImage(W, H, C, rng);
      const ref = referenceLetterbox(img, S);
      const exact = letterbox(img, S, undefined, 'exact');
      const d = deviation(exact, ref);
      assert.ok(d.max <= 1, `${W}x${H}→${S}: max ${d.max}`);
      assert.ok(d.mean < 0.01, `${W}x${H}→${S}: mean ${d.mean}`);
    }
  });

  test("'area' stays within the deviation measured in docs/preprocessing.md", () => {
    const rng = new Rng(3);
    // [W, H, S, max, mean]: bounds are the measured scene-image numbers plus a margin for the random draw
    const cases: [number, number, number, number, number][] = [
      [300, 200, 280, 8, 0.65], // mild shrink: INTER_CUBIC
      [600, 400, 280, 10, 0.9], // ×2.1 shrink: INTER_AREA
      [150, 100, 280, 7, 0.45], // enlarge: INTER_CUBIC
    ];
    for (const [W, H, S, max, mean] of cases) {
      const img = sceneImage(W, H, rng);
      const d = deviation(letterbox(img, S, undefined, 'area'), referenceLetterbox(img, S));
      assert.ok(d.max <= max && d.mean <= mean, `${W}x${H}→${S}: ${JSON.stringify(d)}`);
    }
  });

  test("'fast' plans: the largest dividing box factor, a prefilter only for a large remaining factor", () => {
    assert.deepEqual(fastPlan(1280, 1036), { k: 1, sigma: 0 }); // ×1.24: bilinear alone
    assert.deepEqual(fastPlan(1280, 448), { k: 2, sigma: 0 }); // ×2.86 = 2 · 1.43
    assert.deepEqual(fastPlan(2448, 448), { k: 4, sigma: 0 }); // 5 does not divide 2448
    assert.deepEqual(fastPlan(640, 1036), { k: 1, sigma: 0 }); // enlarging
    const odd = fastPlan(1283, 448); // no factor ≥ 2 divides 1283: the whole ×2.86 is prefiltered
    assert.equal(odd.k, 1);
    assert.ok(Math.abs(odd.sigma - 0.35 * Math.sqrt(2.8638 ** 2 - 1)) < 1e-3, `${odd.sigma}`);
    const wide = fastPlan(1920, 1036); // ×1.85 left to bilinear: prefiltered
    assert.equal(wide.k, 1);
    assert.ok(wide.sigma > 0.5 && wide.sigma < 0.6, `${wide.sigma}`);
  });

  test("'fast' stays within the deviation measured in docs/preprocessing.md, on every branch of its plan", () => {
    const rng = new Rng(3);
    // [W, H, S, max, mean]: measured on the scene image over three seeds, plus a margin for the draw
    const cases: [number, number, number, number, number][] = [
      [300, 200, 280, 13, 0.75], // ×1.07: bilinear alone
      [600, 400, 280, 18, 1.55], // ×2.14 = box 2 + bilinear ×1.07
      [150, 100, 280, 11, 0.9], // enlarge: bilinear
      [401, 300, 140, 8, 0.8], // ×2.86, no dividing factor: Gaussian prefilter + bilinear
      [500, 300, 280, 11, 1.05], // ×1.79: Gaussian prefilter + bilinear
    ];
    for (const [W, H, S, max, mean] of cases) {
      const img = sceneImage(W, H, rng);
      const d = deviation(letterbox(img, S), referenceLetterbox(img, S));
      assert.ok(d.max <= max && d.mean <= mean, `${W}x${H}→${S}: ${JSON.stringify(d)}`);
    }
  });

  test('grey frames equal their RGB replication, in both modes', () => {
    const rng = new Rng(4);
    const grey = noiseImage(45, 31, 1, rng);
    const rgb: Image = { width: 45, height: 31, channels: 3, data: new Uint8Array(45 * 31 * 3) };
    grey.data.forEach((v, i) => rgb.data.fill(v, 3 * i, 3 * i + 3));
    for (const mode of RESIZE_MODES) {
      assert.deepEqual(letterbox(grey, 28, undefined, mode), letterbox(rgb, 28, undefined, mode), mode);
    }
  });

  test('writes into a view of a batch buffer at an offset and nowhere else', () => {
    const rng = new Rng(5);
    const S = 28;
    const n = S * S * 3;
    const a = noiseImage(50, 40, 3, rng);
    const b = noiseImage(40, 50, 3, rng);
    for (const mode of RESIZE_MODES) {
      const batch = new Uint8Array(2 * n + 2).fill(7);
      const v0 = batch.subarray(1, 1 + n);
      const v1 = batch.subarray(1 + n, 1 + 2 * n);
      assert.equal(letterbox(a, S, v0, mode), v0);
      letterbox(b, S, v1, mode);
      assert.equal(batch[0], 7);
      assert.equal(batch[2 * n + 1], 7);
      assert.deepEqual(v0, letterbox(a, S, undefined, mode));
      assert.deepEqual(v1, letterbox(b, S, undefined, mode));
    }
    assert.throws(() => letterbox(a, S, new Uint8Array(n - 1)), /needs/);
  });

  test('rejects a buffer that does not match the declared size', () => {
    assert.throws(
      () => letterbox({ width: 4, height: 4, channels: 3, data: new Uint8Array(47) }, 14),
      /needs 48/,
    );
  });
});
