// The whole inference model as one ONNX graph: uint8 frames in, per-patch anomaly maps out.
// Teacher features of two blocks a < b, students predicting each from the other, and the product of
// the two normalised prediction errors (method.md, Inference steps 1–2).
import type { StudentWeights, TeacherWeights } from './types.js';
import type { PixelInput } from './pixel-input.js';
import { GraphBuilder } from './onnx/builder.js';
import { addStudent } from './student-graph.js';
import { addTeacher, patchGrid } from './teacher-graph.js';

/** Blocks 8 and 12 (1-based), as in the method. */
export const DEFAULT_LAYERS: [number, number] = [8, 12];

/** Guard of the L2 normalisation, the same as the float64 reference (and torch's F.normalize). */
export const NORM_EPS = 1e-12;

export interface AnomalyGraphOptions {
  /** Input side S, a multiple of the patch size. */
  size: number;
  layers?: [number, number];
  /** Position embeddings resized to the S / patch grid, [1 + g², D]. */
  posEmbed: Float32Array;
  /** float16 teacher (GPU hosts). The students and the distances stay float32. */
  fp16?: boolean;
  /** com.microsoft MultiHeadAttention in the teacher (GPU hosts). */
  fusedAttention?: boolean;
  /** 'float32': `pixels` holds host-normalised floats (WebGPU, pixel-input.ts); default 'uint8'. */
  pixelInput?: PixelInput;
}

/** The `pixels` input ([B, S, S, 3], uint8 or normalised float32) and the teacher's two feature layers on it; g = S / patch. */
function teacherOnPixels(
  b: GraphBuilder,
  w: TeacherWeights,
  opts: FeatureGraphOptions & { fp16?: boolean },
): { g: number; fa: string; fb: string } {
  const size = opts.size;
  const pixelInput = opts.pixelInput ?? 'uint8';
  const pixels = b.input('pixels', pixelInput, ['batch', size, size, 3]);
  const [fa, fb] = addTeacher(b, w, {
    size,
    layers: opts.layers ?? DEFAULT_LAYERS,
    posEmbed: opts.posEmbed,
    pixels,
    pixelInput,
    fp16: opts.fp16,
    fusedAttention: opts.fusedAttention,
  });
  return { g: patchGrid(size, w.arch.patch), fa, fb };
}

/**
 * Input `pixels` [B, S, S, 3] (uint8, or normalised float32 with pixelInput 'float32'); output `anomaly` float32 [B, g, g], g = S / patch:
 * Δ = ‖n(fwd(f_a)) − n(f_b)‖ · ‖n(bwd(f_b)) − n(f_a)‖ per patch, n = L2 normalisation per token.
 */
export function buildAnomalyGraph(
  w: TeacherWeights,
  s: StudentWeights,
  opts: AnomalyGraphOptions,
): Uint8Array {
  const b = new GraphBuilder({ graphName: 'pinpoint-anomaly' });
  const { g, fa, fb } = teacherOnPixels(b, w, opts);
  const na = normalize(b, fa);
  const nb = normalize(b, fb);
  const dB = distance(b, normalize(b, addStudent(b, s.forward, fa, 'student.forward')), nb);
  const dA = distance(b, normalize(b, addStudent(b, s.backward, fb, 'student.backward')), na);
  b.op('Reshape', [b.op('Mul', [dA, dB]), b.constI64([0, g, g])], {}, { outputNames: ['anomaly'] });
  b.output('anomaly', 'float32', ['batch', g, g]);
  return b.build();
}

export interface FeatureGraphOptions {
  size: number;
  layers?: [number, number];
  posEmbed: Float32Array;
  /** com.microsoft MultiHeadAttention in the teacher (faster and far smaller on CPU too at large S). */
  fusedAttention?: boolean;
  /** 'float32': `pixels` holds host-normalised floats (WebGPU, pixel-input.ts); default 'uint8'. */
  pixelInput?: PixelInput;
}

/** Input `pixels` [B, S, S, 3] as in buildAnomalyGraph; outputs `feat_a`, `feat_b` float32 [B, P, D] (teach-in). */
export function buildFeatureGraph(w: TeacherWeights, opts: FeatureGraphOptions): Uint8Array {
  const b = new GraphBuilder({ graphName: 'pinpoint-features' });
  const { g, fa, fb } = teacherOnPixels(b, w, opts);
  b.op('Identity', [fa], {}, { outputNames: ['feat_a'] });
  b.op('Identity', [fb], {}, { outputNames: ['feat_b'] });
  b.output('feat_a', 'float32', ['batch', g * g, w.arch.dim]);
  b.output('feat_b', 'float32', ['batch', g * g, w.arch.dim]);
  return b.build();
}

/** x / max(‖x‖, ε) per token (last axis). */
function normalize(b: GraphBuilder, x: string): string {
  const norm = b.op('ReduceL2', [x], { axes: [-1], keepdims: 1 });
  return b.op('Div', [x, b.op('Max', [norm, b.constF32([NORM_EPS], [])])]);
}

/** ‖x − y‖ per token: [B, P, D] → [B, P]. */
function distance(b: GraphBuilder, x: string, y: string): string {
  return b.op('ReduceL2', [b.op('Sub', [x, y])], { axes: [-1], keepdims: 0 });
}
