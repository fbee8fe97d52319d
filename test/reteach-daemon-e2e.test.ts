// Re-teach in the running daemon (issue 13, items 4–5), end to end: `pinpoint run` (the real CLI from dist/) on a
// models directory with a tiny model, a synthetic camera, the archive keeping every part, the console's HTTP API
// and MQTT commands on a real mosquitto. An engineer labels a few archived parts false-reject over HTTP, asks for
// a re-teach over MQTT (`cmd/teach`, answered at once with the job id; a second request while it runs is refused;
// one cancelled right after its start publishes nothing and leaves no staging behind),
// the retained `<prefix>/reteach` reports the job done with a candidate version and a shadow report, the
// candidate is promoted over HTTP, the verdicts that follow carry its model id, and the audit log holds the
// re-teach and the promotion with who asked. With `reteach.autoPromote` a candidate the shadow evaluation calls
// safe is promoted by itself. Then: re-teach is refused, with the reason, on a plain bundle and
// without the archive (in-process daemons).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { stringify } from 'yaml';
import { startApp } from '../src/app.js';
import { configSchema } from '../src/config/schema.js';
import { readManifest } from '../src/model/bundle.js';
import { publishVersion } from '../src/model/version-publish.js';
import { STAGING_DIR, versionDir, versionNames } from '../src/model/versions.js';
import type { InspectionResult } from '../src/pipeline/result.js';
import { reteachPayloadSchema } from '../src/sinks/mqtt-reteach-payload.js';
import type { ReteachState } from '../src/sinks/reteach-view.js';
import { ArchiveIndex } from '../src/sinks/archive/archive-index.js';
import { INDEX_FILE } from '../src/sinks/archive/layout.js';
import { makeDataset } from '../src/synthetic/parts.js';
import { writeImage } from '../src/util/image-io.js';
import { createLogger } from '../src/util/log.js';
import { exitWithin, startDaemon, type Daemon } from './helpers/cli.js';
import { freePort, startMosquitto, type Broker } from './helpers/mosquitto.js';
import { record, type Recorder } from './helpers/mqtt.js';
import { tinyBundle, tinyTeacher } from './helpers/model-versions.js';

const W = 128;
const H = 96;
const LABELLED = 3;
const tmp = mkdtempSync(join(tmpdir(), 'pinpoint-reteach-daemon-'));
const models = join(tmp, 'models');
const goodDir = join(tmp, 'good');
let first = '';
let broker: Broker;
let daemon: Daemon | undefined;
let rec: Recorder | undefined;

before(async () => {
  const teacher = tinyTeacher(tmp);
  tinyBundle(teacher, join(tmp, 'b0'), 0, { reject: 1e9 });
  first = publishVersion(models, join(tmp, 'b0'), { parent: null }, { promote: true }).version;
  // The tiny bundle predates the recorded teach-in set: its good images are given by reteach.teachInImages.
  mkdirSync(goodDir);
  for (const [i, p] of makeDataset({ good: 6, defective: 0, seed: 1, width: W, height: H }).entries())
    writeImage(join(goodDir, `good-${i}.png`), { width: W, height: H, channels: 3, data: p.rgb });
  broker = await startMosquitto();
});
after(async () => {
  if (daemon?.child.exitCode === null) daemon.child.kill('SIGKILL');
  await rec?.end().catch(() => undefined);
  await broker?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

describe('re-teach in the daemon', () => {
  test(
    'label over HTTP, cmd/teach over MQTT, retained progress, candidate published, promoted, audited',
    { timeout: 300_000 },
    async () => {
      const port = await freePort();
      const base = `http://127.0.0.1:${port}`;
      rec = await record(broker.url, ['rt/#']);
      const config = {
        cameras: {
          a: { type: 'synthetic', width: W, height: H, fps: 4, seed: 5, defectRate: 0.2 },
        },
        model: { path: models },
        inference: { device: 'cpu', threads: 1 },
        verdict: { deadlineMs: 10000 },
        mqtt: { url: broker.url, topicPrefix: 'rt', outbox: { dir: join(tmp, 'outbox') }, commands: true },
        web: { enabled: true, host: '127.0.0.1', port },
        archive: { enabled: true, dir: join(tmp, 'archive'), keep: 'all' },
        reteach: { teachInImages: goodDir, shadowMaxParts: 30, maxArchiveImages: 10 },
        logging: { level: 'info', pretty: 'never' },
      };
      const file = join(tmp, 'run.yaml');
      writeFileSync(file, stringify(config));
      daemon = startDaemon(file, { PINPOINT_LOG_LEVEL: 'info' });
      const results = (): InspectionResult[] =>
        rec!.on('rt/a/result').map((m) => JSON.parse(m.text) as InspectionResult);
      await rec.waitFor(() => results().length >= 12, 'first verdicts', 90_000);

      // The console: the session's CSRF token, then labels on archived parts (loopback without auth: engineer).
      const session = (await (await fetch(`${base}/api/session`)).json()) as {
        csrfToken: string;
        role: string;
      };
      assert.equal(session.role, 'engineer');
      const post = (path: string, body: unknown = {}) =>
        fetch(`${base}${path}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-csrf-token': session.csrfToken },
          body: JSON.stringify(body),
        });
      let parts: { id: number }[] = [];
      const until = Date.now() + 60_000;
      while (parts.length < 8 && Date.now() < until) {
        const r = (await (await fetch(`${base}/api/parts?camera=a&limit=20`)).json()) as {
          parts: { id: number }[];
        };
        parts = r.parts;
        if (parts.length < 8) await new Promise((res) => setTimeout(res, 250));
      }
      assert.ok(parts.length >= 8, `archived parts: ${parts.length}`);
      for (const p of parts.slice(0, LABELLED)) {
        const r = await post(`/api/parts/${p.id}/labels`, { label: 'false-reject', note: 'e2e' });
        assert.equal(r.status, 200, await r.text());
      }
      const noCsrf = await fetch(`${base}/api/reteach`, { method: 'POST' });
      assert.equal(noCsrf.status, 403, 'a mutation without the CSRF token is refused');

      // MQTT: cmd/teach answers at once with the job id; a second one while it runs is refused.
      const answer = async (name: string, payload: Record<string, unknown>) => {
        await rec!.client.publishAsync(`rt/cmd/${name}`, JSON.stringify(payload), { qos: 1 });
        await rec!.waitFor(
          () => rec!.on('rt/cmd/response').some((m) => m.text.includes(`"${String(payload.correlationId)}"`)),
          `the response to ${String(payload.correlationId)}`,
          30_000,
        );
        return rec!
          .on('rt/cmd/response')
          .map(
            (m) =>
              JSON.parse(m.text) as {
                correlationId: string;
                ok: boolean;
                error?: string;
                result?: { job?: string };
              },
          )
          .find((r) => r.correlationId === payload.correlationId)!;
      };
      const states = (): ReteachState[] =>
        rec!.on('rt/reteach').map((m) => JSON.parse(m.text) as ReteachState);
      const idle = await answer('teach', { correlationId: 'cancel-0', who: 'e2e', cancel: true });
      assert.deepEqual([idle.ok, idle.result], [true, { cancelled: false }], 'nothing to cancel yet');
      const typo = await answer('teach', { correlationId: 'typo', who: 'e2e', cancle: true });
      assert.equal(typo.ok, false, 'an unknown field is refused, not ignored');
      // A job cancelled right after it started: state `cancelled`, no version published, its staging removed.
      const doomed = await answer('teach', { correlationId: 'teach-0', who: 'e2e' });
      assert.equal(doomed.ok, true, JSON.stringify(doomed));
      const cancel = await answer('teach', { correlationId: 'cancel-1', who: 'e2e', cancel: true });
      assert.deepEqual([cancel.ok, cancel.result], [true, { cancelled: true }]);
      await rec.waitFor(
        () => states().some((s) => s.job === doomed.result?.job && s.state === 'cancelled'),
        'the cancelled state',
        60_000,
      );
      assert.deepEqual(versionNames(models), [first], 'a cancelled re-teach publishes nothing');
      assert.deepEqual(
        readdirSync(join(models, STAGING_DIR)).filter((f) => f.startsWith('reteach')),
        [],
        'its staging directory is removed',
      );
      const t0 = Date.now();
      const started = await answer('teach', { correlationId: 'teach-1', who: 'e2e' });
      assert.equal(started.ok, true, JSON.stringify(started));
      assert.match(String(started.result?.job), /^[0-9a-f-]{36}$/);
      const again = await answer('teach', { correlationId: 'teach-2', who: 'e2e' });
      assert.equal(again.ok, false);
      assert.match(again.error ?? '', /already running/);

      await rec.waitFor(
        () => states().some((s) => s.state !== 'running' && s.job === started.result?.job),
        'the re-teach to end',
        240_000,
      );
      const seconds = (Date.now() - t0) / 1000;
      for (const m of rec.on('rt/reteach')) {
        const ok = reteachPayloadSchema.safeParse(JSON.parse(m.text));
        assert.ok(ok.success, `reteach payload matches its schema: ${JSON.stringify(ok.error?.issues)}`);
      }
      const end = states().at(-1)!;
      assert.equal(end.state, 'done', JSON.stringify(end));
      assert.equal(end.by, 'mqtt:e2e');
      const running = states().filter((s) => s.state === 'running' && s.progress);
      assert.ok(running.length >= 1, 'progress was published while it ran');
      const cand = end.candidate!;
      assert.equal(cand.parent, first);
      assert.equal(cand.promoted, false, 'a candidate is not promoted by the re-teach itself');
      assert.equal(end.set?.falseRejects, LABELLED);
      const summary = end.report as unknown as {
        parts: number;
        current: { rejectRate: number };
        candidate: { rejectRate: number };
      };
      assert.ok(summary.parts > 0 && typeof summary.current.rejectRate === 'number');
      assert.equal(readManifest(versionDir(models, cand.version)).modelId, cand.modelId);
      // A late subscriber gets the last state from the broker (retained).
      const late = await record(broker.url, ['rt/reteach']);
      try {
        await late.waitFor(() => late.on('rt/reteach').length > 0, 'the retained re-teach state', 10_000);
        const m = late.on('rt/reteach')[0];
        assert.equal(m.retain, true);
        assert.equal((JSON.parse(m.text) as ReteachState).candidate?.version, cand.version);
      } finally {
        await late.end();
      }

      // The console: the full shadow report, then promotion.
      const st = (await (await fetch(`${base}/api/reteach`)).json()) as ReteachState;
      assert.equal(st.report?.candidate.modelId, cand.modelId);
      assert.ok(Array.isArray(st.report?.falseRejectsPassing) && Array.isArray(st.report?.changed));
      const pr = await post('/api/reteach/promote');
      const prText = await pr.text();
      assert.equal(pr.status, 200, prText);
      assert.equal((JSON.parse(prText) as { version: string }).version, cand.version);
      const n = results().length;
      await rec.waitFor(
        () =>
          results()
            .slice(n)
            .some((r) => r.modelId === cand.modelId),
        "verdicts of the candidate's model",
        60_000,
      );
      const promotedAgain = await post('/api/reteach/promote');
      assert.equal(promotedAgain.status, 409, 'promoting the version in force again is refused');

      const audit = (await (await fetch(`${base}/api/audit`)).json()) as {
        entries: { what: string; who: string; source: string; new: { version?: string } }[];
      };
      const teach = audit.entries.find((e) => e.what === 'model reteach');
      assert.ok(teach, JSON.stringify(audit.entries));
      assert.equal(teach.source, 'mqtt');
      assert.match(teach.who, /e2e/);
      assert.equal(teach.new.version, cand.version);
      const promote = audit.entries.find((e) => e.what === 'model promote');
      assert.ok(promote, JSON.stringify(audit.entries));
      assert.equal(promote.source, 'console');

      // The what-if page's Apply: a live threshold over HTTP, audited with the console as the door.
      const th = await post('/api/cameras/a/thresholds', { reject: 5e8 });
      assert.equal(th.status, 200, await th.text());
      assert.equal((await post('/api/cameras/a/thresholds', { reject: -1 })).status, 400);
      assert.equal((await post('/api/cameras/nope/thresholds', { reject: 1 })).status, 404);

      // The status page shows the panel: the report side by side, the candidate promoted, the audit rows.
      const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
      try {
        const page = await browser.newPage();
        await page.goto(`${base}/status`);
        await page.waitForSelector('#reteach-report', { timeout: 30_000 });
        assert.match((await page.textContent('#reteach-report')) ?? '', /reject rate/);
        assert.match((await page.textContent('#reteach-candidate')) ?? '', /\(promoted\)/);
        assert.equal(await page.isDisabled('#reteach-promote'), true, 'nothing left to promote');
        const auditText = (await page.textContent('#audit-log')) ?? '';
        for (const what of ['model reteach', 'model promote', 'thresholds'])
          assert.ok(auditText.includes(what), `audit table shows ${what}: ${auditText}`);
      } finally {
        await browser.close();
      }

      daemon.child.kill('SIGTERM');
      assert.equal(await exitWithin(daemon, 60_000), 0, daemon.output().slice(-3000));
      console.log(
        `# re-teach in the daemon: ${seconds.toFixed(1)} s from cmd/teach to candidate; shadow ${summary.parts} parts; ` +
          `reject rate ${summary.current.rejectRate} → ${summary.candidate.rejectRate}; safe ${cand.safeToPromote}`,
      );
    },
  );

  test(
    'reteach.autoPromote: a candidate the shadow evaluation calls safe is promoted at once, audited',
    { timeout: 240_000 },
    async () => {
      // The line rejects every part (a live reject threshold far below any score): the candidate, with its own
      // calibrated threshold, rejects fewer, and no confirmed defect is labelled, so it is safe to promote.
      const models2 = join(tmp, 'models2');
      const v0 = publishVersion(models2, join(tmp, 'b0'), { parent: null }, { promote: true }).version;
      const r2 = await record(broker.url, ['ap/#']);
      let d: Daemon | undefined;
      try {
        const config = {
          cameras: {
            a: {
              type: 'synthetic',
              width: W,
              height: H,
              fps: 4,
              seed: 6,
              verdict: { rejectThreshold: 1e-9 },
            },
          },
          model: { path: models2 },
          inference: { device: 'cpu', threads: 1 },
          verdict: { deadlineMs: 10000 },
          mqtt: { url: broker.url, topicPrefix: 'ap', outbox: { dir: join(tmp, 'outbox2') }, commands: true },
          archive: { enabled: true, dir: join(tmp, 'archive2'), keep: 'all' },
          reteach: { teachInImages: goodDir, shadowMaxParts: 30, autoPromote: true },
          logging: { level: 'info', pretty: 'never' },
        };
        const file = join(tmp, 'auto.yaml');
        writeFileSync(file, stringify(config));
        d = startDaemon(file, { PINPOINT_LOG_LEVEL: 'info' });
        const results = (): InspectionResult[] =>
          r2.on('ap/a/result').map((m) => JSON.parse(m.text) as InspectionResult);
        await r2.waitFor(() => results().length >= 12, 'first verdicts', 90_000);
        // Every part is rejected here: three are labelled false rejects (in the daemon's own archive index).
        const index = new ArchiveIndex(join(tmp, 'archive2', INDEX_FILE));
        try {
          const until = Date.now() + 60_000;
          while (index.query({ limit: 10 }).length < 8 && Date.now() < until)
            await new Promise((r) => setTimeout(r, 250));
          for (const e of index.query({ limit: 3 }))
            index.addLabel(e.id, { label: 'false-reject', note: null, who: 'op', time: Date.now() });
        } finally {
          index.close();
        }
        const cmd = JSON.stringify({ correlationId: 'auto', who: 'e2e' });
        await r2.client.publishAsync('ap/cmd/teach', cmd, { qos: 1 });
        const last = (): ReteachState | undefined =>
          r2
            .on('ap/reteach')
            .map((m) => JSON.parse(m.text) as ReteachState)
            .at(-1);
        const ended = (): boolean =>
          (last()?.state === 'done' && last()?.candidate?.promoted === true) ||
          ['failed', 'cancelled'].includes(last()?.state ?? '');
        await r2.waitFor(ended, 'the re-teach to end and its candidate to be promoted', 180_000);
        const end = last()!;
        assert.equal(end.state, 'done', JSON.stringify(end));
        assert.equal(end.candidate?.safeToPromote, true, JSON.stringify(end.candidate));
        assert.equal(end.candidate?.parent, v0);
        const n = results().length;
        await r2.waitFor(
          () =>
            results()
              .slice(n)
              .some((r) => r.modelId === end.candidate!.modelId),
          "verdicts of the promoted candidate's model",
          60_000,
        );
        assert.match(d.output(), /changed model promote \(mqtt, by reteach\.autoPromote\)/);
        d.child.kill('SIGTERM');
        assert.equal(await exitWithin(d, 60_000), 0, d.output().slice(-3000));
      } finally {
        if (d?.child.exitCode === null) d.child.kill('SIGKILL');
        await r2.end();
      }
    },
  );

  test(
    'teach is refused with the reason on a plain bundle and without the archive',
    { timeout: 120_000 },
    async () => {
      const log = createLogger({ level: 'silent' });
      const base = {
        cameras: { a: { type: 'synthetic', width: W, height: H, fps: 2, seed: 5 } },
        inference: { device: 'cpu', threads: 1 },
        verdict: { deadlineMs: 10000 },
      };
      const cases = [
        {
          cfg: {
            ...base,
            model: { path: join(tmp, 'b0') },
            archive: { enabled: true, dir: join(tmp, 'a2') },
          },
          why: /models directory/,
        },
        { cfg: { ...base, model: { path: models } }, why: /archive\.enabled/ },
      ];
      for (const c of cases) {
        const app = await startApp({ config: configSchema.parse(c.cfg), configDir: tmp, log });
        try {
          assert.match(app.control.reteach!.status().unavailable ?? '', c.why);
          const cmd = app.control.commands.get('teach')!;
          assert.throws(
            () => cmd.handler({}, { correlationId: 'x', by: { who: 't', source: 'mqtt' } }),
            (e: Error) => e.name === 'CommandError' && c.why.test(e.message),
          );
        } finally {
          await app.stop();
        }
      }
    },
  );
});
