// Mapping between safetensors tensor maps and the canonical TeacherWeights. Two layouts exist in
// the wild: Hugging Face `Dinov2WithRegisters` (what users normally have) and the official
// facebookresearch/dinov2 checkpoint. The architecture is inferred from tensor shapes, and every
// missing or mis-shaped tensor is reported at once so a bad file is diagnosed in one go.
import type { BlockWeights, LinearWeights, TeacherArch, TeacherWeights } from './types.js';
import { readSafetensors } from './safetensors.js';
import type { TensorData } from './safetensors.js';

export type WeightLayout = 'huggingface' | 'official';

/** A weight file that cannot be mapped: the message lists every problem, one per line. */
export class WeightsError extends Error {
  constructor(
    what: string,
    readonly problems: string[],
  ) {
    super(
      `${what}: ${problems.length} problem${problems.length === 1 ? '' : 's'}:\n  - ${problems.join('\n  - ')}`,
    );
    this.name = 'WeightsError';
  }
}

const HF_ANCHOR = 'embeddings.patch_embeddings.projection.weight';
const OFFICIAL_ANCHOR = 'patch_embed.proj.weight';

/** Which layout a set of tensor names follows, and the prefix in front of every name (e.g. 'dinov2_with_registers.'). */
export function detectLayout(names: Iterable<string>): { layout: WeightLayout; prefix: string } {
  const all = [...names];
  const hf = all.filter((n) => n === HF_ANCHOR || n.endsWith('.' + HF_ANCHOR));
  const off = all.filter((n) => n === OFFICIAL_ANCHOR || n.endsWith('.' + OFFICIAL_ANCHOR));
  if (hf.length + off.length > 1) {
    throw new WeightsError('teacher weights', [
      `several patch embeddings found (${[...hf, ...off].join(', ')})`,
    ]);
  }
  if (hf.length === 1) return { layout: 'huggingface', prefix: hf[0].slice(0, -HF_ANCHOR.length) };
  if (off.length === 1) return { layout: 'official', prefix: off[0].slice(0, -OFFICIAL_ANCHOR.length) };
  const sample = all.slice(0, 8).join(', ') + (all.length > 8 ? ', …' : '');
  throw new WeightsError('teacher weights', [
    `not a DINOv2 checkpoint: expected '${HF_ANCHOR}' (Hugging Face Dinov2WithRegisters) or '${OFFICIAL_ANCHOR}' ` +
      `(official DINOv2); found ${all.length} tensors${all.length ? `: ${sample}` : ''}`,
  ]);
}

/** File names of the non-block tensors and of block i's tensors, per layout. */
interface Names {
  cls: string;
  pos: string;
  registers: string;
  mask: string;
  patchW: string;
  patchB: string;
  normW: string;
  normB: string;
  block(i: number): BlockNames;
}
interface BlockNames {
  norm1: string;
  /** HF: query/key/value separately; official: one fused qkv. */
  qkv: { q: string; k: string; v: string } | string;
  proj: string;
  ls1: string;
  norm2: string;
  fc1: string;
  fc2: string;
  ls2: string;
}

function hfNames(p: string): Names {
  return {
    cls: `${p}embeddings.cls_token`,
    pos: `${p}embeddings.position_embeddings`,
    registers: `${p}embeddings.register_tokens`,
    mask: `${p}embeddings.mask_token`,
    patchW: `${p}embeddings.patch_embeddings.projection.weight`,
    patchB: `${p}embeddings.patch_embeddings.projection.bias`,
    normW: `${p}layernorm.weight`,
    normB: `${p}layernorm.bias`,
    block(i) {
      const b = `${p}encoder.layer.${i}.`;
      return {
        norm1: `${b}norm1`,
        qkv: {
          q: `${b}attention.attention.query`,
          k: `${b}attention.attention.key`,
          v: `${b}attention.attention.value`,
        },
        proj: `${b}attention.output.dense`,
        ls1: `${b}layer_scale1.lambda1`,
        norm2: `${b}norm2`,
        fc1: `${b}mlp.fc1`,
        fc2: `${b}mlp.fc2`,
        ls2: `${b}layer_scale2.lambda1`,
      };
    },
  };
}

function officialNames(p: string, blockPrefix: (i: number) => string): Names {
  return {
    cls: `${p}cls_token`,
    pos: `${p}pos_embed`,
    registers: `${p}register_tokens`,
    mask: `${p}mask_token`,
    patchW: `${p}patch_embed.proj.weight`,
    patchB: `${p}patch_embed.proj.bias`,
    normW: `${p}norm.weight`,
    normB: `${p}norm.bias`,
    block(i) {
      const b = blockPrefix(i);
      return {
        norm1: `${b}norm1`,
        qkv: `${b}attn.qkv`,
        proj: `${b}attn.proj`,
        ls1: `${b}ls1.gamma`,
        norm2: `${b}norm2`,
        fc1: `${b}mlp.fc1`,
        fc2: `${b}mlp.fc2`,
        ls2: `${b}ls2.gamma`,
      };
    },
  };
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Block index → name prefix. Official chunked checkpoints name blocks `blocks.{chunk}.{i}.` (i global). */
function blockPrefixes(names: string[], layout: WeightLayout, prefix: string): Map<number, string> {
  const p = escapeRe(prefix);
  // The look-ahead for a letter tells `blocks.0.norm1` (block 0) from `blocks.0.3.norm1` (chunk 0, block 3).
  const re =
    layout === 'huggingface'
      ? new RegExp(`^${p}encoder\\.layer\\.(\\d+)\\.()`)
      : new RegExp(`^${p}blocks\\.(\\d+)\\.(?:(\\d+)\\.)?(?=[a-z_])`);
  const out = new Map<number, string>();
  for (const n of names) {
    const m = re.exec(n);
    if (m) out.set(Number(m[2] || m[1]), m[0]);
  }
  return out;
}

function fmt(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}

/** Shapes equal up to leading singleton dims ([1,1,D] ≡ [1,D] ≡ [D]), which exporters add or drop freely. */
function sameShape(a: readonly number[], b: readonly number[]): boolean {
  const strip = (s: readonly number[]) => {
    let k = 0;
    while (k < s.length - 1 && s[k] === 1) k++;
    return s.slice(k);
  };
  const x = strip(a);
  const y = strip(b);
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

/** Collects problems while taking tensors, so one error can list them all. */
class Taker {
  readonly problems: string[] = [];
  constructor(private readonly tensors: Map<string, TensorData>) {}

  /** The tensor's data when present with the expected shape; otherwise zeros (and a recorded problem). */
  take(name: string, shape: number[]): Float32Array {
    const t = this.tensors.get(name);
    const size = shape.reduce((a, b) => a * b, 1);
    if (!t) {
      this.problems.push(`${name}: missing (expected ${fmt(shape)})`);
    } else if (!sameShape(t.shape, shape)) {
      this.problems.push(`${name}: expected ${fmt(shape)}, got ${fmt(t.shape)}`);
    } else {
      return t.data;
    }
    return new Float32Array(Math.max(size, 0));
  }

  linear(name: string, out: number, inF: number): LinearWeights {
    return {
      weight: this.take(`${name}.weight`, [out, inF]),
      bias: this.take(`${name}.bias`, [out]),
      inFeatures: inF,
      outFeatures: out,
    };
  }

  norm(name: string, dim: number): { weight: Float32Array; bias: Float32Array } {
    return { weight: this.take(`${name}.weight`, [dim]), bias: this.take(`${name}.bias`, [dim]) };
  }
}

/**
 * Map a tensor map in either layout to canonical TeacherWeights, inferring the architecture from
 * shapes. heads defaults to dim/64 (true of every DINOv2 size); lnEps defaults to 1e-6.
 * Throws a WeightsError naming every missing and mis-shaped tensor.
 */
export function teacherFromTensors(
  tensors: Map<string, TensorData>,
  opts: { heads?: number; lnEps?: number } = {},
): { weights: TeacherWeights; layout: WeightLayout } {
  const { layout, prefix } = detectLayout(tensors.keys());
  const allNames = [...tensors.keys()];
  const prefixes = blockPrefixes(allNames, layout, prefix);
  const names =
    layout === 'huggingface'
      ? hfNames(prefix)
      : officialNames(prefix, (i) => prefixes.get(i) ?? `${prefix}blocks.${i}.`);

  // Architecture from shapes: the patch conv gives D and p; block 0's fc1 the MLP width; pos_embed the grid.
  const fatal: string[] = [];
  const patchT = tensors.get(names.patchW)!;
  const ps = patchT.shape;
  if (ps.length !== 4 || ps[1] !== 3 || ps[2] !== ps[3] || ps[0] < 1 || ps[2] < 1) {
    fatal.push(`${names.patchW}: expected [D,3,p,p], got ${fmt(ps)}`);
  }
  const dim = ps[0];
  const patch = ps[2];
  const depth = prefixes.size === 0 ? 0 : Math.max(...prefixes.keys()) + 1;
  if (depth === 0) fatal.push('no transformer blocks found');
  const posT = tensors.get(names.pos);
  let posGrid = 0;
  if (!posT) fatal.push(`${names.pos}: missing (expected [1,1+G²,${dim}])`);
  else {
    const n = posT.shape.length >= 2 ? posT.shape[posT.shape.length - 2] - 1 : -1;
    posGrid = Math.round(Math.sqrt(Math.max(n, 0)));
    if (posT.shape[posT.shape.length - 1] !== dim || n < 1 || posGrid * posGrid !== n) {
      fatal.push(`${names.pos}: expected [1,1+G²,${dim}] for a square grid G, got ${fmt(posT.shape)}`);
    }
  }
  const fc1Name = `${names.block(0).fc1}.weight`;
  const fc1T = tensors.get(fc1Name);
  const mlpHidden = fc1T && fc1T.shape.length === 2 ? fc1T.shape[0] : 4 * dim;
  const regT = tensors.get(names.registers);
  // Absent register tokens: a plain DINOv2 (no registers), which runs the same way with R = 0.
  const registers = regT && regT.shape.length >= 2 ? regT.shape[regT.shape.length - 2] : 0;
  const heads = opts.heads ?? dim / 64;
  if (!Number.isInteger(heads) || heads < 1 || dim % heads !== 0) {
    fatal.push(
      opts.heads === undefined
        ? `heads: width ${dim} is not a multiple of 64, so the head count cannot be inferred; pass it explicitly ` +
            `(dev teachers store it in the metadata key 'pinpoint.heads')`
        : `heads: ${opts.heads} does not divide the width ${dim}`,
    );
  }
  if (fatal.length > 0) throw new WeightsError('teacher weights', fatal);

  const arch: TeacherArch = {
    depth,
    dim,
    heads,
    registers,
    patch,
    mlpHidden,
    posGrid,
    lnEps: opts.lnEps ?? 1e-6,
  };
  const t = new Taker(tensors);
  const D = dim;
  const clsToken = t.take(names.cls, [1, 1, D]);
  const registerTokens = registers > 0 ? t.take(names.registers, [1, registers, D]) : new Float32Array(0);
  const posEmbed = t.take(names.pos, [1, 1 + posGrid * posGrid, D]);
  const patchWeight = patchT.data;
  const patchBias = t.take(names.patchB, [D]);
  const blocks: BlockWeights[] = [];
  for (let i = 0; i < depth; i++) {
    const n = names.block(i);
    let qkv: LinearWeights;
    if (typeof n.qkv === 'string') {
      qkv = t.linear(n.qkv, 3 * D, D);
    } else {
      const q = t.linear(n.qkv.q, D, D);
      const k = t.linear(n.qkv.k, D, D);
      const v = t.linear(n.qkv.v, D, D);
      const weight = new Float32Array(3 * D * D);
      const bias = new Float32Array(3 * D);
      [q, k, v].forEach((l, j) => {
        weight.set(l.weight, j * D * D);
        bias.set(l.bias, j * D);
      });
      qkv = { weight, bias, inFeatures: D, outFeatures: 3 * D };
    }
    blocks.push({
      norm1: t.norm(n.norm1, D),
      qkv,
      proj: t.linear(n.proj, D, D),
      ls1: t.take(n.ls1, [D]),
      norm2: t.norm(n.norm2, D),
      fc1: t.linear(n.fc1, mlpHidden, D),
      fc2: t.linear(n.fc2, D, mlpHidden),
      ls2: t.take(n.ls2, [D]),
    });
  }
  const norm = { weight: t.take(names.normW, [D]), bias: t.take(names.normB, [D]) };
  if (t.problems.length > 0) throw new WeightsError('teacher weights', t.problems);

  return {
    weights: { arch, clsToken, registerTokens, posEmbed, patchWeight, patchBias, blocks, norm },
    layout,
  };
}

/** Canonical weights → tensor map in the given layout (no prefix; F32), e.g. to write a dev teacher. */
export function teacherToTensors(w: TeacherWeights, layout: WeightLayout): Map<string, TensorData> {
  const { dim: D, registers: R, patch: p, posGrid: G, mlpHidden: H } = w.arch;
  const names = layout === 'huggingface' ? hfNames('') : officialNames('', (i) => `blocks.${i}.`);
  const out = new Map<string, TensorData>();
  const put = (name: string, shape: number[], data: Float32Array) => {
    const size = shape.reduce((a, b) => a * b, 1);
    if (data.length !== size)
      throw new Error(`teacherToTensors: ${name} has ${data.length} values, shape ${fmt(shape)}`);
    out.set(name, { dtype: 'F32', shape, data });
  };
  const putLinear = (name: string, l: LinearWeights) => {
    put(`${name}.weight`, [l.outFeatures, l.inFeatures], l.weight);
    put(`${name}.bias`, [l.outFeatures], l.bias);
  };
  const putNorm = (name: string, n: { weight: Float32Array; bias: Float32Array }) => {
    put(`${name}.weight`, [D], n.weight);
    put(`${name}.bias`, [D], n.bias);
  };
  put(names.cls, [1, 1, D], w.clsToken);
  if (R > 0) put(names.registers, [1, R, D], w.registerTokens);
  // Both real layouts carry a mask token (used only for masked pre-training); kept so files look genuine.
  put(names.mask, [1, D], new Float32Array(D));
  put(names.pos, [1, 1 + G * G, D], w.posEmbed);
  put(names.patchW, [D, 3, p, p], w.patchWeight);
  put(names.patchB, [D], w.patchBias);
  w.blocks.forEach((b, i) => {
    const n = names.block(i);
    putNorm(n.norm1, b.norm1);
    if (typeof n.qkv === 'string') putLinear(n.qkv, b.qkv);
    else {
      const parts = [n.qkv.q, n.qkv.k, n.qkv.v];
      parts.forEach((name, j) =>
        putLinear(name, {
          weight: b.qkv.weight.slice(j * D * D, (j + 1) * D * D),
          bias: b.qkv.bias.slice(j * D, (j + 1) * D),
          inFeatures: D,
          outFeatures: D,
        }),
      );
    }
    putLinear(n.proj, b.proj);
    put(n.ls1, [D], b.ls1);
    putNorm(n.norm2, b.norm2);
    if (b.fc1.outFeatures !== H)
      throw new Error(`teacherToTensors: block ${i} fc1 width ${b.fc1.outFeatures} ≠ ${H}`);
    putLinear(n.fc1, b.fc1);
    putLinear(n.fc2, b.fc2);
    put(n.ls2, [D], b.ls2);
  });
  put(names.normW, [D], w.norm.weight);
  put(names.normB, [D], w.norm.bias);
  return out;
}

/**
 * Read a teacher safetensors file. heads: opts.heads, else the file's 'pinpoint.heads' metadata
 * (dev teachers), else dim/64.
 */
export function readTeacher(
  path: string,
  opts: { heads?: number; lnEps?: number } = {},
): { weights: TeacherWeights; layout: WeightLayout; metadata: Record<string, string> } {
  const { tensors, metadata } = readSafetensors(path);
  const metaHeads = metadata['pinpoint.heads'] !== undefined ? Number(metadata['pinpoint.heads']) : undefined;
  const heads = opts.heads ?? metaHeads;
  try {
    return { ...teacherFromTensors(tensors, { ...opts, heads }), metadata };
  } catch (e) {
    if (e instanceof WeightsError) throw new WeightsError(`${path}: teacher weights`, e.problems);
    throw e;
  }
}
