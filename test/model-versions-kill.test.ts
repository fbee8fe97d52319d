// kill -9 while versions are published and promoted, and while a plain bundle's students are re-saved: after
// every kill, what the next start does (recover the models directory, load the bundle with every hash
// checked) finds a complete version, old or new, never a mixture of students and manifest. A real child
// process (test/helpers/versions-child.mjs on dist/), killed at seeded random moments.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadBundle, readManifest } from '../src/model/bundle.js';
import { copyBundleFiles, publishVersion } from '../src/model/version-publish.js';
import { recoverModelsDir } from '../src/model/version-recover.js';
import { readVersionRecord, versionDir, versionNames } from '../src/model/versions.js';
import { Rng } from '../src/util/random.js';
import { tinyBundle } from './helpers/model-versions.js';
import { writeDevTeacher } from '../src/model/dev-teacher.js';
import { track } from './helpers/children.js';

const KILLS = 16;
const tmp = mkdtempSync(join(tmpdir(), 'pinpoint-versions-kill-'));
const bundles: string[] = [];
const plain = join(tmp, 'plain');
const models = join(tmp, 'models');

before(() => {
  // Wide students (dim 192: ~1.8 MB each) so a write takes long enough for kills to land inside it.
  const teacher = join(tmp, 'teacher.safetensors');
  writeDevTeacher(teacher, { depth: 2, dim: 192, heads: 2, registers: 4, posGrid: 4, seed: 3 });
  for (let s = 0; s < 3; s++) {
    const dir = join(tmp, `bundle-${s}`);
    tinyBundle(teacher, dir, s);
    bundles.push(dir);
  }
  mkdirSync(plain);
  copyBundleFiles(bundles[0], plain);
  publishVersion(models, bundles[0], { parent: null }, { promote: true }); // what the daemon starts on
});
after(() => rmSync(tmp, { recursive: true, force: true }));

function runAndKill(afterMs: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const child = track(
      spawn(
        process.execPath,
        ['test/helpers/versions-child.mjs', JSON.stringify({ models, bundles, plain })],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      ),
    );
    let ready = false;
    child.stdout.on('data', (d: Buffer) => {
      if (ready || !d.toString().includes('ready')) return;
      ready = true;
      setTimeout(() => child.kill('SIGKILL'), afterMs);
    });
    child.on('error', reject);
    child.on('exit', (_code, signal) => resolve(ready && signal === 'SIGKILL'));
  });
}

describe('kill -9 during publish and promotion', () => {
  test(
    `${KILLS} kills at random moments: the next start always finds a complete version`,
    { timeout: 300000 },
    async () => {
      const ids = new Set(bundles.map((b) => readManifest(b).modelId));
      const rng = new Rng(20261202);
      let moved = 0;
      /** Kills that landed inside a publish (a staging directory left) or a save (journal files left). */
      let midPublish = 0;
      let midSave = 0;
      let last = '';
      for (let i = 0; i < KILLS; i++) {
        const killed = await runAndKill(20 + Math.floor(rng.next() * 400));
        assert.ok(killed, `run ${i} was killed while writing`);
        // What `pinpoint run` does at start on each.
        const r = recoverModelsDir(models);
        if (r.removedStaging > 0) midPublish++;
        if (
          existsSync(join(plain, 'manifest.next.json')) ||
          existsSync(join(plain, 'students.next.safetensors'))
        )
          midSave++;
        const dir = versionDir(models, r.version);
        const b = loadBundle(dir); // every hash checked: a mixture throws
        assert.ok(ids.has(b.manifest.modelId), 'one of the published models');
        assert.equal(readVersionRecord(dir).modelId, b.manifest.modelId, 'record and bundle agree');
        const p = loadBundle(plain);
        assert.ok(ids.has(p.manifest.modelId), 'the plain bundle is one of the saved ones');
        // Thresholds belong to the students they were saved with (k ↔ 1000 + k; bundle 0's own before any save).
        const k = bundles.findIndex((x) => readManifest(x).modelId === p.manifest.modelId);
        const reject = p.manifest.thresholds?.reject;
        assert.ok(reject === 1000 + k || (k === 0 && reject === 1e9), `students ${k}, thresholds ${reject}`);
        if (r.version !== last) moved++;
        last = r.version;
        assert.deepEqual(readdirSync(join(models, '.staging')), [], 'dead staging cleared');
      }
      const versions = versionNames(models).length;
      console.log(
        `# kill -9: ${KILLS} kills, ${versions} versions published, current moved ${moved} times; ${midPublish} kills inside a publish, ${midSave} inside a save; every start complete`,
      );
      assert.ok(versions >= KILLS / 2, `the writer made progress (${versions} versions)`);
    },
  );
});
