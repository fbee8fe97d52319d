// Re-teach in the running daemon (issue 13, items 4–5), end to end: `pinpoint run` (the real CLI from dist/) on a
// models directory with a tiny model taught on 20 good parts (thresholds calibrated by teach-in), a `files` camera
// on a folder the test fills, the archive keeping every part, the console's HTTP API and MQTT commands on a real
// mosquitto. The lighting-change acceptance of issue 13: normal parts first (good ones pass, defects reject), then
// the lamp gets brighter (from part K on every frame is brighter) and the good parts reject. An engineer labels a
// few of them false-reject and two bright defects confirmed over HTTP, asks for a re-teach over MQTT (`cmd/teach`,
// answered at once with the job id; a second request while it runs is refused; one cancelled right after its start
// publishes nothing and leaves no staging behind), the retained `<prefix>/reteach` reports the job done with a
// candidate version and a shadow report (the labelled false rejects pass, the confirmed defects are still caught),
// the candidate is promoted over HTTP, and the live verdicts that follow at an MQTT subscriber carry its model id:
// the live false-reject rate on bright good parts drops, the bright defects are still rejected (numbers in the
// test log); a late subscriber reads the new model id in the retained `<prefix>/info`, and a Sparkplug host
// gets the node's new Model ID. The audit log holds the re-teach and the promotion with who asked. With `reteach.autoPromote` a
// candidate the shadow evaluation calls safe is promoted by itself. Then: re-teach is refused, with the reason,
// on a plain bundle and without the archive (in-process daemons).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { stringify } from 'yaml';
import { startApp } from '../src/app.js';
import { configSchema } from '../src/config/schema.js';
import { createBundle, readManifest } from '../src/model/bundle.js';
import { publishVersion } from '../src/model/version-publish.js';
import { STAGING_DIR, versionDir, versionNames } from '../src/model/versions.js';
import type { InspectionResult } from '../src/pipeline/result.js';
import { reteachPayloadSchema } from '../src/sinks/mqtt-reteach-payload.js';
import type { ReteachState } from '../src/sinks/reteach-view.js';
import type { ShadowReport } from '../src/teach/shadow-report.js';
import { ArchiveIndex } from '../src/sinks/archive/archive-index.js';
import { INDEX_FILE } from '../src/sinks/archive/layout.js';
import { makeDataset } from '../src/synthetic/parts.js';
import { teachIn } from '../src/teach/teach-in.js';
import { writeImage } from '../src/util/image-io.js';
import { createLogger } from '../src/util/log.js';
import { exitWithin, startDaemon, type Daemon } from './helpers/cli.js';
import { freePort, startMosquitto, type Broker } from './helpers/mosquitto.js';
import { record, type Recorder } from './helpers/mqtt.js';
import { sparkplugHost, type SparkplugHost } from './helpers/sparkplug-host.js';
import { tinyBundle, tinyTeacher } from './helpers/model-versions.js';

const W = 128;
const H = 96;
/** Bright good parts the operator marks false reject, bright defects confirmed. */
const FALSE_REJECTS = 6;
const CONFIRMED = 2;
/** The line's parts: K normal ones (good, then defective), then the brighter lamp (good, then defective). */
const LOT = { normalGood: 8, normalDefect: 2, brightGood: 16, brightDefect: 4 };
const tmp = mkdtempSync(join(tmpdir(), 'pinpoint-reteach-daemon-'));
const models = join(tmp, 'models');
const goodDir = join(tmp, 'good');
/** Six of them: the autoPromote test's plain bundle, re-taught on a short set. */
const goodDir6 = join(tmp, 'good6');
const lineDir = join(tmp, 'line');
let first = '';
/** The model id of the version in force at the start. */
let firstId = '';
let broker: Broker;
let daemon: Daemon | undefined;
let rec: Recorder | undefined;
/** A Sparkplug host on the same broker: the node's Model ID must follow the promotion. */
let spHost: SparkplugHost | undefined;

/** A brighter lamp: more gain and a lift, clipped like a sensor (as in reteach.test.ts). */
const brighter = (rgb: Uint8Array): Uint8Array => rgb.map((v) => Math.min(255, Math.round(v * 1.2 + 25)));
const png = (path: string, rgb: Uint8Array): void =>
  writeImage(path, { width: W, height: H, channels: 3, data: rgb });

/**
 * The line's images, named `<phase>-<lamp>-<kind>-<n>` so the files camera replays them in that order and the
 * part id (`a-<run>-<seq>-<name>`) says which one a verdict is about.
 */
function lineImages(lamp: 'normal' | 'bright'): { name: string; rgb: Uint8Array }[] {
  const good = makeDataset({
    good: LOT.normalGood + LOT.brightGood,
    defective: 0,
    seed: 7,
    width: W,
    height: H,
  });
  const defects = makeDataset({
    good: 0,
    defective: LOT.normalDefect + LOT.brightDefect,
    seed: 9,
    width: W,
    height: H,
    kinds: ['missing'],
    sizes: [28],
  });
  const n2 = (i: number): string => String(i).padStart(2, '0');
  if (lamp === 'normal') {
    return [
      ...good.slice(0, LOT.normalGood).map((p, i) => ({ name: `1-normal-good-${n2(i)}`, rgb: p.rgb })),
      ...defects.slice(0, LOT.normalDefect).map((p, i) => ({ name: `1-normal-defect-${n2(i)}`, rgb: p.rgb })),
    ];
  }
  return [
    ...good.slice(LOT.normalGood).map((p, i) => ({ name: `2-bright-good-${n2(i)}`, rgb: brighter(p.rgb) })),
    ...defects
      .slice(LOT.normalDefect)
      .map((p, i) => ({ name: `2-bright-defect-${n2(i)}`, rgb: brighter(p.rgb) })),
  ];
}

/** `normal-good`, `bright-defect`, … of a part id from the files camera, and its file name. */
function lotOf(partId: string): { lot: string; file: string } | undefined {
  const m = /-(\d-(normal|bright)-(good|defect)-\d+)$/.exec(partId);
  return m ? { lot: `${m[2]}-${m[3]}`, file: m[1] } : undefined;
}

/** Rejects among the verdicts of one model on one lot. */
function tally(
  rs: readonly InspectionResult[],
  lot: string,
  modelId: string,
): { rejects: number; n: number } {
  const of = rs.filter((r) => r.modelId === modelId && lotOf(r.partId ?? '')?.lot === lot);
  return { rejects: of.filter((r) => r.verdict === 'reject').length, n: of.length };
}
const rate = (t: { rejects: number; n: number }): string => `${t.rejects}/${t.n}`;

/** The results a subscriber received on a topic, parsed once each (the waits poll them every 10 ms). */
function resultsOf(r: Recorder, topic: string): () => InspectionResult[] {
  const parsed: InspectionResult[] = [];
  return () => {
    const msgs = r.on(topic);
    for (let i = parsed.length; i < msgs.length; i++)
      parsed.push(JSON.parse(msgs[i].text) as InspectionResult);
    return parsed;
  };
}

/**
 * The brighter lamp: the bright images join the folder (renamed in whole, so the camera never reads half a file);
 * once a verdict on one of them is out, the camera is past this pass's normal images (they sort first), which are
 * then removed: from the next pass on it replays bright parts only.
 */
async function switchLamp(r: Recorder, results: () => InspectionResult[]): Promise<void> {
  const staging = join(tmp, 'line-staging');
  mkdirSync(staging);
  const bright = lineImages('bright');
  for (const img of bright) png(join(staging, `${img.name}.png`), img.rgb);
  for (const img of bright) renameSync(join(staging, `${img.name}.png`), join(lineDir, `${img.name}.png`));
  await r.waitFor(
    () => results().some((x) => lotOf(x.partId ?? '')?.lot.startsWith('bright') === true),
    'a verdict on a bright part',
    60_000,
  );
  for (const img of lineImages('normal')) rmSync(join(lineDir, `${img.name}.png`));
}

/**
 * Archived rejected parts per lot, one per file (its newest), the files taken in name order so every run labels
 * the same images; read from the console as an operator would (the archive writes a little after the verdict).
 */
async function pickRejected(
  base: string,
  want: Record<string, number>,
): Promise<Record<string, { id: number; partId: string }[]>> {
  const until = Date.now() + 60_000;
  for (;;) {
    const r = (await (await fetch(`${base}/api/parts?camera=a&limit=200`)).json()) as {
      parts: { id: number; partId: string; verdict: string }[];
    };
    const picked: Record<string, { id: number; partId: string }[]> = {};
    for (const [lot, n] of Object.entries(want)) {
      const newest = new Map<string, { id: number; partId: string }>();
      for (const p of r.parts) {
        const l = lotOf(p.partId);
        if (p.verdict === 'reject' && l?.lot === lot && !newest.has(l.file)) newest.set(l.file, p);
      }
      picked[lot] = [...newest.keys()]
        .sort()
        .slice(0, n)
        .map((f) => newest.get(f)!);
    }
    if (Object.entries(want).every(([lot, n]) => picked[lot].length >= n)) return picked;
    if (Date.now() > until) throw new Error(`archived rejects to label: ${JSON.stringify(picked)}`);
    await new Promise((res) => setTimeout(res, 250));
  }
}

/** The shadow report in one line for the test log. */
function shadowLine(sh: ShadowReport): string {
  return (
    `shadow over ${sh.parts} parts: labelled false rejects passing ${sh.falseRejectsPassing.length}/` +
    `${sh.labelled.falseRejects}, confirmed defects escaping ${sh.defectsEscaping.length}/` +
    `${sh.labelled.confirmedDefects} (model in force ${sh.defectsEscapingCurrent.length}), reject rate ` +
    `${(100 * sh.current.rejectRate).toFixed(1)} % → ${(100 * sh.candidate.rejectRate).toFixed(1)} %, ` +
    `threshold ${sh.current.rejectThreshold.toFixed(4)} → ${sh.candidate.rejectThreshold.toFixed(4)}`
  );
}

/** Live reject counts on bright parts before and after the promotion (and on the unlabelled good files). */
function liveRates(
  rs: readonly InspectionResult[],
  model: { before: string; after: string },
  labelledParts: readonly string[],
) {
  const labelledFiles = new Set(labelledParts.map((p) => lotOf(p)!.file));
  const unlabelled = rs.filter((r) => !labelledFiles.has(lotOf(r.partId ?? '')?.file ?? ''));
  const side = (which: 'before' | 'after') => ({
    good: tally(rs, 'bright-good', model[which]),
    unlabelled: tally(unlabelled, 'bright-good', model[which]),
    defects: tally(rs, 'bright-defect', model[which]),
  });
  const b = side('before');
  const a = side('after');
  const line =
    `live false-reject rate on bright good parts: before ${rate(b.good)}, after ${rate(a.good)} ` +
    `(files nobody labelled: ${rate(b.unlabelled)} → ${rate(a.unlabelled)}); ` +
    `bright defects rejected: before ${rate(b.defects)}, after ${rate(a.defects)}`;
  return { good: { before: b.good, after: a.good }, defects: { before: b.defects, after: a.defects }, line };
}

/**
 * After the hot swap, the outputs that state the model once are told again: a late subscriber reads the new model
 * id in the retained `<prefix>/info`, and the Sparkplug host, born with the old one, gets an NDATA of the node's
 * `Node Info/Model ID`.
 */
async function swapAnnounced(host: SparkplugHost, modelId: string): Promise<void> {
  const birth = host.of('NBIRTH').at(-1);
  assert.equal(birth?.get('Node Info/Model ID'), firstId, 'the node was born with the first model');
  await host.waitFor(
    () => host.of('NDATA').some((m) => m.get('Node Info/Model ID') === modelId),
    "the node's Model ID after the swap",
    30_000,
  );
  const late = await record(broker.url, ['rt/info']);
  try {
    await late.waitFor(
      () => late.on('rt/info').some((m) => (JSON.parse(m.text) as { modelId: string }).modelId === modelId),
      'the retained info with the new model id',
      10_000,
    );
    const m = late.on('rt/info')[0];
    assert.equal(m.retain, true);
    assert.equal(
      (JSON.parse(m.text) as { modelId: string }).modelId,
      modelId,
      'the first message is the new one',
    );
  } finally {
    await late.end();
  }
}

before(async () => {
  const teacher = tinyTeacher(tmp);
  tinyBundle(teacher, join(tmp, 'b0'), 0, { reject: 1e9 });
  // The model in force: taught on 20 good parts under the normal lamp, its thresholds calibrated by teach-in on
  // the held-out ones. It predates the recorded teach-in set: its images are given by reteach.teachInImages.
  mkdirSync(goodDir);
  const good = makeDataset({ good: 20, defective: 0, seed: 1, width: W, height: H });
  mkdirSync(goodDir6);
  for (const [i, p] of good.entries()) {
    const name = `good-${String(i).padStart(2, '0')}.png`;
    png(join(goodDir, name), p.rgb);
    if (i < 6) png(join(goodDir6, name), p.rgb);
  }
  const lamp0 = join(tmp, 'lamp0');
  createBundle({ teacherPath: teacher, outDir: lamp0, size: 56, layers: [1, 2], seed: 0, force: true });
  const taught = await teachIn({
    bundleDir: lamp0,
    images: good.map((p) => ({ width: W, height: H, channels: 3 as const, data: p.rgb })),
    options: { device: 'cpu', threads: 1, checkpoint: false },
  });
  first = publishVersion(models, lamp0, { parent: null }, { promote: true }).version;
  firstId = taught.manifest.modelId;
  mkdirSync(lineDir);
  for (const img of lineImages('normal')) png(join(lineDir, `${img.name}.png`), img.rgb);
  broker = await startMosquitto();
});
after(async () => {
  if (daemon?.child.exitCode === null) daemon.child.kill('SIGKILL');
  await rec?.end().catch(() => undefined);
  await spHost?.end().catch(() => undefined);
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
      spHost = await sparkplugHost(broker.url, 'plant', 'reteach');
      const config = {
        cameras: { a: { type: 'files', path: lineDir, fps: 8, loop: true } },
        model: { path: models },
        inference: { device: 'cpu', threads: 1 },
        verdict: { deadlineMs: 10000 },
        mqtt: {
          url: broker.url,
          topicPrefix: 'rt',
          outbox: { dir: join(tmp, 'outbox') },
          commands: true,
          sparkplug: { enabled: true, groupId: 'plant', edgeNodeId: 'reteach', dir: join(tmp, 'spb') },
        },
        web: { enabled: true, host: '127.0.0.1', port },
        archive: { enabled: true, dir: join(tmp, 'archive'), keep: 'all' },
        reteach: { teachInImages: goodDir, shadowMaxParts: 30, maxArchiveImages: 10 },
        logging: { level: 'info', pretty: 'never' },
      };
      const file = join(tmp, 'run.yaml');
      writeFileSync(file, stringify(config));
      daemon = startDaemon(file, { PINPOINT_LOG_LEVEL: 'info' });
      const results = resultsOf(rec, 'rt/a/result');
      const count = (lot: string, modelId: string) => tally(results(), lot, modelId).n;
      // Under the normal lamp: one pass over the normal parts.
      await rec.waitFor(
        () =>
          count('normal-good', firstId) >= LOT.normalGood &&
          count('normal-defect', firstId) >= LOT.normalDefect,
        'verdicts on the normal parts',
        90_000,
      );
      // The lamp gets brighter: from here on the line shows bright parts only.
      await switchLamp(rec, results);
      await rec.waitFor(
        () =>
          count('bright-good', firstId) >= LOT.brightGood &&
          count('bright-defect', firstId) >= LOT.brightDefect,
        'verdicts on the bright parts',
        90_000,
      );
      const normalGood = tally(results(), 'normal-good', firstId);
      const normalDefect = tally(results(), 'normal-defect', firstId);
      assert.equal(normalGood.rejects, 0, `normal good parts pass: ${rate(normalGood)} rejected`);
      assert.equal(normalDefect.rejects, normalDefect.n, `normal defects reject: ${rate(normalDefect)}`);
      const brightEarly = tally(results(), 'bright-good', firstId);
      assert.ok(
        brightEarly.rejects * 4 >= brightEarly.n * 3,
        `the lamp makes good parts reject: ${rate(brightEarly)}`,
      );

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
      const picked = await pickRejected(base, { 'bright-good': FALSE_REJECTS, 'bright-defect': CONFIRMED });
      for (const p of picked['bright-good']) {
        const r = await post(`/api/parts/${p.id}/labels`, { label: 'false-reject', note: 'brighter lamp' });
        assert.equal(r.status, 200, await r.text());
      }
      for (const p of picked['bright-defect']) {
        const r = await post(`/api/parts/${p.id}/labels`, { label: 'confirmed-defect', note: null });
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
      assert.equal(end.set?.falseRejects, FALSE_REJECTS);
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

      // The console: the full shadow report (labelled false rejects pass, confirmed defects still caught).
      const st = (await (await fetch(`${base}/api/reteach`)).json()) as ReteachState;
      const sh = st.report!;
      assert.equal(sh.candidate.modelId, cand.modelId);
      assert.deepEqual(sh.labelled, { falseRejects: FALSE_REJECTS, confirmedDefects: CONFIRMED });
      const labelledFr = picked['bright-good'].map((p) => p.partId).sort();
      assert.deepEqual(
        sh.falseRejectsPassing.map((p) => p.partId).sort(),
        labelledFr,
        `every labelled false reject passes the candidate: ${shadowLine(sh)}`,
      );
      assert.deepEqual(sh.defectsEscaping, [], 'no confirmed defect escapes the candidate');
      assert.ok(sh.candidate.rejectRate < sh.current.rejectRate, shadowLine(sh));
      assert.equal(cand.safeToPromote, true, sh.reasons.join('; '));

      // Promotion: the live verdicts on bright parts at the subscriber, before and after.
      const pr = await post('/api/reteach/promote');
      const prText = await pr.text();
      assert.equal(pr.status, 200, prText);
      assert.equal((JSON.parse(prText) as { version: string }).version, cand.version);
      await rec.waitFor(
        () =>
          count('bright-good', cand.modelId) >= LOT.brightGood &&
          count('bright-defect', cand.modelId) >= LOT.brightDefect,
        "verdicts of the candidate's model on a pass of bright parts",
        60_000,
      );
      const live = liveRates(results(), { before: firstId, after: cand.modelId }, labelledFr);
      console.log(`# ${live.line}`);
      assert.ok(live.good.before.rejects * 4 >= live.good.before.n * 3, live.line);
      assert.ok(
        live.good.after.rejects * 4 <= live.good.after.n,
        `false rejects back down to 25 % or less: ${live.line}`,
      );
      assert.ok(
        live.good.after.rejects * live.good.before.n * 3 <= live.good.before.rejects * live.good.after.n,
        `the rate falls to a third or less: ${live.line}`,
      );
      assert.equal(live.defects.before.rejects, live.defects.before.n, `defects caught before: ${live.line}`);
      assert.equal(live.defects.after.rejects, live.defects.after.n, `defects caught after: ${live.line}`);
      await swapAnnounced(spHost, cand.modelId);
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
      const browserPid = (browser as unknown as { _process?: ChildProcess })._process?.pid;
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
        // Bounded, then by pid: playwright's close can hang when the browser is wedged.
        await Promise.race([browser.close(), new Promise((r) => setTimeout(r, 5000))]).catch(() => undefined);
        if (browserPid)
          try {
            process.kill(browserPid, 'SIGKILL');
          } catch {
            // already gone
          }
      }

      daemon.child.kill('SIGTERM');
      assert.equal(await exitWithin(daemon, 60_000), 0, daemon.output().slice(-3000));
      console.log(
        `# re-teach in the daemon: ${seconds.toFixed(1)} s from cmd/teach to candidate; ${shadowLine(sh)}; ` +
          `safe ${cand.safeToPromote}`,
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
          reteach: { teachInImages: goodDir6, shadowMaxParts: 30, autoPromote: true },
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
