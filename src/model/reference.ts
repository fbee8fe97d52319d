// A plain float64 forward pass of the teacher, the students and the anomaly score, written for
// clarity rather than speed. Tests compare the ONNX graphs against it (within 1e-4 relative);
// nothing on the inference path uses it.
import type { LinearWeights, MlpWeights, StudentWeights, TeacherWeights } from './types.js';
import { IMAGENET_MEAN, IMAGENET_STD } from './types.js';
import { interpolatePosEmbed } from './pos-embed.js';

// ---------------------------------------------------------------------------------------------
// erf / erfc / GELU in float64 (absolute error ≈ 1e-16).

const TWO_OVER_SQRT_PI = 1.1283791670955126;
const SQRT_PI = 1.7724538509055159;

/** erf for 0 ≤ x < 2: erf(x) = 2/√π·e^(−x²)·Σ 2ⁿx^(2n+1)/(1·3·…·(2n+1)); all terms positive, no cancellation. */
function erfSeries(x: number): number {
  const x2 = x * x;
  let term = x;
  let sum = x;
  for (let n = 1; n < 200; n++) {
    term *= (2 * x2) / (2 * n + 1);
    sum += term;
    if (term < 1e-17 * sum) break;
  }
  return TWO_OVER_SQRT_PI * Math.exp(-x2) * sum;
}

/** erfc for x ≥ 2: continued fraction e^(−x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …)))); 100 terms converge. */
function erfcFraction(x: number): number {
  let f = x;
  for (let n = 100; n >= 1; n--) f = x + n / 2 / f;
  return Math.exp(-x * x) / (SQRT_PI * f);
}

export function erf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const ax = Math.abs(x);
  const v = ax < 2 ? erfSeries(ax) : 1 - erfcFraction(ax);
  return x < 0 ? -v : v;
}

/** 1 − erf(x) without cancellation in the tail. */
export function erfc(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x >= 2) return erfcFraction(x);
  if (x <= -2) return 2 - erfcFraction(-x);
  return 1 - erf(x);
}

/** Exact GELU, x·Φ(x) = 0.5·x·(1 + erf(x/√2)), written via erfc so the negative tail keeps precision. */
export function gelu(x: number): number {
  return 0.5 * x * erfc(-x * Math.SQRT1_2);
}

// ---------------------------------------------------------------------------------------------
// Building blocks on row-major [rows, cols] Float64Arrays.

/** LayerNorm over the last dim (biased variance, as PyTorch). */
export function referenceLayerNorm(
  x: Float64Array,
  rows: number,
  dim: number,
  weight: Float32Array,
  bias: Float32Array,
  eps: number,
): Float64Array {
  const out = new Float64Array(rows * dim);
  for (let r = 0; r < rows; r++) {
    const o = r * dim;
    let mean = 0;
    for (let d = 0; d < dim; d++) mean += x[o + d];
    mean /= dim;
    let v = 0;
    for (let d = 0; d < dim; d++) v += (x[o + d] - mean) ** 2;
    const inv = 1 / Math.sqrt(v / dim + eps);
    for (let d = 0; d < dim; d++) out[o + d] = (x[o + d] - mean) * inv * weight[d] + bias[d];
  }
  return out;
}

/** y = x·Wᵀ + b with W [out, in]. */
export function referenceLinear(x: Float64Array, rows: number, l: LinearWeights): Float64Array {
  const { inFeatures: n, outFeatures: m, weight, bias } = l;
  if (x.length !== rows * n)
    throw new Error(`referenceLinear: expected ${rows}×${n} inputs, got ${x.length}`);
  const out = new Float64Array(rows * m);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < m; j++) {
      let s = bias[j];
      for (let i = 0; i < n; i++) s += x[r * n + i] * weight[j * n + i];
      out[r * m + j] = s;
    }
  }
  return out;
}

function geluInPlace(x: Float64Array): Float64Array {
  for (let i = 0; i < x.length; i++) x[i] = gelu(x[i]);
  return x;
}

// ---------------------------------------------------------------------------------------------
// Model.

/** Letterboxed HWC RGB uint8 size×size → CHW float64, (x/255 − mean)/std per channel. */
export function referencePreprocess(rgb: Uint8Array, size: number): Float64Array {
  const n = size * size;
  if (rgb.length !== n * 3)
    throw new Error(`referencePreprocess: expected ${size}×${size}×3 bytes, got ${rgb.length}`);
  const out = new Float64Array(3 * n);
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < n; i++) out[c * n + i] = (rgb[i * 3 + c] / 255 - IMAGENET_MEAN[c]) / IMAGENET_STD[c];
  }
  return out;
}

/** One pre-norm block: x += ls1·Attn(LN1(x)); x += ls2·MLP(LN2(x)). Updates x in place. */
function block(w: TeacherWeights, b: TeacherWeights['blocks'][number], x: Float64Array, N: number): void {
  const { dim: D, heads, mlpHidden: H, lnEps } = w.arch;
  const hd = D / heads;
  const scale = 1 / Math.sqrt(hd);
  const qkv = referenceLinear(referenceLayerNorm(x, N, D, b.norm1.weight, b.norm1.bias, lnEps), N, b.qkv);
  const att = new Float64Array(N * D);
  const p = new Float64Array(N);
  for (let h = 0; h < heads; h++) {
    const qo = h * hd;
    const ko = D + h * hd;
    const vo = 2 * D + h * hd;
    for (let i = 0; i < N; i++) {
      let max = -Infinity;
      for (let j = 0; j < N; j++) {
        let s = 0;
        for (let d = 0; d < hd; d++) s += qkv[i * 3 * D + qo + d] * qkv[j * 3 * D + ko + d];
        p[j] = s * scale;
        if (p[j] > max) max = p[j];
      }
      let z = 0;
      for (let j = 0; j < N; j++) {
        p[j] = Math.exp(p[j] - max);
        z += p[j];
      }
      for (let d = 0; d < hd; d++) {
        let s = 0;
        for (let j = 0; j < N; j++) s += p[j] * qkv[j * 3 * D + vo + d];
        att[i * D + h * hd + d] = s / z;
      }
    }
  }
  const a = referenceLinear(att, N, b.proj);
  for (let r = 0; r < N; r++) for (let d = 0; d < D; d++) x[r * D + d] += b.ls1[d] * a[r * D + d];
  const hidden = geluInPlace(
    referenceLinear(referenceLayerNorm(x, N, D, b.norm2.weight, b.norm2.bias, lnEps), N, b.fc1),
  );
  if (hidden.length !== N * H) throw new Error('reference block: fc1 width does not match arch.mlpHidden');
  const m = referenceLinear(hidden, N, b.fc2);
  for (let r = 0; r < N; r++) for (let d = 0; d < D; d++) x[r * D + d] += b.ls2[d] * m[r * D + d];
}

/**
 * Teacher features for the requested 1-based block outputs, each [P, D] patch tokens after the
 * final LayerNorm (cls and registers dropped), P = (size/patch)². Tokens are [cls, registers…,
 * patches]; position embeddings go to cls and patches before the registers are inserted. When
 * size/patch ≠ posGrid, `posEmbed` ([1 + g², D]) is used if given, else the grid is resized with
 * interpolatePosEmbed (antialiased bicubic).
 */
export function referenceTeacher(
  w: TeacherWeights,
  chw: Float64Array,
  size: number,
  layers: number[],
  posEmbed?: Float32Array,
): Float64Array[] {
  const { dim: D, registers: R, patch: ps, posGrid, depth } = w.arch;
  if (!Number.isInteger(size / ps))
    throw new Error(`referenceTeacher: size ${size} is not a multiple of patch ${ps}`);
  if (chw.length !== 3 * size * size) throw new Error(`referenceTeacher: expected 3×${size}×${size} inputs`);
  for (const l of layers) {
    if (!Number.isInteger(l) || l < 1 || l > depth)
      throw new Error(`referenceTeacher: layer ${l} not in 1..${depth}`);
  }
  const g = size / ps;
  const P = g * g;
  const N = 1 + R + P;
  const pos = g === posGrid ? w.posEmbed : (posEmbed ?? interpolatePosEmbed(w.posEmbed, D, posGrid, g));
  if (pos.length !== (1 + P) * D) throw new Error(`referenceTeacher: posEmbed must be [1 + ${g}², ${D}]`);

  const x = new Float64Array(N * D);
  for (let d = 0; d < D; d++) x[d] = w.clsToken[d] + pos[d];
  for (let i = 0; i < R * D; i++) x[D + i] = w.registerTokens[i];
  // Patch embedding: a conv with kernel = stride = patch over the CHW image.
  const hw = size * size;
  for (let gy = 0; gy < g; gy++) {
    for (let gx = 0; gx < g; gx++) {
      const t = gy * g + gx;
      const row = (1 + R + t) * D;
      for (let d = 0; d < D; d++) {
        let s = w.patchBias[d] + pos[(1 + t) * D + d];
        for (let c = 0; c < 3; c++) {
          for (let ky = 0; ky < ps; ky++) {
            for (let kx = 0; kx < ps; kx++) {
              s +=
                w.patchWeight[((d * 3 + c) * ps + ky) * ps + kx] *
                chw[c * hw + (gy * ps + ky) * size + gx * ps + kx];
            }
          }
        }
        x[row + d] = s;
      }
    }
  }

  const last = Math.max(0, ...layers);
  const byLayer = new Map<number, Float64Array>();
  for (let i = 0; i < last; i++) {
    block(w, w.blocks[i], x, N);
    if (layers.includes(i + 1)) {
      const patches = x.subarray((1 + R) * D);
      byLayer.set(i + 1, referenceLayerNorm(patches, P, D, w.norm.weight, w.norm.bias, w.arch.lnEps));
    }
  }
  return layers.map((l) => byLayer.get(l)!);
}

/** Student MLP on [rows, D]: Linear → GELU → Linear → GELU → Linear. */
export function referenceStudent(m: MlpWeights, x: Float64Array, rows: number): Float64Array {
  const [l0, l1, l2] = m.layers;
  const h1 = geluInPlace(referenceLinear(x, rows, l0));
  const h2 = geluInPlace(referenceLinear(h1, rows, l1));
  return referenceLinear(h2, rows, l2);
}

/**
 * ‖n(a) − n(b)‖ per row, n = L2 normalisation x / max(‖x‖, 1e-12) — PyTorch F.normalize's guard,
 * which only matters for an all-zero row (it then stays zero instead of becoming NaN).
 */
export function normalisedDistance(
  a: Float64Array,
  b: Float64Array,
  rows: number,
  dim: number,
): Float64Array {
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let na = 0;
    let nb = 0;
    for (let d = 0; d < dim; d++) {
      na += a[r * dim + d] ** 2;
      nb += b[r * dim + d] ** 2;
    }
    const ia = 1 / Math.max(Math.sqrt(na), 1e-12);
    const ib = 1 / Math.max(Math.sqrt(nb), 1e-12);
    let s = 0;
    for (let d = 0; d < dim; d++) s += (a[r * dim + d] * ia - b[r * dim + d] * ib) ** 2;
    out[r] = Math.sqrt(s);
  }
  return out;
}

/**
 * Per-patch anomaly score Δ [g·g] (g = size/patch), layers = [a, b] = [8, 12] for the method:
 * Δ_b = ‖n(forward(f_a)) − n(f_b)‖ (the forward student predicts layer b from layer a),
 * Δ_a = ‖n(backward(f_b)) − n(f_a)‖, Δ = Δ_a·Δ_b.
 */
export function referenceAnomaly(
  w: TeacherWeights,
  s: StudentWeights,
  chw: Float64Array,
  size: number,
  layers: [number, number],
  posEmbed?: Float32Array,
): Float64Array {
  const [fa, fb] = referenceTeacher(w, chw, size, layers, posEmbed);
  const D = w.arch.dim;
  const P = fa.length / D;
  const db = normalisedDistance(referenceStudent(s.forward, fa, P), fb, P, D);
  const da = normalisedDistance(referenceStudent(s.backward, fb, P), fa, P, D);
  const out = new Float64Array(P);
  for (let i = 0; i < P; i++) out[i] = da[i] * db[i];
  return out;
}
