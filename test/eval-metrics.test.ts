// The evaluation metrics against independent computations on crafted cases with known answers: perfect and
// inverted maps, a hand-computed PRO curve on a three-region toy case, ties, images without defects, a
// category without defective images, and the binned pixel metrics against exact sorts on random maps.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { CategoryEvaluator } from '../src/eval/category-evaluator.js';
import { categoryMetrics, meanMetrics } from '../src/eval/category-metrics.js';
import type { TestItem } from '../src/eval/dataset.js';
import { imageAuroc, imageF1Max, imageRocCurve } from '../src/eval/image-metrics.js';
import { pixelAuroc, pixelF1Max } from '../src/eval/pixel-metrics.js';
import { PixelTally, type LabelledMask } from '../src/eval/pixel-tally.js';
import { aupro, proCurve, rankPositions, trapezoid } from '../src/eval/pro-curve.js';
import { classify, labelRegions, sizeClass, sizeQuartiles } from '../src/eval/regions.js';
import { binLowerBound, binOf, BIN_COUNT } from '../src/eval/score-bins.js';
import { aurocSplit } from '../src/pipeline/ranking-metrics.js';
import { Rng } from '../src/util/random.js';

/** One "image" from explicit pixels: scores, region label per pixel (0 = good), all regions in class 0. */
function image(scores: number[], labels: number[]): { map: Float32Array; mask: LabelledMask } {
  const n = Math.max(0, ...labels);
  const sizes = new Int32Array(n + 1);
  for (const l of labels) if (l > 0) sizes[l]++;
  return {
    map: Float32Array.from(scores),
    mask: { labels: Int32Array.from(labels), sizes, classes: new Uint8Array(n + 1) },
  };
}

/**
 * The reference compute_pro written directly on arrays (sorted good scores, per-region sorted scores), with
 * no histogram: the independent computation the binned one is checked against.
 */
function referencePro(maps: Float32Array[], masks: LabelledMask[]): { x: number[]; y: number[] } {
  const good: number[] = [];
  const comps: number[][] = [];
  maps.forEach((m, i) => {
    const { labels, sizes } = masks[i];
    const regionScores = Array.from({ length: sizes.length }, () => [] as number[]);
    for (let p = 0; p < m.length; p++) (labels[p] === 0 ? good : regionScores[labels[p]]).push(m[p]);
    for (let k = 1; k < sizes.length; k++) comps.push(regionScores[k]);
  });
  good.sort((a, b) => a - b);
  const N = good.length;
  const x = [1];
  const y = [1];
  for (let k = 0; k < 99; k++) {
    const pos = k === 98 ? N - 1 : Math.trunc((k * (N - 1)) / 98);
    const th = good[pos];
    x.push(1 - (pos + 1) / N);
    y.push(comps.reduce((s, c) => s + c.filter((v) => v > th).length / c.length, 0) / comps.length);
  }
  return { x: x.reverse(), y: y.reverse() };
}

describe('score bins', () => {
  test('order-preserving, fine, clamped; NaN refused', () => {
    let last = -1;
    for (const v of [0, 1e-9, 1e-6, 0.001, 0.0011, 0.5, 0.50005, 1, 2, 3.99, 4, 1e4]) {
      const b = binOf(v);
      assert.ok(b > last, `bin of ${v}`);
      assert.ok(binLowerBound(b) <= Math.fround(v) || b === 0);
      last = b;
    }
    assert.equal(binOf(-1e-7), 0);
    assert.equal(binOf(1e30), BIN_COUNT - 1);
    // Relative width ≤ 2⁻¹⁴.
    const b = binOf(0.3);
    assert.ok((binLowerBound(b + 1) - binLowerBound(b)) / binLowerBound(b) <= 2 ** -14 + 1e-12);
    assert.throws(() => binOf(NaN), /NaN/);
  });
});

describe('pixel metrics', () => {
  test('perfect maps give 1, inverted maps 0', () => {
    const perfect = new PixelTally();
    const inverted = new PixelTally();
    const labels = [0, 0, 0, 0, 1, 1, 0, 2, 0, 0];
    const truth = labels.map((l) => (l > 0 ? 0.9 : 0.1));
    const pix = image(truth, labels);
    perfect.add(pix.map, pix.mask);
    const inv = image(
      truth.map((v) => 1 - v),
      labels,
    );
    inverted.add(inv.map, inv.mask);
    assert.equal(pixelAuroc(perfect), 1);
    assert.equal(pixelAuroc(inverted), 0);
    assert.equal(pixelF1Max(perfect)!.f1, 1);
    for (const l of [0.3, 0.1, 0.05, 0.01]) {
      assert.equal(aupro(proCurve(perfect)!, l), 1);
      assert.equal(aupro(proCurve(inverted)!, l), 0);
    }
  });

  test('hand-computed PRO curve on a three-region toy case', () => {
    // 99 good pixels scoring 0.01..0.99, so rank k is threshold (k+1)/100 and FPR (98−k)/99. Regions:
    // A = one pixel at 1.5 (always covered), B = {0.95, 0.05} (half covered for 0.05 ≤ t < 0.95),
    // C = four pixels at 0.90, tied with the good pixel 0.90 (covered only below 0.90).
    const scores = Array.from({ length: 99 }, (_, j) => (j + 1) / 100);
    const labels = scores.map(() => 0);
    scores.push(1.5, 0.95, 0.05, 0.9, 0.9, 0.9, 0.9);
    labels.push(1, 2, 2, 3, 3, 3, 3);
    const t = new PixelTally();
    const px = image(scores, labels);
    t.add(px.map, px.mask);
    const c = proCurve(t)!;
    assert.equal(c.x.length, 100);
    // PRO(m) for threshold m/100: m ≥ 95 → 1/3; 90..94 → 1/2; 5..89 → 5/6; below 5 → 1; closing (1, 1).
    const at = (m: number): number => c.y[c.x.findIndex((x) => Math.abs(x - (99 - m) / 99) < 1e-12)];
    assert.ok(Math.abs(at(99) - 1 / 3) < 1e-12 && Math.abs(at(95) - 1 / 3) < 1e-12);
    assert.ok(Math.abs(at(94) - 1 / 2) < 1e-12 && Math.abs(at(90) - 1 / 2) < 1e-12);
    assert.ok(Math.abs(at(89) - 5 / 6) < 1e-12 && Math.abs(at(5) - 5 / 6) < 1e-12);
    assert.ok(Math.abs(at(4) - 1) < 1e-12);
    assert.deepEqual([c.x[99], c.y[99]], [1, 1]);
    // Area to 0.3: (4/3 + 5/12 + 2 + 2/3 + 95/6)/99 for m = 99..70, then (0.3 − 29/99) at 5/6.
    const area30 = 20.25 / 99 + (0.3 - 29 / 99) * (5 / 6);
    assert.ok(Math.abs(aupro(c, 0.3) - area30 / 0.3) < 1e-12, `${aupro(c, 0.3)} vs ${area30 / 0.3}`);
    // To 0.05 = 4.95/99: flat 1/3 to 4/99, then half a step towards 1/2, interpolated at 0.95 of it.
    const yi = 1 / 3 + (1 / 2 - 1 / 3) * 0.95;
    const area5 = (4 / 99) * (1 / 3) + 0.5 * (yi + 1 / 3) * (0.95 / 99);
    assert.ok(Math.abs(aupro(c, 0.05) - area5 / 0.05) < 1e-12);
    // And the same from the array reference.
    const ref = referencePro([px.map], [px.mask]);
    assert.deepEqual(c.x, ref.x);
    assert.deepEqual(c.y, ref.y);
  });

  test('trapezoid and rank positions match numpy', () => {
    assert.deepEqual(rankPositions(11, 5), [0, 2, 5, 7, 10]); // np.linspace(0, 10, 5, dtype=int)
    // 49 · (2/98) is 0.999… in float64: numpy truncates it to 0 too (np.linspace(0, 2, 99, dtype=int)[47:51]).
    assert.deepEqual(rankPositions(3, 99).slice(47, 51), [0, 0, 0, 1]);
    assert.equal(trapezoid([0, 1, 2], [0, 1, 1], 2), 1.5);
    assert.equal(trapezoid([0, 1, 2], [0, 1, 1], 0.5), 0.125);
  });

  test('ties: every pixel the same score gives AUROC ½ and a PRO of 0 below FPR 1', () => {
    const t = new PixelTally();
    const px = image([0.2, 0.2, 0.2, 0.2], [0, 1, 0, 1]);
    t.add(px.map, px.mask);
    assert.equal(pixelAuroc(t), 0.5);
    assert.equal(aupro(proCurve(t)!, 0.3), 0);
    assert.equal(pixelF1Max(t)!.f1, 2 / 3); // all predicted defective: precision ½, recall 1
  });

  test('images without a defect region add good pixels only; no regions → null, not NaN', () => {
    const t = new PixelTally();
    t.add(Float32Array.from([0.1, 0.2, 0.3]), null);
    t.add(Float32Array.from([0.4, 0.5]), {
      labels: new Int32Array(2),
      sizes: new Int32Array(1),
      classes: new Uint8Array(1),
    });
    assert.equal(t.goodPixels, 5);
    assert.equal(t.defectPixels, 0);
    assert.equal(pixelAuroc(t), null);
    assert.equal(proCurve(t), null);
    assert.equal(pixelF1Max(t), null);
  });

  test('binned pixel AUROC and AUPRO agree with exact sorts on random maps', () => {
    const rng = new Rng(11);
    const t = new PixelTally();
    const maps: Float32Array[] = [];
    const masks: LabelledMask[] = [];
    const pos: number[] = [];
    const neg: number[] = [];
    for (let i = 0; i < 6; i++) {
      const W = 60;
      const mask = new Uint8Array(W * W);
      for (let r = 0; r < 1 + (i % 3); r++) {
        const x0 = rng.int(0, 50);
        const y0 = rng.int(0, 50);
        const s = rng.int(2, 9);
        for (let y = y0; y < y0 + s; y++) for (let x = x0; x < x0 + s; x++) mask[y * W + x] = 1;
      }
      const regions = labelRegions(mask, W, W);
      const m = classify(regions, [1e9, 1e9, 1e9]);
      const map = Float32Array.from(mask, (v) => rng.next() * 0.6 + v * rng.next() * 0.5);
      t.add(map, m);
      maps.push(map);
      masks.push(m);
      map.forEach((v, k) => (mask[k] ? pos : neg).push(v));
    }
    assert.ok(Math.abs(pixelAuroc(t)! - aurocSplit(pos, neg)) < 1e-4);
    const ref = referencePro(maps, masks);
    const c = proCurve(t)!;
    for (const l of [0.3, 0.1, 0.05, 0.01]) {
      assert.ok(
        Math.abs(aupro(c, l) - aupro(ref, l)) < 1e-3,
        `AUPRO@${l}: ${aupro(c, l)} vs ${aupro(ref, l)}`,
      );
    }
  });
});

describe('regions and size quartiles', () => {
  test('8-connected labelling, numpy quartiles, classes', () => {
    // A diagonal pair is one region (8-connectivity); a separate 2×2 square another.
    const mask = Uint8Array.from([1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1]);
    // Row-major 4×4: (0,0),(1,1) diagonal; (3,2),(3,3) vertical pair.
    const r = labelRegions(mask, 4, 4);
    assert.equal(r.sizes.length, 3);
    assert.deepEqual([...r.sizes].slice(1).sort(), [2, 2]);
    assert.equal(r.labels[0], r.labels[5]);
    assert.notEqual(r.labels[0], r.labels[11]);
    assert.deepEqual(sizeQuartiles([4, 1, 3, 2]), [1.75, 2.5, 3.25]); // np.quantile([1,2,3,4], [.25,.5,.75])
    assert.deepEqual(
      [1, 1.75, 2, 2.5, 3, 3.25, 4].map((s) => sizeClass(s, [1.75, 2.5, 3.25])),
      [0, 0, 1, 1, 2, 2, 3],
    );
    assert.throws(() => sizeQuartiles([]), /at least one/);
  });

  test('AUPRO by size class counts only the regions up to that class', () => {
    // Small region (class 0) found, large one (class 3) missed: Q1 = 1, Q4 = ½ at every threshold above it.
    const t = new PixelTally();
    const scores = [...Array.from({ length: 50 }, (_, j) => j / 100), 0.9, 0.0, 0.0, 0.0];
    const labels = [...Array.from({ length: 50 }, () => 0), 1, 2, 2, 2];
    t.add(Float32Array.from(scores), {
      labels: Int32Array.from(labels),
      sizes: Int32Array.from([0, 1, 3]),
      classes: Uint8Array.from([0, 0, 3]),
    });
    assert.equal(aupro(proCurve(t, 0)!, 0.3), 1);
    assert.equal(aupro(proCurve(t, 3)!, 0.3), 0.5);
    assert.equal(proCurve(t, 3)!.y[0], 0.5);
  });
});

describe('image metrics and category summary', () => {
  test('image AUROC, F1-max with ties, ROC curve', () => {
    const items = [
      { score: 0.9, defective: true },
      { score: 0.8, defective: false },
      { score: 0.7, defective: true },
      { score: 0.1, defective: false },
    ];
    assert.equal(imageAuroc(items), 0.75);
    // t = 0.7: tp 2, fp 1 → F1 = 4/5.
    assert.deepEqual(imageF1Max(items), { f1: 0.8, threshold: 0.7 });
    assert.deepEqual(imageRocCurve(items), { x: [0, 0, 0.5, 0.5, 1], y: [0, 0.5, 0.5, 1, 1] });
    // Tied scores are one threshold: both or neither.
    const tied = [
      { score: 0.5, defective: true },
      { score: 0.5, defective: false },
    ];
    assert.equal(imageAuroc(tied), 0.5);
    assert.deepEqual(imageF1Max(tied), { f1: 2 / 3, threshold: 0.5 });
  });

  test('a category without defective images: nulls and a note, never NaN', () => {
    const t = new PixelTally();
    t.add(Float32Array.from([0.1, 0.2]), null);
    const m = categoryMetrics(
      [
        { score: 0.1, defective: false },
        { score: 0.2, defective: false },
      ],
      t,
      null,
      12.5,
    );
    assert.equal(m.imageAuroc, null);
    assert.equal(m.pixelAuroc, null);
    assert.equal(m.aupro['30%'], null);
    assert.equal(m.imageF1Max, null);
    assert.match(m.notes.join('\n'), /no defective images/);
    assert.ok(!JSON.stringify(m).includes('NaN'));
    // Means skip undefined values instead of turning NaN.
    const other = { ...m, imageAuroc: 0.8, aupro: { ...m.aupro, '30%': 0.6 } };
    const mean = meanMetrics([m, other]);
    assert.equal(mean.imageAuroc, 0.8);
    assert.equal(mean.aupro['30%'], 0.6);
    assert.equal(mean.msPerFrame, 12.5);
  });
});

describe('category evaluator', () => {
  test('defective images without masks: image metrics only, their pixels not counted as good', () => {
    const item = (path: string, defective: boolean): TestItem => ({
      path,
      type: defective ? 'bad' : 'good',
      defective,
      mask: null,
    });
    const ev = new CategoryEvaluator(
      { name: 'own', train: null, test: [item('g.png', false), item('b.png', true)] },
      1,
    );
    ev.add(item('g.png', false), 0.2, new Float32Array(12).fill(0.2), 4, 3);
    ev.add(item('b.png', true), 0.9, new Float32Array(12).fill(0.9), 4, 3);
    const r = ev.finish(5, 0.5);
    assert.equal(r.metrics.imageAuroc, 1);
    assert.equal(r.metrics.pixelAuroc, null);
    assert.match(r.metrics.notes.join('\n'), /no ground-truth masks/);
    assert.equal(r.worst.good[0].score, 0.2);
    assert.equal(r.worst.defective[0].score, 0.9);
    assert.equal(r.threshold, 0.5);
  });
});
