// Evaluates one category as its maps stream past: the ground truth is read first (region sizes → defect-size
// quartiles), then each test image's map is added to the pixel tally and dropped, keeping only its score and,
// for the worst cases, a thumbnail. The caller drives the model (cli/eval-command.ts, through infer's path).
import type { EvalCategory, TestItem } from './dataset.js';
import { categoryMetrics, type CategoryMetrics } from './category-metrics.js';
import { imageRocCurve } from './image-metrics.js';
import { denseProCurve, pixelRocCurve } from './pixel-metrics.js';
import { PixelTally } from './pixel-tally.js';
import type { Curve } from './pro-curve.js';
import { readMask } from './read-mask.js';
import { classify, labelRegions, sizeQuartiles } from './regions.js';
import { WorstCases, type WorstCase } from './worst-cases.js';

export interface ScoredItem {
  path: string;
  type: string;
  defective: boolean;
  score: number;
}

export interface CategoryEvaluation {
  name: string;
  metrics: CategoryMetrics;
  images: ScoredItem[];
  curves: { imageRoc: Curve | null; pixelRoc: Curve | null; pro: Curve | null };
  /** The bundle's calibrated reject threshold, when it has one. */
  threshold: number | null;
  worst: { good: WorstCase[]; defective: WorstCase[] };
}

/** Region areas of every defect mask of the category (the quartiles need them all before any map). */
export function regionSizes(c: EvalCategory): number[] {
  const sizes: number[] = [];
  for (const item of c.test) {
    if (!item.mask) continue;
    const m = readMask(item.mask);
    const r = labelRegions(m.data, m.width, m.height);
    for (let k = 1; k < r.sizes.length; k++) sizes.push(r.sizes[k]);
  }
  return sizes;
}

export class CategoryEvaluator {
  private readonly tally = new PixelTally();
  private readonly images: ScoredItem[] = [];
  private readonly worst: WorstCases;
  readonly quartiles: [number, number, number] | null;

  constructor(
    readonly category: EvalCategory,
    worstCases: number,
  ) {
    const sizes = regionSizes(category);
    this.quartiles = sizes.length > 0 ? sizeQuartiles(sizes) : null;
    this.worst = new WorstCases(worstCases);
  }

  /** One test image's frame score and map (H·W at the image's own size). */
  add(item: TestItem, score: number, map: Float32Array, width: number, height: number): void {
    let mask = null;
    if (item.mask && this.quartiles) {
      const m = readMask(item.mask, width, height);
      mask = classify(labelRegions(m.data, width, height), this.quartiles);
    }
    // A defective image without ground truth says nothing about its pixels: they are not counted as good.
    if (!item.defective || item.mask) this.tally.add(map, mask);
    this.images.push({ path: item.path, type: item.type, defective: item.defective, score });
    this.worst.offer(item, score, map, width, height);
  }

  finish(msPerFrame: number | null, threshold: number | null): CategoryEvaluation {
    return {
      name: this.category.name,
      metrics: categoryMetrics(this.images, this.tally, this.quartiles, msPerFrame),
      images: this.images,
      curves: {
        imageRoc: imageRocCurve(this.images),
        pixelRoc: pixelRocCurve(this.tally),
        pro: denseProCurve(this.tally),
      },
      threshold,
      worst: { good: this.worst.good, defective: this.worst.defective },
    };
  }
}
