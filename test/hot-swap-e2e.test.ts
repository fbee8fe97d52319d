// Acceptance of the hot swap end to end: `pinpoint run` (the real CLI as a child process) on a models
// directory, a synthetic camera of N parts, a real mosquitto and a real MQTT subscriber. While it runs, the
// test promotes a new version and then a newer one the way `pinpoint model promote` does (re-pointing
// `current`); the daemon follows. Exactly N verdicts arrive, each carrying the model id in force for its part,
// the ids go old → new → newer in part order, and no part gets a fail-safe verdict. Between the two swaps a
// live threshold change over MQTT (`cmd/threshold`) takes effect on the swapped-in model, and the config file
// is reloaded once (SIGHUP); the second swap is an MQTT `cmd/model/promote`, answered and audited, and brings
// that model's own calibrated threshold (a live threshold set for another model does not carry over).
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

const N = 300;
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

/** A live reject threshold no model of the test has: its verdicts are recognisable. */
const LIVE = 3e9;

/** Resolves when the daemon's output matches `re` (its log lines). */
async function waitForOutput(d: Daemon, re: RegExp, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!re.test(d.output())) {
    if (Date.now() > end) throw new Error(`no ${re} in the daemon's output within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

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
          a: {
            type: 'synthetic',
            width: 128,
            height: 96,
            fps: 10,
            count: N,
            seed: 5,
            defectRate: 0.2,
            // A loaded host stalls the daemon now and then (a model loads at each swap): no dropped frame here.
            queue: { depth: 16 },
          },
        },
        pipeline: { batch: { maxBatch: 4, maxWaitMs: 10 } },
        model: { path: models },
        inference: { device: 'cpu', threads: 1 },
        verdict: { deadlineMs: 10000 },
        mqtt: {
          url: broker.url,
          topicPrefix: 'swap',
          outbox: { dir: join(tmp, 'outbox') },
          commands: true,
        },
        logging: { level: 'info', pretty: 'never' },
      };
      const file = join(tmp, 'run.yaml');
      writeFileSync(file, stringify(config));
      daemon = startDaemon(file, { PINPOINT_LOG_LEVEL: 'info' });
      const has = (k: number) => () => results(rec!).some((r) => r.modelId === ids[k]);
      await rec.waitFor(() => results(rec!).length >= 10, 'first verdicts', 60000);
      promoteVersion(models, v[1]);
      await rec.waitFor(has(1), `verdicts of ${v[1]}`, 60000);
      const command = async (name: string, payload: Record<string, unknown>) => {
        await rec!.client.publishAsync(`swap/cmd/${name}`, JSON.stringify(payload), { qos: 1 });
        await rec!.waitFor(
          () => rec!.on('swap/cmd/response').some((m) => m.text.includes(`"${payload.correlationId}"`)),
          `the response to ${name}`,
          60000,
        );
        return rec!
          .on('swap/cmd/response')
          .map((m) => JSON.parse(m.text) as { correlationId: string; ok: boolean; error?: string })
          .find((r) => r.correlationId === payload.correlationId)!;
      };
      const t = await command('threshold', { correlationId: 't1', who: 'e2e', camera: 'a', reject: LIVE });
      assert.equal(t.ok, true, JSON.stringify(t));
      await rec.waitFor(
        () => results(rec!).some((r) => r.threshold === LIVE),
        'verdicts under the live threshold',
        60000,
      );
      daemon.child.kill('SIGHUP');
      await waitForOutput(daemon, /config reloaded/, 60000);
      const p = await command('model/promote', { correlationId: 'p1', who: 'e2e', version: v[2] });
      assert.equal(p.ok, true, JSON.stringify(p));
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
      const bySeq = rs.sort((a, b) => a.seq! - b.seq!);
      for (const r of bySeq) {
        const own = 1e9 + ids.indexOf(r.modelId);
        // Model 1's verdicts switch once from its own threshold to the live one; the others keep their own.
        if (r.modelId === ids[1]) assert.ok([own, LIVE].includes(r.threshold!), `threshold ${r.threshold}`);
        else assert.equal(r.threshold, own, "the model's own threshold");
      }
      const m1 = bySeq.filter((r) => r.modelId === ids[1]).map((r) => (r.threshold === LIVE ? 1 : 0));
      assert.ok(
        m1.every((x, i) => i === 0 || x >= m1[i - 1]),
        `live threshold from one part on: ${m1.join('')}`,
      );
      const order = bySeq.map((r) => ids.indexOf(r.modelId));
      assert.ok(
        order.every((k, i) => k >= 0 && (i === 0 || k >= order[i - 1])),
        `old → new → newer: ${order.join('')}`,
      );
      const count = [0, 1, 2].map((k) => order.filter((x) => x === k).length);
      const out = daemon.output();
      assert.equal((out.match(/model swapped/g) ?? []).length, 2, 'two swaps logged');
      assert.match(out, /changed thresholds of camera a \(mqtt, by mqtt:e2e\)/);
      assert.match(out, /changed model promote \(mqtt, by mqtt:e2e\)/);
      console.log(
        `# hot swap e2e: ${N} verdicts, by model ${count.join(' / ')}; max latency ${Math.max(...rs.map((r) => r.latencyMs))} ms`,
      );
    },
  );
});
