// Canonical in-memory shapes of the model's weights, independent of the file layout they came from.
// Matrices are row-major Float32Arrays; shapes follow PyTorch (a Linear weight is [out, in]).

export interface TeacherArch {
  /** Number of transformer blocks. */
  depth: number;
  /** Token width D. */
  dim: number;
  heads: number;
  /** Register tokens (4 for dinov2_vitb14_reg). */
  registers: number;
  /** Patch side in pixels (14). */
  patch: number;
  /** MLP hidden width (4·D for DINOv2). */
  mlpHidden: number;
  /** Side of the learned position-embedding grid (37 for 518 px). */
  posGrid: number;
  /** LayerNorm epsilon (1e-6). */
  lnEps: number;
}

export interface LinearWeights {
  /** [out, in] row-major. */
  weight: Float32Array;
  /** [out]. */
  bias: Float32Array;
  inFeatures: number;
  outFeatures: number;
}

export interface BlockWeights {
  norm1: { weight: Float32Array; bias: Float32Array };
  /** Fused q, k, v projection: [3D, D] weight (rows q then k then v), [3D] bias. */
  qkv: LinearWeights;
  proj: LinearWeights;
  /** LayerScale γ₁ [D]. */
  ls1: Float32Array;
  norm2: { weight: Float32Array; bias: Float32Array };
  fc1: LinearWeights;
  fc2: LinearWeights;
  /** LayerScale γ₂ [D]. */
  ls2: Float32Array;
}

export interface TeacherWeights {
  arch: TeacherArch;
  /** [D]. */
  clsToken: Float32Array;
  /** [R, D]. */
  registerTokens: Float32Array;
  /** [1 + posGrid², D]: cls first, then the grid row-major. */
  posEmbed: Float32Array;
  /** Patch embedding conv: [D, 3, patch, patch] weight, [D] bias. */
  patchWeight: Float32Array;
  patchBias: Float32Array;
  blocks: BlockWeights[];
  /** Final LayerNorm, applied to every feature layer used. */
  norm: { weight: Float32Array; bias: Float32Array };
}

/** One student: Linear → GELU → Linear → GELU → Linear. */
export interface MlpWeights {
  layers: [LinearWeights, LinearWeights, LinearWeights];
}

export interface StudentWeights {
  /** Maps layer-8 tokens to layer 12. */
  forward: MlpWeights;
  /** Maps layer-12 tokens back to layer 8. */
  backward: MlpWeights;
}

/** ImageNet normalisation used by DINOv2. */
export const IMAGENET_MEAN = [0.485, 0.456, 0.406] as const;
export const IMAGENET_STD = [0.229, 0.224, 0.225] as const;
