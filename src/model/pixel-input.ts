// How letterboxed frames enter the model graph. `uint8`: the RGB bytes themselves, and the graph casts and
// normalises them (a quarter of the bytes to hand over; every provider but WebGPU). `float32`: the values
// already normalised on the host, for WebGPU, whose provider has no uint8 Cast: with uint8 input the first
// node runs on the CPU and the graph is split around it. The host conversion is one pass through a 768-entry
// table, and it reproduces the uint8 graph's float32 arithmetic step by step, so both inputs give the same
// model output (test/pixel-input.test.ts).
import { IMAGENET_MEAN, IMAGENET_STD } from './types.js';
import type { ProviderName } from './providers.js';

export type PixelInput = 'uint8' | 'float32';

/** float32 input only where uint8 cannot run on the device (WebGPU); elsewhere the smaller uint8. */
export function pixelInputFor(provider: ProviderName): PixelInput {
  return provider === 'webgpu' ? 'float32' : 'uint8';
}

const f32 = Math.fround;

/**
 * Index v·3 + c: the value byte v of channel c becomes in the uint8 graph (teacher-graph.ts): Cast, ·(1/255),
 * − mean_c, ÷ std_c, each in float32 with float32 constants. Every operation is rounded to float32 here as
 * it is there (a double result of two float32 operands rounds to the same float32 as the float32 operation).
 */
export function normalizationTable(): Float32Array {
  const scale = f32(1 / 255);
  const t = new Float32Array(256 * 3);
  for (let v = 0; v < 256; v++) {
    for (let c = 0; c < 3; c++) {
      const scaled = f32(f32(v) * scale);
      t[v * 3 + c] = f32(f32(scaled - f32(IMAGENET_MEAN[c])) / f32(IMAGENET_STD[c]));
    }
  }
  return t;
}

const TABLE = normalizationTable();

/** src: interleaved RGB bytes (…[B, S, S, 3]); dst[i] receives the normalised float of src[i]. */
export function normalizePixels(src: Uint8Array, dst: Float32Array): void {
  if (src.length % 3 !== 0 || dst.length < src.length) {
    throw new RangeError(`cannot normalise ${src.length} bytes into ${dst.length} floats (RGB triples)`);
  }
  const t = TABLE;
  for (let i = 0; i < src.length; i += 3) {
    dst[i] = t[src[i] * 3];
    dst[i + 1] = t[src[i + 1] * 3 + 1];
    dst[i + 2] = t[src[i + 2] * 3 + 2];
  }
}
