// `pinpoint config check` refuses what `pinpoint run` would: hostile camera strings (the camera code's own
// rules), a missing model, an input size other than the bundle's, a bundle without thresholds. Exit 2 and
// FILE:LINE:COL key.path: message, like any other config problem. Real bundles from a tiny dev teacher.
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { preflight } from '../src/app/preflight.js';
import { loadConfigFile } from '../src/config/load.js';
import { createBundle, saveStudents, loadBundle } from '../src/model/bundle.js';
import { writeDevTeacher } from '../src/model/dev-teacher.js';
import { runCli } from './helpers/cli.js';

const tmp = mkdtempSync(join(tmpdir(), 'pinpoint-config-check-'));
const SIZE = 56;

function writeConfig(name: string, text: string): string {
  const p = join(tmp, name);
  writeFileSync(p, text);
  return p;
}

const camera = 'cameras:\n  a:\n    type: synthetic\n';

before(() => {
  const teacher = join(tmp, 'teacher.safetensors');
  writeDevTeacher(teacher, { depth: 3, dim: 32, heads: 2, posGrid: 6, seed: 3 });
  createBundle({ teacherPath: teacher, outDir: join(tmp, 'untaught'), size: SIZE, layers: [2, 3] });
  createBundle({ teacherPath: teacher, outDir: join(tmp, 'taught'), size: SIZE, layers: [2, 3] });
  const b = loadBundle(join(tmp, 'taught'));
  saveStudents(b.dir, b.students, { thresholds: { reject: 0.5, pixel: 0.4, rule: 'test' } });
});

describe('preflight (the checks config check, doctor and run share)', () => {
  test('a taught bundle of the expected size passes', () => {
    const file = writeConfig('ok.yaml', `${camera}pipeline:\n  inputSize: ${SIZE}\nmodel:\n  path: taught\n`);
    const { config, dir } = loadConfigFile(file);
    const r = preflight(config, dir);
    assert.deepEqual(r.problems, []);
    assert.equal(r.manifest?.input.size, SIZE);
  });

  test('thresholds from the config make an untaught bundle runnable', () => {
    const file = writeConfig(
      'cfg-thresholds.yaml',
      `${camera}model:\n  path: untaught\nverdict:\n  rejectThreshold: 1\n  pixelThreshold: 1\n`,
    );
    const { config, dir } = loadConfigFile(file);
    assert.deepEqual(preflight(config, dir).problems, []);
  });

  test('a teacher file gone from a bundle is a model problem (run exits 1 for it)', () => {
    const teacher = join(tmp, 'moved-teacher.safetensors');
    copyFileSync(join(tmp, 'teacher.safetensors'), teacher);
    createBundle({ teacherPath: teacher, outDir: join(tmp, 'orphan'), size: SIZE, layers: [2, 3] });
    rmSync(teacher);
    const file = writeConfig('orphan.yaml', `${camera}model:\n  path: orphan\n`);
    const { config, dir } = loadConfigFile(file);
    const r = preflight(config, dir);
    assert.deepEqual(
      r.problems.map((p) => [p.kind, p.path.join('.')]),
      [['model', 'model.path']],
    );
    assert.match(r.problems[0].message, /teacher weights .*moved-teacher\.safetensors do not exist/);
  });
});

describe('pinpoint config check', () => {
  test('a runnable config: exit 0, the effective config and the model it will load', async () => {
    const file = writeConfig(
      'good.yaml',
      `${camera}model:\n  path: taught\nmqtt:\n  username: plc\n  password: \${PW}\n`,
    );
    const r = await runCli(['config', 'check', file], { env: { PW: 'do-not-print' } });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /: valid\n# model [0-9a-f]{16}: input size 56 \(DEV TEACHER/);
    assert.match(r.stdout, /password: "\*\*\*"/);
    assert.ok(!r.stdout.includes('do-not-print'));
  });

  test('a files camera whose replay folder is missing: exit 2 naming the camera (as run refuses it)', async () => {
    const file = writeConfig(
      'replay-missing.yaml',
      `cameras:\n  line:\n    type: files\n    path: no-such-folder\nmodel:\n  path: taught\n`,
    );
    const r = await runCli(['config', 'check', file]);
    assert.equal(r.code, 2, r.stdout);
    assert.match(
      r.stderr,
      /replay-missing\.yaml:4:\d+ cameras\.line\.path: \S*no-such-folder does not exist/,
    );
  });

  test('hostile camera strings: exit 2, each at its line, no credentials', async () => {
    const file = writeConfig(
      'hostile.yaml',
      [
        'cameras:',
        '  s:',
        '    type: rtsp',
        '    url: "rtsp://op:pw0rd@cam/live ! filesink location=/tmp/x"',
        '  g:',
        '    type: gige',
        "    device: 'Basler\\\\1'",
        '    features:',
        '      ExposureAuto: "Off Once"',
        'model:',
        '  path: taught',
      ].join('\n'),
    );
    const r = await runCli(['config', 'check', file]);
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.ok(r.stderr.includes(`${file}:4:10 cameras.s.url: must not contain whitespace`), r.stderr);
    assert.ok(r.stderr.includes(`${file}:7:13 cameras.g.device: backslashes are not allowed`), r.stderr);
    assert.ok(r.stderr.includes(`${file}:9:21 cameras.g.features.ExposureAuto: "Off Once"`), r.stderr);
    assert.ok(!r.stderr.includes('pw0rd'));
    assert.equal(r.stdout, '');
  });

  test('no model, a bundle that is not there: exit 2 naming model.path', async () => {
    const none = await runCli(['config', 'check', writeConfig('none.yaml', camera)]);
    assert.equal(none.code, 2, none.stderr);
    assert.match(none.stderr, /:1:1 model: model\.path is not set/);
    const gone = writeConfig('gone.yaml', `${camera}model:\n  path: no-such-bundle\n`);
    const r = await runCli(['config', 'check', gone]);
    assert.equal(r.code, 2, r.stderr);
    assert.ok(
      r.stderr.includes(`${gone}:5:9 model.path: ${join(tmp, 'no-such-bundle')} is not a model bundle`),
      r.stderr,
    );
  });

  test("an input size other than the bundle's, a bundle without thresholds: exit 2, both named", async () => {
    const file = writeConfig(
      'mismatch.yaml',
      `${camera}pipeline:\n  inputSize: 448\nmodel:\n  path: untaught\n`,
    );
    const r = await runCli(['config', 'check', file]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(
      r.stderr,
      /:5:14 pipeline\.inputSize: the config expects input size 448, the bundle .*untaught was built for 56/,
    );
    assert.match(r.stderr, /:7:9 model\.path: the bundle .*untaught has no thresholds .* for camera a/);
  });
});
