// The heatmap colours of the report: a jet-like ramp (blue → cyan → yellow → red) for values in [0, 1],
// the palette inspection engineers know from every anomaly-detection paper.

/** RGB of t ∈ [0, 1] (clamped). */
export function heatColor(t: number): [number, number, number] {
  const x = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0));
  const ch = (c: number): number => Math.round(255 * Math.min(1, Math.max(0, 1.5 - Math.abs(4 * x - c))));
  return [ch(3), ch(2), ch(1)];
}
