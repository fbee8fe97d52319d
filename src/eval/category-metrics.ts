// The numbers of one category (and their mean over categories) from its image scores and pixel tally. A
// metric that the data cannot define (no defective images, no defect regions in a size class) is null with a
// note saying why, never NaN.
import { imageAuroc, imageF1Max, type ScoredImage } from './image-metrics.js';
import { pixelAuroc, pixelF1Max } from './pixel-metrics.js';
import { SIZE_CLASSES, type PixelTally } from './pixel-tally.js';
import { aupro, proCurve } from './pro-curve.js';

/** FPR limits the AUPRO is integrated to. */
export const PRO_LIMITS = [0.3, 0.1, 0.05, 0.01] as const;

/** AUPRO at each limit, keyed "30%", "10%", "5%", "1%". */
export type AuproSet = Record<string, number | null>;

export interface CategoryMetrics {
  images: { good: number; defective: number };
  regions: number;
  imageAuroc: number | null;
  pixelAuroc: number | null;
  aupro: AuproSet;
  /** Q1..Q4: AUPRO counting only regions of area ≤ q1, q2, q3, and all. */
  auproBySize: AuproSet[];
  /** q1..q3 of region areas (px); null without regions. */
  sizeQuartiles: [number, number, number] | null;
  imageF1Max: number | null;
  pixelF1Max: number | null;
  msPerFrame: number | null;
  notes: string[];
}

export const limitKey = (l: number): string => `${Math.round(l * 100)}%`;

function auproSet(t: PixelTally, upToClass: number): AuproSet {
  const curve = proCurve(t, upToClass);
  return Object.fromEntries(PRO_LIMITS.map((l) => [limitKey(l), curve ? aupro(curve, l) : null]));
}

export function categoryMetrics(
  images: readonly ScoredImage[],
  tally: PixelTally,
  quartiles: [number, number, number] | null,
  msPerFrame: number | null,
): CategoryMetrics {
  const defective = images.filter((i) => i.defective).length;
  const good = images.length - defective;
  const regions = tally.regions.reduce((a, b) => a + b, 0);
  const notes: string[] = [];
  if (defective === 0) notes.push('no defective images: image AUROC and F1 are undefined');
  if (good === 0) notes.push('no good images: image AUROC is undefined');
  if (defective > 0 && regions === 0) {
    notes.push('no ground-truth masks with defect pixels: pixel AUROC, F1 and AUPRO are undefined');
  }
  return {
    images: { good, defective },
    regions,
    imageAuroc: imageAuroc(images),
    pixelAuroc: pixelAuroc(tally),
    aupro: auproSet(tally, SIZE_CLASSES - 1),
    auproBySize: Array.from({ length: SIZE_CLASSES }, (_, c) => auproSet(tally, c)),
    sizeQuartiles: quartiles,
    imageF1Max: imageF1Max(images)?.f1 ?? null,
    pixelF1Max: pixelF1Max(tally)?.f1 ?? null,
    msPerFrame,
    notes,
  };
}

/** Mean over categories of every metric, each over the categories where it is defined. */
export function meanMetrics(
  all: readonly CategoryMetrics[],
): Omit<CategoryMetrics, 'sizeQuartiles' | 'notes'> {
  const mean = (pick: (m: CategoryMetrics) => number | null): number | null => {
    const v = all.map(pick).filter((x): x is number => x !== null);
    return v.length > 0 ? v.reduce((a, b) => a + b, 0) / v.length : null;
  };
  const meanSet = (pick: (m: CategoryMetrics) => AuproSet): AuproSet =>
    Object.fromEntries(PRO_LIMITS.map((l) => [limitKey(l), mean((m) => pick(m)[limitKey(l)])]));
  return {
    images: {
      good: all.reduce((s, m) => s + m.images.good, 0),
      defective: all.reduce((s, m) => s + m.images.defective, 0),
    },
    regions: all.reduce((s, m) => s + m.regions, 0),
    imageAuroc: mean((m) => m.imageAuroc),
    pixelAuroc: mean((m) => m.pixelAuroc),
    aupro: meanSet((m) => m.aupro),
    auproBySize: Array.from({ length: SIZE_CLASSES }, (_, c) => meanSet((m) => m.auproBySize[c])),
    imageF1Max: mean((m) => m.imageF1Max),
    pixelF1Max: mean((m) => m.pixelF1Max),
    msPerFrame: mean((m) => m.msPerFrame),
  };
}
