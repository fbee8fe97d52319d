// Ranking metrics for evaluation and teach-in reports. Pure maths on typed arrays.
//
// AUROC is the Mann–Whitney statistic: the probability that a random positive scores above a random
// negative, ties counting one half — exactly the area under the ROC curve with ties drawn as diagonal
// segments (what scikit-learn's roc_auc_score computes). Positives and negatives are sorted separately
// (native typed-array sort) and merged, so millions of pixels cost O(n log n) and no index arrays.

/** AUROC from the scores of positives and negatives (copied, not modified). NaN scores are an error. */
export function aurocSplit(positives: ArrayLike<number>, negatives: ArrayLike<number>): number {
  const np = positives.length;
  const nn = negatives.length;
  if (np === 0 || nn === 0) throw new Error(`AUROC needs positives and negatives (got ${np} and ${nn})`);
  return sortedAuroc(sorted(positives, 'positive'), sorted(negatives, 'negative'));
}

/** AUROC of scores against binary labels (non-zero / true = positive). */
export function auroc(scores: ArrayLike<number>, labels: ArrayLike<number | boolean>): number {
  if (scores.length !== labels.length) {
    throw new Error(`AUROC: ${scores.length} scores but ${labels.length} labels`);
  }
  const pos: number[] = [];
  const neg: number[] = [];
  for (let i = 0; i < scores.length; i++) (labels[i] ? pos : neg).push(scores[i]);
  return aurocSplit(pos, neg);
}

function sorted(a: ArrayLike<number>, what: string): Float64Array {
  const s = Float64Array.from(a).sort();
  if (Number.isNaN(s[s.length - 1])) throw new Error(`AUROC: NaN ${what} score`);
  return s;
}

/** Mann–Whitney over ascending arrays: for each positive, the negatives below it plus half those equal. */
function sortedAuroc(pos: Float32Array | Float64Array, neg: Float32Array | Float64Array): number {
  const np = pos.length;
  const nn = neg.length;
  let below = 0;
  let upTo = 0;
  let wins = 0;
  for (let i = 0; i < np; i++) {
    const x = pos[i];
    while (below < nn && neg[below] < x) below++;
    if (upTo < below) upTo = below;
    while (upTo < nn && neg[upTo] === x) upTo++;
    wins += below + 0.5 * (upTo - below);
  }
  return wins / np / nn;
}

/**
 * Accumulates pixel scores split by a ground-truth mask over many images, for pixel AUROC.
 * Values are kept as float32 (the maps' own precision), grown by doubling.
 */
export class PixelAuroc {
  private pos: Float32Array = new Float32Array(1024);
  private neg: Float32Array = new Float32Array(1 << 16);
  private np = 0;
  private nn = 0;

  /** map and mask are H·W; mask non-zero = defect pixel. */
  add(map: ArrayLike<number>, mask: ArrayLike<number>): void {
    if (map.length !== mask.length) throw new Error(`pixel AUROC: map ${map.length} vs mask ${mask.length}`);
    let p = 0;
    for (let i = 0; i < mask.length; i++) if (mask[i]) p++;
    this.pos = grow(this.pos, this.np + p);
    this.neg = grow(this.neg, this.nn + map.length - p);
    for (let i = 0; i < map.length; i++) {
      if (mask[i]) this.pos[this.np++] = map[i];
      else this.neg[this.nn++] = map[i];
    }
  }

  get counts(): { positives: number; negatives: number } {
    return { positives: this.np, negatives: this.nn };
  }

  value(): number {
    const np = this.np;
    const nn = this.nn;
    if (np === 0 || nn === 0)
      throw new Error(`pixel AUROC needs defect and good pixels (got ${np} and ${nn})`);
    // Sorting float32 copies keeps memory at 4 bytes a pixel; the merge below is aurocSplit's.
    const pos = this.pos.slice(0, np).sort();
    const neg = this.neg.slice(0, nn).sort();
    if (Number.isNaN(pos[np - 1]) || Number.isNaN(neg[nn - 1])) throw new Error('pixel AUROC: NaN scores');
    return sortedAuroc(pos, neg);
  }
}

function grow(a: Float32Array, need: number): Float32Array {
  if (need <= a.length) return a;
  let n = a.length;
  while (n < need) n *= 2;
  const b = new Float32Array(n);
  b.set(a);
  return b;
}
