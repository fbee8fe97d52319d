// Model versions on disk: publish (complete or nothing), promote, rollback through the history, start-up
// recovery of a dangling or broken `current`, the plain bundle's journaled save rolled forward, and the
// versions CLI round trip. Real files, real tiny bundles; the kill -9 runs are in model-versions-kill.test.ts.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadBundle, readManifest } from '../src/model/bundle.js';
import { NEXT_MANIFEST } from '../src/model/bundle-journal.js';
import { readHistory } from '../src/model/version-history.js';
import { promoteVersion, rollbackTarget, rollbackVersion } from '../src/model/version-promote.js';
import { copyBundleFiles, createStaging, publishVersion } from '../src/model/version-publish.js';
import { recoverModelsDir } from '../src/model/version-recover.js';
import {
  VersionError,
  currentVersion,
  isModelsDir,
  readVersionRecord,
  resolveModelPath,
  versionDir,
  versionNames,
} from '../src/model/versions.js';
import { preflight } from '../src/app/preflight.js';
import { configSchema } from '../src/config/schema.js';
import { runCli } from './helpers/cli.js';
import { teachVersion } from '../src/teach/teach-version.js';
import { imageSha256 } from '../src/teach/teach-in.js';
import { tinyBundle, tinyTeacher } from './helpers/model-versions.js';

const tmp = mkdtempSync(join(tmpdir(), 'pinpoint-versions-'));
let teacher: string;
const bundles: string[] = [];

before(() => {
  teacher = tinyTeacher(tmp);
  for (let s = 0; s < 3; s++) {
    const dir = join(tmp, `bundle-${s}`);
    tinyBundle(teacher, dir, s);
    bundles.push(dir);
  }
});
after(() => rmSync(tmp, { recursive: true, force: true }));

function freshModels(name: string): string {
  return join(tmp, name);
}

describe('model versions', () => {
  test('publish: a complete immutable version with its record; promote and rollback walk the history', () => {
    const models = freshModels('m1');
    const a = publishVersion(models, bundles[0], { parent: null, source: 'test' });
    assert.ok(isModelsDir(models));
    assert.equal(currentVersion(models), null, 'publish alone does not promote');
    const ma = readManifest(bundles[0]);
    assert.equal(a.modelId, ma.modelId);
    assert.match(a.version, /^\d{8}-\d{6}-[0-9a-f]{16}$/);
    const rec = readVersionRecord(versionDir(models, a.version));
    assert.deepEqual(
      { parent: rec.parent, source: rec.source, modelId: rec.modelId },
      { parent: null, source: 'test', modelId: ma.modelId },
    );
    assert.equal(
      loadBundle(versionDir(models, a.version)).manifest.modelId,
      ma.modelId,
      'loads and verifies',
    );
    assert.deepEqual(readdirSync(join(models, '.staging')), [], 'nothing left in staging');

    promoteVersion(models, a.version);
    const b = publishVersion(
      models,
      bundles[1],
      { parent: a.version, teachIn: { images: ['ab'.repeat(32)] } },
      { promote: true },
    );
    const c = publishVersion(models, bundles[2], { parent: b.version }, { promote: true });
    assert.equal(currentVersion(models), c.version);
    assert.equal(readVersionRecord(versionDir(models, b.version)).teachIn?.images.length, 1);
    assert.equal(rollbackTarget(models), b.version);
    assert.deepEqual(rollbackVersion(models), { from: c.version, to: b.version });
    assert.deepEqual(rollbackVersion(models), { from: b.version, to: a.version });
    assert.throws(() => rollbackVersion(models), /no previous version/);
    promoteVersion(models, c.version);
    assert.equal(
      rollbackTarget(models),
      a.version,
      'after rollbacks, a promotion goes back to where it came from',
    );
    const actions = readHistory(models).events.map((e) => e.action);
    assert.deepEqual(
      actions.filter((x) => x !== 'publish'),
      ['promote', 'promote', 'promote', 'rollback', 'rollback', 'promote'],
    );
    // The link is relative: the directory can be moved or mounted elsewhere.
    assert.equal(resolveModelPath(models).kind, 'models');
    assert.equal(resolveModelPath(bundles[0]).kind, 'bundle');
  });

  test('an incomplete bundle is never published; an incomplete version is never promoted; bad names refused', () => {
    const models = freshModels('m2');
    const broken = join(tmp, 'broken');
    mkdirSync(broken);
    copyBundleFiles(bundles[0], broken);
    writeFileSync(join(broken, 'students.safetensors'), 'not the students');
    assert.throws(() => publishVersion(models, broken, { parent: null }), /does not match its manifest/);
    assert.deepEqual(versionNames(models), []);
    const a = publishVersion(models, bundles[0], { parent: null }, { promote: true });
    const b = publishVersion(models, bundles[1], { parent: a.version });
    writeFileSync(join(versionDir(models, b.version), 'students.safetensors'), 'corrupt');
    assert.throws(() => promoteVersion(models, b.version), /cannot be promoted/);
    assert.equal(currentVersion(models), a.version, 'current unchanged');
    for (const bad of ['../x', 'a/b', '..', ''])
      assert.throws(() => promoteVersion(models, bad), VersionError);
  });

  test('recovery: a dangling or broken current goes back to the last complete version, dead staging is removed', () => {
    const models = freshModels('m3');
    const a = publishVersion(models, bundles[0], { parent: null }, { promote: true });
    const b = publishVersion(models, bundles[1], { parent: a.version }, { promote: true });
    // A version broken after publication (disk fault, a hand edit): its students no longer match.
    writeFileSync(join(versionDir(models, b.version), 'students.safetensors'), 'corrupt');
    // A dead writer's staging directory (pid 1 is alive: use one that is not).
    const dead = join(models, '.staging', 'publish-999999-deadbeef');
    mkdirSync(dead);
    const live = createStaging(models, 'train');
    const r = recoverModelsDir(models);
    assert.equal(r.version, a.version);
    assert.match(r.repaired ?? '', /does not match its manifest/);
    assert.equal(currentVersion(models), a.version);
    assert.ok(!existsSync(dead), 'dead staging removed');
    assert.ok(existsSync(live), "this process's staging kept");
    assert.equal(readHistory(models).events.at(-1)?.action, 'recover');
    // Dangling: the link names a version that does not exist.
    rmSync(join(models, 'current'));
    symlinkSync('versions/20990101-000000-nothere', join(models, 'current'));
    assert.equal(recoverModelsDir(models).version, a.version);
    // Fine: nothing is touched.
    assert.equal(recoverModelsDir(models).repaired, undefined);
  });

  test('config check resolves a models directory to its current version; no current is a model problem', () => {
    const models = freshModels('m4');
    const cfg = (path: string) =>
      configSchema.parse({ cameras: { a: { type: 'synthetic' } }, model: { path } });
    publishVersion(models, bundles[0], { parent: null });
    const none = preflight(cfg(models), tmp);
    assert.match(none.problems.map((p) => p.message).join(), /no current version/);
    const v = versionNames(models)[0];
    promoteVersion(models, v);
    const ok = preflight(cfg(models), tmp);
    assert.deepEqual(ok.problems, []);
    assert.equal(ok.bundleDir, versionDir(models, v));
    assert.deepEqual(preflight(cfg(bundles[0]), tmp).problems, [], 'a plain bundle works unchanged');
  });

  test('plain bundle: a save interrupted after its students were renamed is rolled forward on read', () => {
    const dir = join(tmp, 'journal');
    mkdirSync(dir);
    copyBundleFiles(bundles[0], dir);
    const old = readManifest(dir);
    // Reproduce the state between the journal's two renames: the new students in place, the old manifest,
    // manifest.next.json describing the new students.
    const next = join(tmp, 'journal-next');
    mkdirSync(next);
    copyBundleFiles(bundles[1], next);
    const nextManifest = readFileSync(join(next, 'manifest.json'));
    renameSync(join(next, 'students.safetensors'), join(dir, 'students.safetensors'));
    writeFileSync(join(dir, NEXT_MANIFEST), nextManifest);
    const m = readManifest(dir);
    assert.notEqual(m.modelId, old.modelId);
    assert.equal(m.modelId, readManifest(bundles[1]).modelId);
    assert.ok(!existsSync(join(dir, NEXT_MANIFEST)));
    assert.equal(loadBundle(dir).manifest.modelId, m.modelId, 'loads: students and manifest agree');
  });

  test('CLI: publish, versions, promote, rollback round trip', { timeout: 120000 }, async () => {
    const models = freshModels('m5');
    const pub = await runCli(['model', 'publish', models, bundles[0], '--promote']);
    assert.equal(pub.code, 0, pub.stderr);
    assert.match(pub.stdout, /published (\S+) \(model [0-9a-f]{16}\)/);
    const v0 = /published (\S+)/.exec(pub.stdout)![1];
    const v1 = publishVersion(models, bundles[1], { parent: v0 }).version;
    const promote = await runCli(['model', 'promote', models, v1]);
    assert.equal(promote.code, 0, promote.stderr);
    assert.match(promote.stdout, new RegExp(`current is now ${v1} \\(was ${v0}\\)`));
    const list = await runCli(['model', 'versions', models, '--json']);
    const j = JSON.parse(list.stdout) as {
      current: string;
      previous: string;
      versions: { version: string; current: boolean; parent: string | null }[];
    };
    assert.equal(j.current, v1);
    assert.equal(j.previous, v0);
    assert.deepEqual(
      j.versions.map((r) => [r.version, r.current, r.parent]),
      [
        [v0, false, null],
        [v1, true, v0],
      ],
    );
    const text = await runCli(['model', 'versions', models]);
    assert.match(text.stdout, new RegExp(`^\\* ${v1} `, 'm'));
    const rb = await runCli(['model', 'rollback', models]);
    assert.equal(rb.code, 0, rb.stderr);
    assert.equal(currentVersion(models), v0);
    // Other input size: refused (a running daemon could not swap to it) unless --restart-needed.
    const big = join(tmp, 'bundle-big');
    tinyBundle(teacher, big, 7, { size: 84 });
    const v2 = publishVersion(models, big, { parent: v0 }).version;
    const refused = await runCli(['model', 'promote', models, v2]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /size 84 vs 56.*--restart-needed/s);
    assert.equal(currentVersion(models), v0);
    const bad = await runCli(['model', 'promote', models, '../etc']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /not a version name/);
  });

  test(
    'teach-in into a models directory: taught in staging, published with parent and teach-in set, promoted',
    { timeout: 120000 },
    async () => {
      const models = freshModels('m6');
      const parent = publishVersion(models, bundles[0], { parent: null }, { promote: true }).version;
      const before = readFileSync(join(versionDir(models, parent), 'students.safetensors'));
      const images = Array.from({ length: 6 }, (_, k) => {
        const data = new Uint8Array(64 * 48 * 3);
        for (let i = 0; i < data.length; i++) data[i] = (i * (k + 3)) & 255;
        return { width: 64, height: 48, channels: 3 as const, data };
      });
      const r = await teachVersion(models, {
        images,
        options: { epochs: 1, device: 'cpu', threads: 1, seed: 1 },
      });
      assert.ok(r.promoted);
      assert.equal(currentVersion(models), r.record.version);
      const rec = readVersionRecord(versionDir(models, r.record.version));
      assert.equal(rec.parent, parent);
      assert.equal(rec.source, 'train');
      assert.deepEqual(rec.teachIn?.images, images.map(imageSha256));
      assert.equal(
        loadBundle(versionDir(models, r.record.version)).manifest.modelId,
        r.result.manifest.modelId,
      );
      assert.ok(r.result.manifest.thresholds, 'calibrated');
      assert.deepEqual(
        readFileSync(join(versionDir(models, parent), 'students.safetensors')),
        before,
        'parent untouched',
      );
      assert.deepEqual(readdirSync(join(models, '.staging')), [], 'staging cleaned');
      assert.equal(rollbackTarget(models), parent);
    },
  );
});
