// Teach-in on a tiny dev teacher: reproducibility, a falling loss, checkpoints and resume, the holdout, and
// what happens on a diverging run (no model written). The acceptance run on realistic sizes is in
// teach-in-acceptance.test.ts.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBundle, readManifest } from '../src/model/bundle.js';
import { makeDevTeacherWeights } from '../src/model/dev-teacher.js';
import { teacherToTensors } from '../src/model/teacher-weights.js';
import { writeSafetensors } from '../src/model/safetensors.js';
import type { Image } from '../src/pipeline/image.js';
import { makeDataset } from '../src/synthetic/parts.js';
import { checkpointPath } from '../src/teach/checkpoint.js';
import {
  chooseHoldout,
  plannedEpochs,
  plateaued,
  teachIn,
  TeachInError,
  type TeachInOptions,
} from '../src/teach/teach-in.js';
import { NonFiniteLossError, trainThreads } from '../src/teach/trainer.js';
import { writeImage } from '../src/util/image-io.js';
import { runCli } from './helpers/cli.js';

const tmp = mkdtempSync(join(tmpdir(), 'pinpoint-teach-'));
const DEV = { depth: 2, dim: 16, heads: 2, registers: 1, posGrid: 8 };

function writeTeacher(path: string, corrupt = false): void {
  const w = makeDevTeacherWeights(DEV);
  if (corrupt) w.norm.bias[0] = NaN;
  writeSafetensors(path, teacherToTensors(w, 'huggingface'), {
    'pinpoint.dev_teacher': 'true',
    'pinpoint.heads': String(DEV.heads),
  });
}

let n = 0;
function bundle(teacher = join(tmp, 'teacher.safetensors')): string {
  const dir = join(tmp, `b${n++}`);
  createBundle({ teacherPath: teacher, outDir: dir, size: 56, layers: [1, 2] });
  return dir;
}

const images: Image[] = makeDataset({ good: 10, defective: 0, seed: 1, width: 64, height: 48 }).map((p) => ({
  width: p.width,
  height: p.height,
  channels: 3,
  data: p.rgb,
}));

const base: TeachInOptions = { epochs: 3, threads: 1, device: 'cpu', seed: 5 };

before(() => writeTeacher(join(tmp, 'teacher.safetensors')));
after(() => rmSync(tmp, { recursive: true, force: true }));

describe('teach-in', () => {
  test('same seed, same loss sequence; the epoch-mean loss falls; thresholds and record written', async () => {
    const a = await teachIn({ bundleDir: bundle(), images, options: base });
    const b = await teachIn({ bundleDir: bundle(), images, options: base });
    // 10 images, 2 held out: 8 · 16 rows, 4 images' worth (64 rows) a step → 2 steps an epoch.
    assert.deepEqual(a.images, { train: 8, holdout: 2 });
    assert.equal(a.steps, 6);
    assert.equal(a.stepLoss.length, 6);
    for (let i = 0; i < a.stepLoss.length; i++) assert.ok(Math.abs(a.stepLoss[i] - b.stepLoss[i]) < 1e-6);
    assert.equal(a.manifest.students.sha256, b.manifest.students.sha256, 'same students, bit for bit');
    assert.ok(a.epochLoss[2] < a.epochLoss[0], `epoch losses ${a.epochLoss}`);
    const c = await teachIn({ bundleDir: bundle(), images, options: { ...base, seed: 6 } });
    assert.notEqual(c.stepLoss[0], a.stepLoss[0], 'another seed, another run');

    const m = a.manifest;
    assert.ok(m.thresholds && m.thresholds.reject > 0 && m.thresholds.pixel > 0);
    assert.ok(m.thresholds.reject >= 1.1 * (m.thresholds.scoreMax as number) - 1e-12);
    assert.equal(m.thresholds.holdout, 2);
    assert.equal(m.thresholds.precision, 'fp32', 'the CPU calibrates in fp32 and says so');
    assert.equal(m.training?.steps, 6);
    assert.equal(m.training?.stoppedBy, 'epochs');
    assert.ok(!existsSync(checkpointPath(join(tmp, 'b0'))), 'checkpoint removed when done');
  });

  test('an interrupted run resumes from its checkpoint and ends where an uninterrupted one does', async () => {
    const full = await teachIn({ bundleDir: bundle(), images, options: { ...base, epochs: 4 } });
    const dir = bundle();
    const studentsBefore = readFileSync(join(dir, 'students.safetensors'));
    const controller = new AbortController();
    await assert.rejects(
      teachIn({
        bundleDir: dir,
        images,
        options: { ...base, epochs: 4 },
        signal: controller.signal,
        onProgress: (p) => {
          if (p.phase === 'epoch' && p.epoch === 2) controller.abort();
        },
      }),
      (e: Error) => e.name === 'AbortError',
    );
    assert.ok(existsSync(checkpointPath(dir)), 'checkpoint of epoch 2 kept');
    assert.deepEqual(readFileSync(join(dir, 'students.safetensors')), studentsBefore, 'no model written');
    assert.equal(readManifest(dir).training, undefined);

    // Another seed is another run: refused, named.
    await assert.rejects(
      teachIn({ bundleDir: dir, images, options: { ...base, epochs: 4, seed: 9, resume: true } }),
      /belongs to another teach-in[\s\S]*seed: checkpoint 5, now 9/,
    );
    const resumed = await teachIn({ bundleDir: dir, images, options: { ...base, epochs: 4, resume: true } });
    assert.equal(resumed.resumedFromEpoch, 2);
    assert.deepEqual(resumed.stepLoss, full.stepLoss);
    assert.equal(resumed.manifest.students.sha256, full.manifest.students.sha256);
    assert.ok(!existsSync(checkpointPath(dir)));
    await assert.rejects(
      teachIn({ bundleDir: dir, images, options: { ...base, resume: true } }),
      /no teach-in checkpoint/,
    );
  });

  test('a diverging run stops with a clear error and writes no model', async () => {
    // A NaN in the teacher's final LayerNorm (a corrupt checkpoint) makes every feature row, and so the
    // loss, NaN.
    const teacher = join(tmp, 'corrupt.safetensors');
    writeTeacher(teacher, true);
    const dir = bundle(teacher);
    const before = readFileSync(join(dir, 'students.safetensors'));
    await assert.rejects(teachIn({ bundleDir: dir, images, options: base }), (e: Error) => {
      assert.ok(e instanceof NonFiniteLossError, String(e));
      assert.match(e.message, /loss became NaN at step 1\. No model was written; try a lower learning rate/);
      return true;
    });
    assert.deepEqual(readFileSync(join(dir, 'students.safetensors')), before);
    assert.equal(readManifest(dir).thresholds, undefined);
  });

  test('holdout: seeded, at least one, refuses when nothing is left to train on', async () => {
    assert.deepEqual(chooseHoldout(10, 0.2, 1), chooseHoldout(10, 0.2, 1));
    assert.equal(chooseHoldout(10, 0.2, 1).length, 2);
    assert.equal(chooseHoldout(3, 0.2, 1).length, 1, 'at least one');
    assert.deepEqual(chooseHoldout(5, 0, 1), []);
    assert.throws(() => chooseHoldout(1, 0.2, 1), /too few/);
    assert.throws(() => chooseHoldout(4, 1, 1), /\[0, 1\)/);
    await assert.rejects(teachIn({ bundleDir: bundle(), images: [], options: base }), TeachInError);
    // No holdout: trained, but no thresholds.
    const r = await teachIn({
      bundleDir: bundle(),
      images: images.slice(0, 4),
      options: { ...base, holdout: 0 },
    });
    assert.equal(r.thresholds, undefined);
    assert.equal(r.manifest.thresholds, undefined);
    assert.ok(r.manifest.training);
  });

  test('auto schedule: at least minSteps, then until the plateau test or maxSteps, in whole epochs', async () => {
    const auto = { ...base, epochs: undefined };
    // 2 steps an epoch. Any loss counts as levelled off (tolerance 0.99): stop at the first epoch past minSteps.
    const a = await teachIn({
      bundleDir: bundle(),
      images,
      options: { ...auto, schedule: { minSteps: 5, maxSteps: 40, window: 2, tolerance: 0.99 } },
    });
    assert.deepEqual([a.stoppedBy, a.steps, a.epochs], ['plateau', 6, 3]);
    // Nothing ever counts as levelled off: run to maxSteps.
    const b = await teachIn({
      bundleDir: bundle(),
      images,
      options: { ...auto, schedule: { minSteps: 2, maxSteps: 9, window: 2, tolerance: -1 } },
    });
    assert.deepEqual([b.stoppedBy, b.steps, b.epochs], ['max-steps', 10, 5]);
    assert.equal(b.manifest.training?.epochsSetting, 'auto');
  });

  test('training threads: one for small steps unless set, all cores for ViT-B-sized ones', () => {
    assert.equal(trainThreads(undefined, 1024, 64, 64), 1);
    assert.equal(trainThreads(0, 1024, 256, 256), 1);
    assert.equal(trainThreads(undefined, 4096, 768, 768), 0, '0 = onnxruntime default (all cores)');
    assert.equal(trainThreads(3, 1024, 64, 64), 3, 'an explicit count is kept');
  });

  test('planned epochs and the plateau test', () => {
    const s = { minSteps: 100, maxSteps: 400, window: 10, tolerance: 0.01 };
    assert.equal(plannedEpochs(6, undefined, s), 67, 'the maxSteps bound in whole epochs');
    assert.equal(plannedEpochs(1000, undefined, s), 1, 'at least one epoch');
    assert.equal(plannedEpochs(20, 7, s), 7, 'fixed epochs are fixed');
    const falling = Array.from({ length: 40 }, (_, i) => 1 / (1 + i));
    assert.equal(plateaued(falling, 10, 0.01), false);
    const flat = [...falling, ...Array.from({ length: 20 }, () => 0.0245)];
    assert.equal(plateaued(flat, 10, 0.01), true);
    assert.equal(plateaued(falling.slice(0, 15), 10, 0.01), false, 'needs two windows');
  });
});

describe('pinpoint train (CLI)', () => {
  test('skips and reports unreadable files; an empty folder is a clear error', async () => {
    const dir = bundle();
    const imgs = join(tmp, 'cli-good');
    mkdirSync(join(imgs, 'sub'), { recursive: true });
    images.slice(0, 4).forEach((im, i) => writeImage(join(imgs, i % 2 ? 'sub' : '', `g${i}.png`), im));
    writeFileSync(join(imgs, 'broken.png'), 'not a png');
    const r = await runCli([
      'train',
      '--model',
      dir,
      '--images',
      imgs,
      '--epochs',
      '2',
      '--device',
      'cpu',
      '--json',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { images: Record<string, number>; epochs: number };
    assert.deepEqual(out.images, { train: 3, holdout: 1, skipped: 1 });
    assert.equal(out.epochs, 2);
    assert.match(
      r.stderr,
      /broken\.png","reason":"not a decodable image[^"]*","msg":"unreadable image skipped"/,
    );
    assert.match(r.stderr, /DEV TEACHER/);
    assert.ok(readManifest(dir).thresholds);

    mkdirSync(join(tmp, 'cli-empty'));
    const e = await runCli(['train', '--model', dir, '--images', join(tmp, 'cli-empty')]);
    assert.equal(e.code, 1);
    assert.match(e.stderr, /cli-empty: contains no images/);
    const u = await runCli(['train', '--model', dir]);
    assert.equal(u.code, 2, 'missing --images is a usage error');
  });
});
