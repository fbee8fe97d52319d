// Streams the maps of a category into fixed-size histograms (score-bins.ts), from which every pixel metric
// is computed at the end: good-pixel counts (pixel AUROC, F1, the PRO curve's false-positive rate),
// defect-pixel counts, and per defect-size class the per-region overlap weights (each defect pixel weighs
// 1 / the size of its region, so the sum above a threshold is Σ over regions of their covered share — the
// PRO numerator, exactly). Memory: 7 arrays of BIN_COUNT float64 (~37 MB) whatever the number of pixels.
import { BIN_COUNT, binOfBits } from './score-bins.js';

/** Defect-size classes: Q1..Q4 of region area (sizeClass in regions.ts). */
export const SIZE_CLASSES = 4;

/** One image's ground truth: region labels (0 = good pixel) and, per label, the region's size and class. */
export interface LabelledMask {
  /** H·W; 0 = good, k ≥ 1 = pixel of region k. */
  labels: Int32Array | Uint8Array;
  /** Index k: area of region k (index 0 unused). */
  sizes: ArrayLike<number>;
  /** Index k: size class 0..3 of region k (index 0 unused). */
  classes: ArrayLike<number>;
}

export class PixelTally {
  readonly good = new Float64Array(BIN_COUNT);
  readonly defect = new Float64Array(BIN_COUNT);
  /** Per size class: Σ 1/region size of the defect pixels in each bin. */
  readonly overlap: Float64Array[] = Array.from({ length: SIZE_CLASSES }, () => new Float64Array(BIN_COUNT));
  /** Regions per size class. */
  readonly regions = new Float64Array(SIZE_CLASSES);
  goodPixels = 0;
  defectPixels = 0;

  /** Adds one map; `mask` null = a good image (every pixel good). */
  add(map: Float32Array, mask: LabelledMask | null): void {
    const bits = new Uint32Array(map.buffer, map.byteOffset, map.length);
    if (!mask) {
      for (let i = 0; i < bits.length; i++) this.good[binOfBits(bits[i])]++;
      this.goodPixels += bits.length;
      return;
    }
    const { labels, sizes, classes } = mask;
    if (labels.length !== map.length) {
      throw new Error(`map has ${map.length} pixels but the mask ${labels.length}`);
    }
    const weight = Float64Array.from(sizes, (s) => (s > 0 ? 1 / s : 0));
    for (let k = 1; k < sizes.length; k++) this.regions[classes[k]]++;
    let d = 0;
    for (let i = 0; i < bits.length; i++) {
      const b = binOfBits(bits[i]);
      const k = labels[i];
      if (k === 0) {
        this.good[b]++;
      } else {
        this.defect[b]++;
        this.overlap[classes[k]][b] += weight[k];
        d++;
      }
    }
    this.defectPixels += d;
    this.goodPixels += bits.length - d;
  }
}
