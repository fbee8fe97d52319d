// Runs a model built by GraphBuilder in a real onnxruntime-node CPU session.
import * as ort from 'onnxruntime-node';
import type { LinearWeights } from '../../src/model/types.js';
import type { Rng } from '../../src/util/random.js';

export type Feed = ort.Tensor;

export async function session(
  model: Uint8Array,
  opts: ort.InferenceSession.SessionOptions = {},
): Promise<ort.InferenceSession> {
  // One thread: the test machine is shared, and tiny graphs gain nothing from more.
  return ort.InferenceSession.create(model, { intraOpNumThreads: 1, interOpNumThreads: 1, ...opts });
}

/** Builds a session, runs it once, releases it. */
export async function runOnce(
  model: Uint8Array,
  feeds: Record<string, ort.Tensor>,
  opts: ort.InferenceSession.SessionOptions = {},
): Promise<ort.InferenceSession.OnnxValueMapType> {
  const s = await session(model, opts);
  try {
    return await s.run(feeds);
  } finally {
    await s.release();
  }
}

export function f32(data: Float32Array, dims: number[]): ort.Tensor {
  return new ort.Tensor('float32', data, dims);
}

export function u8(data: Uint8Array, dims: number[]): ort.Tensor {
  return new ort.Tensor('uint8', data, dims);
}

export function randomArray(rng: Rng, n: number, scale = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal() * scale;
  return a;
}

export function randomLinear(
  rng: Rng,
  inFeatures: number,
  outFeatures: number,
  scale = 1 / Math.sqrt(inFeatures),
): LinearWeights {
  return {
    weight: randomArray(rng, inFeatures * outFeatures, scale),
    bias: randomArray(rng, outFeatures, 0.1),
    inFeatures,
    outFeatures,
  };
}

/** Largest |a − b| over the arrays. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}
