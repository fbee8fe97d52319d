// The training-step graph against float64 maths: the reference loss (built on the project's float64 student
// forward) differentiated by central finite differences, and a float64 torch.optim.Adam step.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import type * as ort from 'onnxruntime-node';
import {
  buildTrainGraph,
  flattenStudents,
  paramCount,
  paramSpecs,
  paramsToStudents,
  splitFlat,
  studentParams,
} from '../src/model/train-graph.js';
import {
  referenceAdamInit,
  referenceAdamStep,
  referenceTrainGradients,
  referenceTrainLoss,
} from '../src/model/train-reference.js';
import { initStudents } from '../src/model/students.js';
import type { StudentWeights } from '../src/model/types.js';
import { Rng } from '../src/util/random.js';
import { f32, maxAbs, maxAbsDiff, randomArray, session } from './helpers/onnx.js';

const D = 6;
const H = 5;
const ROWS = 9;

/** Students with a hidden width H ≠ D, so a transposed shape anywhere would fail. */
function tinyStudents(seed: number): StudentWeights {
  const rng = new Rng(seed);
  const params = paramSpecs(D, H).map((sp) => randomArray(rng, sp.size, 0.6));
  return paramsToStudents(params, D, H);
}

function rows(seed: number): { fa: Float32Array; fb: Float32Array } {
  const rng = new Rng(seed);
  return { fa: randomArray(rng, ROWS * D), fb: randomArray(rng, ROWS * D) };
}

type Feeds = Record<string, ort.Tensor>;

function feeds(
  s: StudentWeights,
  fa: Float32Array,
  fb: Float32Array,
  m: Float32Array,
  v: Float32Array,
  t: number,
  lr: number,
): Feeds {
  const T = m.length;
  return {
    fa: f32(fa, [fa.length / D, D]),
    fb: f32(fb, [fb.length / D, D]),
    params: f32(flattenStudents(s), [T]),
    m: f32(m, [T]),
    v: f32(v, [T]),
    step_size: f32(new Float32Array([lr / (1 - 0.9 ** t)]), []),
    bc2_sqrt: f32(new Float32Array([Math.sqrt(1 - 0.999 ** t)]), []),
  };
}

const data = (t: ort.Tensor): Float32Array => t.data as Float32Array;

describe('training-step graph', () => {
  test('loss and gradients match float64 finite differences of the reference loss', async () => {
    const s = tinyStudents(1);
    const { fa, fb } = rows(2);
    const specs = paramSpecs(D, H);
    const zeros = new Float32Array(paramCount(D, H));
    const sess = await session(buildTrainGraph({ dim: D, hidden: H, gradients: true }));
    const out = await sess.run(feeds(s, fa, fb, zeros, zeros, 1, 1e-3));
    const grads = splitFlat(data(out.grad), D, H);
    await sess.release();

    const fa64 = Float64Array.from(fa);
    const fb64 = Float64Array.from(fb);
    const loss64 = referenceTrainLoss(s, fa64, fb64, ROWS);
    assert.ok(Math.abs(data(out.loss)[0] - loss64) < 1e-6, `loss ${data(out.loss)[0]} vs ${loss64}`);
    assert.ok(
      Math.abs(data(out.loss_forward)[0] + data(out.loss_backward)[0] - loss64) < 1e-6,
      'the two terms add up to the loss',
    );

    // Central differences on the float64 loss, perturbing each float32 weight by an exactly representable step.
    const analytic = referenceTrainGradients(s, fa64, fb64, ROWS);
    const params = studentParams(s);
    let worstFd = 0;
    let worstGraph = 0;
    let scale = 0;
    specs.forEach((sp, k) => {
      const p = params[k];
      const g = grads[k];
      for (let i = 0; i < p.length; i++) {
        const orig = p[i];
        p[i] = Math.fround(orig + 2.5e-4);
        const up = p[i];
        const lUp = referenceTrainLoss(s, fa64, fb64, ROWS);
        p[i] = Math.fround(orig - 2.5e-4);
        const down = p[i];
        const lDown = referenceTrainLoss(s, fa64, fb64, ROWS);
        p[i] = orig;
        const fd = (lUp - lDown) / (up - down);
        scale = Math.max(scale, Math.abs(fd));
        worstFd = Math.max(worstFd, Math.abs(fd - analytic[k][i]));
        worstGraph = Math.max(worstGraph, Math.abs(fd - g[i]));
      }
    });
    assert.ok(scale > 1e-2, `gradients are not trivially small (${scale})`);
    // Measured: 9e-8 (float64 analytic) and 5e-8 (graph) against max |g| 0.23; a wrong GELU′ term of 1 %
    // gives 8e-4. The truncation error of a 2.5e-4 central difference is O(6e-8·|f'''|).
    assert.ok(worstFd < 5e-7, `float64 analytic gradient vs finite differences: ${worstFd}`);
    assert.ok(worstGraph < 5e-7, `graph gradient vs finite differences: ${worstGraph} (max |g| ${scale})`);
  });

  test('three Adam steps equal a float64 torch.optim.Adam reference', async () => {
    let s = tinyStudents(3);
    const specs = paramSpecs(D, H);
    const lr = 1e-2;
    let ref = referenceAdamInit(s);
    const T = paramCount(D, H);
    let m: Float32Array = new Float32Array(T);
    let v: Float32Array = new Float32Array(T);
    const sess = await session(buildTrainGraph({ dim: D, hidden: H }));
    try {
      for (let t = 1; t <= 3; t++) {
        // Different rows each step, as in training.
        const { fa, fb } = rows(10 + t);
        const refStudents = paramsToStudents(
          ref.params.map((p) => Float32Array.from(p)),
          D,
          H,
        );
        const grads = referenceTrainGradients(
          refStudents,
          Float64Array.from(fa),
          Float64Array.from(fb),
          ROWS,
        );
        ref = referenceAdamStep(ref, grads, lr);
        const out = await sess.run(feeds(s, fa, fb, m, v, t, lr));
        const np = splitFlat(data(out.new_params), D, H);
        m = data(out.new_m);
        v = data(out.new_v);
        const ms = splitFlat(m, D, H);
        const vs = splitFlat(v, D, H);
        specs.forEach((sp, k) => {
          // Each Adam step moves a weight by ≈ lr: errors are measured against that scale.
          const dp = maxAbsDiff(np[k], ref.params[k]);
          assert.ok(dp < 1e-4 * lr, `step ${t} ${sp.name}: |Δp| ${dp}`);
          const dm = maxAbsDiff(ms[k], ref.m[k]);
          assert.ok(dm < 1e-5 * maxAbs(ref.m[k]) + 1e-9, `step ${t} ${sp.name}: |Δm| ${dm}`);
          const dv = maxAbsDiff(vs[k], ref.v[k]);
          assert.ok(dv < 1e-5 * maxAbs(ref.v[k]) + 1e-12, `step ${t} ${sp.name}: |Δv| ${dv}`);
        });
        s = paramsToStudents(np, D, H);
      }
    } finally {
      await sess.release();
    }
  });

  test('dynamic row count and the default (square, D-wide) students', async () => {
    const dim = 8;
    const s = initStudents(dim, 4);
    const sess = await session(buildTrainGraph({ dim }));
    try {
      for (const n of [1, 5]) {
        const rng = new Rng(n);
        const fa = randomArray(rng, n * dim);
        const fb = randomArray(rng, n * dim);
        const T = paramCount(dim);
        const f: Feeds = {
          fa: f32(fa, [n, dim]),
          fb: f32(fb, [n, dim]),
          params: f32(flattenStudents(s), [T]),
          m: f32(new Float32Array(T), [T]),
          v: f32(new Float32Array(T), [T]),
          step_size: f32(new Float32Array([1e-3 / 0.1]), []),
          bc2_sqrt: f32(new Float32Array([Math.sqrt(0.001)]), []),
        };
        const out = await sess.run(f);
        const ref = referenceTrainLoss(s, Float64Array.from(fa), Float64Array.from(fb), n);
        assert.ok(Math.abs(data(out.loss)[0] - ref) < 1e-6, `n=${n}: ${data(out.loss)[0]} vs ${ref}`);
      }
    } finally {
      await sess.release();
    }
  });
});
