import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeDevTeacher } from '../src/model/dev-teacher.js';
import { createBundle, loadBundle, type Bundle } from '../src/model/bundle.js';
import { interpolatePosEmbed } from '../src/model/pos-embed.js';
import { referenceAnomaly, referencePreprocess } from '../src/model/reference.js';
import {
  InferenceError,
  openAnomalyModel,
  openFeatureModel,
  type SessionOptions,
} from '../src/pipeline/inference.js';
import { hasGpuDeviceNode } from '../src/model/providers.js';
import { createLogger } from '../src/util/log.js';
import { Rng } from '../src/util/random.js';

const S = 56;
let root: string;
let bundle: Bundle;

before(() => {
  root = mkdtempSync(join(tmpdir(), 'pinpoint-infer-'));
  const teacher = join(root, 'teacher.safetensors');
  writeDevTeacher(teacher, { depth: 3, dim: 32, heads: 2, posGrid: 6, seed: 5 });
  createBundle({ teacherPath: teacher, outDir: join(root, 'b'), size: S, layers: [2, 3], seed: 2 });
  bundle = loadBundle(join(root, 'b'));
});
after(() => rmSync(root, { recursive: true, force: true }));

/** A logger whose JSON lines are collected. */
function capture(): { log: SessionOptions['log']; lines: () => Record<string, unknown>[] } {
  const chunks: string[] = [];
  const dest = new Writable({
    write(c: Buffer, _e, cb) {
      chunks.push(c.toString());
      cb();
    },
  });
  const log = createLogger({ level: 'debug', pretty: 'never', destination: dest });
  return {
    log,
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

function frames(n: number, seed: number): Uint8Array {
  const rng = new Rng(seed);
  const px = new Uint8Array(n * S * S * 3);
  for (let i = 0; i < px.length; i++) px[i] = rng.int(0, 255);
  return px;
}

const opts = (extra: SessionOptions = {}): SessionOptions => ({
  threads: 1,
  cacheDir: join(root, 'cache'),
  ...extra,
});

describe('inference session', () => {
  test('auto picks cpu here, GPU providers skipped quietly; output matches the float64 reference', async () => {
    const c = capture();
    const model = await openAnomalyModel(bundle, opts({ device: 'auto', log: c.log }));
    try {
      assert.equal(model.provider, 'cpu');
      assert.equal(model.size, S);
      assert.equal(model.grid, 4);
      assert.equal(model.modelId, bundle.manifest.modelId);
      // Skips are debug lines (this logger is at info); without a GPU device node none is even probed.
      const skipped = c.lines().filter((l) => /skipped|not usable/.test(String(l.msg)));
      if (!hasGpuDeviceNode()) assert.deepEqual(skipped, []);
      else assert.ok(skipped.length <= 1, 'at most one info line about unusable providers');

      const px = frames(2, 1);
      const out = await model.run(px, 2);
      assert.equal(out.length, 2 * 16);
      const { arch } = bundle.teacher;
      const pos = interpolatePosEmbed(bundle.teacher.posEmbed, arch.dim, arch.posGrid, 4);
      for (let i = 0; i < 2; i++) {
        const ref = referenceAnomaly(
          bundle.teacher,
          bundle.students,
          referencePreprocess(px.subarray(i * S * S * 3, (i + 1) * S * S * 3), S),
          S,
          [2, 3],
          pos,
        );
        const peak = Math.max(...ref);
        for (let j = 0; j < 16; j++)
          assert.ok(Math.abs(out[i * 16 + j] - ref[j]) <= 1e-4 * peak, `frame ${i} cell ${j}`);
      }
      // A view into a larger buffer works the same (no copy needed by callers).
      const big = new Uint8Array(px.length + 7);
      big.set(px, 7);
      assert.deepEqual(await model.run(big.subarray(7), 2), out);
    } finally {
      await model.release();
    }
  });

  test('graph cache: second open reads it, a corrupt entry is rebuilt', async () => {
    const cacheDir = join(root, 'cache2');
    const m1 = await openAnomalyModel(bundle, opts({ cacheDir, device: 'cpu' }));
    const px = frames(1, 2);
    const ref = await m1.run(px, 1);
    await m1.release();
    const file = readdirSync(cacheDir).find((f) => f.endsWith('.onnx'))!;
    assert.ok(file.startsWith('anomaly-'));
    const mtime = statSync(join(cacheDir, file)).mtimeMs;

    const c = capture();
    const m2 = await openAnomalyModel(bundle, opts({ cacheDir, device: 'cpu', log: c.log }));
    assert.deepEqual(await m2.run(px, 1), ref);
    await m2.release();
    assert.equal(statSync(join(cacheDir, file)).mtimeMs, mtime, 'not rewritten');
    assert.ok(c.lines().some((l) => l.cache === 'hit'));
    assert.ok(!c.lines().some((l) => l.msg === 'model graph built'));

    // Flip a byte deep in the weights: still a parseable ONNX, but the sidecar hash catches it.
    const bytes = readFileSync(join(cacheDir, file));
    bytes[bytes.length >> 1] ^= 0x55;
    writeFileSync(join(cacheDir, file), bytes);
    const c3 = capture();
    const m3 = await openAnomalyModel(bundle, opts({ cacheDir, device: 'cpu', log: c3.log }));
    assert.deepEqual(await m3.run(px, 1), ref);
    await m3.release();
    assert.ok(c3.lines().some((l) => /corrupt; rebuilding/.test(String(l.msg))));
    assert.ok(c3.lines().some((l) => l.cache === 'built'));

    // Truncated graph file whose sidecar is also gone.
    writeFileSync(join(cacheDir, file), bytes.subarray(0, 100));
    rmSync(join(cacheDir, file + '.json'));
    const m4 = await openAnomalyModel(bundle, opts({ cacheDir, device: 'cpu' }));
    assert.deepEqual(await m4.run(px, 1), ref);
    await m4.release();
  });

  test('explicit GPU device that cannot load → clear error', async () => {
    await assert.rejects(
      openAnomalyModel(bundle, opts({ device: 'cuda' })),
      (e: Error) =>
        e instanceof InferenceError &&
        /inference device 'cuda' is not available on this host: .+/.test(e.message),
    );
    await assert.rejects(
      openAnomalyModel(bundle, opts({ device: 'gpu' as never })),
      /unknown inference device 'gpu'/,
    );
  });

  test('fp16 on cpu is ignored with a warning; fused and plain attention agree', async () => {
    const c = capture();
    const fused = await openAnomalyModel(bundle, opts({ device: 'cpu', fp16: true, log: c.log }));
    const plain = await openAnomalyModel(bundle, opts({ device: 'cpu', fusedAttention: false }));
    try {
      assert.ok(c.lines().some((l) => l.level === 'warn' && /fp16 is ignored/.test(String(l.msg))));
      assert.ok(c.lines().some((l) => l.fp16 === false && l.fusedAttention === true));
      const px = frames(1, 3);
      const a = await fused.run(px, 1);
      const b = await plain.run(px, 1);
      const peak = Math.max(...b);
      for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) <= 1e-5 * peak);
    } finally {
      await fused.release();
      await plain.release();
    }
  });

  test('misuse: wrong pixel count, concurrent runs, run after release', async () => {
    const model = await openAnomalyModel(bundle, opts({ device: 'cpu' }));
    await assert.rejects(
      model.run(new Uint8Array(10), 1),
      /pixels hold 10 bytes, a batch of 1 56×56 RGB frames needs 9408/,
    );
    await assert.rejects(model.run(frames(1, 0), 0), /batch 0 must be ≥ 1/);
    const first = model.run(frames(1, 0), 1);
    await assert.rejects(model.run(frames(1, 0), 1), /another run is in flight/);
    await first;
    await model.release();
    await assert.rejects(model.run(frames(1, 0), 1), /after release/);
  });

  test('feature model: both layers, [B, P, D]', async () => {
    const fm = await openFeatureModel(bundle, opts({ device: 'cpu' }));
    try {
      assert.equal(fm.dim, 32);
      assert.equal(fm.grid, 4);
      const { a, b } = await fm.run(frames(2, 4), 2);
      assert.equal(a.length, 2 * 16 * 32);
      assert.equal(b.length, 2 * 16 * 32);
      assert.ok(a.every(Number.isFinite) && b.some((v, i) => v !== a[i]));
    } finally {
      await fm.release();
    }
  });
});
