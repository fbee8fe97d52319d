// Float64 reference of one teach-in step (loss, analytic gradients, torch.optim.Adam), written for clarity.
// Tests check the ONNX training graph against it and check it against finite differences of the loss;
// nothing on the training path uses it.
import type { MlpWeights, StudentWeights } from './types.js';
import { erf, referenceStudent } from './reference.js';
import { ADAM_DEFAULTS, COS_EPS, type AdamHyper, studentParams } from './train-graph.js';

/** mean_rows(1 − cos(y, t)) in float64, cos as torch's cosine_similarity (norms clamped at 1e-8). */
export function referenceCosineLoss(y: Float64Array, t: Float64Array, rows: number, dim: number): number {
  let sum = 0;
  for (let r = 0; r < rows; r++) {
    let yy = 0;
    let tt = 0;
    let yt = 0;
    for (let d = 0; d < dim; d++) {
      const a = y[r * dim + d];
      const c = t[r * dim + d];
      yy += a * a;
      tt += c * c;
      yt += a * c;
    }
    sum += 1 - yt / (Math.max(Math.sqrt(yy), COS_EPS) * Math.max(Math.sqrt(tt), COS_EPS));
  }
  return sum / rows;
}

/** The teach-in loss of the two students on rows (fa, fb), using the project's float64 student forward. */
export function referenceTrainLoss(
  s: StudentWeights,
  fa: Float64Array,
  fb: Float64Array,
  rows: number,
): number {
  const dim = fa.length / rows;
  return (
    referenceCosineLoss(referenceStudent(s.forward, fa, rows), fb, rows, dim) +
    referenceCosineLoss(referenceStudent(s.backward, fb, rows), fa, rows, dim)
  );
}

const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

function linear64(
  x: Float64Array,
  rows: number,
  w: Float32Array,
  bias: Float32Array,
  inF: number,
  outF: number,
): Float64Array {
  const y = new Float64Array(rows * outF);
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < outF; o++) {
      let s = bias[o];
      for (let i = 0; i < inF; i++) s += x[r * inF + i] * w[o * inF + i];
      y[r * outF + o] = s;
    }
  }
  return y;
}

/** Gradients of mean_rows(1 − cos(mlp(x), t)) w.r.t. the MLP's tensors, [w0, b0, w1, b1, w2, b2]. */
function mlpGradients(m: MlpWeights, x: Float64Array, t: Float64Array, rows: number): Float64Array[] {
  const L = m.layers;
  const ins: Float64Array[] = [x];
  const zs: Float64Array[] = [];
  let cur = x;
  for (let j = 0; j < 3; j++) {
    const z = linear64(cur, rows, L[j].weight, L[j].bias, L[j].inFeatures, L[j].outFeatures);
    zs.push(z);
    if (j < 2) {
      cur = z.map((v) => 0.5 * v * (1 + erf(v * Math.SQRT1_2)));
      ins.push(cur);
    } else cur = z;
  }
  const dim = L[2].outFeatures;
  // ∂/∂y of (1 − cos)/N = (cos·ŷ − t̂) / (N·‖y‖).
  let gz = new Float64Array(rows * dim);
  for (let r = 0; r < rows; r++) {
    let yy = 0;
    let tt = 0;
    let yt = 0;
    for (let d = 0; d < dim; d++) {
      yy += cur[r * dim + d] ** 2;
      tt += t[r * dim + d] ** 2;
      yt += cur[r * dim + d] * t[r * dim + d];
    }
    const ny = Math.max(Math.sqrt(yy), COS_EPS);
    const nt = Math.max(Math.sqrt(tt), COS_EPS);
    const cos = yt / (ny * nt);
    for (let d = 0; d < dim; d++) {
      gz[r * dim + d] = ((cos * cur[r * dim + d]) / ny - t[r * dim + d] / nt) / (rows * ny);
    }
  }
  const out: Float64Array[] = new Array<Float64Array>(6);
  for (let j = 2; j >= 0; j--) {
    const { inFeatures: inF, outFeatures: outF, weight } = L[j];
    const a = ins[j];
    const gw = new Float64Array(outF * inF);
    const gb = new Float64Array(outF);
    for (let r = 0; r < rows; r++) {
      for (let o = 0; o < outF; o++) {
        const g = gz[r * outF + o];
        gb[o] += g;
        for (let i = 0; i < inF; i++) gw[o * inF + i] += g * a[r * inF + i];
      }
    }
    out[2 * j] = gw;
    out[2 * j + 1] = gb;
    if (j === 0) break;
    const z = zs[j - 1];
    const gin = new Float64Array(rows * inF);
    for (let r = 0; r < rows; r++) {
      for (let i = 0; i < inF; i++) {
        let s = 0;
        for (let o = 0; o < outF; o++) s += gz[r * outF + o] * weight[o * inF + i];
        const v = z[r * inF + i];
        gin[r * inF + i] =
          s * (0.5 * (1 + erf(v * Math.SQRT1_2)) + v * Math.exp(-0.5 * v * v) * INV_SQRT_2PI);
      }
    }
    gz = gin;
  }
  return out;
}

/** Analytic gradients of the teach-in loss, in paramSpecs order (12 tensors). */
export function referenceTrainGradients(
  s: StudentWeights,
  fa: Float64Array,
  fb: Float64Array,
  rows: number,
): Float64Array[] {
  return [...mlpGradients(s.forward, fa, fb, rows), ...mlpGradients(s.backward, fb, fa, rows)];
}

export interface ReferenceAdamState {
  /** Steps taken so far. */
  step: number;
  params: Float64Array[];
  m: Float64Array[];
  v: Float64Array[];
}

/** One torch.optim.Adam step in float64 on every tensor; returns the new state (inputs untouched). */
export function referenceAdamStep(
  st: ReferenceAdamState,
  grads: Float64Array[],
  lr: number,
  hyper: AdamHyper = ADAM_DEFAULTS,
): ReferenceAdamState {
  const t = st.step + 1;
  const stepSize = lr / (1 - hyper.beta1 ** t);
  const bc2Sqrt = Math.sqrt(1 - hyper.beta2 ** t);
  const params: Float64Array[] = [];
  const m: Float64Array[] = [];
  const v: Float64Array[] = [];
  st.params.forEach((p, k) => {
    const g = grads[k];
    const mk = new Float64Array(p.length);
    const vk = new Float64Array(p.length);
    const pk = new Float64Array(p.length);
    for (let i = 0; i < p.length; i++) {
      mk[i] = hyper.beta1 * st.m[k][i] + (1 - hyper.beta1) * g[i];
      vk[i] = hyper.beta2 * st.v[k][i] + (1 - hyper.beta2) * g[i] * g[i];
      pk[i] = p[i] - (stepSize * mk[i]) / (Math.sqrt(vk[i]) / bc2Sqrt + hyper.eps);
    }
    params.push(pk);
    m.push(mk);
    v.push(vk);
  });
  return { step: t, params, m, v };
}

/** A fresh float64 Adam state (zero moments) for the students. */
export function referenceAdamInit(s: StudentWeights): ReferenceAdamState {
  const params = studentParams(s).map((p) => Float64Array.from(p));
  return {
    step: 0,
    params,
    m: params.map((p) => new Float64Array(p.length)),
    v: params.map((p) => new Float64Array(p.length)),
  };
}
