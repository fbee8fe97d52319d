// Float input for WebGPU (issue 18): the host's normalisation table is bit-identical to the uint8 graph's own
// first nodes run by onnxruntime, the float-input graph starts without a Cast, and a real CPU session fed
// host-normalised floats gives the uint8 model's anomaly grids and features (plain, padded, and in parts).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';
import { buildAnomalyGraph } from '../src/model/anomaly-graph.js';
import { createBundle, loadBundle, type Bundle } from '../src/model/bundle.js';
import { makeDevTeacherWeights, writeDevTeacher } from '../src/model/dev-teacher.js';
import { GraphBuilder } from '../src/model/onnx/builder.js';
import { normalizationTable, normalizePixels, pixelInputFor } from '../src/model/pixel-input.js';
import { initStudents } from '../src/model/students.js';
import { addNormalize } from '../src/model/teacher-graph.js';
import { openAnomalyModel, openFeatureModel } from '../src/pipeline/inference.js';

describe('host normalisation', () => {
  test('the table equals what onnxruntime computes in the uint8 graph, bit for bit', async () => {
    const b = new GraphBuilder();
    const px = b.input('px', 'uint8', [256, 3]);
    b.op('Identity', [addNormalize(b, px)], {}, { outputNames: ['y'] });
    b.output('y', 'float32', [256, 3]);
    const session = await ort.InferenceSession.create(b.build(), { intraOpNumThreads: 1 });
    try {
      const all = new Uint8Array(256 * 3).map((_, i) => Math.floor(i / 3)); // every value in every channel
      const out = await session.run({ px: new ort.Tensor('uint8', all, [256, 3]) });
      const graph = out.y.data as Float32Array;
      const table = normalizationTable();
      const bits = (f: Float32Array) => new Uint32Array(f.buffer, f.byteOffset, f.length);
      assert.deepEqual(bits(table), bits(graph));
      // And the conversion of frames reads it per channel.
      const dst = new Float32Array(6);
      normalizePixels(Uint8Array.from([0, 0, 0, 255, 128, 7]), dst);
      assert.deepEqual([...dst], [table[0], table[1], table[2], table[765], table[385], table[23]]);
    } finally {
      await session.release();
    }
  });

  test('a bad length is an error, not a silent partial conversion', () => {
    assert.throws(() => normalizePixels(new Uint8Array(4), new Float32Array(4)), /RGB triples/);
    assert.throws(() => normalizePixels(new Uint8Array(6), new Float32Array(3)), /6 bytes into 3 floats/);
  });

  test('float input on WebGPU only', () => {
    assert.equal(pixelInputFor('webgpu'), 'float32');
    for (const p of ['cpu', 'cuda', 'tensorrt'] as const) assert.equal(pixelInputFor(p), 'uint8');
  });

  test('the float-input graph takes float32 and has no Cast before the patch embedding', () => {
    const w = makeDevTeacherWeights({ depth: 1, dim: 16, heads: 2, registers: 4, posGrid: 2, seed: 1 });
    const build = (pixelInput: 'uint8' | 'float32') =>
      onnxProto.onnx.ModelProto.decode(
        buildAnomalyGraph(w, initStudents(16, 1), {
          size: 28,
          layers: [1, 1],
          posEmbed: w.posEmbed,
          pixelInput,
        }),
      ).graph;
    const u8 = build('uint8');
    const f32 = build('float32');
    const T = onnxProto.onnx.TensorProto.DataType;
    assert.equal(u8?.input?.[0].type?.tensorType?.elemType, T.UINT8);
    assert.equal(u8?.node?.[0].opType, 'Cast');
    assert.equal(f32?.input?.[0].type?.tensorType?.elemType, T.FLOAT);
    const ops = (f32?.node ?? []).map((n) => n.opType);
    assert.ok(!ops.includes('Cast'), `float32 graph nodes: ${ops.slice(0, 4).join(', ')}…`);
    assert.equal(ops[0], 'Transpose');
  });
});

describe('float input on a real CPU session against the uint8 model', () => {
  let root: string;
  let bundle: Bundle;
  const S = 28;
  before(() => {
    root = mkdtempSync(join(tmpdir(), 'pinpoint-pxin-'));
    const teacher = join(root, 'teacher.safetensors');
    writeDevTeacher(teacher, { depth: 2, dim: 16, heads: 2, posGrid: 4, seed: 9 });
    createBundle({ teacherPath: teacher, outDir: join(root, 'b'), size: S, layers: [1, 2], seed: 4 });
    bundle = loadBundle(join(root, 'b'));
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  const frames = (n: number) => new Uint8Array(n * S * S * 3).map((_, i) => (i * 97 + (i >> 7)) % 256);
  /** Largest |a − b| relative to the peak of a. */
  const relErr = (a: Float32Array, b: Float32Array) => {
    assert.equal(b.length, a.length);
    let peak = 0;
    let err = 0;
    for (let i = 0; i < a.length; i++) {
      peak = Math.max(peak, Math.abs(a[i]));
      err = Math.max(err, Math.abs(a[i] - b[i]));
    }
    return err / peak;
  };

  test('anomaly grids: plain, padded to a static batch, and in parts', async () => {
    const base = { device: 'cpu' as const, threads: 1 };
    const u8 = await openAnomalyModel(bundle, base);
    const f32 = await openAnomalyModel(bundle, { ...base, pixelInput: 'float32' });
    const padded = await openAnomalyModel(bundle, {
      ...base,
      pixelInput: 'float32',
      maxBatch: 4,
      staticBatch: true,
    });
    const parts = await openAnomalyModel(bundle, { ...base, pixelInput: 'float32', maxRunBatch: 2 });
    try {
      assert.equal(u8.pixelInput, 'uint8');
      assert.equal(f32.pixelInput, 'float32');
      const px = frames(3);
      const ref = await u8.run(px, 3);
      // The graphs differ only before the patch embedding, where the values are bit-identical: the same
      // batch gives the same floats; other run shapes (padded, parts) may block the GEMMs differently.
      assert.deepEqual(await f32.run(px, 3), ref);
      const errs = [relErr(ref, await padded.run(px, 3)), relErr(ref, await parts.run(px, 3))];
      for (const e of errs) assert.ok(e <= 1e-6, `relative error ${errs.join(', ')}`);
      // A second, smaller batch reuses the float buffer: no stale frame leaks into it.
      const one = px.subarray(0, S * S * 3);
      assert.deepEqual(await f32.run(one, 1), await u8.run(one, 1));
    } finally {
      await Promise.all([u8, f32, padded, parts].map((m) => m.release()));
    }
  });

  test('teach-in features', async () => {
    const u8 = await openFeatureModel(bundle, { device: 'cpu', threads: 1 });
    const f32 = await openFeatureModel(bundle, { device: 'cpu', threads: 1, pixelInput: 'float32' });
    try {
      const px = frames(2);
      const a = await u8.run(px, 2);
      const b = await f32.run(px, 2);
      assert.deepEqual(b.a, a.a);
      assert.deepEqual(b.b, a.b);
    } finally {
      await Promise.all([u8.release(), f32.release()]);
    }
  });
});
