// Image-level metrics from per-image scores and labels: AUROC (exact, ranking-metrics.ts), F1-max over every
// distinct score as threshold ("defective = score ≥ t", as scikit-learn's precision_recall_curve), and the ROC
// curve for drawing.
import { aurocSplit } from '../pipeline/ranking-metrics.js';
import type { Curve } from './pro-curve.js';

export interface ScoredImage {
  score: number;
  defective: boolean;
}

/** Image AUROC; null unless there are good and defective images. */
export function imageAuroc(items: readonly ScoredImage[]): number | null {
  const pos = items.filter((i) => i.defective).map((i) => i.score);
  const neg = items.filter((i) => !i.defective).map((i) => i.score);
  return pos.length > 0 && neg.length > 0 ? aurocSplit(pos, neg) : null;
}

/** Best F1 with its threshold; null without defective images. */
export function imageF1Max(items: readonly ScoredImage[]): { f1: number; threshold: number } | null {
  const P = items.filter((i) => i.defective).length;
  if (P === 0) return null;
  let tp = 0;
  let fp = 0;
  let best = { f1: 0, threshold: 0 };
  const sorted = [...items].sort((a, b) => b.score - a.score);
  for (let i = 0; i < sorted.length; i++) {
    if (sorted[i].defective) tp++;
    else fp++;
    if (i + 1 < sorted.length && sorted[i + 1].score === sorted[i].score) continue; // ties go together
    const f1 = (2 * tp) / (2 * tp + fp + (P - tp));
    if (f1 > best.f1) best = { f1, threshold: sorted[i].score };
  }
  return best;
}

/** ROC curve points (FPR, TPR) at every distinct score; null unless both classes are present. */
export function imageRocCurve(items: readonly ScoredImage[]): Curve | null {
  const P = items.filter((i) => i.defective).length;
  const N = items.length - P;
  if (P === 0 || N === 0) return null;
  const sorted = [...items].sort((a, b) => b.score - a.score);
  const x = [0];
  const y = [0];
  let tp = 0;
  let fp = 0;
  for (let i = 0; i < sorted.length; i++) {
    if (sorted[i].defective) tp++;
    else fp++;
    if (i + 1 < sorted.length && sorted[i + 1].score === sorted[i].score) continue;
    x.push(fp / N);
    y.push(tp / P);
  }
  return { x, y };
}
