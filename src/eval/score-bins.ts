// Fixed bins for anomaly-map scores, so a category's pixel metrics need memory independent of how many pixels
// it has (VisA: ~300 M per category). A score's bin is the top bits of its float32 pattern, which for
// non-negative floats orders exactly like the values: 14 mantissa bits give every bin a width of at most
// 2⁻¹⁴ (0.006 %) of its value, finer than the maps' own float32 arithmetic across the blur. Maps are products
// of two distances of unit vectors, so scores lie in [0, 4]; the bins cover [2⁻³², 2⁸) and clamp outside
// (below: bin 0, with 0 and the tiny negatives rounding can leave; above: the last bin).

const MANTISSA_BITS = 14;
const SHIFT = 23 - MANTISSA_BITS;
const MIN_EXP = -32;
const MAX_EXP = 8;
const BASE = ((127 + MIN_EXP) << 23) >>> SHIFT;
const TOP = ((127 + MAX_EXP) << 23) >>> SHIFT;

/** Number of bins. */
export const BIN_COUNT = TOP - BASE;

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Bin of one float32 pattern (see binsOf for arrays). NaN is an error: a map with NaN is a broken model. */
export function binOfBits(bits: number): number {
  if (bits >= 0x80000000) return bits === 0x80000000 || bits <= 0xff800000 ? 0 : nanError();
  if (bits > 0x7f800000) return nanError();
  const b = (bits >>> SHIFT) - BASE;
  return b < 0 ? 0 : b >= BIN_COUNT ? BIN_COUNT - 1 : b;
}

/** Bin of a score. */
export function binOf(score: number): number {
  f32[0] = score;
  return binOfBits(u32[0]);
}

/** The smallest score of a bin (0 for bin 0): what a threshold "at" this bin means. */
export function binLowerBound(bin: number): number {
  if (bin <= 0) return 0;
  u32[0] = (bin + BASE) << SHIFT;
  return f32[0];
}

function nanError(): never {
  throw new Error('anomaly map holds NaN: the model or its input is broken');
}
