// A seeded random teacher in the Hugging Face Dinov2WithRegisters layout, for tests and the demo.
// It is NOT a real backbone: it only exercises the exact graph a real DINOv2 uses, at any size.
//
// The initialisation is chosen so the random network still yields spatially local, O(1)-scale
// features (teach-in on synthetic textured parts must work with it):
//   - patch conv ~ N(0, 1/(3·p·p)) (std 1/√fan_in), so each token starts as a random projection of
//     its own normalised 14×14 patch — a local texture descriptor of unit scale;
//   - LayerNorm γ = 1 + 0.1·N, β = 0.02·N; q/k/v/proj/fc1/fc2 ~ N(0, 1/in), biases 0.02·N;
//   - LayerScale γ ~ U(0.1, 0.3): every block changes the tokens noticeably (DINOv2's 1e-5 init
//     would make each block an identity) while the residual path keeps each token dominated by
//     its own patch, so the features stay local;
//   - position embeddings, cls and register tokens 0.02·N, as in ViT initialisation;
//   - `patchGain` (default 1) multiplies the patch conv: at 10 a token's own patch outweighs what the blocks
//     add (LayerScale·O(1) per block) ten times more, so the features between the two feature layers change
//     little and smoothly from good patch to good patch and the students learn the good parts closely, while
//     a defect's patch moves the token itself. Measured on the tiling acceptance (docs/pipeline.md, "Tiling"):
//     after 12 epochs gain 10 finds 9 of 12 defects ≥ 12 px tiled where gain 1 finds 4 (gain 3: 8).
//   - `patchFilters` (default 'random'): 'bank' replaces the random patch filters by a fixed bank shaped like a
//     trained first layer (colour-opponent and oriented-grating filters, the mean brightness weighed down:
//     patch-filter-bank.ts); every other weight stays the random teacher's of the same seed. The tiling
//     acceptance uses it at gain 30: 11 of 12 defects ≥ 12 px where random filters find 9 (docs/pipeline.md).
import type { BlockWeights, LinearWeights, TeacherWeights } from './types.js';
import type { TensorData } from './safetensors.js';
import { writeSafetensors } from './safetensors.js';
import { teacherToTensors } from './teacher-weights.js';
import { Rng } from '../util/random.js';
import { patchFilterBank } from './patch-filter-bank.js';

export interface DevTeacherOptions {
  depth?: number;
  dim?: number;
  heads?: number;
  registers?: number;
  patch?: number;
  posGrid?: number;
  mlpRatio?: number;
  seed?: number;
  /** Scale of the patch embedding against the blocks' updates (1; see the header). */
  patchGain?: number;
  /** Patch embedding filters: 'random' (default) or the fixed 'bank' of patch-filter-bank.ts. */
  patchFilters?: PatchFilters;
}

export type PatchFilters = 'random' | 'bank';
const PATCH_FILTERS: readonly PatchFilters[] = ['random', 'bank'];

function normal(rng: Rng, n: number, std: number, mean = 0): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = mean + std * rng.normal();
  return a;
}

function linear(rng: Rng, inF: number, outF: number): LinearWeights {
  return {
    weight: normal(rng, outF * inF, 1 / Math.sqrt(inF)),
    bias: normal(rng, outF, 0.02),
    inFeatures: inF,
    outFeatures: outF,
  };
}

function layerNorm(rng: Rng, dim: number): { weight: Float32Array; bias: Float32Array } {
  return { weight: normal(rng, dim, 0.1, 1), bias: normal(rng, dim, 0.02) };
}

function layerScale(rng: Rng, dim: number): Float32Array {
  const g = new Float32Array(dim);
  for (let i = 0; i < dim; i++) g[i] = rng.uniform(0.1, 0.3);
  return g;
}

/** The dev teacher as canonical weights (what makeDevTeacher serialises). */
export function makeDevTeacherWeights(opts: DevTeacherOptions = {}): TeacherWeights {
  const depth = opts.depth ?? 12;
  const dim = opts.dim ?? 64;
  const heads = opts.heads ?? 4;
  const registers = opts.registers ?? 4;
  const patch = opts.patch ?? 14;
  const posGrid = opts.posGrid ?? 37;
  const mlpHidden = Math.round(dim * (opts.mlpRatio ?? 4));
  for (const [k, v] of Object.entries({ depth, dim, heads, patch, posGrid, mlpHidden })) {
    if (!Number.isInteger(v) || v < 1)
      throw new Error(`dev teacher: ${k} must be a positive integer, got ${v}`);
  }
  if (!Number.isInteger(registers) || registers < 0) throw new Error(`dev teacher: registers must be ≥ 0`);
  const patchGain = opts.patchGain ?? 1;
  if (!(Number.isFinite(patchGain) && patchGain > 0))
    throw new Error(`dev teacher: patchGain must be a positive number, got ${patchGain}`);
  if (dim % heads !== 0) throw new Error(`dev teacher: heads ${heads} must divide dim ${dim}`);
  const patchFilters = opts.patchFilters ?? 'random';
  if (!PATCH_FILTERS.includes(patchFilters))
    throw new Error(
      `dev teacher: patchFilters must be one of ${PATCH_FILTERS.join(', ')}, got ${String(patchFilters)}`,
    );
  if (patchFilters === 'bank' && dim > 3 * patch * patch)
    throw new Error(
      `dev teacher: patchFilters 'bank' needs dim ≤ 3·patch² = ${3 * patch * patch}, got ${dim}`,
    );
  const rng = new Rng(opts.seed ?? 0);
  // The random filters are drawn either way, so a bank teacher's other weights are the random one's.
  const randomFilters = normal(rng, dim * 3 * patch * patch, patchGain / Math.sqrt(3 * patch * patch));
  const patchWeight = patchFilters === 'bank' ? patchFilterBank(dim, patch, patchGain) : randomFilters;
  const patchBias = normal(rng, dim, 0.02);
  const clsToken = normal(rng, dim, 0.02);
  const registerTokens = normal(rng, registers * dim, 0.02);
  const posEmbed = normal(rng, (1 + posGrid * posGrid) * dim, 0.02);
  const blocks: BlockWeights[] = [];
  for (let i = 0; i < depth; i++) {
    blocks.push({
      norm1: layerNorm(rng, dim),
      qkv: linear(rng, dim, 3 * dim),
      proj: linear(rng, dim, dim),
      ls1: layerScale(rng, dim),
      norm2: layerNorm(rng, dim),
      fc1: linear(rng, dim, mlpHidden),
      fc2: linear(rng, mlpHidden, dim),
      ls2: layerScale(rng, dim),
    });
  }
  return {
    arch: { depth, dim, heads, registers, patch, mlpHidden, posGrid, lnEps: 1e-6 },
    clsToken,
    registerTokens,
    posEmbed,
    patchWeight,
    patchBias,
    blocks,
    norm: layerNorm(rng, dim),
  };
}

/** Dev teacher as a safetensors tensor map (HF layout) plus the metadata that marks it and gives heads. */
export function makeDevTeacher(opts: DevTeacherOptions = {}): {
  tensors: Map<string, TensorData>;
  metadata: Record<string, string>;
} {
  const w = makeDevTeacherWeights(opts);
  return {
    tensors: teacherToTensors(w, 'huggingface'),
    metadata: {
      'pinpoint.dev_teacher': 'true',
      'pinpoint.heads': String(w.arch.heads),
      'pinpoint.note': 'random weights, not a real backbone',
    },
  };
}

export function writeDevTeacher(path: string, opts: DevTeacherOptions = {}): void {
  const { tensors, metadata } = makeDevTeacher(opts);
  writeSafetensors(path, tensors, metadata);
}
