// Re-teach and shadow evaluation (issue 13, items 4–5) on a tiny dev teacher (S = 56) and real parts: the
// lighting-change scenario end to end through `pinpoint train` and `pinpoint model reteach` (real onnxruntime,
// a real archive written by the ArchiveWriter, real labels in its index), then the job process's priority,
// the refusal of a second job, and cancellation. Numbers go to the test log. The job runs at SCHED_IDLE, so on a
// host busy with other work it waits behind all of it: its timeouts are generous on purpose.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBundle, loadBundle, readManifest } from '../src/model/bundle.js';
import { writeDevTeacher } from '../src/model/dev-teacher.js';
import { postprocess } from '../src/pipeline/anomaly-map.js';
import type { Image } from '../src/pipeline/image.js';
import { openAnomalyModel } from '../src/pipeline/inference.js';
import { computeLetterbox, letterbox } from '../src/pipeline/letterbox.js';
import type { InspectionResult } from '../src/pipeline/result.js';
import { ArchiveIndex } from '../src/sinks/archive/archive-index.js';
import { ArchiveWriter } from '../src/sinks/archive/archive-writer.js';
import { INDEX_FILE } from '../src/sinks/archive/layout.js';
import { makeDataset } from '../src/synthetic/parts.js';
import { parseStat, threadPriorities } from '../src/teach/reteach-priority.js';
import { ReteachBusyError, ReteachCancelledError, ReteachRunner } from '../src/teach/reteach-runner.js';
import { reteachRequest, reteachSchema } from '../src/teach/reteach-config.js';
import { collectSet, ReteachSetError } from '../src/teach/reteach-set.js';
import type { ReteachProgress, ReteachResult } from '../src/teach/reteach-types.js';
import { teachInSetFrom, type TeachInSetRecord } from '../src/teach/teach-in-set.js';
import { shadowText } from '../src/teach/shadow-report.js';
import { createLogger } from '../src/util/log.js';
import { writeImage } from '../src/util/image-io.js';
import { runCli } from './helpers/cli.js';
import { captureLog } from './helpers/log-capture.js';
import { track } from './helpers/children.js';

const W = 112;
const H = 84;
const S = 56;
/** Parts archived before the lamp changes, then bright good ones, then bright defective ones. */
const K = 8;
const BRIGHT_GOOD = 16;
const BRIGHT_DEFECTS = 6;
const LABELLED = 8;
const EPOCHS = '75';

const tmp = mkdtempSync(join(tmpdir(), 'pinpoint-reteach-'));
const silent = createLogger({ level: 'silent' });
const bundleDir = join(tmp, 'model');
const archiveDir = join(tmp, 'archive');
const goodDir = join(tmp, 'good');

/** A brighter lamp: more gain and a lift, clipped like a sensor. */
const brighter = (rgb: Uint8Array): Uint8Array => rgb.map((v) => Math.min(255, Math.round(v * 1.2 + 25)));
const image = (data: Uint8Array): Image => ({ width: W, height: H, channels: 3, data });

interface Archived {
  partId: string;
  kind: 'normal' | 'bright' | 'bright-defect';
  score: number;
  rejected: boolean;
}
const archived: Archived[] = [];
let reject = 0;

/** Scores the parts with the model in force and archives each one (frame + map) as the daemon would. */
async function archiveParts(parts: { img: Image; kind: Archived['kind'] }[]): Promise<void> {
  const b = loadBundle(bundleDir);
  reject = b.manifest.thresholds!.reject;
  const model = await openAnomalyModel(b, { device: 'cpu', threads: 1 });
  const writer = new ArchiveWriter(
    { dir: archiveDir, maxBytes: 64 << 20, imageFormat: 'png', jpegQuality: 90, mapFormat: 'npy' },
    64,
    silent,
  );
  await writer.start();
  const t0 = Date.now() - parts.length * 60_000;
  try {
    for (const [i, p] of parts.entries()) {
      const pixels = letterbox(p.img, S, undefined, model.resize);
      const grid = (await model.run(pixels, 1)).slice();
      const lb = computeLetterbox(W, H, S);
      const { score } = postprocess(grid, model.grid, lb);
      const rejected = score > reject;
      const decideTime = t0 + i * 60_000;
      const partId = `P${String(i).padStart(3, '0')}`;
      archived.push({ partId, kind: p.kind, score, rejected });
      const result: InspectionResult = {
        version: 1,
        cameraId: 'cam1',
        partId,
        seq: i,
        captureTime: decideTime - 20,
        decideTime,
        latencyMs: 20,
        score,
        threshold: reject,
        verdict: rejected ? 'reject' : 'ok',
        reason: rejected ? 'score' : 'pass',
        blobs: [],
        // The first parts were decided by an older model: the shadow evaluation must score them itself.
        modelId: i < 2 ? 'older-model' : b.manifest.modelId,
      };
      writer.enqueue({
        result,
        evidence: { image: p.img, grid, g: model.grid, letterbox: lb, ignore: [], pixelThreshold: 0.05 },
      });
    }
    const deadline = Date.now() + 60_000;
    while (writer.st.written + writer.st.failed < parts.length && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(writer.st.written, parts.length, `archived ${JSON.stringify(writer.st)}`);
  } finally {
    await writer.stop();
    await model.release();
  }
}

before(async () => {
  writeDevTeacher(join(tmp, 'teacher.safetensors'), { dim: 64, depth: 3, heads: 2, posGrid: 8 });
  createBundle({ teacherPath: join(tmp, 'teacher.safetensors'), outDir: bundleDir, size: S, layers: [1, 3] });
  mkdirSync(goodDir);
  for (const [i, p] of makeDataset({ good: 20, defective: 0, seed: 1, width: W, height: H }).entries()) {
    writeImage(join(goodDir, `good-${String(i).padStart(2, '0')}.png`), image(p.rgb));
  }
  const r = await runCli(
    [
      'train',
      '--model',
      bundleDir,
      '--images',
      goodDir,
      '--device',
      'cpu',
      '--threads',
      '1',
      '--epochs',
      EPOCHS,
    ],
    { timeoutMs: 180_000 },
  );
  assert.equal(r.code, 0, r.stderr);

  const normal = makeDataset({ good: K + BRIGHT_GOOD, defective: 0, seed: 7, width: W, height: H });
  const defects = makeDataset({
    good: 0,
    defective: BRIGHT_DEFECTS,
    seed: 9,
    width: W,
    height: H,
    kinds: ['missing'],
    sizes: [28],
  });
  await archiveParts([
    ...normal.slice(0, K).map((p) => ({ img: image(p.rgb), kind: 'normal' as const })),
    ...normal.slice(K).map((p) => ({ img: image(brighter(p.rgb)), kind: 'bright' as const })),
    ...defects.map((p) => ({ img: image(brighter(p.rgb)), kind: 'bright-defect' as const })),
  ]);
  // The operator marks a few of the bright good rejects as false rejects and confirms the defects.
  const index = new ArchiveIndex(join(archiveDir, INDEX_FILE));
  try {
    const byPart = new Map(index.query({ limit: 1000 }).map((e) => [e.partId, e.id]));
    const rejectedBright = archived.filter((a) => a.kind === 'bright' && a.rejected);
    assert.ok(
      rejectedBright.length >= LABELLED + 3,
      `the lamp change makes good parts reject: ${rejectedBright.length}`,
    );
    for (const a of rejectedBright.slice(0, LABELLED)) {
      index.addLabel(byPart.get(a.partId)!, {
        label: 'false-reject',
        note: 'lamp',
        who: 'op',
        time: Date.now(),
      });
    }
    for (const a of archived.filter((x) => x.kind === 'bright-defect')) {
      const id = byPart.get(a.partId)!;
      index.addLabel(id, { label: 'confirmed-defect', note: null, who: 'op', time: Date.now() });
    }
  } finally {
    index.close();
  }
});
after(() => rmSync(tmp, { recursive: true, force: true }));

describe('re-teach after a lighting change', () => {
  test('the candidate passes the labelled false rejects, still catches the defects, rejects fewer bright good parts', async (t) => {
    const recorded = teachInSetFrom(readManifest(bundleDir).training, 'manifest');
    assert.equal(recorded?.images.length, 20, '`pinpoint train` records the files it taught on');
    assert.ok(recorded.images.every((e) => e.path.startsWith(goodDir) && /^[0-9a-f]{64}$/.test(e.sha256)));

    const out = join(tmp, 'candidate');
    const r = await runCli(
      [
        'model',
        'reteach',
        '--model',
        bundleDir,
        '--archive',
        archiveDir,
        '--out',
        out,
        '--shadow-hours',
        '2',
        '--epochs',
        EPOCHS,
        '--json',
      ],
      { timeoutMs: 600_000 },
    );
    assert.equal(r.code, 0, r.stderr);
    const res = JSON.parse(r.stdout) as ReteachResult;
    const sh = res.shadow;
    t.diagnostic(shadowText(sh));
    t.diagnostic(r.stderr.trim());

    assert.deepEqual(
      { teachIn: res.set.teachIn, falseRejects: res.set.falseRejects, recentGood: res.set.recentGood },
      { teachIn: 20, falseRejects: LABELLED, recentGood: 0 },
    );
    assert.equal(sh.parts, archived.length);
    assert.equal(
      sh.currentRescored,
      2,
      'archived scores of the model in force are reused, older ones rescored',
    );
    assert.deepEqual(sh.labelled, { falseRejects: LABELLED, confirmedDefects: BRIGHT_DEFECTS });
    assert.equal(sh.falseRejectsPassing.length, LABELLED, 'every labelled false reject now passes');
    assert.equal(sh.defectsEscaping.length, 0, 'no confirmed defect escapes the candidate');
    assert.equal(sh.defectsEscapingCurrent.length, 0);

    // The bright good parts nobody labelled: the candidate was not taught on them.
    const labelledIds = new Set(sh.falseRejectsPassing.map((p) => p.partId));
    const unlabelledBright = archived.filter((a) => a.kind === 'bright' && !labelledIds.has(a.partId));
    const flippedToOk = new Set(sh.changed.filter((c) => !c.candidateRejects).map((c) => c.partId));
    const before = unlabelledBright.filter((a) => a.rejected).length;
    const afterRejects = unlabelledBright.filter((a) => a.rejected && !flippedToOk.has(a.partId)).length;
    const line =
      `bright good parts not labelled: current rejects ${before}/${unlabelledBright.length}, ` +
      `candidate ${afterRejects}/${unlabelledBright.length}; reject rate over all ${sh.parts} parts ` +
      `${(100 * sh.current.rejectRate).toFixed(1)} % → ${(100 * sh.candidate.rejectRate).toFixed(1)} %; ` +
      `thresholds ${sh.current.rejectThreshold.toFixed(4)} → ${sh.candidate.rejectThreshold.toFixed(4)}; ` +
      `job ${res.seconds.toFixed(1)} s at ${res.priority.policies.join('/')}`;
    t.diagnostic(line);
    console.log(line);
    assert.ok(afterRejects < before, line);
    assert.ok(
      sh.changed.every((c) => !c.candidateRejects || c.label === null),
      'no labelled part flips to reject',
    );
    assert.equal(sh.safeToPromote, true, sh.reasons.join('; '));

    // The candidate is a complete bundle that records its set (false rejects copied in) and its parent.
    const cand = loadBundle(out);
    assert.equal(cand.manifest.modelId, res.candidateModelId);
    const set = teachInSetFrom(cand.manifest.training, 'candidate') as TeachInSetRecord;
    const copies = set.images.filter((e) => e.source === 'false-reject');
    assert.equal(copies.length, LABELLED);
    for (const e of copies) assert.ok(existsSync(join(out, e.path)) && !e.path.startsWith('/'), e.path);
    assert.equal(
      (cand.manifest.training!.reteach as { parentModelId: string }).parentModelId,
      res.parentModelId,
    );
    assert.ok(existsSync(join(out, 'reteach-report.json')));
    assert.equal(readManifest(bundleDir).modelId, res.parentModelId, 'the model in force is untouched');
  });
});

describe('re-teach job process', () => {
  test('runs at SCHED_IDLE on every thread, refuses a second job, and cancels cleanly', async () => {
    const runner = new ReteachRunner({ log: silent, cancelGraceMs: 10_000 });
    const out = join(tmp, 'cancelled');
    const progress: ReteachProgress[] = [];
    let training!: () => void;
    const inTraining = new Promise<void>((r) => (training = r));
    const job = runner.start(
      { modelDir: bundleDir, archiveDir, outDir: out, teach: { epochs: 100_000 } },
      (p) => {
        progress.push(p);
        if (p.phase === 'train') training();
      },
    );
    await inTraining;
    const pid = runner.current!.pid!;
    const threads = threadPriorities(pid);
    assert.ok(threads.length >= 2, `threads of ${pid}: ${threads.length}`);
    assert.deepEqual(
      [...new Set(threads.map((x) => x.policy))],
      ['idle'],
      `policies: ${threads.map((x) => `${x.name}:${x.policy}`).join(' ')}`,
    );
    const last = progress[progress.length - 1];
    assert.ok(last.step > 0 && last.total > 0 && Number.isFinite(last.loss), JSON.stringify(last));

    assert.throws(
      () => runner.start({ modelDir: bundleDir, archiveDir, outDir: join(tmp, 'second') }),
      (e: unknown) => e instanceof ReteachBusyError && /already running/.test(e.message),
    );
    assert.equal(existsSync(join(tmp, 'second')), false);

    assert.equal(runner.cancel(), true);
    await assert.rejects(job.result, ReteachCancelledError);
    assert.equal(runner.current, undefined);
    assert.equal(existsSync(out), false, 'a cancelled candidate is removed');
    assert.throws(() => process.kill(pid, 0), 'the job process is gone');
  });
});

describe('re-teach cancelled before its process is ready', () => {
  test('the loading process is killed at once, no other priority wrapper is tried, nothing is kept', async () => {
    // A job that would run for ages if it started: only the cancel can end it within the test's time. The grace
    // period is long, so a cancel that relied on the not-yet-listening process would wait; the earlier runner
    // killed it after the grace and then started the job again under the next wrapper (seen on a loaded host).
    for (const cancelGraceMs of [60_000, 1]) {
      const cap = captureLog();
      const runner = new ReteachRunner({ log: cap.log, cancelGraceMs });
      const out = join(tmp, `early-cancel-${cancelGraceMs}`);
      const job = runner.start({ modelDir: bundleDir, archiveDir, outDir: out, teach: { epochs: 100_000 } });
      const pid = runner.current!.pid!;
      assert.equal(runner.cancel(), true);
      await assert.rejects(job.result, ReteachCancelledError);
      assert.equal(runner.current, undefined);
      assert.equal(existsSync(out), false, 'no candidate directory');
      assert.throws(() => process.kill(pid, 0), 'the job process is gone');
      const said = cap.text().join('\n');
      assert.doesNotMatch(said, /trying the next|re-teach started/, said);
      assert.match(said, /cancelled before its process was ready/);
    }
  });
});

describe('re-teach when the daemon dies', () => {
  test('kill -9 of the process that started the job: the job ends too, the model in force is untouched', async () => {
    const before = readFileSync(join(bundleDir, 'manifest.json'), 'utf8');
    const out = join(tmp, 'orphan');
    const cli = track(
      spawn(
        process.execPath,
        [
          '--import',
          'tsx',
          'src/cli/main.ts',
          'model',
          'reteach',
          '--model',
          bundleDir,
          '--archive',
          archiveDir,
          '--out',
          out,
          '--epochs',
          '100000',
        ],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      ),
    );
    let stderr = '';
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no training progress: ${stderr}`)), 120_000);
      cli.once('exit', (code) => {
        clearTimeout(t);
        reject(new Error(`the CLI exited (${code}) before training: ${stderr}`));
      });
      cli.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
        if (/re-teach: train/.test(stderr)) {
          clearTimeout(t);
          resolve();
        }
      });
    });
    const job = Number(
      readFileSync(`/proc/${cli.pid}/task/${cli.pid}/children`, 'utf8').trim().split(/\s+/)[0],
    );
    assert.ok(job > 0 && existsSync(`/proc/${job}`), `job process of ${cli.pid}`);
    cli.kill('SIGKILL');
    const deadline = Date.now() + 30_000;
    while (existsSync(`/proc/${job}`) && !/^State:\s+Z/m.test(readStatus(job)) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(
      !existsSync(`/proc/${job}`) || /^State:\s+Z/m.test(readStatus(job)),
      'the orphaned job stopped',
    );
    assert.equal(readFileSync(join(bundleDir, 'manifest.json'), 'utf8'), before);
    assert.equal(
      loadBundle(bundleDir).manifest.modelId,
      readManifest(bundleDir).modelId,
      'still loads and verifies',
    );
  });
});

function readStatus(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return '';
  }
}

describe('re-teach inputs', () => {
  test('a bundle that predates the recorded set needs its folder; a changed image is left out, named', () => {
    const old = readManifest(bundleDir);
    const { teachInSet: _drop, ...training } = old.training!;
    assert.throws(
      () => collectSet(bundleDir, { ...old, training: training as typeof old.training }, archiveDir, opts()),
      (e: unknown) => e instanceof ReteachSetError && /does not record the images/.test(e.message),
    );
    const viaFolder = collectSet(
      bundleDir,
      { ...old, training: training as typeof old.training },
      archiveDir,
      {
        ...opts(),
        teachInImages: goodDir,
      },
    );
    assert.equal(viaFolder.summary.teachIn, 20);

    const empty = join(tmp, 'empty-archive');
    mkdirSync(empty);
    new ArchiveIndex(join(empty, INDEX_FILE)).close();
    assert.throws(
      () => collectSet(bundleDir, old, empty, opts()),
      (e: unknown) => e instanceof ReteachSetError && /nothing to re-teach on/.test(e.message),
    );

    const changed = join(goodDir, 'good-03.png');
    const bytes = readFileSync(changed);
    writeFileSync(changed, Buffer.concat([bytes, Buffer.from([0])]));
    try {
      const r = collectSet(bundleDir, old, archiveDir, { ...opts(), recentGood: 3 });
      assert.equal(r.summary.teachIn, 19);
      assert.match(
        r.summary.skipped.map((s) => `${s.path}: ${s.why}`).join('\n'),
        /good-03\.png: changed since teach-in/,
      );
      assert.equal(r.summary.falseRejects, LABELLED);
      assert.equal(r.summary.recentGood, 3, 'recent good parts sampled from the window');
    } finally {
      writeFileSync(changed, bytes);
    }
  });

  test('/proc stat parsing survives a thread name with spaces and parentheses', () => {
    const line =
      '4242 (ORT (pool) 1) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 20 19 7 0 99 100 101 ' +
      '0 '.repeat(16) +
      '5 0 0';
    const p = parseStat(4242, line);
    assert.deepEqual(p, { tid: 4242, name: 'ORT (pool) 1', nice: 19, policy: 'idle' });
  });
});

describe('reteach config section', () => {
  test('defaults a line can run with; an unknown or bad key is refused by name', () => {
    const cfg = reteachSchema.parse(undefined);
    assert.deepEqual(cfg, {
      threads: 1,
      recentGood: 0,
      maxArchiveImages: 200,
      shadowHours: 24,
      shadowMaxParts: 500,
      autoPromote: false,
    });
    const req = reteachRequest(cfg, { modelDir: 'm', archiveDir: 'a', outDir: 'o' });
    assert.equal(req.threads, 1);
    assert.equal('autoPromote' in req, false, 'the daemon-only key stays out of the job request');
    assert.equal(req.shadowHours, 24);
    const bad = reteachSchema.safeParse({ threds: 2 });
    assert.ok(!bad.success && JSON.stringify(bad.error.issues).includes('threds'));
    assert.ok(!reteachSchema.safeParse({ threads: 0 }).success);
  });
});

function opts(): Parameters<typeof collectSet>[3] {
  return { recentGood: 0, maxArchiveImages: 200, from: Date.now() - 7_200_000, to: Date.now() };
}
