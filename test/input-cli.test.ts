// Issue 10 through the real CLI: a PNG bomb in `infer` and `train` (refused from its header, the rest goes on),
// `infer` on folders with its thresholds, fixed-precision scores, blob centres and the reason for missing
// verdicts; teach-in records the frame profile that `model info` and `infer` report against.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBundle, loadBundle, readManifest, saveStudents } from '../src/model/bundle.js';
import { makeDevTeacherWeights } from '../src/model/dev-teacher.js';
import { frameProfileFrom } from '../src/model/frame-profile.js';
import { writeSafetensors } from '../src/model/safetensors.js';
import { teacherToTensors } from '../src/model/teacher-weights.js';
import { makeDataset } from '../src/synthetic/parts.js';
import { writeImage } from '../src/util/image-io.js';
import { runCli } from './helpers/cli.js';
import { writeBlackPng } from './helpers/png-bomb.js';

const tmp = mkdtempSync(join(tmpdir(), 'pinpoint-input-cli-'));
const teacher = join(tmp, 'teacher.safetensors');
const good = join(tmp, 'good');
const bomb = join(good, 'zz-bomb.png');
let n = 0;

function bundle(): string {
  const dir = join(tmp, `b${n++}`);
  createBundle({ teacherPath: teacher, outDir: dir, size: 56, layers: [1, 2] });
  return dir;
}

before(async () => {
  const w = makeDevTeacherWeights({ depth: 2, dim: 16, heads: 2, registers: 1, posGrid: 8 });
  writeSafetensors(teacher, teacherToTensors(w, 'huggingface'), {
    'pinpoint.dev_teacher': 'true',
    'pinpoint.heads': '2',
  });
  mkdirSync(join(good, 'sub'), { recursive: true });
  makeDataset({ good: 5, defective: 0, seed: 1, width: 64, height: 48 }).forEach((p, i) =>
    writeImage(join(good, i % 2 ? 'sub' : '', `g${i}.png`), {
      width: p.width,
      height: p.height,
      channels: 3,
      data: p.rgb,
    }),
  );
  await writeBlackPng(bomb, 20000, 20000);
});
after(() => rmSync(tmp, { recursive: true, force: true }));

describe('a 20000×20000 PNG (1.2 GB decoded) among good images', () => {
  test('train skips it with a warning naming the file and the limit, teaches on the rest, records the frames', async () => {
    const dir = bundle();
    const r = await runCli(
      ['train', '--model', dir, '--images', good, '--epochs', '1', '--device', 'cpu', '--json'],
      {
        timeoutMs: 120000,
      },
    );
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { images: Record<string, number> };
    assert.deepEqual(out.images, { train: 4, holdout: 1, skipped: 1 });
    assert.match(r.stderr, /zz-bomb\.png.*20000×20000 pixels \(400 MP\) is above the limit of 64 MP/);
    assert.match(r.stderr, /--max-image-pixels raises the limit/);
    // The frame profile of the teach-in images: synthetic parts are colour, 64×48.
    assert.deepEqual(frameProfileFrom(readManifest(dir).training), {
      colour: 'colour',
      width: 64,
      height: 48,
    });
    const info = await runCli(['model', 'info', dir]);
    assert.equal(info.code, 0, info.stderr);
    // One patch of S = 56 (4×4 patches) covers 64·14/56 = 16 frame pixels.
    assert.match(info.stdout, /resolution\s+taught on 64×48 colour images: one patch ≈ 16\.0 px/);

    // The limit is the user's: a lower one is the one named, with the option that sets it.
    const raised = await runCli(['infer', '--model', dir, bomb, '--max-image-pixels', '1MP', '--json']);
    assert.equal(raised.code, 1);
    assert.match(raised.stderr, /above the limit of 1 MP \(--max-image-pixels raises the limit\)/);
  });

  test('infer on a folder scores every image, reports the bomb as that image’s failure, exit 1', async () => {
    const dir = bundle();
    const r = await runCli(['infer', '--model', dir, good, '--device', 'cpu', '--json']);
    assert.equal(r.code, 1, 'one image failed');
    const out = JSON.parse(r.stdout) as {
      results: { image: string; patchPx: number }[];
      failures: { image: string; error: string }[];
      model: { noVerdict: string | null };
    };
    assert.deepEqual(
      out.results.map((x) => x.image.slice(good.length + 1)),
      ['g0.png', 'g2.png', 'g4.png', 'sub/g1.png', 'sub/g3.png'],
    );
    assert.equal(out.results[0].patchPx, 16);
    assert.deepEqual(
      out.failures.map((f) => f.image),
      [bomb],
    );
    assert.match(out.failures[0].error, /20000×20000 pixels \(400 MP\) is above the limit of 64 MP/);
    assert.match(out.model.noVerdict ?? '', /not taught in/);
  });
});

describe('pinpoint infer text output', () => {
  test('untrained: says why there is no verdict; scores at one fixed precision', async () => {
    const dir = bundle();
    const r = await runCli([
      'infer',
      '--model',
      dir,
      join(good, 'g0.png'),
      join(good, 'sub'),
      '--device',
      'cpu',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /no reject threshold, no blob threshold/);
    assert.match(r.stderr, /note: no verdicts: the bundle is not taught in .*pinpoint train/);
    const scores = [...r.stdout.matchAll(/score (\d+\.(\d+))/g)];
    assert.equal(scores.length, 3, 'the file and the two images of the folder');
    assert.equal(new Set(scores.map((m) => m[2].length)).size, 1, 'every score with the same decimals');
    assert.doesNotMatch(r.stdout, /e-\d/, 'no exponent notation');
  });

  test('with thresholds: the threshold line, verdicts, blob centres; a grey image on a colour model warns', async () => {
    const dir = bundle();
    const b = loadBundle(dir);
    saveStudents(dir, b.students, {
      training: { trainedAt: new Date().toISOString(), frames: { colour: 'colour', width: 64, height: 48 } },
      thresholds: { reject: 0.0012345, pixel: 1e-9, rule: 'test: everything is a blob' },
    });
    const grey = join(tmp, 'grey.png');
    writeImage(grey, {
      width: 64,
      height: 48,
      channels: 1,
      data: new Uint8Array(64 * 48).map((_, i) => i & 255),
    });
    const r = await runCli([
      'infer',
      '--model',
      dir,
      join(good, 'g0.png'),
      grey,
      '--device',
      'cpu',
      '--min-area',
      '4',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /reject score > 0\.0012345, blob pixels > 1e-9, min area 4 px/);
    // Threshold 0.0012345 → 6 decimals for every score.
    assert.match(
      r.stdout,
      /g0\.png\s+64×48\s+score \d+\.\d{6}\s+(OK|REJECT)\s+1 blob\s+\(patch ≈ 16\.0 px\)/,
    );
    // One blob covering the whole 64×48 frame: its centre is the frame's.
    assert.match(r.stdout, /blob centre x 32\.0 y 24\.0\s+box x 0 y 0 64×48\s+area 3072/);
    assert.match(
      r.stderr,
      /warning: grey frames on a model taught on colour images: good parts may be rejected/,
    );
    assert.equal(r.stderr.match(/grey frames/g)?.length, 1, 'said once');
  });

  test('model build over an existing bundle names --force', async () => {
    const dir = bundle();
    const r = await runCli(['model', 'build', '--teacher', teacher, '--out', dir, '--size', '56']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /already holds a model bundle; refusing to overwrite it \(--force replaces it/);
  });
});
