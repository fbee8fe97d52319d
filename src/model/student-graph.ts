// A student MLP as an ONNX subgraph, applied to every token independently.
import type { MlpWeights } from './types.js';
import type { GraphBuilder } from './onnx/builder.js';
import { gelu, linear } from './onnx/layers.js';

/** Linear → GELU → Linear → GELU → Linear over the last axis of x ([..., in] → [..., out]). */
export function addStudent(b: GraphBuilder, m: MlpWeights, x: string, prefix: string): string {
  const [l1, l2, l3] = m.layers;
  const h1 = gelu(b, linear(b, x, l1, `${prefix}.0`));
  const h2 = gelu(b, linear(b, h1, l2, `${prefix}.1`));
  return linear(b, h2, l3, `${prefix}.2`);
}
