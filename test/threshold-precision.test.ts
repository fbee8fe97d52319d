// Thresholds are valid only in the precision they were calibrated in: the manifest records it, old bundles
// read as fp32, and a daemon or `infer` in the other precision does not use them (and says what to do):
// end to end, `pinpoint infer` on the CPU (always fp32) gives no verdict from fp16 thresholds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBundle, loadBundle, saveStudents } from '../src/model/bundle.js';
import { writeDevTeacher } from '../src/model/dev-teacher.js';
import { parseManifest, thresholdsForPrecision } from '../src/model/manifest.js';
import { writeImage } from '../src/util/image-io.js';
import { runCli } from './helpers/cli.js';

const t = { reject: 2, pixel: 1, rule: 'r' };

test('fp16 thresholds are used with fp16 only', () => {
  const m = { thresholds: { ...t, precision: 'fp16' as const } };
  assert.deepEqual(thresholdsForPrecision(m, 'fp16').thresholds, m.thresholds);
  const off = thresholdsForPrecision(m, 'fp32');
  assert.equal(off.thresholds, undefined);
  assert.match(off.mismatch ?? '', /calibrated in fp16 and the model runs in fp32/);
  assert.match(off.mismatch ?? '', /inference\.fp16: true/);
});

test('fp32 thresholds (and old bundles without the field) are not used with fp16', () => {
  for (const m of [{ thresholds: { ...t, precision: 'fp32' as const } }, { thresholds: t }]) {
    assert.deepEqual(thresholdsForPrecision(m, 'fp32').thresholds, m.thresholds);
    const off = thresholdsForPrecision(m, 'fp16');
    assert.equal(off.thresholds, undefined);
    assert.match(off.mismatch ?? '', /pinpoint train --fp16/);
  }
  assert.deepEqual(thresholdsForPrecision({}, 'fp16'), {});
});

test('the manifest accepts the precision field and refuses an unknown one', () => {
  const root = mkdtempSync(join(tmpdir(), 'pinpoint-prec-'));
  try {
    const teacher = join(root, 'teacher.safetensors');
    writeDevTeacher(teacher, { depth: 2, dim: 16, heads: 2, posGrid: 4, seed: 3 });
    createBundle({ teacherPath: teacher, outDir: join(root, 'b'), size: 28, layers: [1, 2], seed: 1 });
    const json = JSON.parse(readFileSync(join(root, 'b', 'manifest.json'), 'utf8')) as object;
    const ok = parseManifest({ ...json, thresholds: { ...t, precision: 'fp16' } }, 'manifest.json');
    assert.equal(ok.thresholds?.precision, 'fp16');
    const bad = () => parseManifest({ ...json, thresholds: { ...t, precision: 'int8' } }, 'manifest.json');
    assert.throws(bad, /thresholds\.precision/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('pinpoint infer on the CPU uses fp32 thresholds and refuses fp16 ones, saying why', async () => {
  const root = mkdtempSync(join(tmpdir(), 'pinpoint-prec-cli-'));
  try {
    const teacher = join(root, 'teacher.safetensors');
    writeDevTeacher(teacher, { depth: 2, dim: 16, heads: 2, posGrid: 4, seed: 3 });
    const dir = join(root, 'b');
    createBundle({ teacherPath: teacher, outDir: dir, size: 28, layers: [1, 2], seed: 1 });
    const img = join(root, 'a.png');
    const d = new Uint8Array(40 * 30 * 3).map((_, i) => (i * 29) % 256);
    writeImage(img, { width: 40, height: 30, channels: 3, data: d });
    const infer = async (precision: 'fp16' | 'fp32') => {
      const students = loadBundle(dir).students;
      saveStudents(dir, students, { thresholds: { reject: 1e-9, pixel: 1e-9, rule: 'test', precision } });
      const r = await runCli(['infer', '--model', dir, img, '--device', 'cpu', '--json']);
      assert.equal(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout) as { results: { verdict?: string }[] };
      return { verdict: out.results[0].verdict, stderr: r.stderr };
    };
    const fp32 = await infer('fp32');
    assert.equal(fp32.verdict, 'reject', 'fp32 thresholds apply on the CPU');
    assert.doesNotMatch(fp32.stderr, /calibrated in/);
    const fp16 = await infer('fp16');
    assert.equal(fp16.verdict, undefined, 'fp16 thresholds give no verdict in fp32');
    assert.match(fp16.stderr, /calibrated in fp16 and the model runs in fp32/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
