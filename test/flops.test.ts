import { test } from 'node:test';
import assert from 'node:assert/strict';
import { modelFlops, VIT_B14_REG } from '../src/model/flops.js';

test('FLOPs counted from the architecture: a tiny case by hand, ViT-B/14 at 1036 ≈ 2.1 TFLOP', () => {
  // 2×2 patches of 14 px, 1 register: T = 1 + 1 + 4 = 6; D = 8, MLP 32.
  const arch = {
    depth: 2,
    dim: 8,
    heads: 2,
    registers: 1,
    patch: 14,
    mlpHidden: 32,
    posGrid: 2,
    lnEps: 1e-6,
  };
  const f = modelFlops(arch, 28);
  assert.equal(f.tokens, 6);
  assert.equal(f.patchEmbed, 2 * 4 * 8 * 588);
  assert.equal(f.blockLinear, 2 * 6 * (8 * 24 + 8 * 8 + 8 * 32 + 32 * 8));
  assert.equal(f.blockAttention, 2 * (6 * 6 * 8) * 2);
  assert.equal(f.teacher, f.patchEmbed + 2 * (f.blockLinear + f.blockAttention));
  assert.equal(f.students, 2 * 2 * 4 * 3 * 64);
  assert.equal(modelFlops(arch, 28, 1).teacher, f.patchEmbed + f.blockLinear + f.blockAttention);
  const vb = modelFlops(VIT_B14_REG, 1036);
  assert.equal(vb.tokens, 5481);
  assert.ok(vb.teacher > 2.0e12 && vb.teacher < 2.1e12, String(vb.teacher));
  assert.throws(() => modelFlops(VIT_B14_REG, 1000), /not a multiple/);
});
