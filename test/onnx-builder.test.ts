import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { GraphBuilder, float, onnxType } from '../src/model/onnx/builder.js';
import { gelu, layerNorm, linear } from '../src/model/onnx/layers.js';
import { gelu as geluRef, referenceLayerNorm, referenceLinear } from '../src/model/reference.js';
import { f16ToF32, f32ToF16 } from '../src/model/safetensors.js';
import { Rng } from '../src/util/random.js';
import { f32, maxAbsDiff, randomArray, randomLinear, runOnce } from './helpers/onnx.js';

describe('GraphBuilder + layers in onnxruntime', () => {
  test('linear matches float64 x·Wᵀ + b, with a dynamic batch of 1 and 3', async () => {
    const rng = new Rng(1);
    const w = randomLinear(rng, 5, 4);
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', ['batch', 5]);
    b.output(linear(b, x, w, 'fc', {}), 'float32', ['batch', 4]);
    const model = b.build();
    for (const batch of [1, 3]) {
      const xs = randomArray(rng, batch * 5);
      const out = await runOnce(model, { x: f32(xs, [batch, 5]) });
      const y = Object.values(out)[0];
      assert.deepEqual(y.dims, [batch, 4]);
      const want = referenceLinear(Float64Array.from(xs), batch, w);
      assert.ok(maxAbsDiff(y.data as Float32Array, want) < 1e-5);
    }
  });

  test('layerNorm matches float64 over the last axis', async () => {
    const rng = new Rng(2);
    const d = 8;
    const gamma = randomArray(rng, d);
    const beta = randomArray(rng, d);
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', [2, 3, d]);
    b.output(layerNorm(b, x, gamma, beta, 1e-6), 'float32', [2, 3, d]);
    const xs = randomArray(rng, 2 * 3 * d, 3);
    const out = await runOnce(b.build(), { x: f32(xs, [2, 3, d]) });
    const y = Object.values(out)[0].data as Float32Array;
    const want = referenceLayerNorm(Float64Array.from(xs), 6, d, gamma, beta, 1e-6);
    assert.ok(maxAbsDiff(y, want) < 1e-5);
  });

  test('gelu is exact (erf) GELU, in the Div→Erf→Add→Mul→Mul form that onnxruntime fuses', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', ['n']);
    b.output(gelu(b, x), 'float32', ['n']);
    assert.deepEqual(b.opTypes(), ['Div', 'Erf', 'Add', 'Mul', 'Mul']);
    const xs = new Float32Array(241).map((_, i) => -6 + i * 0.05);
    const dir = mkdtempSync(join(tmpdir(), 'pinpoint-gelu-'));
    try {
      const optimized = join(dir, 'opt.onnx');
      const out = await runOnce(
        b.build(),
        { x: f32(xs, [xs.length]) },
        { optimizedModelFilePath: optimized, graphOptimizationLevel: 'extended' },
      );
      const y = Object.values(out)[0].data as Float32Array;
      const want = Array.from(xs, geluRef);
      assert.ok(maxAbsDiff(y, want) < 1e-5);
      // The point of the exact form: onnxruntime must have replaced the chain with a single Gelu.
      const ops =
        onnxProto.onnx.ModelProto.decode(readFileSync(optimized)).graph?.node?.map((n) => n.opType) ?? [];
      assert.deepEqual(ops, ['Gelu']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('gelu with a Mul by 1/√2 would not be fused (the check above can fail)', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', ['n']);
    const erfOut = b.op('Erf', [b.op('Mul', [x, b.constF32([Math.SQRT1_2], [])])]);
    b.output(
      b.op('Mul', [b.op('Mul', [x, b.op('Add', [erfOut, b.constF32([1], [])])]), b.constF32([0.5], [])]),
      'float32',
      ['n'],
    );
    const dir = mkdtempSync(join(tmpdir(), 'pinpoint-gelu-'));
    try {
      const optimized = join(dir, 'opt.onnx');
      await runOnce(
        b.build(),
        { x: f32(new Float32Array([1, 2]), [2]) },
        { optimizedModelFilePath: optimized, graphOptimizationLevel: 'extended' },
      );
      const ops =
        onnxProto.onnx.ModelProto.decode(readFileSync(optimized)).graph?.node?.map((n) => n.opType) ?? [];
      assert.ok(ops.includes('Erf'), `expected an unfused graph, got ${ops.join(',')}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('fp16 initialisers round-trip: Float32Array with fp16, and raw float16 bits', async () => {
    const values = new Float32Array([0, 1, -2.5, 0.1, 65504, 1e-5, 3.14159]);
    const bits = f32ToF16(new Float32Array([0.333, -7]));
    const b = new GraphBuilder();
    const a = b.initializer('a', values, [values.length], { fp16: true });
    const c = b.initializer('c', bits, [2]);
    b.op('Cast', [a], { to: onnxType('float32') }, { outputNames: ['ya'] });
    b.op('Cast', [c], { to: onnxType('float32') }, { outputNames: ['yc'] });
    b.output('ya', 'float32', [values.length]);
    b.output('yc', 'float32', [2]);
    // A graph needs no inputs, but a session run needs no feeds either.
    const out = await runOnce(b.build(), {});
    assert.deepEqual(Array.from(out.ya.data as Float32Array), Array.from(f16ToF32(f32ToF16(values))));
    assert.deepEqual(Array.from(out.yc.data as Float32Array), Array.from(f16ToF32(bits)));
    // float16 really lost precision (the comparison above is not float32 against itself).
    assert.notEqual((out.ya.data as Float32Array)[3], values[3]);
  });

  test('attributes: a float() integer stays FLOAT, several outputs, int64 constants', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', [4]);
    const leaky = b.op('LeakyRelu', [x], { alpha: float(2) });
    const [lo, hi] = b.op('Split', [leaky, b.constI64([1, 3])], { axis: 0 }, { outputs: 2 });
    b.op('Identity', [lo], {}, { outputNames: ['lo'] });
    b.op('Identity', [hi], {}, { outputNames: ['hi'] });
    b.output('lo', 'float32', [1]);
    b.output('hi', 'float32', [3]);
    const out = await runOnce(b.build(), {
      x: new ort.Tensor('float32', new Float32Array([-1, 2, -3, 4]), [4]),
    });
    assert.deepEqual(Array.from(out.lo.data as Float32Array), [-2]);
    assert.deepEqual(Array.from(out.hi.data as Float32Array), [2, -6, 4]);
  });

  test('small constants are shared; mistakes fail when the node is added', () => {
    const b = new GraphBuilder();
    assert.equal(b.constF32([0.5], []), b.constF32([0.5], []));
    assert.notEqual(b.constF32([0.5], []), b.constF32([0.5], [], { fp16: true }));
    const x = b.input('x', 'float32', [2]);
    assert.throws(() => b.op('Relu', ['nope']), /unknown input tensor 'nope'/);
    assert.throws(() => b.input('x', 'float32', [2]), /defined twice/);
    assert.throws(() => b.initializer('w', new Float32Array(3), [2, 2]), /3 values/);
    assert.throws(() => b.output('y', 'float32', [2]), /not a tensor/);
    assert.ok(b.op('Relu', [x]));
  });
});
