import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  WeightsError,
  detectLayout,
  readTeacher,
  teacherFromTensors,
  teacherToTensors,
} from '../src/model/teacher-weights.js';
import { makeDevTeacher, makeDevTeacherWeights, writeDevTeacher } from '../src/model/dev-teacher.js';
import { encodeSafetensors, parseSafetensors } from '../src/model/safetensors.js';
import type { TensorData } from '../src/model/safetensors.js';

const opts = { depth: 3, dim: 16, heads: 2, registers: 2, patch: 4, posGrid: 3, mlpRatio: 4, seed: 7 };
const w = makeDevTeacherWeights(opts);

function renamed(t: Map<string, TensorData>, f: (name: string) => string): Map<string, TensorData> {
  return new Map([...t].map(([k, v]) => [f(k), v]));
}

function throwsProblems(fn: () => unknown, expected: (string | RegExp)[], count?: number): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof WeightsError, `expected WeightsError, got ${String(e)}`);
    for (const p of expected) {
      if (typeof p === 'string')
        assert.ok(e.problems.includes(p), `missing problem "${p}" in:\n${e.message}`);
      else
        assert.ok(
          e.problems.some((x) => p.test(x)),
          `no problem matching ${p} in:\n${e.message}`,
        );
    }
    if (count !== undefined) assert.equal(e.problems.length, count, e.message);
    return true;
  });
}

describe('teacher weight layouts', () => {
  test('Hugging Face layout round-trips to identical TeacherWeights, through safetensors bytes', () => {
    const t = teacherToTensors(w, 'huggingface');
    assert.ok(t.has('embeddings.mask_token'));
    assert.deepEqual(t.get('encoder.layer.1.mlp.fc1.weight')?.shape, [64, 16]);
    const parsed = parseSafetensors(encodeSafetensors(t)).tensors;
    const got = teacherFromTensors(parsed, { heads: 2 });
    assert.equal(got.layout, 'huggingface');
    assert.deepEqual(got.weights, w);
  });

  test('official layout round-trips; qkv rows are query, key, value in that order', () => {
    const t = teacherToTensors(w, 'official');
    assert.deepEqual(t.get('blocks.0.attn.qkv.weight')?.shape, [48, 16]);
    assert.deepEqual(t.get('pos_embed')?.shape, [1, 10, 16]);
    const got = teacherFromTensors(t, { heads: 2 });
    assert.equal(got.layout, 'official');
    assert.deepEqual(got.weights, w);
    const hf = teacherToTensors(w, 'huggingface');
    const D = 16;
    assert.deepEqual(
      t.get('blocks.2.attn.qkv.weight')!.data.subarray(D * D, 2 * D * D),
      hf.get('encoder.layer.2.attention.attention.key.weight')!.data,
    );
    assert.deepEqual(
      t.get('blocks.2.attn.qkv.bias')!.data.subarray(2 * D),
      hf.get('encoder.layer.2.attention.attention.value.bias')!.data,
    );
  });

  test('prefixed HF names, extra tensors ignored, chunked official blocks', () => {
    const hf = renamed(teacherToTensors(w, 'huggingface'), (n) => `dinov2_with_registers.${n}`);
    hf.set('classifier.weight', { dtype: 'F32', shape: [2, 32], data: new Float32Array(64) });
    assert.deepEqual(detectLayout(hf.keys()), { layout: 'huggingface', prefix: 'dinov2_with_registers.' });
    assert.deepEqual(teacherFromTensors(hf, { heads: 2 }).weights, w);

    // BlockChunk naming: blocks.{chunk}.{global index}.
    const chunked = renamed(teacherToTensors(w, 'official'), (n) =>
      n.replace(/^blocks\.(\d+)\./, (_m, i: string) => `blocks.${Number(i) < 2 ? 0 : 1}.${i}.`),
    );
    assert.ok(chunked.has('blocks.1.2.ls2.gamma'));
    assert.deepEqual(teacherFromTensors(chunked, { heads: 2 }).weights, w);

    const prefixedOfficial = renamed(teacherToTensors(w, 'official'), (n) => `backbone.${n}`);
    assert.deepEqual(detectLayout(prefixedOfficial.keys()), { layout: 'official', prefix: 'backbone.' });
    assert.deepEqual(teacherFromTensors(prefixedOfficial, { heads: 2 }).weights, w);
  });

  test('architecture inferred from shapes; heads default to dim/64', () => {
    const big = makeDevTeacherWeights({ depth: 1, dim: 128, heads: 2, registers: 0, patch: 2, posGrid: 2 });
    const got = teacherFromTensors(teacherToTensors(big, 'huggingface')).weights.arch;
    assert.deepEqual(got, {
      depth: 1,
      dim: 128,
      heads: 2,
      registers: 0,
      patch: 2,
      mlpHidden: 512,
      posGrid: 2,
      lnEps: 1e-6,
    });
    assert.equal(
      teacherFromTensors(teacherToTensors(big, 'official'), { lnEps: 1e-5 }).weights.arch.lnEps,
      1e-5,
    );
    throwsProblems(
      () => teacherFromTensors(teacherToTensors(w, 'huggingface')),
      [/heads: width 16 is not a multiple of 64/],
    );
    throwsProblems(
      () => teacherFromTensors(teacherToTensors(w, 'huggingface'), { heads: 3 }),
      ['heads: 3 does not divide the width 16'],
    );
  });

  test('leading singleton dims are tolerated ([1,1,D] ≡ [D])', () => {
    const t = teacherToTensors(w, 'huggingface');
    const cls = t.get('embeddings.cls_token')!;
    t.set('embeddings.cls_token', { ...cls, shape: [16] });
    assert.deepEqual(teacherFromTensors(t, { heads: 2 }).weights, w);
  });

  test('every missing and mis-shaped tensor is named at once', () => {
    const t = teacherToTensors(w, 'huggingface');
    t.delete('encoder.layer.1.attention.attention.key.bias');
    t.delete('layernorm.bias');
    t.delete('encoder.layer.2.layer_scale2.lambda1');
    t.set('encoder.layer.0.mlp.fc1.weight', {
      dtype: 'F32',
      shape: [64, 15],
      data: new Float32Array(64 * 15),
    });
    t.set('encoder.layer.2.attention.output.dense.bias', {
      dtype: 'F32',
      shape: [17],
      data: new Float32Array(17),
    });
    throwsProblems(
      () => teacherFromTensors(t, { heads: 2 }),
      [
        'encoder.layer.1.attention.attention.key.bias: missing (expected [16])',
        'layernorm.bias: missing (expected [16])',
        'encoder.layer.2.layer_scale2.lambda1: missing (expected [16])',
        'encoder.layer.0.mlp.fc1.weight: expected [64,16], got [64,15]',
        'encoder.layer.2.attention.output.dense.bias: expected [16], got [17]',
      ],
      5,
    );
  });

  test('official layout: missing block tensors and a bad position grid', () => {
    const t = teacherToTensors(w, 'official');
    t.delete('blocks.1.attn.qkv.weight');
    t.delete('blocks.1.norm2.weight');
    throwsProblems(
      () => teacherFromTensors(t, { heads: 2 }),
      [
        'blocks.1.attn.qkv.weight: missing (expected [48,16])',
        'blocks.1.norm2.weight: missing (expected [16])',
      ],
      2,
    );
    const p = teacherToTensors(w, 'official');
    p.set('pos_embed', { dtype: 'F32', shape: [1, 9, 16], data: new Float32Array(9 * 16) });
    throwsProblems(
      () => teacherFromTensors(p, { heads: 2 }),
      [/pos_embed: expected \[1,1\+G²,16\].*got \[1,9,16\]/],
    );
  });

  test('a file that is no DINOv2 at all', () => {
    throwsProblems(
      () => detectLayout(['a.weight', 'b.bias']),
      [/not a DINOv2 checkpoint.*found 2 tensors: a\.weight, b\.bias/],
    );
    throwsProblems(() => teacherFromTensors(new Map()), [/found 0 tensors/]);
  });
});

describe('dev teacher', () => {
  test('marked as such, HF layout, heads in metadata; readTeacher uses it', () => {
    const { tensors, metadata } = makeDevTeacher(opts);
    assert.deepEqual(metadata, {
      'pinpoint.dev_teacher': 'true',
      'pinpoint.heads': '2',
      'pinpoint.note': 'random weights, not a real backbone',
    });
    assert.equal(detectLayout(tensors.keys()).layout, 'huggingface');
    const dir = mkdtempSync(join(tmpdir(), 'dev-teacher-'));
    try {
      const path = join(dir, 't.safetensors');
      writeDevTeacher(path, opts);
      const r = readTeacher(path);
      assert.equal(r.weights.arch.heads, 2);
      assert.deepEqual(r.weights, w);
      assert.equal(r.metadata['pinpoint.dev_teacher'], 'true');
    } finally {
      rmSync(dir, { recursive: true });
    }
  });

  test('defaults, determinism by seed, and the intended weight statistics', () => {
    const d = makeDevTeacherWeights({ depth: 1 });
    assert.deepEqual(d.arch, {
      depth: 1,
      dim: 64,
      heads: 4,
      registers: 4,
      patch: 14,
      mlpHidden: 256,
      posGrid: 37,
      lnEps: 1e-6,
    });
    assert.deepEqual(makeDevTeacherWeights(opts), w);
    assert.notDeepEqual(makeDevTeacherWeights({ ...opts, seed: 8 }).patchWeight, w.patchWeight);
    const std = (a: Float32Array) => Math.sqrt(a.reduce((s, x) => s + x * x, 0) / a.length);
    assert.ok(Math.abs(std(d.patchWeight) * Math.sqrt(3 * 14 * 14) - 1) < 0.05);
    assert.ok(Math.abs(std(d.blocks[0].fc2.weight) * Math.sqrt(256) - 1) < 0.05);
    assert.ok(d.blocks[0].ls1.every((g) => g >= 0.1 && g < 0.3));
    assert.ok(std(d.posEmbed) < 0.03);
  });
});

test('dev teacher patchGain scales the patch embedding only, and a non-positive gain is refused', () => {
  const g = makeDevTeacherWeights({ ...opts, patchGain: 10 });
  for (let i = 0; i < w.patchWeight.length; i++)
    assert.ok(Math.abs(g.patchWeight[i] - 10 * w.patchWeight[i]) <= 1e-5 * Math.abs(g.patchWeight[i]) + 1e-7);
  assert.deepEqual(g.blocks[0].qkv.weight, w.blocks[0].qkv.weight);
  assert.deepEqual(g.posEmbed, w.posEmbed);
  for (const bad of [0, -1, Number.NaN])
    assert.throws(
      () => makeDevTeacherWeights({ ...opts, patchGain: bad }),
      /patchGain must be a positive number/,
    );
});

test("dev teacher patchFilters 'bank': orthogonal rows of RMS norm patchGain, seed-free, the rest unchanged", () => {
  const gain = 10;
  const b = makeDevTeacherWeights({ ...opts, patchGain: gain, patchFilters: 'bank' });
  const r = makeDevTeacherWeights({ ...opts, patchGain: gain });
  const n = 3 * opts.patch * opts.patch;
  const row = (i: number) => b.patchWeight.subarray(i * n, (i + 1) * n);
  const dot = (x: Float32Array, y: Float32Array) => x.reduce((a, v, k) => a + v * y[k], 0);
  let sq = 0;
  for (let i = 0; i < opts.dim; i++) {
    sq += dot(row(i), row(i));
    for (let j = 0; j < i; j++)
      assert.ok(Math.abs(dot(row(i), row(j))) < 1e-4, `rows ${i} and ${j} not orthogonal`);
  }
  assert.ok(Math.abs(Math.sqrt(sq / opts.dim) - gain) < 1e-3);
  // A flat grey patch excites the mean-brightness filter alone; a flat red-minus-green one the red–green one.
  const flat = (rgb: number[]) => Float32Array.from({ length: n }, (_, k) => rgb[Math.floor(k / (n / 3))]);
  const responses = (x: Float32Array) => Array.from({ length: opts.dim }, (_, i) => dot(row(i), x));
  const grey = responses(flat([1, 1, 1]));
  assert.ok(Math.abs(grey[0]) > 0.1 && grey.slice(1).every((v) => Math.abs(v) < 1e-4), String(grey));
  const rg = responses(flat([1, -1, 0]));
  const hit = rg.map((v, i) => (Math.abs(v) > 1e-4 ? i : -1)).filter((i) => i >= 0);
  assert.equal(hit.length, 1);
  assert.ok(Math.abs(rg[hit[0]]) > Math.abs(grey[0]), 'colour weighs more than the mean brightness');
  // The bank does not depend on the seed; every other weight is the random teacher's of the same seed.
  assert.deepEqual(
    makeDevTeacherWeights({ ...opts, seed: 8, patchFilters: 'bank', patchGain: gain }).patchWeight,
    b.patchWeight,
  );
  assert.deepEqual({ ...b, patchWeight: r.patchWeight }, r);
  assert.throws(
    () => makeDevTeacherWeights({ ...opts, patchFilters: 'gabor' as 'bank' }),
    /patchFilters must be one of random, bank, got gabor/,
  );
  assert.throws(
    () => makeDevTeacherWeights({ ...opts, dim: 64, patchFilters: 'bank' }),
    /patchFilters 'bank' needs dim ≤ 3·patch² = 48, got 64/,
  );
});
