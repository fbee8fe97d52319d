// The machine-readable result of `pinpoint eval` (stdout with --json, and <out>/eval.json): per category its
// metrics, threshold and per-image scores, and the mean over categories.
import type { Bundle } from '../model/bundle.js';
import type { CategoryEvaluation } from './category-evaluator.js';
import { meanMetrics } from './category-metrics.js';

export interface EvalJsonInput {
  data: string;
  layout: string;
  model: Bundle;
  trained: boolean;
  provider: string;
  evals: readonly CategoryEvaluation[];
  failures: readonly { image: string; error: string }[];
}

export function evalJson(i: EvalJsonInput): Record<string, unknown> {
  const m = i.model.manifest;
  return {
    dataset: { dir: i.data, layout: i.layout },
    model: {
      dir: i.model.dir,
      modelId: m.modelId,
      size: m.input.size,
      devTeacher: m.teacher.devTeacher,
      provider: i.provider,
    },
    trained: i.trained,
    categories: i.evals.map((e) => ({
      name: e.name,
      ...e.metrics,
      threshold: e.threshold,
      images: e.images.map((x) => ({ path: x.path, type: x.type, defective: x.defective, score: x.score })),
    })),
    mean: meanMetrics(i.evals.map((e) => e.metrics)),
    failures: i.failures,
  };
}
