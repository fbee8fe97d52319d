import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeDevTeacher } from '../src/model/dev-teacher.js';
import { BundleError, createBundle, loadBundle, readManifest, saveStudents } from '../src/model/bundle.js';
import { computeModelId, ManifestError, parseManifest, resizeModeOf } from '../src/model/manifest.js';
import { openAnomalyModel } from '../src/pipeline/inference.js';
import { initStudents } from '../src/model/students.js';

const DEV = { depth: 3, dim: 32, heads: 2, posGrid: 6, seed: 3 };

let root: string;
let teacher: string;
before(() => {
  root = mkdtempSync(join(tmpdir(), 'pinpoint-bundle-'));
  teacher = join(root, 'teacher.safetensors');
  writeDevTeacher(teacher, DEV);
});
after(() => rmSync(root, { recursive: true, force: true }));

function fresh(name: string, extra: Partial<Parameters<typeof createBundle>[0]> = {}): string {
  const dir = join(root, name);
  createBundle({ teacherPath: teacher, outDir: dir, size: 56, layers: [2, 3], seed: 1, ...extra });
  return dir;
}

describe('bundle', () => {
  test('create → load round trip: manifest, teacher arch, seeded students', () => {
    const dir = fresh('roundtrip');
    const b = loadBundle(dir);
    const m = b.manifest;
    assert.equal(m.format, 'pinpoint-bundle');
    assert.equal(m.formatVersion, 1);
    assert.match(m.modelId, /^[0-9a-f]{16}$/);
    assert.equal(m.modelId, computeModelId(m.teacher.sha256, m.students.sha256, 56, [2, 3]));
    assert.equal(m.teacher.path, teacher, 'referenced by absolute path by default');
    assert.equal(m.teacher.devTeacher, true);
    assert.equal(m.teacher.layout, 'huggingface');
    assert.deepEqual(m.teacher.arch, {
      depth: 3,
      dim: 32,
      heads: 2,
      registers: 4,
      patch: 14,
      mlpHidden: 128,
      posGrid: 6,
      lnEps: 1e-6,
    });
    assert.deepEqual(m.layers, [2, 3]);
    assert.equal(m.input.size, 56);
    assert.deepEqual(m.students, {
      file: 'students.safetensors',
      sha256: m.students.sha256,
      seed: 1,
      hidden: 32,
    });
    assert.equal(b.teacherPath, teacher);
    assert.deepEqual(b.students, initStudents(32, 1));
    assert.equal(b.teacher.blocks.length, 3);
    // Same inputs → same modelId; a different seed → different students → different id.
    const other = fresh('seed2', { seed: 2 });
    assert.notEqual(readManifest(other).modelId, m.modelId);
  });

  test('the resize mode is recorded, defaults to fast, reads as area when absent, and reaches the model', async () => {
    assert.equal(readManifest(fresh('resize-default')).input.resize, 'fast');
    const dir = fresh('resize-area', { resize: 'area' });
    const m = readManifest(dir);
    assert.equal(resizeModeOf(m), 'area');
    const model = await openAnomalyModel(loadBundle(dir), { device: 'cpu', threads: 1 });
    try {
      assert.equal(model.resize, 'area', 'inference letterboxes as the bundle was taught');
    } finally {
      await model.release();
    }
    // A bundle from before the field existed was taught with what is now 'area'.
    const legacy = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as {
      input: { resize?: string };
    };
    delete legacy.input.resize;
    assert.equal(resizeModeOf(parseManifest(legacy, 'legacy.json')), 'area');
    legacy.input.resize = 'nearest';
    assert.throws(() => parseManifest(legacy, 'bad.json'), /input\.resize/);
  });

  test('copyTeacher makes the bundle self-contained (still loads after the directory moves)', () => {
    const dir = fresh('copied', { copyTeacher: true });
    assert.equal(readManifest(dir).teacher.path, 'teacher.safetensors');
    const moved = join(root, 'copied-moved');
    renameSync(dir, moved);
    assert.equal(loadBundle(moved).teacherPath, join(moved, 'teacher.safetensors'));
  });

  test('saveStudents: atomic replace, new sha and modelId, thresholds tied to the students', () => {
    const dir = fresh('save');
    const before = readManifest(dir);
    const s = initStudents(32, 9);
    const thresholds = { reject: 0.5, pixel: 0.4, rule: 'test' };
    const m = saveStudents(dir, s, {
      training: { trainedAt: new Date().toISOString(), epochs: 2 },
      thresholds,
    });
    assert.notEqual(m.students.sha256, before.students.sha256);
    assert.notEqual(m.modelId, before.modelId);
    const b = loadBundle(dir);
    assert.deepEqual(b.students, s);
    assert.deepEqual(b.manifest.thresholds, thresholds);
    assert.equal(b.manifest.training?.epochs, 2);
    // Same student bytes, no patch: training info and thresholds stay.
    assert.deepEqual(saveStudents(dir, s, {}).thresholds, thresholds);
    // New students without new thresholds: the stale ones are dropped.
    const m3 = saveStudents(dir, initStudents(32, 10), {});
    assert.equal(m3.thresholds, undefined);
    assert.equal(m3.training, undefined);
    // Wrong width is refused before anything is written.
    assert.throws(
      () => saveStudents(dir, initStudents(16, 0), {}),
      /student is 16→16→16→16, the teacher needs 32/,
    );
    assert.equal(readManifest(dir).modelId, m3.modelId);
  });

  test('teacher file changed, missing, or corrupt → clear errors', () => {
    const dir = fresh('teacher-errors', { copyTeacher: true });
    const copy = join(dir, 'teacher.safetensors');
    writeDevTeacher(copy, { ...DEV, seed: 4 });
    assert.throws(
      () => loadBundle(dir),
      (e: Error) =>
        e instanceof BundleError &&
        /differ from the ones the bundle/.test(e.message) &&
        e.message.includes(copy),
    );
    rmSync(copy);
    assert.throws(
      () => loadBundle(dir),
      (e: Error) => e instanceof BundleError && e.message.includes(`${copy} does not exist`),
    );
    // A teacher that is not DINOv2 at all, at build time.
    const junk = join(root, 'junk.safetensors');
    writeFileSync(junk, Buffer.from('not a safetensors file at all'));
    assert.throws(() => createBundle({ teacherPath: junk, outDir: join(root, 'junk') }), /junk\.safetensors/);
    assert.throws(
      () => createBundle({ teacherPath: join(root, 'nope.safetensors'), outDir: join(root, 'nope') }),
      /nope\.safetensors does not exist/,
    );
  });

  test('corrupt students or manifest → clear errors naming the file and key', () => {
    const dir = fresh('corrupt');
    const sfile = join(dir, 'students.safetensors');
    const good = readFileSync(sfile);
    const bad = Buffer.from(good);
    bad[bad.length - 1] ^= 0xff;
    writeFileSync(sfile, bad);
    assert.throws(() => loadBundle(dir), /students\.safetensors: student weights do not match the manifest/);
    writeFileSync(sfile, good);
    loadBundle(dir);

    const mfile = join(dir, 'manifest.json');
    const text = readFileSync(mfile, 'utf8');
    writeFileSync(mfile, text.slice(0, 40));
    assert.throws(
      () => loadBundle(dir),
      (e: Error) =>
        e instanceof ManifestError && e.message.includes(mfile) && /not valid JSON/.test(e.message),
    );
    const json = JSON.parse(text) as Record<string, unknown>;
    writeFileSync(
      mfile,
      JSON.stringify({ ...json, layers: [3, 2], input: { size: 50, mean: [0, 0, 0], std: [1, 1, 1] } }),
    );
    assert.throws(
      () => loadBundle(dir),
      (e: Error) =>
        /layers: need 1 ≤ a < b/.test(e.message) && /input\.size: 50 is not a multiple/.test(e.message),
    );
    assert.throws(
      () => parseManifest({ ...json, formatVersion: 2 }, 'x/manifest.json'),
      /x\/manifest\.json: .*\n\s+- formatVersion/,
    );
    assert.throws(
      () => loadBundle(join(root, 'nothing-here')),
      /is not a model bundle \(no manifest\.json\)/,
    );
  });

  test('students that do not fit the teacher → clear error', () => {
    const dir = fresh('wrong-students');
    const m = readManifest(dir);
    writeFileSync(
      join(dir, 'manifest.json'),
      JSON.stringify({ ...m, students: { ...m.students, hidden: 16 } }),
    );
    assert.throws(() => loadBundle(dir), /the teacher needs 32→16→16→32/);
  });

  test('create refuses to overwrite a bundle without force, and bad geometry', () => {
    const dir = fresh('overwrite');
    assert.throws(() => fresh('overwrite'), /already holds a model bundle/);
    assert.doesNotThrow(() => fresh('overwrite', { force: true }));
    assert.throws(
      () => createBundle({ teacherPath: teacher, outDir: join(root, 'g1'), size: 50 }),
      /50 is not a positive multiple of the patch size 14/,
    );
    assert.throws(
      () => createBundle({ teacherPath: teacher, outDir: join(root, 'g2'), size: 56, layers: [2, 4] }),
      /need 1 ≤ a < b ≤ 3/,
    );
    assert.ok(dir);
  });
});
