// The provider options pinpoint hands onnxruntime for each device, which providers `auto` probes on a host
// with and without GPU device nodes, and a real static-batch session (the TensorRT mode) on the CPU.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AUTO_ORDER,
  executionProviders,
  hasGpuDeviceNode,
  providersToProbe,
  webgpuAttentionLimit,
} from '../src/model/providers.js';
import { createBundle, loadBundle } from '../src/model/bundle.js';
import { writeDevTeacher } from '../src/model/dev-teacher.js';
import { openAnomalyModel, sessionOptions } from '../src/pipeline/inference.js';

describe('session options per provider', () => {
  test('cuda gets its device id and nothing the binding would drop', () => {
    assert.deepEqual(executionProviders('cuda', { deviceId: 2 }), [{ name: 'cuda', deviceId: 2 }]);
    assert.deepEqual(executionProviders('cuda'), [{ name: 'cuda', deviceId: 0 }]);
  });

  test('tensorrt falls back to cuda on the same device, never to the CPU', () => {
    assert.deepEqual(executionProviders('tensorrt', { deviceId: 1 }), [
      { name: 'tensorrt', deviceId: 1 },
      { name: 'cuda', deviceId: 1 },
    ]);
  });

  test('webgpu gets only options its binding accepts', () => {
    const [ep] = executionProviders('webgpu', { deviceId: 3 });
    assert.equal(typeof ep, 'object');
    const keys = Object.keys(ep as object).sort();
    // The binding throws on any key outside this list (session_options_helper.cc).
    const accepted = [
      'name',
      'preferredLayout',
      'validationMode',
      'storageBufferCacheMode',
      'uniformBufferCacheMode',
      'queryResolveBufferCacheMode',
      'defaultBufferCacheMode',
      'enableRobustness',
      'enableMatmulFp32Accumulation',
      'forceCpuNodeNames',
      'weightLoadAcceleration',
    ];
    for (const k of keys)
      assert.ok(accepted.includes(k), `webgpu option ${k} is not accepted by the binding`);
    assert.ok(!keys.includes('deviceId'));
  });

  test('the full session options carry threads, optimisation and the provider list', () => {
    const o = sessionOptions('cuda', 3, 1);
    assert.deepEqual(o.executionProviders, [{ name: 'cuda', deviceId: 1 }]);
    assert.equal(o.intraOpNumThreads, 3);
    assert.equal(o.graphOptimizationLevel, 'all');
    assert.equal(sessionOptions('cpu', 0).intraOpNumThreads, undefined);
  });

  test('auto tries cuda before tensorrt (no engine cache through this binding)', () => {
    assert.ok(AUTO_ORDER.indexOf('cuda') < AUTO_ORDER.indexOf('tensorrt'));
    assert.equal(AUTO_ORDER.at(-1), 'cpu');
  });
});

describe('which providers are probed', () => {
  let dev: string;
  before(() => {
    dev = mkdtempSync(join(tmpdir(), 'pinpoint-dev-'));
  });
  after(() => rmSync(dev, { recursive: true, force: true }));

  test('a host without GPU device nodes probes nothing but the CPU on auto', () => {
    assert.equal(hasGpuDeviceNode(dev), false);
    assert.deepEqual(providersToProbe('auto', false), ['cpu']);
    // An explicit choice is always probed: it must fail loudly when it cannot load.
    assert.deepEqual(providersToProbe('webgpu', false), ['webgpu']);
    assert.deepEqual(providersToProbe('cpu', true), ['cpu']);
  });

  test('an NVIDIA or DRI render node counts as a GPU', () => {
    writeFileSync(join(dev, 'nvidiactl'), '');
    assert.equal(hasGpuDeviceNode(dev), false, 'nvidiactl alone is not a GPU');
    writeFileSync(join(dev, 'nvidia0'), '');
    assert.equal(hasGpuDeviceNode(dev), true);
    rmSync(join(dev, 'nvidia0'));
    mkdirSync(join(dev, 'dri'));
    writeFileSync(join(dev, 'dri', 'card0'), '');
    assert.equal(hasGpuDeviceNode(dev), false, 'a display card without a render node is not a compute GPU');
    writeFileSync(join(dev, 'dri', 'renderD128'), '');
    assert.equal(hasGpuDeviceNode(dev), true);
    assert.deepEqual(providersToProbe('auto', true), [...AUTO_ORDER]);
  });
});

describe('static batch (the TensorRT mode) on a real CPU session', () => {
  let root: string;
  before(() => {
    root = mkdtempSync(join(tmpdir(), 'pinpoint-static-'));
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  test('a padded batch gives the same grids as the dynamic session', async () => {
    const teacher = join(root, 'teacher.safetensors');
    writeDevTeacher(teacher, { depth: 2, dim: 16, heads: 2, posGrid: 4, seed: 3 });
    createBundle({ teacherPath: teacher, outDir: join(root, 'b'), size: 28, layers: [1, 2], seed: 1 });
    const bundle = loadBundle(join(root, 'b'));
    const dynamic = await openAnomalyModel(bundle, { device: 'cpu', threads: 1 });
    const fixed = await openAnomalyModel(bundle, {
      device: 'cpu',
      threads: 1,
      maxBatch: 3,
      staticBatch: true,
    });
    try {
      assert.equal(dynamic.staticBatch, undefined);
      assert.equal(fixed.staticBatch, 3);
      assert.equal(fixed.precision, 'fp32');
      const px = new Uint8Array(2 * 28 * 28 * 3).map((_, i) => (i * 37) % 251);
      const a = await dynamic.run(px, 2);
      const b = await fixed.run(px, 2);
      assert.equal(b.length, a.length, 'only the caller’s rows come back');
      for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) <= 1e-5 * (1 + Math.abs(a[i])));
      await assert.rejects(fixed.run(new Uint8Array(4 * 28 * 28 * 3), 4), /over the static batch 3/);
    } finally {
      await dynamic.release();
      await fixed.release();
    }
  });
});

describe('webgpu attention size limit', () => {
  test('ViT-B at S=1036 fits no batch in fp32 and batch 1 in fp16; S=518 fits a batch of 11', () => {
    const tokens = (s: number) => (s / 14) ** 2 + 1 + 4;
    const fp32 = webgpuAttentionLimit({ batch: 1, heads: 12, tokens: tokens(1036), fp16: false });
    assert.match(
      fp32 ?? '',
      /1\.34 GiB .* no batch fits: use cuda, a smaller pipeline\.inputSize, or inference\.fp16/,
    );
    assert.equal(webgpuAttentionLimit({ batch: 1, heads: 12, tokens: tokens(1036), fp16: true }), undefined);
    assert.match(
      webgpuAttentionLimit({ batch: 2, heads: 12, tokens: tokens(1036), fp16: true }) ?? '',
      /maxBatch ≤ 1/,
    );
    assert.equal(webgpuAttentionLimit({ batch: 11, heads: 12, tokens: tokens(518), fp16: false }), undefined);
    assert.match(
      webgpuAttentionLimit({ batch: 12, heads: 12, tokens: tokens(518), fp16: false }) ?? '',
      /≤ 11/,
    );
  });
});
