// Resizing DINOv2's learned position-embedding grid to another patch grid. The register models
// resize with PyTorch's antialiased bicubic (`F.interpolate(mode='bicubic', antialias=True,
// align_corners=False, size=…)`), whose coefficients are PIL's `precompute_coeffs`; reproducing
// them exactly keeps our features identical to the reference at every input size.

/** Keys' cubic convolution kernel with a = −0.5 (PIL's and PyTorch's antialiased bicubic). */
function cubic(x: number): number {
  const a = -0.5;
  x = Math.abs(x);
  if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
  return 0;
}

export interface ResampleTap {
  /** First input index that contributes. */
  start: number;
  /** Normalised weights for inputs start, start+1, … */
  weights: Float64Array;
}

/**
 * 1-D antialiased bicubic coefficients for resizing inSize samples to outSize, one entry per output.
 * When shrinking, the kernel is stretched by the scale (support 2·scale) so it low-passes.
 */
export function aaBicubicCoefficients(inSize: number, outSize: number): ResampleTap[] {
  if (!Number.isInteger(inSize) || !Number.isInteger(outSize) || inSize < 1 || outSize < 1) {
    throw new Error(`aaBicubicCoefficients: sizes must be positive integers, got ${inSize} → ${outSize}`);
  }
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = 2 * filterScale;
  const taps: ResampleTap[] = [];
  for (let i = 0; i < outSize; i++) {
    const center = (i + 0.5) * scale;
    // Math.trunc mirrors the C casts; negatives are clamped to 0 anyway.
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize);
    const w = new Float64Array(Math.max(xmax - xmin, 0));
    let total = 0;
    for (let j = 0; j < w.length; j++) {
      w[j] = cubic((j + xmin - center + 0.5) / filterScale);
      total += w[j];
    }
    if (total !== 0) for (let j = 0; j < w.length; j++) w[j] /= total;
    taps.push({ start: xmin, weights: w });
  }
  return taps;
}

/**
 * Resize a [1 + fromGrid², dim] position embedding (cls row first, grid row-major) to
 * [1 + toGrid², dim]. The cls row is passed through; the grid is resampled separably
 * (horizontal, then vertical) in float64 and rounded to f32 once at the end.
 */
export function interpolatePosEmbed(
  posEmbed: Float32Array,
  dim: number,
  fromGrid: number,
  toGrid: number,
): Float32Array {
  if (posEmbed.length !== (1 + fromGrid * fromGrid) * dim) {
    throw new Error(
      `interpolatePosEmbed: expected (1 + ${fromGrid}²)·${dim} = ${(1 + fromGrid * fromGrid) * dim} values, got ${posEmbed.length}`,
    );
  }
  if (toGrid === fromGrid) return posEmbed.slice();
  const out = new Float32Array((1 + toGrid * toGrid) * dim);
  out.set(posEmbed.subarray(0, dim), 0);
  const taps = aaBicubicCoefficients(fromGrid, toGrid);

  // Horizontal: [fromGrid rows][toGrid cols][dim].
  const tmp = new Float64Array(fromGrid * toGrid * dim);
  for (let y = 0; y < fromGrid; y++) {
    for (let ox = 0; ox < toGrid; ox++) {
      const { start, weights } = taps[ox];
      const o = (y * toGrid + ox) * dim;
      for (let k = 0; k < weights.length; k++) {
        const src = dim + (y * fromGrid + start + k) * dim;
        const wk = weights[k];
        for (let d = 0; d < dim; d++) tmp[o + d] += wk * posEmbed[src + d];
      }
    }
  }
  // Vertical: [toGrid rows][toGrid cols][dim].
  const acc = new Float64Array(dim);
  for (let oy = 0; oy < toGrid; oy++) {
    const { start, weights } = taps[oy];
    for (let ox = 0; ox < toGrid; ox++) {
      acc.fill(0);
      for (let k = 0; k < weights.length; k++) {
        const src = ((start + k) * toGrid + ox) * dim;
        const wk = weights[k];
        for (let d = 0; d < dim; d++) acc[d] += wk * tmp[src + d];
      }
      out.set(acc, dim + (oy * toGrid + ox) * dim);
    }
  }
  return out;
}
