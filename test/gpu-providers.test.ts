// The provider options pinpoint hands onnxruntime for each device, which providers `auto` probes on a host
// with and without GPU device nodes, a real static-batch session (the TensorRT mode) on the CPU, WebGPU's
// attention-buffer arithmetic, and batches run in parts under its cap (on a real CPU session).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  attentionBytesPerImage,
  AUTO_ORDER,
  executionProviders,
  hasGpuDeviceNode,
  providersToProbe,
  WEBGPU_DEFAULT_BUFFER_BYTES,
  webgpuAttentionLimit,
  webgpuBatchSplit,
  webgpuMaxBatch,
} from '../src/model/providers.js';
import { createBundle, loadBundle } from '../src/model/bundle.js';
import { writeDevTeacher } from '../src/model/dev-teacher.js';
import { openAnomalyModel, openFeatureModel, sessionOptions } from '../src/pipeline/inference.js';
import { webgpuFitCheck } from '../src/cli/webgpu-check.js';

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

describe('webgpu attention buffer budget', () => {
  // ViT-B: 12 heads, patch 14, 1 cls + 4 registers.
  const vitB = (S: number, fp16: boolean) => ({ heads: 12, tokens: (S / 14) ** 2 + 5, fp16 });

  test('bytes per image are heads · T² · 4 (fp32) or 2 (fp16), exactly', () => {
    // S = 1036: T = 74² + 5 = 5481; 12 · 5481² · 4.
    assert.equal(attentionBytesPerImage(vitB(1036, false)), 1_441_985_328);
    assert.equal(attentionBytesPerImage(vitB(1036, true)), 720_992_664);
    // S = 518: T = 37² + 5 = 1374; S = 224: T = 261.
    assert.equal(attentionBytesPerImage(vitB(518, false)), 90_618_048);
    assert.equal(attentionBytesPerImage(vitB(224, false)), 3_269_808);
  });

  test('the most images per run within the default 1 GiB and a configured budget', () => {
    assert.equal(WEBGPU_DEFAULT_BUFFER_BYTES, 1_073_741_824);
    assert.equal(webgpuMaxBatch(vitB(1036, false)), 0);
    assert.equal(webgpuMaxBatch(vitB(1036, true)), 1);
    assert.equal(webgpuMaxBatch(vitB(518, false)), 11);
    assert.equal(webgpuMaxBatch(vitB(224, false)), 328);
    // An adapter granting 2 GiB (inference.webgpuBufferMiB: 2048) takes one fp32 image at S = 1036.
    assert.equal(webgpuMaxBatch(vitB(1036, false), 2 * 2 ** 30), 1);
    assert.equal(webgpuMaxBatch(vitB(518, false), 90_618_048), 1, 'the boundary is inclusive');
    assert.equal(webgpuMaxBatch(vitB(518, false), 90_618_047), 0);
  });

  test('no image fits: an error naming the size and the ways out', () => {
    assert.match(
      webgpuAttentionLimit(vitB(1036, false)) ?? '',
      /1\.34 GiB in one buffer per image \(5481 tokens, 12 heads\), over the 1\.00 GiB budget \(inference\.webgpuBufferMiB\): use cuda, a smaller pipeline\.inputSize, inference\.fp16/,
    );
    assert.equal(webgpuAttentionLimit(vitB(1036, true)), undefined);
    assert.doesNotMatch(webgpuAttentionLimit(vitB(1036, true), 2 ** 29) ?? '', /inference\.fp16/);
  });

  test('a maxBatch over the cap runs in parts, with a warning saying so', () => {
    assert.equal(webgpuBatchSplit(vitB(518, false), 11), undefined);
    assert.match(
      webgpuBatchSplit(vitB(518, false), 16) ?? '',
      /one run takes 11 images, so batches of up to pipeline\.batch\.maxBatch 16 run in 2 parts \(set maxBatch ≤ 11/,
    );
    assert.match(webgpuBatchSplit(vitB(1036, true), 4) ?? '', /takes 1 image, .* 4 parts/);
    assert.equal(webgpuBatchSplit(vitB(1036, false), 4), undefined, 'no image fits: the error says it');
  });
});

describe('doctor --config: the webgpu budget check', () => {
  const vitB = { heads: 12, patch: 14, registers: 4, maxBatch: 4, budgetMiB: 1024, fp16: false };
  test('required on webgpu, advisory on auto, absent for the other devices', () => {
    const refused = webgpuFitCheck({ ...vitB, device: 'webgpu', size: 1036 });
    assert.deepEqual(
      [refused?.ok, refused?.required, refused?.name],
      [false, true, 'webgpu attention budget'],
    );
    assert.match(refused?.detail ?? '', /1\.34 GiB/);
    const auto = webgpuFitCheck({ ...vitB, device: 'auto', size: 1036 });
    assert.deepEqual([auto?.ok, auto?.required], [false, false]);
    // A budget of 2048 MiB takes one fp32 image: maxBatch 4 runs in 4 parts.
    const parts = webgpuFitCheck({ ...vitB, device: 'webgpu', size: 1036, budgetMiB: 2048 });
    assert.equal(parts?.ok, true);
    assert.match(parts?.detail ?? '', /in 4 parts/);
    assert.match(
      webgpuFitCheck({ ...vitB, device: 'webgpu', size: 224 })?.detail ?? '',
      /3\.1 MiB per image; a run takes up to 328 images, maxBatch 4 fits/,
    );
    for (const device of ['cpu', 'cuda', 'tensorrt'])
      assert.equal(webgpuFitCheck({ ...vitB, device, size: 1036 }), undefined);
  });
});

describe('batches over the run cap (the WebGPU mode) on a real CPU session', () => {
  let root: string;
  before(() => {
    root = mkdtempSync(join(tmpdir(), 'pinpoint-parts-'));
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  test('a batch of 5 in parts of 2 gives the grids of one run, and the features too', async () => {
    const teacher = join(root, 'teacher.safetensors');
    writeDevTeacher(teacher, { depth: 2, dim: 16, heads: 2, posGrid: 4, seed: 5 });
    createBundle({ teacherPath: teacher, outDir: join(root, 'b'), size: 28, layers: [1, 2], seed: 2 });
    const bundle = loadBundle(join(root, 'b'));
    const whole = await openAnomalyModel(bundle, { device: 'cpu', threads: 1 });
    const parts = await openAnomalyModel(bundle, { device: 'cpu', threads: 1, maxRunBatch: 2 });
    const wholeF = await openFeatureModel(bundle, { device: 'cpu', threads: 1 });
    const partsF = await openFeatureModel(bundle, { device: 'cpu', threads: 1, maxRunBatch: 2 });
    try {
      assert.equal(parts.maxRunBatch, 2);
      assert.equal(whole.maxRunBatch, undefined);
      const px = new Uint8Array(5 * 28 * 28 * 3).map((_, i) => (i * 53 + 11) % 256);
      const a = await whole.run(px, 5);
      const b = await parts.run(px, 5);
      assert.equal(b.length, 5 * whole.grid * whole.grid);
      for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) <= 1e-5 * (1 + Math.abs(a[i])));
      // Each frame's grid is its own: not all equal (the parts are put back in order).
      const g2 = whole.grid * whole.grid;
      assert.notDeepEqual(b.subarray(0, g2), b.subarray(4 * g2));
      const fa = await wholeF.run(px, 5);
      const fb = await partsF.run(px, 5);
      assert.equal(fb.b.length, fa.b.length);
      for (let i = 0; i < fa.b.length; i++)
        assert.ok(Math.abs(fa.b[i] - fb.b[i]) <= 1e-5 * (1 + Math.abs(fa.b[i])));
    } finally {
      await Promise.all([whole.release(), parts.release(), wholeF.release(), partsF.release()]);
    }
  });
});
