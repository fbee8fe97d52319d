// A real, tiny anomaly model in an onnxruntime session (dev teacher + untrained students), for engine tests
// that need real inference but not a taught-in model.
import * as ort from 'onnxruntime-node';
import { buildAnomalyGraph } from '../../src/model/anomaly-graph.js';
import { makeDevTeacherWeights } from '../../src/model/dev-teacher.js';
import { interpolatePosEmbed } from '../../src/model/pos-embed.js';
import { initStudents } from '../../src/model/students.js';
import type { EngineModel } from '../../src/pipeline/engine.js';

export interface TinyModel extends EngineModel {
  release(): Promise<void>;
  /** Calls made so far, with their batch sizes. */
  calls: number[];
}

export async function tinyModel(
  opts: {
    size?: number;
    depth?: number;
    dim?: number;
    delayMs?: number;
    failOn?: (call: number) => boolean;
  } = {},
): Promise<TinyModel> {
  const size = opts.size ?? 56;
  const depth = opts.depth ?? 2;
  const dim = opts.dim ?? 16;
  const w = makeDevTeacherWeights({ depth, dim, heads: 2, registers: 4, posGrid: 4, seed: 3 });
  const g = size / 14;
  const posEmbed = interpolatePosEmbed(w.posEmbed, dim, 4, g);
  const bytes = buildAnomalyGraph(w, initStudents(dim, 5), { size, layers: [1, depth], posEmbed });
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  const calls: number[] = [];
  return {
    size,
    grid: g,
    resize: 'fast',
    modelId: 'tiny-test-model',
    calls,
    async run(pixels, batch) {
      calls.push(batch);
      if (opts.failOn?.(calls.length)) throw new Error('injected inference failure');
      if (opts.delayMs) await new Promise((r) => setTimeout(r, opts.delayMs));
      const out = await session.run({ pixels: new ort.Tensor('uint8', pixels, [batch, size, size, 3]) });
      return out.anomaly.data as Float32Array;
    },
    release: () => session.release(),
  };
}
