// The DINOv2-with-registers teacher as an ONNX subgraph: uint8 RGB pixels in, final-LayerNorm patch
// features of the requested blocks out. Everything from the uint8 frame on runs inside the graph, so a
// caller only letterboxes and copies bytes; on WebGPU (no uint8 Cast) the host normalises instead and the
// graph starts at the float values (pixel-input.ts).
import { IMAGENET_MEAN, IMAGENET_STD, type LinearWeights, type TeacherWeights } from './types.js';
import type { PixelInput } from './pixel-input.js';
import { MS_DOMAIN, onnxType, type GraphBuilder } from './onnx/builder.js';
import { gelu, layerNorm, linear } from './onnx/layers.js';

export interface TeacherGraphOptions {
  /** Input side S in pixels, a multiple of the patch size. */
  size: number;
  /** 1-based block indices whose outputs are returned (e.g. [8, 12]). */
  layers: number[];
  /** [1 + g², D] position embeddings already resized to this grid g = S / patch (row 0: cls). */
  posEmbed: Float32Array;
  /**
   * Name of an existing tensor [B, S, S, 3], RGB, already letterboxed: uint8 bytes, or with pixelInput
   * 'float32' the values already normalised as normalizePixels() does.
   */
  pixels: string;
  /** What `pixels` holds; default 'uint8'. */
  pixelInput?: PixelInput;
  /** onnxruntime's com.microsoft MultiHeadAttention instead of MatMul/Softmax/MatMul (GPU hosts). */
  fusedAttention?: boolean;
  /** float16 weights and activations (GPU hosts; CPU kernels are float32). Outputs stay float32. */
  fp16?: boolean;
  /** Initialiser name prefix. */
  prefix?: string;
}

/** Patch-grid side for an input side, checking that the patch divides it. */
export function patchGrid(size: number, patch: number): number {
  if (!Number.isInteger(size) || size <= 0 || size % patch !== 0) {
    throw new Error(`input size ${size} is not a positive multiple of the patch size ${patch}`);
  }
  return size / patch;
}

/**
 * uint8 RGB [..., 3] → float32 (v / 255 − mean) / std per channel, the first nodes of the uint8 graph.
 * normalizationTable() (pixel-input.ts) reproduces these steps for float input, and is tested against them.
 */
export function addNormalize(b: GraphBuilder, pixels: string): string {
  let x = b.op('Cast', [pixels], { to: onnxType('float32') });
  x = b.op('Mul', [x, b.constF32([1 / 255], [])]);
  x = b.op('Sub', [x, b.constF32(IMAGENET_MEAN, [3])]);
  return b.op('Div', [x, b.constF32(IMAGENET_STD, [3])]);
}

/**
 * Adds the teacher to `b` and returns, per requested layer, a float32 tensor [B, P, D]: that block's
 * output through the final LayerNorm, patch tokens only. Only the blocks up to max(layers) are built.
 */
export function addTeacher(b: GraphBuilder, w: TeacherWeights, opts: TeacherGraphOptions): string[] {
  const { dim: D, heads: H, registers: R, patch, depth, lnEps } = w.arch;
  const g = patchGrid(opts.size, patch);
  const P = g * g;
  const T = 1 + R + P;
  const pre = opts.prefix ?? 'teacher';
  const fp16 = opts.fp16 === true;
  const prec = { fp16 };
  if (D % H !== 0) throw new Error(`width ${D} is not divisible by ${H} heads`);
  if (opts.posEmbed.length !== (1 + P) * D) {
    throw new Error(`posEmbed has ${opts.posEmbed.length / D} rows, the ${g}×${g} grid needs ${1 + P}`);
  }
  if (opts.layers.length === 0) throw new Error('no teacher layers requested');
  for (const l of opts.layers) {
    if (!Number.isInteger(l) || l < 1 || l > depth) throw new Error(`layer ${l} is outside 1..${depth}`);
  }

  // Pixels → normalised NCHW. The scaling stays float32 so uint8 steps are represented exactly; float input
  // arrives already normalised by the host with the same float32 steps (pixel-input.ts).
  let x = (opts.pixelInput ?? 'uint8') === 'uint8' ? addNormalize(b, opts.pixels) : opts.pixels;
  if (fp16) x = b.op('Cast', [x], { to: onnxType('float16') });
  x = b.op('Transpose', [x], { perm: [0, 3, 1, 2] });

  // Patch embedding: a conv with stride = kernel = patch, then [B, D, g, g] → [B, P, D] + position.
  const convW = b.initializer(`${pre}.patch_embed.weight`, w.patchWeight, [D, 3, patch, patch], prec);
  const convB = b.initializer(`${pre}.patch_embed.bias`, w.patchBias, [D], prec);
  x = b.op('Conv', [x, convW, convB], { kernel_shape: [patch, patch], strides: [patch, patch] });
  x = b.op('Reshape', [x, b.constI64([0, D, P])]);
  x = b.op('Transpose', [x], { perm: [0, 2, 1] });
  x = b.op('Add', [x, b.initializer(`${pre}.pos_embed.patches`, opts.posEmbed.subarray(D), [P, D], prec)]);

  // [cls + pos₀, registers] is one constant (registers get no position embedding), broadcast over the batch.
  const head = new Float32Array((1 + R) * D);
  for (let i = 0; i < D; i++) head[i] = w.clsToken[i] + opts.posEmbed[i];
  head.set(w.registerTokens.subarray(0, R * D), D);
  const headT = b.initializer(`${pre}.cls_registers`, head, [1, 1 + R, D], prec);
  const batch = b.op('Shape', [x], { start: 0, end: 1 });
  const headShape = b.op('Concat', [batch, b.constI64([1, 1])], { axis: 0 });
  x = b.op('Concat', [b.op('Expand', [headT, headShape]), x], { axis: 1 });

  const wanted = new Set(opts.layers);
  const byLayer = new Map<number, string>();
  const last = Math.max(...opts.layers);
  for (let i = 0; i < last; i++) {
    const blk = w.blocks[i];
    const bp = `${pre}.blocks.${i}`;
    const h = layerNorm(b, x, blk.norm1.weight, blk.norm1.bias, lnEps, { ...prec, prefix: `${bp}.norm1` });
    const attn = opts.fusedAttention
      ? fusedAttention(b, h, blk.qkv, D, H, bp, fp16)
      : plainAttention(b, h, blk.qkv, D, H, T, bp, fp16);
    // LayerScale folded into the projection: γ⊙(Wx + b) = (γ⊙W)x + γ⊙b, one elementwise pass fewer.
    x = b.op('Add', [x, linear(b, attn, scaleRows(blk.proj, blk.ls1), `${bp}.attn.proj`, prec)]);
    const h2 = layerNorm(b, x, blk.norm2.weight, blk.norm2.bias, lnEps, { ...prec, prefix: `${bp}.norm2` });
    const m = gelu(b, linear(b, h2, blk.fc1, `${bp}.mlp.fc1`, prec), prec);
    x = b.op('Add', [x, linear(b, m, scaleRows(blk.fc2, blk.ls2), `${bp}.mlp.fc2`, prec)]);
    if (wanted.has(i + 1)) {
      // LayerNorm is per token, so dropping cls and registers first is the same and cheaper.
      const patches = b.op('Slice', [x, b.constI64([1 + R]), b.constI64([T]), b.constI64([1])]);
      let f = layerNorm(b, patches, w.norm.weight, w.norm.bias, lnEps, {
        ...prec,
        prefix: `${pre}.norm.l${i + 1}`,
      });
      if (fp16) f = b.op('Cast', [f], { to: onnxType('float32') });
      byLayer.set(i + 1, f);
    }
  }
  return opts.layers.map((l) => byLayer.get(l) as string);
}

/** Multi-head self-attention with MatMul/Softmax/MatMul; x [B, T, D] → [B, T, D] (before the projection). */
function plainAttention(
  b: GraphBuilder,
  x: string,
  qkv: LinearWeights,
  D: number,
  H: number,
  T: number,
  bp: string,
  fp16: boolean,
): string {
  const hd = D / H;
  const [wq, wk, wv] = splitQkv(qkv, D);
  const heads = b.constI64([0, T, H, hd]);
  // 1/√hd folded into the query weights: scaling [B, T, D] instead of the [B, H, T, T] scores.
  const q = b.op('Reshape', [
    linear(b, x, scaleRows(wq, 1 / Math.sqrt(hd)), `${bp}.attn.q`, { fp16 }),
    heads,
  ]);
  const k = b.op('Reshape', [linear(b, x, wk, `${bp}.attn.k`, { fp16 }), heads]);
  const v = b.op('Reshape', [linear(b, x, wv, `${bp}.attn.v`, { fp16 }), heads]);
  const qh = b.op('Transpose', [q], { perm: [0, 2, 1, 3] }); // [B, H, T, hd]
  const kt = b.op('Transpose', [k], { perm: [0, 2, 3, 1] }); // [B, H, hd, T]
  const vh = b.op('Transpose', [v], { perm: [0, 2, 1, 3] }); // [B, H, T, hd]
  const p = b.op('Softmax', [b.op('MatMul', [qh, kt])], { axis: -1 });
  const o = b.op('Transpose', [b.op('MatMul', [p, vh])], { perm: [0, 2, 1, 3] }); // [B, T, H, hd]
  return b.op('Reshape', [o, b.constI64([0, T, D])]);
}

/** The same attention as onnxruntime's contrib MultiHeadAttention (flash / memory-efficient kernels on CUDA). */
function fusedAttention(
  b: GraphBuilder,
  x: string,
  qkv: LinearWeights,
  D: number,
  H: number,
  bp: string,
  fp16: boolean,
): string {
  const [wq, wk, wv] = splitQkv(qkv, D);
  const q = linear(b, x, wq, `${bp}.attn.q`, { fp16 });
  const k = linear(b, x, wk, `${bp}.attn.k`, { fp16 });
  const v = linear(b, x, wv, `${bp}.attn.v`, { fp16 });
  // The default scale is 1/√head_dim, as in DINOv2.
  return b.op('MultiHeadAttention', [q, k, v], { num_heads: H }, { domain: MS_DOMAIN });
}

/** Views of the q, k and v rows of the fused [3D, D] projection (no copies). */
function splitQkv(qkv: LinearWeights, D: number): [LinearWeights, LinearWeights, LinearWeights] {
  const part = (j: number): LinearWeights => ({
    weight: qkv.weight.subarray(j * D * D, (j + 1) * D * D),
    bias: qkv.bias.subarray(j * D, (j + 1) * D),
    inFeatures: D,
    outFeatures: D,
  });
  return [part(0), part(1), part(2)];
}

/** Output rows (and bias) scaled by a per-row vector or one scalar; the product is formed in float64. */
function scaleRows(w: LinearWeights, s: Float32Array | number): LinearWeights {
  const weight = new Float32Array(w.weight.length);
  const bias = new Float32Array(w.bias.length);
  for (let o = 0; o < w.outFeatures; o++) {
    const k = typeof s === 'number' ? s : s[o];
    bias[o] = w.bias[o] * k;
    const r = o * w.inFeatures;
    for (let i = 0; i < w.inFeatures; i++) weight[r + i] = w.weight[r + i] * k;
  }
  return { ...w, weight, bias };
}
