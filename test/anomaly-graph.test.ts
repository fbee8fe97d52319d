import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import onnxProto from 'onnx-proto';
import { buildAnomalyGraph, buildFeatureGraph } from '../src/model/anomaly-graph.js';
import { makeDevTeacherWeights } from '../src/model/dev-teacher.js';
import { interpolatePosEmbed } from '../src/model/pos-embed.js';
import { referenceAnomaly, referencePreprocess, referenceTeacher } from '../src/model/reference.js';
import { initStudents } from '../src/model/students.js';
import { teacherFromTensors, teacherToTensors, type WeightLayout } from '../src/model/teacher-weights.js';
import { Rng } from '../src/util/random.js';
import { maxAbs, maxAbsDiff, runOnce, session, u8 } from './helpers/onnx.js';

// A tiny dev teacher: 3 blocks, width 32, 4 heads, 4 registers, 4×4 learned position grid (56 px).
const ARCH = { depth: 3, dim: 32, heads: 4, registers: 4, patch: 14, posGrid: 4 };
const LAYERS: [number, number] = [2, 3];

function randomPixels(seed: number, batch: number, size: number): Uint8Array {
  const rng = new Rng(seed);
  return new Uint8Array(batch * size * size * 3).map(() => rng.int(0, 255));
}

/** max|a − b| / max|b|. */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  return maxAbsDiff(a, b) / maxAbs(b);
}

/**
 * max|a − b| / max|b| < tol, and per element |a − b| < tol·max(|b|, 1 % of max|b|): the floor keeps
 * near-zero elements from demanding more than float32 can give.
 */
function assertClose(a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what: string): void {
  const peak = maxAbs(b);
  const rel = relErr(a, b);
  assert.ok(rel < tol, `${what}: relative error ${rel}`);
  for (let i = 0; i < b.length; i++) {
    const e = Math.abs(a[i] - b[i]) / Math.max(Math.abs(b[i]), 0.01 * peak);
    assert.ok(e < tol, `${what}[${i}]: ${a[i]} vs ${b[i]}`);
  }
}

describe('ONNX graphs equal the float64 reference', () => {
  const canonical = makeDevTeacherWeights({ ...ARCH, seed: 21 });
  const s = initStudents(ARCH.dim, 22);
  for (const layout of ['huggingface', 'official'] as WeightLayout[]) {
    // Through the file layout and back, as a user's weights arrive.
    const loaded = teacherFromTensors(teacherToTensors(canonical, layout), { heads: ARCH.heads });
    const w = loaded.weights;
    for (const size of [56, 84]) {
      test(`${layout} layout, ${size} px (position grid ${ARCH.posGrid} → ${size / 14})`, async () => {
        assert.equal(loaded.layout, layout);
        const posEmbed = interpolatePosEmbed(w.posEmbed, ARCH.dim, ARCH.posGrid, size / ARCH.patch);
        const batch = 2;
        const per = size * size * 3;
        const px = randomPixels(size, batch, size);
        const pixels = u8(px, [batch, size, size, 3]);
        const feats = await runOnce(buildFeatureGraph(w, { size, layers: LAYERS, posEmbed }), { pixels });
        const maps = await runOnce(buildAnomalyGraph(w, s, { size, layers: LAYERS, posEmbed }), { pixels });
        const P = (size / ARCH.patch) ** 2;
        assert.deepEqual(feats.feat_a.dims, [batch, P, ARCH.dim]);
        assert.deepEqual(maps.anomaly.dims, [batch, size / ARCH.patch, size / ARCH.patch]);
        for (let i = 0; i < batch; i++) {
          const chw = referencePreprocess(px.subarray(i * per, (i + 1) * per), size);
          const [ra, rb] = referenceTeacher(w, chw, size, LAYERS, posEmbed);
          const n = P * ARCH.dim;
          assertClose(
            (feats.feat_a.data as Float32Array).subarray(i * n, (i + 1) * n),
            ra,
            1e-4,
            `feat_a #${i}`,
          );
          assertClose(
            (feats.feat_b.data as Float32Array).subarray(i * n, (i + 1) * n),
            rb,
            1e-4,
            `feat_b #${i}`,
          );
          const ref = referenceAnomaly(w, s, chw, size, LAYERS, posEmbed);
          assertClose(
            (maps.anomaly.data as Float32Array).subarray(i * P, (i + 1) * P),
            ref,
            1e-4,
            `anomaly #${i}`,
          );
        }
      });
    }
  }
});

describe('anomaly graph variants', () => {
  const w = makeDevTeacherWeights({ ...ARCH, seed: 11 });
  const s = initStudents(ARCH.dim, 12);
  const size = 56;
  const pixels = u8(randomPixels(13, 2, size), [2, size, size, 3]);

  test('com.microsoft MultiHeadAttention gives the same maps as MatMul/Softmax attention', async () => {
    const plain = (
      await runOnce(buildAnomalyGraph(w, s, { size, layers: LAYERS, posEmbed: w.posEmbed }), { pixels })
    ).anomaly;
    const fused = (
      await runOnce(
        buildAnomalyGraph(w, s, { size, layers: LAYERS, posEmbed: w.posEmbed, fusedAttention: true }),
        { pixels },
      )
    ).anomaly;
    assert.deepEqual(fused.dims, [2, 4, 4]);
    assert.ok(relErr(fused.data as Float32Array, plain.data as Float32Array) < 1e-5);
  });

  test('an fp16 teacher stays close to float32 (and is really float16)', async () => {
    const m16 = buildAnomalyGraph(w, s, { size, layers: LAYERS, posEmbed: w.posEmbed, fp16: true });
    const m32 = buildAnomalyGraph(w, s, { size, layers: LAYERS, posEmbed: w.posEmbed });
    const a16 = (await runOnce(m16, { pixels })).anomaly.data as Float32Array;
    const a32 = (await runOnce(m32, { pixels })).anomaly.data as Float32Array;
    const e = relErr(a16, a32);
    assert.ok(e < 2e-3, `fp16 relative error ${e}`);
    assert.ok(e > 0, 'fp16 graph computed exactly the float32 result');
    const init = onnxProto.onnx.ModelProto.decode(m16).graph?.initializer ?? [];
    const qWeight = init.find((t) => t.name === 'teacher.blocks.0.attn.q.weight_t');
    assert.equal(qWeight?.dataType, onnxProto.onnx.TensorProto.DataType.FLOAT16);
  });

  test('only the blocks up to the last requested layer are built', () => {
    const names = (
      onnxProto.onnx.ModelProto.decode(buildFeatureGraph(w, { size, layers: [1, 2], posEmbed: w.posEmbed }))
        .graph?.initializer ?? []
    ).map((t) => t.name ?? '');
    assert.ok(names.some((n) => n.startsWith('teacher.blocks.1.')));
    assert.ok(!names.some((n) => n.startsWith('teacher.blocks.2.')));
  });

  test('bad sizes, grids and layers are refused when the graph is built', () => {
    assert.throws(
      () => buildAnomalyGraph(w, s, { size: 60, layers: LAYERS, posEmbed: w.posEmbed }),
      /multiple of the patch/,
    );
    assert.throws(
      () => buildAnomalyGraph(w, s, { size: 70, layers: LAYERS, posEmbed: w.posEmbed }),
      /grid needs 26/,
    );
    assert.throws(
      () => buildAnomalyGraph(w, s, { size, layers: [2, 4], posEmbed: w.posEmbed }),
      /layer 4 is outside 1..3/,
    );
  });

  test('a session serves any batch size', async () => {
    const sess = await session(buildAnomalyGraph(w, s, { size, layers: LAYERS, posEmbed: w.posEmbed }));
    try {
      const two = (await sess.run({ pixels })).anomaly;
      const data = pixels.data as Uint8Array;
      const per = size * size * 3;
      for (let i = 0; i < 2; i++) {
        const one = (
          await sess.run({ pixels: u8(data.subarray(i * per, (i + 1) * per), [1, size, size, 3]) })
        ).anomaly;
        assert.deepEqual(one.dims, [1, 4, 4]);
        const slice = (two.data as Float32Array).subarray(i * 16, (i + 1) * 16);
        assert.ok(relErr(one.data as Float32Array, slice) < 1e-6);
      }
    } finally {
      await sess.release();
    }
  });
});
