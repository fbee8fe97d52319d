// Issue 18, WebGPU input: what the host-side normalisation (model/pixel-input.ts) costs per batch, side by
// side with what it replaces. With uint8 input WebGPU runs the graph's Cast on the CPU (no uint8 Cast
// kernel), then copies its float output to the GPU; with float input the host's table lookup produces the
// same floats (normalised, too) and the graph starts on the GPU. Both are one CPU pass over the batch on the
// inference thread; this prints their CPU times at a batch of 8 at S = 518 and S = 1036.
import { loadavg } from 'node:os';
import * as ort from 'onnxruntime-node';
import { GraphBuilder, onnxType } from '../src/model/onnx/builder.js';
import { normalizePixels } from '../src/model/pixel-input.js';
import { addNormalize } from '../src/model/teacher-graph.js';

const RUNS = 5;

/**
 * A session over `[B, S, S, 3]` uint8: the Cast alone or the uint8 graph's four nodes, then a ReduceMax to
 * one value, so the floats stay inside onnxruntime (as they would on their way to the GPU) instead of being
 * copied back to JavaScript. The ReduceMax reads them once more: the numbers are an upper bound.
 */
async function session(size: number, normalise: boolean): Promise<ort.InferenceSession> {
  const b = new GraphBuilder();
  const px = b.input('px', 'uint8', ['batch', size, size, 3]);
  const y = normalise ? addNormalize(b, px) : b.op('Cast', [px], { to: onnxType('float32') });
  b.op('ReduceMax', [y], { keepdims: 0 }, { outputNames: ['y'] });
  b.output('y', 'float32', []);
  return ort.InferenceSession.create(b.build(), {
    intraOpNumThreads: 1,
    // 'all' may move the Cast behind the ReduceMax (one value cast instead of the batch).
    graphOptimizationLevel: 'disabled',
  });
}

/** Least process CPU ms of RUNS calls (one thread each way): the work itself, not the machine's load. */
async function cpuMs(fn: () => Promise<unknown> | unknown): Promise<number> {
  await fn();
  let best = Infinity;
  for (let i = 0; i < RUNS; i++) {
    const c0 = process.cpuUsage();
    await fn();
    const c = process.cpuUsage(c0);
    best = Math.min(best, (c.user + c.system) / 1000);
  }
  return best;
}

export async function run(): Promise<void> {
  console.log(
    `load average at start: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}; least CPU ms of ${RUNS}, one thread`,
  );
  for (const size of [518, 1036]) {
    const batch = 8;
    const px = new Uint8Array(batch * size * size * 3).map((_, i) => (i * 131) % 256);
    const dims = [batch, size, size, 3];
    const dst = new Float32Array(px.length);
    const host = await cpuMs(() => normalizePixels(px, dst));
    const cast = await session(size, false);
    const four = await session(size, true);
    const castMs = await cpuMs(() => cast.run({ px: new ort.Tensor('uint8', px, dims) }));
    const fourMs = await cpuMs(() => four.run({ px: new ort.Tensor('uint8', px, dims) }));
    await cast.release();
    await four.release();
    console.log(
      `S = ${size}, batch ${batch} (${(px.length / 2 ** 20).toFixed(1)} MiB in, ${(dst.byteLength / 2 ** 20).toFixed(1)} MiB out): ` +
        `host table ${host.toFixed(1)} ms; onnxruntime on the CPU, each + ReduceMax: Cast ${castMs.toFixed(1)} ms, ` +
        `Cast+Mul+Sub+Div ${fourMs.toFixed(1)} ms`,
    );
  }
}
