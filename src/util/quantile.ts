// Quantiles of sorted samples: thresholds from held-out scores (teach/calibrate.ts), latency percentiles in the
// periodic stats line (sinks/stats-window.ts).

/** Linear-interpolated quantile (NumPy's default) of an ascending array. */
export function quantileSorted(s: ArrayLike<number>, q: number): number {
  if (s.length === 0) throw new Error('quantile of no values');
  const pos = q * (s.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, s.length - 1);
  return s[lo] + (pos - lo) * (s[hi] - s[lo]);
}
