// Thresholds are valid only in the precision they were calibrated in: the manifest records it, old bundles
// read as fp32, and a daemon or `infer` in the other precision does not use them (and says what to do).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBundle } from '../src/model/bundle.js';
import { writeDevTeacher } from '../src/model/dev-teacher.js';
import { parseManifest, thresholdsForPrecision } from '../src/model/manifest.js';

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
