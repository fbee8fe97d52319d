import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { auroc, aurocSplit, PixelAuroc } from '../src/pipeline/ranking-metrics.js';
import { Rng } from '../src/util/random.js';

/** The definition, O(n·m): P(pos > neg) + ½·P(pos = neg). */
function bruteForce(pos: number[], neg: number[]): number {
  let w = 0;
  for (const p of pos) for (const n of neg) w += p > n ? 1 : p === n ? 0.5 : 0;
  return w / pos.length / neg.length;
}

describe('AUROC', () => {
  test('hand examples: perfect, inverted, random-like, ties', () => {
    assert.equal(aurocSplit([3, 4], [1, 2]), 1);
    assert.equal(aurocSplit([1, 2], [3, 4]), 0);
    // pos 2 beats 1, loses to 3; pos 4 beats both: (1 + 2) / 4.
    assert.equal(aurocSplit([2, 4], [1, 3]), 0.75);
    // All tied: one half.
    assert.equal(aurocSplit([5, 5], [5, 5, 5]), 0.5);
    // pos 2 ties the neg 2 (½) and beats 1 (1); pos 1 ties 1 (½): (1.5 + 0.5) / 4.
    assert.equal(aurocSplit([1, 2], [1, 2]), 0.5);
    // pos [3, 3], neg [1, 3, 3, 4]: each pos: 1 below, 2 tied → 2 of 4; total 4 / 8.
    assert.equal(aurocSplit([3, 3], [3, 1, 4, 3]), 0.5);
    // sklearn: roc_auc_score([0,0,1,1,1], [0.1,0.4,0.35,0.8,0.4]) = (1 + 1.5 + 2) / 6 = 0.75.
    assert.equal(auroc([0.1, 0.4, 0.35, 0.8, 0.4], [0, 0, 1, 1, 1]), 0.75);
    assert.equal(auroc([0.1, 0.4, 0.35, 0.8, 0.4], [false, false, true, true, true]), 0.75);
  });

  test('matches the O(n·m) definition on random data with many ties', () => {
    const rng = new Rng(7);
    for (let trial = 0; trial < 20; trial++) {
      const pos = Array.from({ length: 1 + rng.int(0, 40) }, () => rng.int(0, 9));
      const neg = Array.from({ length: 1 + rng.int(0, 40) }, () => rng.int(0, 9) - 1);
      assert.equal(aurocSplit(pos, neg), bruteForce(pos, neg));
    }
  });

  test('errors: one class missing, NaN, length mismatch', () => {
    assert.throws(() => aurocSplit([], [1]), /positives and negatives/);
    assert.throws(() => auroc([1, 2], [1, 1]), /positives and negatives/);
    assert.throws(() => aurocSplit([NaN], [1]), /NaN/);
    assert.throws(() => auroc([1], [1, 0]), /1 scores but 2 labels/);
  });

  test('pixel AUROC over several maps equals the pooled AUROC', () => {
    const px = new PixelAuroc();
    const maps = [
      { map: [0.1, 0.9, 0.2, 0.9], mask: [0, 1, 0, 0] },
      { map: [0.5, 0.5, 0.3], mask: [1, 0, 1] },
    ];
    for (const m of maps) px.add(Float32Array.from(m.map), Uint8Array.from(m.mask));
    // positives [0.9, 0.5, 0.3], negatives [0.1, 0.2, 0.9, 0.5]:
    // 0.9 → 3 below + ½ tie = 3.5; 0.5 → 2 + ½ = 2.5; 0.3 → 2. Total 8 / 12.
    assert.equal(px.value(), 8 / 12);
    assert.deepEqual(px.counts, { positives: 3, negatives: 4 });
    const rng = new Rng(3);
    const big = new PixelAuroc();
    const all: number[] = [];
    const labels: number[] = [];
    for (let k = 0; k < 3; k++) {
      const map = Float32Array.from({ length: 40000 }, () => Math.fround(rng.next()));
      const mask = Uint8Array.from({ length: 40000 }, (_, i) => (map[i] + rng.next() > 1.2 ? 1 : 0));
      big.add(map, mask);
      all.push(...map);
      labels.push(...mask);
    }
    assert.equal(big.value(), auroc(all, labels));
  });
});
