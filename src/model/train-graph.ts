// One teach-in optimisation step as a single ONNX graph (method.md, "Training"): both students forward,
// the cosine loss, the analytic backward pass and Adam, so training needs nothing but onnxruntime.
//
// Inputs:  fa, fb [N, D] teacher rows of the two layers (N dynamic); params, m, v [T]: all 12 student
//          tensors and their Adam moments, each flat and concatenated in paramSpecs order (students.safetensors
//          names, weight before bias); scalars step_size = lr / (1 − β1ᵗ) and bc2_sqrt = √(1 − β2ᵗ) (bias
//          corrections, computed in float64 on the host).
// Outputs: loss (scalar), loss_forward, loss_backward, new_params, new_m, new_v [T]; with `gradients`, grad [T].
//
// Flat parameters make Adam 13 element-wise ops over one vector instead of 13 per tensor (156 small
// kernels), and let the caller keep three buffers per state whose per-tensor views cost nothing.
//
// Loss = mean_rows(1 − cos(fwd(fa), fb)) + mean_rows(1 − cos(bwd(fb), fa)); cos as torch's
// F.cosine_similarity (each norm clamped at 1e-8). Weights keep the PyTorch [out, in] layout, so the
// moments line up with a torch.optim.Adam state dict and Gemm(transB) needs no transposes.
import type { StudentWeights } from './types.js';
import { float, GraphBuilder } from './onnx/builder.js';

/** torch.optim.Adam defaults, which the method uses. */
export interface AdamHyper {
  beta1: number;
  beta2: number;
  eps: number;
}
export const ADAM_DEFAULTS: AdamHyper = { beta1: 0.9, beta2: 0.999, eps: 1e-8 };

/** torch's cosine_similarity clamps each norm at this. */
export const COS_EPS = 1e-8;

export const STUDENT_NAMES = ['forward', 'backward'] as const;
const LINEAR_INDICES = [0, 2, 4] as const;

export interface ParamSpec {
  /** students.safetensors name, e.g. 'forward.2.bias'. */
  name: string;
  dims: number[];
  size: number;
  /** Start in the flat parameter vector. */
  offset: number;
}

/** The 12 student tensors in a fixed order (student, layer, weight before bias), with shapes and offsets. */
export function paramSpecs(dim: number, hidden = dim): ParamSpec[] {
  const shapes: [number, number][] = [
    [hidden, dim],
    [hidden, hidden],
    [dim, hidden],
  ];
  const out: ParamSpec[] = [];
  let offset = 0;
  for (const s of STUDENT_NAMES) {
    LINEAR_INDICES.forEach((li, j) => {
      const [o, i] = shapes[j];
      out.push({ name: `${s}.${li}.weight`, dims: [o, i], size: o * i, offset });
      offset += o * i;
      out.push({ name: `${s}.${li}.bias`, dims: [o], size: o, offset });
      offset += o;
    });
  }
  return out;
}

/** Length T of the flat parameter vector. */
export function paramCount(dim: number, hidden = dim): number {
  const last = paramSpecs(dim, hidden).at(-1)!;
  return last.offset + last.size;
}

/** The students as one new flat vector (paramSpecs order). */
export function flattenStudents(s: StudentWeights): Float32Array {
  return joinFlat(studentParams(s));
}

/** Per-tensor arrays (paramSpecs order) → one new flat vector; the inverse of splitFlat. */
export function joinFlat(parts: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Per-tensor views of a flat vector (weights, or moments laid out like them), paramSpecs order. */
export function splitFlat(flat: Float32Array, dim: number, hidden = dim): Float32Array[] {
  const specs = paramSpecs(dim, hidden);
  const total = specs.at(-1)!.offset + specs.at(-1)!.size;
  if (flat.length !== total) throw new Error(`flat parameters: ${flat.length} values, expected ${total}`);
  return specs.map((sp) => flat.subarray(sp.offset, sp.offset + sp.size));
}

/** The student tensors in paramSpecs order (views, not copies). */
export function studentParams(s: StudentWeights): Float32Array[] {
  return STUDENT_NAMES.flatMap((w) => s[w].layers.flatMap((l) => [l.weight, l.bias]));
}

/** Students over the given tensors (paramSpecs order; views, not copies). */
export function paramsToStudents(params: Float32Array[], dim: number, hidden = dim): StudentWeights {
  const specs = paramSpecs(dim, hidden);
  if (params.length !== specs.length)
    throw new Error(`expected ${specs.length} tensors, got ${params.length}`);
  specs.forEach((sp, i) => {
    if (params[i].length !== sp.size)
      throw new Error(`${sp.name}: ${params[i].length} values, expected ${sp.size}`);
  });
  const mlp = (base: number): StudentWeights['forward'] => {
    const l = (j: number, inF: number, outF: number): StudentWeights['forward']['layers'][0] => ({
      weight: params[base + 2 * j],
      bias: params[base + 2 * j + 1],
      inFeatures: inF,
      outFeatures: outF,
    });
    return { layers: [l(0, dim, hidden), l(1, hidden, hidden), l(2, hidden, dim)] };
  };
  return { forward: mlp(0), backward: mlp(6) };
}

export interface TrainGraphOptions {
  /** Token width D (768 for ViT-B). */
  dim: number;
  /** Student hidden width; D by default ((in + out) / 2). */
  hidden?: number;
  adam?: Partial<AdamHyper>;
  /** Also output the raw gradient vector 'grad' [T] (tests, diagnostics). */
  gradients?: boolean;
}

interface Layer {
  w: string;
  b: string;
  /** students.safetensors stem, e.g. 'forward.2' (gradient keys). */
  name: string;
  inF: number;
  outF: number;
}

/** Builds the training-step graph (see the header for its inputs and outputs). */
export function buildTrainGraph(opts: TrainGraphOptions): Uint8Array {
  const D = opts.dim;
  const Hd = opts.hidden ?? D;
  const adam = { ...ADAM_DEFAULTS, ...opts.adam };
  const specs = paramSpecs(D, Hd);
  const T = paramCount(D, Hd);
  const b = new GraphBuilder({ graphName: 'pinpoint-train-step' });
  const fa = b.input('fa', 'float32', ['rows', D]);
  const fb = b.input('fb', 'float32', ['rows', D]);
  const params = b.input('params', 'float32', [T]);
  b.input('m', 'float32', [T]);
  b.input('v', 'float32', [T]);
  const stepSize = b.input('step_size', 'float32', []);
  const bc2Sqrt = b.input('bc2_sqrt', 'float32', []);
  // Each tensor is a Slice of the flat vector, reshaped (Slice copies: 4·T bytes a step, small next to the
  // activations).
  const tensor = new Map<string, string>();
  for (const sp of specs) {
    const flat = b.op('Slice', [params, b.constI64([sp.offset]), b.constI64([sp.offset + sp.size])]);
    tensor.set(sp.name, sp.dims.length === 1 ? flat : b.op('Reshape', [flat, b.constI64(sp.dims)]));
  }
  const layersOf = (s: string): Layer[] =>
    LINEAR_INDICES.map((li, j) => ({
      w: tensor.get(`${s}.${li}.weight`)!,
      b: tensor.get(`${s}.${li}.bias`)!,
      name: `${s}.${li}`,
      inF: j === 0 ? D : Hd,
      outF: j === 2 ? D : Hd,
    }));

  // 1/N as a float scalar, so the mean's gradient follows the dynamic batch.
  const n = b.op('Cast', [b.op('Gather', [b.op('Shape', [fa]), b.constI64([0], [])], { axis: 0 })], {
    to: 1,
  });
  const invN = b.op('Reciprocal', [n]);

  const grads = new Map<string, string>();
  const losses: string[] = [];
  for (const [s, x, t] of [
    ['forward', fa, fb],
    ['backward', fb, fa],
  ] as const) {
    const layers = layersOf(s);
    const { y, acts } = mlpForward(b, layers, x);
    const { loss, gy } = cosineLoss(b, y, t, invN);
    losses.push(b.op('Identity', [loss], {}, { outputNames: [`loss_${s}`] }));
    mlpBackward(b, layers, x, acts, gy, grads);
  }
  b.op('Add', losses, {}, { outputNames: ['loss'] });
  b.output('loss', 'float32', []);
  b.output('loss_forward', 'float32', []);
  b.output('loss_backward', 'float32', []);

  const flatGrads = specs.map((sp) => {
    const g = grads.get(sp.name)!;
    return sp.dims.length === 1 ? g : b.op('Reshape', [g, b.constI64([sp.size])]);
  });
  const g = b.op('Concat', flatGrads, { axis: 0 }, { outputNames: opts.gradients ? ['grad'] : undefined });
  if (opts.gradients) b.output('grad', 'float32', [T]);

  // torch.optim.Adam (single-tensor path): m ← β1·m + (1−β1)·g; v ← β2·v + (1−β2)·g²;
  // p ← p − step_size · m / (√v / √(1−β2ᵗ) + ε).
  const c = (v: number): string => b.constF32([v], []);
  const m = b.op(
    'Add',
    [b.op('Mul', ['m', c(adam.beta1)]), b.op('Mul', [g, c(1 - adam.beta1)])],
    {},
    {
      outputNames: ['new_m'],
    },
  );
  const g2 = b.op('Mul', [g, g]);
  const v = b.op(
    'Add',
    [b.op('Mul', ['v', c(adam.beta2)]), b.op('Mul', [g2, c(1 - adam.beta2)])],
    {},
    {
      outputNames: ['new_v'],
    },
  );
  const denom = b.op('Add', [b.op('Div', [b.op('Sqrt', [v]), bc2Sqrt]), c(adam.eps)]);
  b.op(
    'Sub',
    [params, b.op('Mul', [b.op('Div', [m, denom]), stepSize])],
    {},
    { outputNames: ['new_params'] },
  );
  for (const name of ['new_params', 'new_m', 'new_v']) b.output(name, 'float32', [T]);
  return b.build();
}

interface Activations {
  /** Per hidden layer: u = z/√2, Φ(z) and the GELU output h = z·Φ(z). */
  u: [string, string];
  phi: [string, string];
  h: [string, string];
}

/**
 * Linear → GELU → Linear → GELU → Linear, with the exact GELU written as h = z·Φ(z), Φ(z) = ½ + ½·erf(z/√2),
 * so the backward pass reuses u = z/√2 and Φ instead of recomputing erf: GELU′(z) = Φ(z) + z·φ(z) =
 * Φ(z) + u·e^(−u²)/√π. (onnxruntime's fused Gelu kernel cannot hand Φ over; 12 element-wise passes over each
 * [N, H] activation in all, against 16 with the fused forward and a recomputed Φ.)
 */
function mlpForward(b: GraphBuilder, layers: Layer[], x: string): { y: string; acts: Activations } {
  const c = (v: number): string => b.constF32([v], []);
  const u: string[] = [];
  const phi: string[] = [];
  const h: string[] = [];
  let cur = x;
  for (let j = 0; j < 2; j++) {
    const l = layers[j];
    const z = b.op('Gemm', [cur, l.w, l.b], { transB: 1 });
    u.push(b.op('Mul', [z, c(Math.SQRT1_2)]));
    phi.push(b.op('Add', [b.op('Mul', [b.op('Erf', [u[j]]), c(0.5)]), c(0.5)]));
    h.push(b.op('Mul', [z, phi[j]]));
    cur = h[j];
  }
  const y = b.op('Gemm', [cur, layers[2].w, layers[2].b], { transB: 1 });
  return { y, acts: { u: [u[0], u[1]], phi: [phi[0], phi[1]], h: [h[0], h[1]] } };
}

/** gh ⊙ GELU′(z), GELU′(z) = Φ + u·e^(−u²)/√π (see mlpForward). */
function geluBackward(b: GraphBuilder, u: string, phi: string, gh: string): string {
  const c = (v: number): string => b.constF32([v], []);
  const gauss = b.op('Exp', [b.op('Neg', [b.op('Mul', [u, u])])]); // e^(−u²)
  const d = b.op('Add', [phi, b.op('Mul', [b.op('Mul', [u, gauss]), c(1 / Math.sqrt(Math.PI))])]);
  return b.op('Mul', [gh, d]);
}

/**
 * loss = mean_rows(1 − cos(y, t)); ∂loss/∂y = (cos·ŷ − t̂) / (N·max(‖y‖, ε)) with ŷ = y/max(‖y‖, ε),
 * t̂ = t/max(‖t‖, ε) (the target is a teacher feature: no gradient flows into it).
 */
function cosineLoss(b: GraphBuilder, y: string, t: string, invN: string): { loss: string; gy: string } {
  const eps = b.constF32([COS_EPS], []);
  const ny = b.op('Max', [b.op('ReduceL2', [y], { axes: [-1], keepdims: 1 }), eps]);
  const nt = b.op('Max', [b.op('ReduceL2', [t], { axes: [-1], keepdims: 1 }), eps]);
  const yh = b.op('Div', [y, ny]);
  const th = b.op('Div', [t, nt]);
  const cos = b.op('ReduceSum', [b.op('Mul', [yh, th]), b.constI64([-1])], { keepdims: 1 }); // [N, 1]
  const loss = b.op('Sub', [b.constF32([1], []), b.op('ReduceMean', [cos], { axes: [0, 1], keepdims: 0 })]);
  const scale = b.op('Div', [invN, ny]); // [N, 1]
  const gy = b.op('Mul', [b.op('Sub', [b.op('Mul', [yh, cos]), th]), scale]);
  return { loss, gy };
}

/** Linear layers backward: dW = gzᵀ·x_in, db = Σ_rows gz, g_in = gz·W; GELU backward in between. */
function mlpBackward(
  b: GraphBuilder,
  layers: Layer[],
  x: string,
  acts: Activations,
  gy: string,
  grads: Map<string, string>,
): void {
  const inputs = [x, acts.h[0], acts.h[1]];
  const rows0 = b.constI64([0]);
  let gz = gy;
  for (let j = 2; j >= 0; j--) {
    const l = layers[j];
    grads.set(`${l.name}.weight`, b.op('Gemm', [gz, inputs[j]], { transA: 1, alpha: float(1) }));
    grads.set(`${l.name}.bias`, b.op('ReduceSum', [gz, rows0], { keepdims: 0 }));
    if (j === 0) break;
    const gh = b.op('MatMul', [gz, l.w]);
    gz = geluBackward(b, acts.u[j - 1], acts.phi[j - 1], gh);
  }
}
