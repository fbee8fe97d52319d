// `pinpoint model dev-teacher | build | info` and `pinpoint infer`, end to end through the real CLI.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hasGpuDeviceNode } from '../src/model/providers.js';
import { runCli } from './helpers/cli.js';
import { createBundle, loadBundle, readManifest, saveStudents } from '../src/model/bundle.js';
import { intOption, layersOption } from '../src/cli/parse-options.js';
import { openAnomalyModel } from '../src/pipeline/inference.js';
import { makeDevTeacherWeights } from '../src/model/dev-teacher.js';
import { readTeacher } from '../src/model/teacher-weights.js';
import { computeLetterbox, letterbox } from '../src/pipeline/letterbox.js';
import { postprocess } from '../src/pipeline/anomaly-map.js';
import { readImage, readNpy, writeImage } from '../src/util/image-io.js';

let root: string;
let teacher: string;
let bundleDir: string;

before(() => {
  root = mkdtempSync(join(tmpdir(), 'pinpoint-model-cli-'));
  teacher = join(root, 'dev.safetensors');
  bundleDir = join(root, 'bundle');
});
after(() => rmSync(root, { recursive: true, force: true }));

/** A textured RGB test picture of the given size. */
function picture(path: string, w: number, h: number, seed: number): void {
  const d = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let c = 0; c < 3; c++)
        d[(y * w + x) * 3 + c] = (x * (7 + c) + y * (3 + seed) + ((x * y) >> 3)) & 255;
  writeImage(path, { width: w, height: h, channels: 3, data: d });
}

describe('pinpoint model', () => {
  test('dev-teacher → build → info, labelled as not a real backbone', async () => {
    const t = await runCli([
      'model',
      'dev-teacher',
      '--out',
      teacher,
      '--depth',
      '3',
      '--dim',
      '32',
      '--heads',
      '2',
    ]);
    assert.equal(t.code, 0, t.stderr);
    assert.match(t.stdout, /NOT a real backbone/);

    // The tiling acceptance's teacher kind, from the CLI: the same weights as the library makes.
    const bankPath = join(root, 'bank.safetensors');
    const bank = await runCli(
      ['model', 'dev-teacher', '--out', bankPath, '--depth', '1', '--dim', '32', '--heads', '2'].concat([
        '--patch-filters',
        'bank',
        '--patch-gain',
        '30',
      ]),
    );
    assert.equal(bank.code, 0, bank.stderr);
    assert.match(bank.stdout, /patch bank ×30/);
    const want = makeDevTeacherWeights({ depth: 1, dim: 32, heads: 2, patchFilters: 'bank', patchGain: 30 });
    assert.deepEqual(
      Array.from(readTeacher(bankPath).weights.patchWeight),
      Array.from(want.patchWeight),
      'the CLI wrote the bank filters at gain 30',
    );
    for (const [args, err] of [
      [['--patch-filters', 'fancy'], /expected random or bank, got 'fancy'/],
      [['--patch-gain', '0'], /--patch-gain must be above 0/],
      [['--patch-filters', 'bank', '--dim', '768', '--heads', '12'], /588 filters .* --dim 768 is too wide/],
    ] as const) {
      const r = await runCli(['model', 'dev-teacher', '--out', join(root, 'x.safetensors'), ...args]);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, err);
    }

    const b = await runCli([
      'model',
      'build',
      '--teacher',
      teacher,
      '--size',
      '56',
      '--layers',
      '2,3',
      '--seed',
      '7',
      '--out',
      bundleDir,
    ]);
    assert.equal(b.code, 0, b.stderr);
    assert.match(b.stdout, /model id\s+[0-9a-f]{16}/);
    assert.match(b.stderr, /DEV TEACHER/);
    const m = readManifest(bundleDir);
    assert.deepEqual([m.input.size, m.layers, m.students.seed, m.teacher.arch.depth], [56, [2, 3], 7, 3]);

    const info = await runCli(['model', 'info', bundleDir]);
    assert.equal(info.code, 0, info.stderr);
    assert.match(info.stdout, /!!! DEV TEACHER: random weights, NOT a real backbone/);
    assert.match(info.stdout, /56×56 px \(4×4 patches\)/);
    assert.match(info.stdout, /status\s+ok/);
    const json = await runCli(['model', 'info', bundleDir, '--json']);
    assert.equal(json.code, 0, json.stderr);
    const parsed = JSON.parse(json.stdout) as {
      status: string;
      devTeacher: boolean;
      manifest: { modelId: string };
    };
    assert.deepEqual([parsed.status, parsed.devTeacher, parsed.manifest.modelId], ['ok', true, m.modelId]);

    // A build from a missing file exits 1 with the path and no stack trace.
    const missing = await runCli([
      'model',
      'build',
      '--teacher',
      join(root, 'none.safetensors'),
      '--out',
      join(root, 'y'),
    ]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /none\.safetensors does not exist/);
    assert.doesNotMatch(missing.stderr, /at .*\.ts:\d+/);
  });

  test('info of a broken bundle exits 1 and says why', async () => {
    const dir = join(root, 'broken');
    createBundle({ teacherPath: teacher, outDir: dir, size: 28, layers: [1, 2], copyTeacher: true });
    rmSync(join(dir, 'teacher.safetensors'));
    const info = await runCli(['model', 'info', dir]);
    assert.equal(info.code, 1);
    assert.match(info.stdout, /status\s+BROKEN: .*teacher\.safetensors does not exist/);
  });

  test('option parsers reject malformed numbers', () => {
    assert.deepEqual(layersOption(' 8, 12'), [8, 12]);
    assert.throws(() => layersOption('8'), /not two block numbers/);
    assert.equal(intOption(1)('4'), 4);
    assert.throws(() => intOption(1)('4x'), /not an integer/);
    assert.throws(() => intOption(1)('1.5'), /not an integer/);
    assert.throws(() => intOption(1, 8)('9'), /outside 1\.\.8/);
  });
});

describe('pinpoint infer', () => {
  test('--save-maps writes each map at the image’s own size, equal to postprocess() of the model output; --json shape', async () => {
    // Runs after the build above (node:test runs describes in order within a file).
    const trained = loadBundle(bundleDir);
    saveStudents(bundleDir, trained.students, {
      thresholds: { reject: 1e-9, pixel: 1e-9, rule: 'test: everything rejects' },
    });
    const a = join(root, 'landscape.png');
    const p = join(root, 'portrait.png');
    picture(a, 150, 97, 1);
    picture(p, 41, 90, 2);
    const broken = join(root, 'broken.png');
    writeFileSync(broken, 'not an image');
    const maps = join(root, 'maps');

    const r = await runCli([
      'infer',
      '--model',
      bundleDir,
      a,
      broken,
      p,
      '--save-maps',
      maps,
      '--json',
      '--device',
      'cpu',
      '--min-area',
      '4',
    ]);
    assert.equal(r.code, 1, 'one image failed → exit 1');
    assert.match(r.stderr, /cannot read image .*broken\.png/);
    const out = JSON.parse(r.stdout) as {
      model: {
        modelId: string;
        size: number;
        provider: string;
        devTeacher: boolean;
        thresholds: { reject: number; pixel: number; minArea: number };
      };
      results: {
        image: string;
        width: number;
        height: number;
        score: number;
        verdict: string;
        blobs: { area: number; box: object; peak: number }[];
        map: string;
      }[];
      failures: { image: string; error: string }[];
    };
    assert.deepEqual(out.model.thresholds, { reject: 1e-9, pixel: 1e-9, minArea: 4 });
    assert.equal(out.model.provider, 'cpu');
    assert.equal(out.model.devTeacher, true);
    assert.deepEqual(
      out.results.map((x) => [x.image, x.width, x.height, x.verdict, x.map]),
      [
        [a, 150, 97, 'reject', join(maps, 'landscape.npy')],
        [p, 41, 90, 'reject', join(maps, 'portrait.npy')],
      ],
    );
    assert.deepEqual(
      out.failures.map((f) => f.image),
      [broken],
    );
    for (const x of out.results) {
      assert.ok(x.score > 0 && Number.isFinite(x.score));
      // Threshold ~0: the whole frame is one blob.
      assert.equal(x.blobs.length, 1);
      assert.equal(x.blobs[0].area, x.width * x.height);
    }

    // The saved maps: the image's own H×W, equal to postprocess() of a session's output on the same frame.
    const bundle = loadBundle(bundleDir);
    const model = await openAnomalyModel(bundle, { device: 'cpu', threads: 1 });
    try {
      for (const x of out.results) {
        const npy = readNpy(x.map);
        assert.deepEqual(npy.shape, [x.height, x.width]);
        const img = readImage(x.image);
        const grid = await model.run(letterbox(img, model.size), 1);
        const { map, score } = postprocess(
          grid,
          model.grid,
          computeLetterbox(img.width, img.height, model.size),
        );
        let peak = 0;
        let err = 0;
        for (let i = 0; i < map.length; i++) {
          peak = Math.max(peak, map[i]);
          err = Math.max(err, Math.abs(map[i] - npy.data[i]));
        }
        assert.ok(err <= 1e-5 * peak, `${x.image}: map differs by ${err} (peak ${peak})`);
        assert.ok(Math.abs(score - x.score) <= 1e-5 * score);
      }
    } finally {
      await model.release();
    }

    // Human-readable output without --json; an explicit unavailable GPU is a clear error.
    const h = await runCli(['infer', '--model', bundleDir, a, '--device', 'cpu']);
    assert.equal(h.code, 0, h.stderr);
    assert.match(h.stdout, /landscape\.png\s+150×97\s+score [\d.]+\s+REJECT\s+1 blob/);
    assert.match(h.stderr, /DEV TEACHER/);
    // The default device (auto) on this CPU host: nothing on stderr but infer's own dev-teacher warning
    // (no Dawn/Vulkan lines from probing webgpu, no provider-skip lines).
    const auto = await runCli(['infer', '--model', bundleDir, a]);
    assert.equal(auto.code, 0, auto.stderr);
    assert.match(auto.stdout, /landscape\.png/);
    if (!hasGpuDeviceNode()) assert.equal(auto.stderr.replace(/^warning: .*DEV TEACHER.*\n/m, ''), '');
    const gpu = await runCli(['infer', '--model', bundleDir, a, '--device', 'cuda']);
    assert.equal(gpu.code, 1);
    assert.match(gpu.stderr, /inference device 'cuda' is not available on this host/);
  });
});
