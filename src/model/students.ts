// The two student MLPs (method.md, Students): Linear(D→H) → GELU → Linear(H→H) → GELU → Linear(H→D),
// H = (in + out)/2 = D. The forward student maps layer-8 tokens to layer 12, the backward one back.
//
// students.safetensors format — the names a PyTorch state_dict of
// `nn.ModuleDict({forward: nn.Sequential(Linear, GELU, Linear, GELU, Linear), backward: …})` has
// (the GELUs at indices 1 and 3 carry no weights):
//   forward.0.weight [H,D]  forward.0.bias [H]
//   forward.2.weight [H,H]  forward.2.bias [H]
//   forward.4.weight [D,H]  forward.4.bias [D]
//   backward.0.weight …     (same shapes)
import type { LinearWeights, MlpWeights, StudentWeights } from './types.js';
import type { TensorData } from './safetensors.js';
import { WeightsError } from './teacher-weights.js';
import { Rng } from '../util/random.js';

/** Indices of the Linear layers inside each nn.Sequential. */
const LINEAR_INDICES = [0, 2, 4] as const;
const STUDENTS = ['forward', 'backward'] as const;

/** nn.Linear's default initialisation: weight and bias ~ U(−1/√in, 1/√in). */
function initLinear(rng: Rng, inF: number, outF: number): LinearWeights {
  const bound = 1 / Math.sqrt(inF);
  const weight = new Float32Array(outF * inF);
  for (let i = 0; i < weight.length; i++) weight[i] = rng.uniform(-bound, bound);
  const bias = new Float32Array(outF);
  for (let i = 0; i < outF; i++) bias[i] = rng.uniform(-bound, bound);
  return { weight, bias, inFeatures: inF, outFeatures: outF };
}

function initMlp(rng: Rng, dim: number): MlpWeights {
  const hidden = dim; // (in + out) / 2 with in = out = D
  return {
    layers: [initLinear(rng, dim, hidden), initLinear(rng, hidden, hidden), initLinear(rng, hidden, dim)],
  };
}

/** Freshly initialised forward and backward students, reproducible from the seed (forward drawn first). */
export function initStudents(dim: number, seed: number): StudentWeights {
  if (!Number.isInteger(dim) || dim < 1)
    throw new Error(`initStudents: dim must be a positive integer, got ${dim}`);
  const rng = new Rng(seed);
  const forward = initMlp(rng, dim);
  const backward = initMlp(rng, dim);
  return { forward, backward };
}

/** Students → tensor map (F32) in the students.safetensors naming above. */
export function studentsToTensors(s: StudentWeights): Map<string, TensorData> {
  const out = new Map<string, TensorData>();
  for (const which of STUDENTS) {
    s[which].layers.forEach((l, j) => {
      const k = `${which}.${LINEAR_INDICES[j]}`;
      out.set(`${k}.weight`, { dtype: 'F32', shape: [l.outFeatures, l.inFeatures], data: l.weight });
      out.set(`${k}.bias`, { dtype: 'F32', shape: [l.outFeatures], data: l.bias });
    });
  }
  return out;
}

function fmt(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}

/**
 * Tensor map → students, validating that all 12 tensors exist, are 2-D/1-D, chain D→H→H→D within
 * each student, and that both students agree on D and H. Throws a WeightsError naming every problem.
 */
export function studentsFromTensors(t: Map<string, TensorData>): StudentWeights {
  const problems: string[] = [];
  // D and H from forward.0.weight [H, D] (or any weight present), so every other shape can be checked.
  const first = t.get('forward.0.weight') ?? t.get('backward.0.weight');
  const D = first && first.shape.length === 2 ? first.shape[1] : NaN;
  const H = first && first.shape.length === 2 ? first.shape[0] : NaN;
  if (!first || first.shape.length !== 2) {
    throw new WeightsError('student weights', [
      first ? `forward.0.weight: expected [H,D], got ${fmt(first.shape)}` : 'forward.0.weight: missing',
    ]);
  }
  const expected: [number, number][] = [
    [H, D],
    [H, H],
    [D, H],
  ];
  const take = (name: string, shape: number[]): Float32Array => {
    const x = t.get(name);
    if (!x) problems.push(`${name}: missing (expected ${fmt(shape)})`);
    else if (x.shape.length !== shape.length || x.shape.some((v, i) => v !== shape[i])) {
      problems.push(`${name}: expected ${fmt(shape)}, got ${fmt(x.shape)}`);
    } else return x.data;
    return new Float32Array(shape.reduce((a, b) => a * b, 1));
  };
  const mlp = (which: string): MlpWeights => {
    const layers = expected.map(([outF, inF], j) => {
      const k = `${which}.${LINEAR_INDICES[j]}`;
      return {
        weight: take(`${k}.weight`, [outF, inF]),
        bias: take(`${k}.bias`, [outF]),
        inFeatures: inF,
        outFeatures: outF,
      };
    });
    return { layers: [layers[0], layers[1], layers[2]] };
  };
  const forward = mlp('forward');
  const backward = mlp('backward');
  const known = new Set(
    STUDENTS.flatMap((w) => LINEAR_INDICES.flatMap((i) => [`${w}.${i}.weight`, `${w}.${i}.bias`])),
  );
  for (const name of t.keys()) if (!known.has(name)) problems.push(`${name}: unexpected tensor`);
  if (problems.length > 0) throw new WeightsError('student weights', problems);
  return { forward, backward };
}
