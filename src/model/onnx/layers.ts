// Neural-network layers as ONNX subgraphs, on top of GraphBuilder.
import type { LinearWeights } from '../types.js';
import { float, type GraphBuilder } from './builder.js';

export interface PrecisionOptions {
  /** Weights and constants as float16 (the activations flowing in must be float16 too). */
  fp16?: boolean;
}

/** y = x·Wᵀ + b over the last axis. The weight is stored pre-transposed, [in, out], so MatMul needs no Transpose. */
export function linear(
  b: GraphBuilder,
  x: string,
  w: LinearWeights,
  prefix: string,
  opts: PrecisionOptions = {},
): string {
  const wt = b.initializer(
    `${prefix}.weight_t`,
    transpose(w.weight, w.outFeatures, w.inFeatures),
    [w.inFeatures, w.outFeatures],
    opts,
  );
  const bias = b.initializer(`${prefix}.bias`, w.bias, [w.outFeatures], opts);
  return b.op(
    'Add',
    [b.op('MatMul', [x, wt], {}, { name: `${prefix}.matmul` }), bias],
    {},
    { name: `${prefix}.add` },
  );
}

/** LayerNormalization (opset 17) over the last axis; statistics are computed in float32 even for float16 input. */
export function layerNorm(
  b: GraphBuilder,
  x: string,
  weight: Float32Array,
  bias: Float32Array,
  eps: number,
  opts: PrecisionOptions & { prefix?: string } = {},
): string {
  const prefix = opts.prefix ?? b.unique('ln');
  const g = b.initializer(`${prefix}.weight`, weight, [weight.length], opts);
  const beta = b.initializer(`${prefix}.bias`, bias, [bias.length], opts);
  return b.op(
    'LayerNormalization',
    [x, g, beta],
    { axis: -1, epsilon: float(eps), stash_type: 1 },
    { name: prefix },
  );
}

/**
 * Exact GELU, x·½(1 + erf(x/√2)), written as (x · (1 + Erf(x / √2))) · 0.5: onnxruntime fuses exactly this
 * Div→Erf→Add→Mul→Mul chain into one Gelu kernel (about 1.9× faster); a Mul by 1/√2 is not matched.
 */
export function gelu(b: GraphBuilder, x: string, opts: PrecisionOptions = {}): string {
  const c = (v: number): string => b.constF32([v], [], opts);
  const erf = b.op('Erf', [b.op('Div', [x, c(Math.SQRT2)])]);
  return b.op('Mul', [b.op('Mul', [x, b.op('Add', [erf, c(1)])]), c(0.5)]);
}

/** Row-major [rows, cols] → [cols, rows]. */
export function transpose(m: Float32Array, rows: number, cols: number): Float32Array {
  if (m.length !== rows * cols) throw new Error(`transpose: ${m.length} values for [${rows}, ${cols}]`);
  const out = new Float32Array(m.length);
  for (let r = 0; r < rows; r++) {
    const src = r * cols;
    for (let c = 0; c < cols; c++) out[c * rows + r] = m[src + c];
  }
  return out;
}
