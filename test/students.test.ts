import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { initStudents, studentsFromTensors, studentsToTensors } from '../src/model/students.js';
import { WeightsError } from '../src/model/teacher-weights.js';
import { encodeSafetensors, parseSafetensors } from '../src/model/safetensors.js';

describe('students', () => {
  test('initStudents: shapes D→D→D→D, nn.Linear-style U(−1/√in, 1/√in), seeded', () => {
    const dim = 64;
    const s = initStudents(dim, 1);
    const bound = 1 / Math.sqrt(dim);
    for (const mlp of [s.forward, s.backward]) {
      for (const l of mlp.layers) {
        assert.equal(l.inFeatures, dim);
        assert.equal(l.outFeatures, dim);
        assert.equal(l.weight.length, dim * dim);
        assert.equal(l.bias.length, dim);
        assert.ok(l.weight.every((x) => Math.abs(x) <= bound));
        assert.ok(l.bias.every((x) => Math.abs(x) <= bound));
        // Uniform on ±b has variance b²/3; 4096 samples pin it within a few percent.
        const v = l.weight.reduce((a, x) => a + x * x, 0) / l.weight.length;
        assert.ok(
          Math.abs(v / ((bound * bound) / 3) - 1) < 0.08,
          `variance ratio ${v / ((bound * bound) / 3)}`,
        );
      }
    }
    assert.deepEqual(initStudents(dim, 1), s);
    assert.notDeepEqual(initStudents(dim, 2).forward.layers[0].weight, s.forward.layers[0].weight);
    assert.notDeepEqual(s.backward.layers[0].weight, s.forward.layers[0].weight);
    assert.throws(() => initStudents(0, 1), /dim must be a positive integer/);
  });

  test('tensor names follow the nn.Sequential state_dict; round trip through safetensors', () => {
    const s = initStudents(8, 3);
    const t = studentsToTensors(s);
    assert.deepEqual([...t.keys()].sort(), [
      'backward.0.bias',
      'backward.0.weight',
      'backward.2.bias',
      'backward.2.weight',
      'backward.4.bias',
      'backward.4.weight',
      'forward.0.bias',
      'forward.0.weight',
      'forward.2.bias',
      'forward.2.weight',
      'forward.4.bias',
      'forward.4.weight',
    ]);
    assert.deepEqual(t.get('forward.4.weight')?.shape, [8, 8]);
    assert.equal(t.get('backward.2.weight')?.data, s.backward.layers[1].weight);
    assert.deepEqual(studentsFromTensors(parseSafetensors(encodeSafetensors(t)).tensors), s);
  });

  test('missing, mis-shaped and unexpected tensors are all named', () => {
    const t = studentsToTensors(initStudents(8, 3));
    t.delete('backward.4.bias');
    t.set('forward.2.weight', { dtype: 'F32', shape: [8, 7], data: new Float32Array(56) });
    t.set('backward.0.bias', { dtype: 'F32', shape: [1, 8], data: new Float32Array(8) });
    t.set('forward.6.weight', { dtype: 'F32', shape: [1], data: new Float32Array(1) });
    assert.throws(
      () => studentsFromTensors(t),
      (e: unknown) => {
        assert.ok(e instanceof WeightsError);
        assert.deepEqual(e.problems.slice().sort(), [
          'backward.0.bias: expected [8], got [1,8]',
          'backward.4.bias: missing (expected [8])',
          'forward.2.weight: expected [8,8], got [8,7]',
          'forward.6.weight: unexpected tensor',
        ]);
        return true;
      },
    );
    assert.throws(() => studentsFromTensors(new Map()), /forward\.0\.weight: missing/);
  });
});
