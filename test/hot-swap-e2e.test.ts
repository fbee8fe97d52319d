// Acceptance of the hot swap end to end: `pinpoint run` (the real CLI as a child process) on a models
// directory, a synthetic camera of N parts, a real mosquitto and a real MQTT subscriber. While it runs, the
// test promotes a new version and then a newer one the way `pinpoint model promote` does (re-pointing
// `current`); the daemon follows. Exactly N verdicts arrive, each carrying the model id in force for its part,
// the ids go old → new → newer in part order, and no part gets a fail-safe verdict.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { readManifest } from '../src/model/bundle.js';
import { promoteVersion } from '../src/model/version-promote.js';
import { publishVersion } from '../src/model/version-publish.js';
import { versionDir } from '../src/model/versions.js';
import type { InspectionResult } from '../src/pipeline/result.js';
import { exitWithin, startDaemon, type Daemon } from './helpers/cli.js';
import { startMosquitto, type Broker } from './helpers/mosquitto.js';
import { record, type Recorder } from './helpers/mqtt.js';
import { tinyBundle, tinyTeacher } from './helpers/model-versions.js';

const N = 150;
const tmp = mkdtempSync(join(tmpdir(), 'pinpoint-swap-e2e-'));
const models = join(tmp, 'models');
const v: string[] = [];
let broker: Broker;
let daemon: Daemon | undefined;
let rec: Recorder | undefined;

before(async () => {
  const teacher = tinyTeacher(tmp);
  for (let s = 0; s < 3; s++) {
    tinyBundle(teacher, join(tmp, `b${s}`), s, { reject: 1e9 + s });
    v.push(
      publishVersion(models, join(tmp, `b${s}`), { parent: v.at(-1) ?? null }, { promote: s === 0 }).version,
    );
  }
  broker = await startMosquitto();
});
after(async () => {
  if (daemon?.child.exitCode === null) daemon.child.kill('SIGKILL');
  await rec?.end().catch(() => undefined);
  await broker?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

const results = (r: Recorder): InspectionResult[] =>
  r.on('swap/a/result').map((m) => JSON.parse(m.text) as InspectionResult);

describe('hot swap end to end', () => {
  test(
    `${N} parts, two promotions mid-run: ${N} verdicts, each from the model in force, no fail-safe`,
    { timeout: 240000 },
    async () => {
      const ids = v.map((x) => readManifest(versionDir(models, x)).modelId);
      rec = await record(broker.url, ['swap/#']);
      const config = {
        cameras: {
          a: { type: 'synthetic', width: 128, height: 96, fps: 10, count: N, seed: 5, defectRate: 0.2 },
        },
        pipeline: { batch: { maxBatch: 4, maxWaitMs: 10 } },
        model: { path: models },
        inference: { device: 'cpu', threads: 1 },
        verdict: { deadlineMs: 10000 },
        mqtt: { url: broker.url, topicPrefix: 'swap', outbox: { dir: join(tmp, 'outbox') } },
        logging: { level: 'info', pretty: 'never' },
      };
      const file = join(tmp, 'run.yaml');
      writeFileSync(file, stringify(config));
      daemon = startDaemon(file, { PINPOINT_LOG_LEVEL: 'info' });
      const has = (k: number) => () => results(rec!).some((r) => r.modelId === ids[k]);
      await rec.waitFor(() => results(rec!).length >= 10, 'first verdicts', 60000);
      promoteVersion(models, v[1]);
      await rec.waitFor(has(1), `verdicts of ${v[1]}`, 60000);
      promoteVersion(models, v[2]);
      await rec.waitFor(has(2), `verdicts of ${v[2]}`, 60000);
      assert.equal(await exitWithin(daemon, 120000), 0, daemon.output().slice(-3000));
      await rec.waitFor(
        () => rec!.on('swap/status').some((m) => m.text === 'stopped'),
        'status stopped',
        10000,
      );
      await new Promise((r) => setTimeout(r, 300)); // an extra verdict would have arrived by now
      const rs = results(rec);
      assert.equal(rs.length, N, 'exactly N verdicts');
      assert.equal(new Set(rs.map((r) => r.partId)).size, N, 'one per part');
      const failSafe = rs.filter((r) => r.reason !== 'pass' && r.reason !== 'score');
      assert.deepEqual(
        failSafe.map((r) => `${r.seq}: ${r.reason} ${r.detail ?? ''}`),
        [],
        'no fail-safe verdict',
      );
      for (const r of rs)
        assert.equal(r.threshold, 1e9 + ids.indexOf(r.modelId), "the model's own threshold");
      const order = rs.sort((a, b) => a.seq! - b.seq!).map((r) => ids.indexOf(r.modelId));
      assert.ok(
        order.every((k, i) => k >= 0 && (i === 0 || k >= order[i - 1])),
        `old → new → newer: ${order.join('')}`,
      );
      const count = [0, 1, 2].map((k) => order.filter((x) => x === k).length);
      const out = daemon.output();
      assert.equal((out.match(/model swapped/g) ?? []).length, 2, 'two swaps logged');
      console.log(
        `# hot swap e2e: ${N} verdicts, by model ${count.join(' / ')}; max latency ${Math.max(...rs.map((r) => r.latencyMs))} ms`,
      );
    },
  );
});
