import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  erf,
  erfc,
  gelu,
  normalisedDistance,
  referenceAnomaly,
  referenceLayerNorm,
  referencePreprocess,
  referenceStudent,
  referenceTeacher,
} from '../src/model/reference.js';
import { interpolatePosEmbed } from '../src/model/pos-embed.js';
import { makeDevTeacherWeights } from '../src/model/dev-teacher.js';
import { initStudents } from '../src/model/students.js';
import type { BlockWeights, LinearWeights, MlpWeights, TeacherWeights } from '../src/model/types.js';
import { Rng } from '../src/util/random.js';

const close = (a: number, b: number, tol: number, msg = '') =>
  assert.ok(Math.abs(a - b) <= tol, `${msg} ${a} vs ${b} (|Δ| ${Math.abs(a - b)} > ${tol})`);
const S2 = Math.SQRT2;

function eye(n: number): Float32Array {
  const a = new Float32Array(n * n);
  for (let i = 0; i < n; i++) a[i * n + i] = 1;
  return a;
}
function lin(weight: Float32Array, out: number, inF: number, bias = new Float32Array(out)): LinearWeights {
  return { weight, bias, inFeatures: inF, outFeatures: out };
}
const ones = (n: number, v = 1) => new Float32Array(n).fill(v);

/**
 * A hand-built 1-block teacher, dim 4, 2 heads, patch 2, 1×1 position grid (size 2 → one patch),
 * lnEps 1e-12 so hand values hold to ~1e-12. Unless overridden: LayerNorms are identity-affine,
 * q/k/v/proj/fc1/fc2 are zero, LayerScales zero.
 */
function handTeacher(
  over: Partial<BlockWeights>,
  registers = 0,
  rest: Partial<TeacherWeights> = {},
): TeacherWeights {
  const D = 4;
  const norm = () => ({ weight: ones(D), bias: new Float32Array(D) });
  const b: BlockWeights = {
    norm1: norm(),
    qkv: lin(new Float32Array(3 * D * D), 3 * D, D),
    proj: lin(new Float32Array(D * D), D, D),
    ls1: new Float32Array(D),
    norm2: norm(),
    fc1: lin(new Float32Array(D * D), D, D),
    fc2: lin(new Float32Array(D * D), D, D),
    ls2: new Float32Array(D),
    ...over,
  };
  return {
    arch: { depth: 1, dim: D, heads: 2, registers, patch: 2, mlpHidden: D, posGrid: 1, lnEps: 1e-12 },
    clsToken: new Float32Array(D),
    registerTokens: new Float32Array(registers * D),
    posEmbed: new Float32Array(2 * D),
    // Patch conv: output d = sum over the patch of channel d (d < 3); output 3 = 0.
    patchWeight: (() => {
      const w = new Float32Array(D * 3 * 2 * 2);
      for (let d = 0; d < 3; d++) for (let k = 0; k < 4; k++) w[(d * 3 + d) * 4 + k] = 1;
      return w;
    })(),
    patchBias: new Float32Array(D),
    blocks: [b],
    norm: norm(),
    ...rest,
  };
}

/** CHW 3×2×2 image whose per-channel patch sums are given (spread evenly over the 4 pixels). */
function chwWithSums(sums: [number, number, number]): Float64Array {
  const x = new Float64Array(12);
  for (let c = 0; c < 3; c++) x.fill(sums[c] / 4, c * 4, c * 4 + 4);
  return x;
}

describe('erf / erfc / gelu', () => {
  test('known values', () => {
    close(erf(0.5), 0.5204998778130465, 1e-15);
    close(erf(1), 0.8427007929497149, 1e-15);
    close(erf(2), 0.9953222650189527, 1e-15);
    close(erf(-1), -0.8427007929497149, 1e-15);
    close(erf(0.1), 0.1124629160182849, 1e-15);
    close(erf(3), 0.9999779095030014, 1e-15);
    assert.equal(erf(0), 0);
    assert.equal(erf(Infinity), 1);
    assert.equal(erf(-Infinity), -1);
    assert.ok(Number.isNaN(erf(NaN)));
    // The tail keeps relative precision through erfc.
    close(erfc(3) / 2.209049699858544e-5, 1, 1e-13);
    close(erfc(5) / 1.5374597944280349e-12, 1, 1e-13);
    close(erfc(-3), 2 - 2.209049699858544e-5, 1e-15);
    // Continuity across the series / continued-fraction switch at 2.
    close(erf(2 - 1e-9), erf(2) - (2 / Math.sqrt(Math.PI)) * Math.exp(-4) * 1e-9, 1e-15);
  });

  test('exact GELU = x·Φ(x)', () => {
    close(gelu(1), 0.8413447460685429, 1e-15);
    close(gelu(-1), -0.15865525393145707, 1e-15);
    assert.equal(gelu(0), 0);
    close(gelu(-10) / (-10 * 7.619853024160527e-24), 1, 1e-10);
    close(gelu(8), 8, 1e-13);
  });
});

describe('reference building blocks', () => {
  test('LayerNorm: zero mean, unit variance per row; affine applied after', () => {
    const rng = new Rng(2);
    const [rows, dim] = [5, 24];
    const x = Float64Array.from({ length: rows * dim }, () => 3 + 10 * rng.normal());
    const y = referenceLayerNorm(x, rows, dim, ones(dim), new Float32Array(dim), 1e-6);
    for (let r = 0; r < rows; r++) {
      const row = y.subarray(r * dim, (r + 1) * dim);
      const mean = row.reduce((a, v) => a + v, 0) / dim;
      const v = row.reduce((a, z) => a + (z - mean) ** 2, 0) / dim;
      close(mean, 0, 1e-14);
      close(v, 1, 1e-7);
    }
    const z = referenceLayerNorm(x, rows, dim, ones(dim, 2), ones(dim, 0.5), 1e-6);
    for (let i = 0; i < z.length; i++) close(z[i], 2 * y[i] + 0.5, 1e-13);
  });

  test('preprocess: HWC uint8 → CHW ImageNet-normalised', () => {
    const rgb = new Uint8Array(2 * 2 * 3);
    rgb.set([255, 0, 128], 3); // pixel (y 0, x 1)
    const x = referencePreprocess(rgb, 2);
    close(x[1], (1 - 0.485) / 0.229, 1e-15);
    close(x[4 + 1], (0 - 0.456) / 0.224, 1e-15);
    close(x[8 + 1], (128 / 255 - 0.406) / 0.225, 1e-15);
    close(x[0], -0.485 / 0.229, 1e-15);
    assert.throws(() => referencePreprocess(rgb, 3), /expected 3×3×3 bytes/);
  });

  test('student: identity layers give gelu(gelu(x))', () => {
    const m: MlpWeights = {
      layers: [lin(eye(2), 2, 2), lin(eye(2), 2, 2), lin(eye(2), 2, 2, ones(2, 0.25))],
    };
    const y = referenceStudent(m, new Float64Array([1, -1, 2, 0]), 2);
    const g1 = 0.8413447460685429;
    close(y[0], g1 * 0.5 * (1 + erf(g1 / S2)) + 0.25, 1e-15);
    close(y[1], gelu(-0.15865525393145707) + 0.25, 1e-15);
    close(y[3], 0.25, 0);
  });

  test('normalised distance, including the all-zero-row guard', () => {
    const d = normalisedDistance(
      new Float64Array([3, 4, 0, 0, 1, 0]),
      new Float64Array([6, 8, 1, 0, 0, 1]),
      3,
      2,
    );
    close(d[0], 0, 1e-15);
    close(d[1], 1, 1e-15); // n(0) = 0 → ‖0 − (1,0)‖ = 1
    close(d[2], S2, 1e-15);
  });
});

describe('referenceTeacher on hand-built weights', () => {
  test('identity block: output = final LN of patch conv + bias + pos', () => {
    const w = handTeacher({}, 0, { patchBias: new Float32Array([0, 1, 2, 3]) });
    // Channel-0 patch sum 6 → token [6, 1, 2, 3] → mean 3, deviations [3, −2, −1, 0], var 3.5.
    const [f] = referenceTeacher(w, chwWithSums([6, 0, 0]), 2, [1]);
    assert.equal(f.length, 4);
    close(f[0], 3 / Math.sqrt(3.5), 1e-12);
    close(f[1], -2 / Math.sqrt(3.5), 1e-12);
    close(f[3], 0, 1e-12);
  });

  test('attention by hand: two tokens, q = k = v = x, two heads', () => {
    // cls → [1, −1, 1, −1] (LN leaves it unchanged); patch → [2, 0, 0, −2] (LN: [√2, 0, 0, −√2]).
    const D = 4;
    const qkv = new Float32Array(3 * D * D);
    for (let j = 0; j < 3; j++) qkv.set(eye(D), j * D * D);
    const w = handTeacher({ qkv: lin(qkv, 3 * D, D), proj: lin(eye(D), D, D), ls1: ones(D) }, 0, {
      clsToken: new Float32Array([1, -1, 1, -1]),
      patchBias: new Float32Array([0, 0, 0, -2]),
    });
    // Patch row: head 0 q = (√2, 0), keys (1, −1) and (√2, 0): scores √2, 2, scaled by 1/√2 → 1, √2.
    // Head 1 q = (0, −√2), keys (1, −1) and (0, −√2): scores √2, 2 → the same 1, √2.
    const p0 = Math.E / (Math.E + Math.exp(S2));
    const p1 = 1 - p0;
    const x = [2 + p0 * 1 + p1 * S2, 0 - p0, 0 + p0, -2 - p0 - p1 * S2];
    const mean = (x[0] + x[1] + x[2] + x[3]) / 4;
    const sd = Math.sqrt(x.reduce((a, v) => a + (v - mean) ** 2, 0) / 4);
    const [f] = referenceTeacher(w, chwWithSums([2, 0, 0]), 2, [1]);
    for (let d = 0; d < 4; d++) close(f[d], (x[d] - mean) / sd, 1e-12, `d${d}`);
  });

  test('MLP by hand: fc1 = fc2 = I, ls2 = 0.5 → x + 0.5·gelu(LN(x))', () => {
    const D = 4;
    const w = handTeacher({ fc1: lin(eye(D), D, D), fc2: lin(eye(D), D, D), ls2: ones(D, 0.5) }, 0, {
      patchBias: new Float32Array([0, 0, 0, -2]),
    });
    // Token [2, 0, 0, −2], LN → [√2, 0, 0, −√2]; gelu(±√2) = ±√2·½(1 ± erf(1)).
    const g = S2 * 0.5 * (1 + 0.8427007929497149);
    const gm = -S2 * 0.5 * (1 - 0.8427007929497149);
    const x = [2 + 0.5 * g, 0, 0, -2 + 0.5 * gm];
    const mean = (x[0] + x[3]) / 4;
    const sd = Math.sqrt(x.reduce((a, v) => a + (v - mean) ** 2, 0) / 4);
    const [f] = referenceTeacher(w, chwWithSums([2, 0, 0]), 2, [1]);
    for (let d = 0; d < 4; d++) close(f[d], (x[d] - mean) / sd, 1e-12, `d${d}`);
  });

  test('token assembly: pos on cls and patches, registers unshifted and attended to, then dropped', () => {
    // q = k = 0 → uniform attention; v = proj = I, ls1 = 1: each token gains the mean of LN1 over all tokens.
    const D = 4;
    const qkv = new Float32Array(3 * D * D);
    qkv.set(eye(D), 2 * D * D);
    const rest: Partial<TeacherWeights> = {
      arch: { depth: 1, dim: D, heads: 2, registers: 2, patch: 2, mlpHidden: D, posGrid: 2, lnEps: 1e-12 },
      clsToken: new Float32Array([1, 0, 0, 0]),
      registerTokens: new Float32Array([0, 2, 0, 0, 0, 0, 3, 1]),
      posEmbed: new Float32Array([0, 0, 0, 5, 1, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 4, 3, 0, 0, 1]),
    };
    const w = handTeacher({ qkv: lin(qkv, 3 * D, D), proj: lin(eye(D), D, D), ls1: ones(D) }, 2, rest);
    const chw = new Float64Array(3 * 4 * 4); // size 4 → 2×2 patches; patch (0,1) has channel-1 sum 8
    for (const [y, x] of [
      [0, 2],
      [0, 3],
      [1, 2],
      [1, 3],
    ])
      chw[16 + y * 4 + x] = 2;
    const tokens = [
      [1, 0, 0, 5], // cls + pos[0]
      [0, 2, 0, 0], // registers: no position embedding
      [0, 0, 3, 1],
      [1, 0, 0, 0], // patch 0: conv 0 + pos[1]
      [0, 2 + 8, 0, 0], // patch 1: conv (0, 8, 0, 0) + pos[2]
      [0, 0, 0, 4],
      [3, 0, 0, 1],
    ];
    const ln = (v: number[]) => {
      const m = v.reduce((a, b) => a + b, 0) / v.length;
      const s = Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / v.length + 1e-12);
      return v.map((z) => (z - m) / s);
    };
    const meanLn = [0, 1, 2, 3].map((d) => tokens.reduce((a, t) => a + ln(t)[d], 0) / tokens.length);
    const [f] = referenceTeacher(w, chw, 4, [1]);
    assert.equal(f.length, 4 * D);
    for (let p = 0; p < 4; p++) {
      const want = ln(tokens[3 + p].map((v, d) => v + meanLn[d]));
      for (let d = 0; d < D; d++) close(f[p * D + d], want[d], 1e-12, `patch ${p} d${d}`);
    }
  });
});

describe('referenceTeacher on a random teacher', () => {
  const w = makeDevTeacherWeights({
    depth: 3,
    dim: 16,
    heads: 2,
    registers: 2,
    patch: 14,
    posGrid: 3,
    seed: 4,
  });
  const rng = new Rng(9);
  const size = 56; // 4×4 patches: the 3×3 position grid is interpolated
  const rgb = Uint8Array.from({ length: size * size * 3 }, () => rng.int(0, 255));
  const chw = referencePreprocess(rgb, size);

  test('layers in requested order; interpolated pos embedding used by default; explicit one honoured', () => {
    const [f3, f1] = referenceTeacher(w, chw, size, [3, 1]);
    assert.equal(f3.length, 16 * 16);
    const [g1, g3] = referenceTeacher(w, chw, size, [1, 3], interpolatePosEmbed(w.posEmbed, 16, 3, 4));
    assert.deepEqual(g1, f1);
    assert.deepEqual(g3, f3);
    assert.notDeepEqual(f1, f3);
    const [h3] = referenceTeacher(w, chw, size, [3], new Float32Array(17 * 16));
    assert.notDeepEqual(h3, f3);
    assert.throws(
      () => referenceTeacher(w, chw, size, [1], new Float32Array(10 * 16)),
      /posEmbed must be \[1 \+ 4²/,
    );
    assert.throws(() => referenceTeacher(w, chw, size, [4]), /layer 4 not in 1\.\.3/);
    assert.throws(() => referenceTeacher(w, chw, 50, [1]), /not a multiple of patch 14/);
    assert.ok(f3.every((v) => Number.isFinite(v)));
  });

  test('anomaly: Δ = ‖n(bwd(f_b)) − n(f_a)‖·‖n(fwd(f_a)) − n(f_b)‖, each student paired with its layer', () => {
    // Students with zero weights output their last bias: forward → c1, backward → c2.
    const s = initStudents(16, 1);
    for (const m of [s.forward, s.backward]) m.layers[2].weight.fill(0);
    const c1 = s.forward.layers[2].bias;
    const c2 = s.backward.layers[2].bias;
    const delta = referenceAnomaly(w, s, chw, size, [2, 3]);
    const [fa, fb] = referenceTeacher(w, chw, size, [2, 3]);
    const rows = (c: Float32Array) => {
      const a = new Float64Array(16 * 16);
      for (let p = 0; p < 16; p++) a.set(c, p * 16);
      return a;
    };
    const db = normalisedDistance(rows(c1), fb, 16, 16);
    const da = normalisedDistance(rows(c2), fa, 16, 16);
    assert.equal(delta.length, 16);
    for (let p = 0; p < 16; p++) close(delta[p], da[p] * db[p], 1e-15);
    // With real students the score is finite and non-negative everywhere.
    const d2 = referenceAnomaly(w, initStudents(16, 2), chw, size, [2, 3]);
    assert.ok(d2.every((v) => Number.isFinite(v) && v >= 0 && v <= 4));
  });
});

describe('dev teacher features (what teach-in relies on)', () => {
  test('spatially local: a defect in one patch changes that patch far more than any other', () => {
    const w = makeDevTeacherWeights({ depth: 12, dim: 32, heads: 2, seed: 0 });
    const [size, g, D] = [84, 6, 32];
    const rng = new Rng(1);
    const good = new Uint8Array(size * size * 3);
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        for (let c = 0; c < 3; c++) {
          const v = 128 + 60 * Math.sin((x + 2 * y) / 3 + c) + 10 * rng.normal();
          good[(y * size + x) * 3 + c] = Math.max(0, Math.min(255, v));
        }
      }
    }
    const bad = good.slice();
    const target = 2 * g + 3; // patch row 2, column 3
    for (let y = 2 * 14 + 3; y < 2 * 14 + 11; y++)
      for (let x = 3 * 14 + 3; x < 3 * 14 + 11; x++) bad.fill(20, (y * size + x) * 3, (y * size + x) * 3 + 3);
    const a = referenceTeacher(w, referencePreprocess(good, size), size, [8, 12]);
    const b = referenceTeacher(w, referencePreprocess(bad, size), size, [8, 12]);
    for (let l = 0; l < 2; l++) {
      const change = Array.from({ length: g * g }, (_, p) => {
        let num = 0;
        let den = 0;
        for (let d = 0; d < D; d++) {
          num += (a[l][p * D + d] - b[l][p * D + d]) ** 2;
          den += a[l][p * D + d] ** 2;
        }
        return Math.sqrt(num / den);
      });
      const others = Math.max(...change.filter((_, p) => p !== target));
      assert.ok(change[target] > 0.3, `layer ${l}: defect patch changed by ${change[target]}`);
      assert.ok(
        change[target] > 10 * others,
        `layer ${l}: defect ${change[target]} vs other patches ≤ ${others}`,
      );
    }
  });
});
