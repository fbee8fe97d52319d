// kill -9 of the real daemon while it archives (issue 11): `pinpoint run` (the built dist/: build first) on
// synthetic cameras with `archive: keep all` under a 1 MB bound (so trimming runs too), SIGKILLed at seeded
// random moments twenty times on the same archive. After each kill the index (read-only, the archive's own
// schema) and the folders are compared from outside; after each restart the daemon's repair must match what was
// seen, and it must archive new parts. A last clean stop must leave index and folders in exact agreement.
// PINPOINT_KILL_SEED=<n> replays another sequence of kill moments (each round prints its own).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { stringify } from 'yaml';
import { createBundle } from '../src/model/bundle.js';
import { writeDevTeacher } from '../src/model/dev-teacher.js';
import { FILES, INDEX_FILE, PARTS_DIR, STAGING_DIR } from '../src/sinks/archive/layout.js';
import { readImage, readNpy } from '../src/util/image-io.js';
import { exitCodeWithin, track } from './helpers/children.js';

const ROUNDS = 20;
const SEED = Number(process.env.PINPOINT_KILL_SEED ?? 11);
const FRAME = { width: 96, height: 64 };
/** maxMegabytes: 1 (MiB): about twenty entries, so trimming runs in every round. */
const MAX_BYTES = 1024 * 1024;
const tmp = mkdtempSync(join(tmpdir(), 'pinpoint-archive-kill-'));
const archiveDir = join(tmp, 'archive');
const configFile = join(tmp, 'pinpoint.yaml');
const children: ChildProcess[] = [];

after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(tmp, { recursive: true, force: true });
});

/** mulberry32: a small seeded generator, so a failing sequence of kill moments can be replayed. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Run {
  child: ChildProcess;
  started: number;
  exited: Promise<void>;
  output(): string;
}

function startDaemon(): Run {
  const child = track(
    spawn(process.execPath, ['bin/pinpoint.js', 'run', '--config', configFile], {
      env: { ...process.env, PINPOINT_LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  children.push(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return { child, started: Date.now(), exited, output: () => out };
}

/** The daemon's JSON log lines with this message. */
function logLines(run: Run, msg: string): Record<string, unknown>[] {
  return run
    .output()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((l) => l.msg === msg);
}

async function until<T>(what: string, run: Run, f: () => T | undefined, ms = 60000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (run.child.exitCode !== null) assert.fail(`${what}: the daemon exited:\n${run.output().slice(-3000)}`);
    if (Date.now() > end) assert.fail(`${what}: not within ${ms} ms:\n${run.output().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface Row {
  key: string;
  part_id: string;
  camera: string;
  decide_time: number;
  verdict: string;
  reason: string;
  path: string;
  bytes: number;
  frame_format: string | null;
  map_format: string | null;
}

/** The index's rows, read-only (the daemon may be writing: WAL lets a reader in). */
function rows(): Row[] {
  const db = new Database(join(archiveDir, INDEX_FILE), { readonly: true, fileMustExist: true });
  try {
    db.pragma('busy_timeout = 2000');
    return db
      .prepare(
        'SELECT key, part_id, camera, decide_time, verdict, reason, path, bytes, frame_format, map_format FROM parts ORDER BY id',
      )
      .all() as Row[];
  } finally {
    db.close();
  }
}

/** parts/<day>/<camera>/<key> folders on disk, found without the archive's code. */
function entryFolders(): string[] {
  const parts = join(archiveDir, PARTS_DIR);
  const out: string[] = [];
  for (const day of readdirSync(parts))
    for (const cam of readdirSync(join(parts, day)))
      for (const key of readdirSync(join(parts, day, cam))) out.push(join(PARTS_DIR, day, cam, key));
  return out;
}

/**
 * An indexed entry is complete: every file there, its size the row's, and each one decodes. A part without
 * evidence (a fail-safe verdict: no frame reached the model) has its result only.
 */
function checkEntry(r: Row): void {
  const dir = join(archiveDir, r.path);
  const evidence = r.frame_format !== null;
  assert.deepEqual([r.frame_format, r.map_format], evidence ? ['png', 'npy'] : [null, null], r.path);
  const names: string[] = evidence
    ? [FILES.result, FILES.framePng, FILES.mapNpy, FILES.heatmap]
    : [FILES.result];
  assert.deepEqual(readdirSync(dir).sort(), [...names].sort(), `${r.path}: its files`);
  const size = names.reduce((s, f) => s + statSync(join(dir, f)).size, 0);
  assert.equal(size, r.bytes, `${r.path}: bytes on disk = the row's`);
  const result = JSON.parse(readFileSync(join(dir, FILES.result), 'utf8')) as Record<string, unknown>;
  assert.deepEqual(
    [result.partId, result.cameraId, result.decideTime, result.verdict],
    [r.part_id, r.camera, r.decide_time, r.verdict],
    r.path,
  );
  if (!evidence) {
    assert.ok(!['pass', 'score'].includes(r.reason), `${r.path}: a decided part without evidence`);
    return;
  }
  for (const f of [FILES.framePng, FILES.heatmap]) {
    const img = readImage(join(dir, f));
    assert.deepEqual([img.width, img.height], [FRAME.width, FRAME.height], `${r.path}/${f}`);
  }
  assert.deepEqual(readNpy(join(dir, FILES.mapNpy)).shape, [FRAME.height, FRAME.width], r.path);
}

/**
 * The archive as a kill left it: every row's entry complete (each decoded once); what the repair must remove is
 * at most the one entry being written or trimmed at the kill (a staging folder or an unindexed entry folder).
 */
function afterKill(checked: Set<string>): { staging: string[]; orphans: string[] } {
  const rs = rows();
  const onDisk = new Set(entryFolders());
  for (const r of rs) {
    assert.ok(onDisk.delete(r.path), `${r.path}: an indexed entry without its folder`);
    if (!checked.has(r.key)) checkEntry(r);
    checked.add(r.key);
  }
  const staging = readdirSync(join(archiveDir, STAGING_DIR));
  const orphans = [...onDisk];
  assert.ok(staging.length + orphans.length <= 1, `leftovers: ${JSON.stringify({ staging, orphans })}`);
  return { staging, orphans };
}

describe('archive: kill -9 of pinpoint run while it archives', () => {
  before(() => {
    const teacher = join(tmp, 'dev-teacher.safetensors');
    writeDevTeacher(teacher, { seed: 0 });
    createBundle({ teacherPath: teacher, outDir: join(tmp, 'model'), size: 56 });
    const camera = (seed: number) => ({
      type: 'synthetic',
      ...FRAME,
      seed,
      count: 0,
      fps: 25,
      defectKinds: ['dent', 'spot'],
      defectSizes: [12, 20],
      defectRate: 0.5,
    });
    const config = {
      cameras: { a: camera(71), b: camera(72) },
      pipeline: { inputSize: 56, batch: { maxBatch: 4, maxWaitMs: 10 } },
      model: { path: join(tmp, 'model'), cacheDir: join(tmp, 'cache') },
      inference: { device: 'cpu', threads: 1 },
      verdict: { rejectThreshold: 2.14, pixelThreshold: 2.13, minBlobArea: 4 },
      mqtt: { enabled: false },
      // No yielding to inspection (tested in archive.test.ts): the worker writes as fast as it can, so that
      // kills land inside writes and every round quickly sees a new entry.
      archive: { enabled: true, dir: archiveDir, keep: 'all', maxMegabytes: 1, cpuWhileInspecting: 1 },
      logging: { level: 'info', pretty: 'never' },
    };
    writeFileSync(configFile, stringify(config));
  });

  test(`${ROUNDS} kills at seeded random moments (seed ${SEED}): index and files agree, repair matches, it runs on`, async (t) => {
    const random = seeded(SEED);
    const checked = new Set<string>();
    let left = { staging: [] as string[], orphans: [] as string[] };
    const t0 = Date.now();
    for (let round = 0; round <= ROUNDS; round++) {
      const run = startDaemon();
      await until('archive open', run, () => logLines(run, 'archive open')[0]);
      const openMs = Date.now() - run.started;
      // The repair reports exactly the leftovers seen after the kill (none: no report), and they are gone.
      const repaired = logLines(run, 'archive: repaired after an unclean stop');
      const want = {
        stagingRemoved: left.staging.length,
        orphansRemoved: left.orphans.length,
        missingPruned: 0,
      };
      if (want.stagingRemoved + want.orphansRemoved === 0) assert.equal(repaired.length, 0, run.output());
      else
        assert.deepEqual(
          repaired.map((l) => ({
            stagingRemoved: l.stagingRemoved,
            orphansRemoved: l.orphansRemoved,
            missingPruned: l.missingPruned,
          })),
          [want],
        );
      for (const s of left.staging) assert.ok(!existsSync(join(archiveDir, STAGING_DIR, s)), s);
      for (const o of left.orphans) assert.ok(!existsSync(join(archiveDir, o)), o);
      // It runs on: new parts (decided after this start) reach the index.
      await until('a new entry', run, () =>
        rows().some((r) => r.decide_time >= run.started) ? true : undefined,
      );
      const firstMs = Date.now() - run.started;
      if (round === ROUNDS) {
        run.child.kill('SIGTERM');
        assert.equal(await exitCodeWithin(run.child, 60000), 0, run.output().slice(-3000));
        t.diagnostic(`clean stop after open ${openMs} ms, first new entry ${firstMs} ms`);
        break;
      }
      const delay = Math.round(random() * 1000);
      await new Promise((r) => setTimeout(r, delay));
      run.child.kill('SIGKILL');
      await run.exited;
      left = afterKill(checked);
      const n = rows().length;
      t.diagnostic(
        `round ${round + 1}: open ${openMs} ms, first new entry ${firstMs} ms, kill ${delay} ms later; ` +
          `${n} entries, leftovers ${left.staging.length} staging + ${left.orphans.length} unindexed`,
      );
    }
    // After a clean stop: one folder per row and nothing else; every entry complete; within the bound.
    const rs = rows();
    assert.deepEqual(entryFolders().sort(), rs.map((r) => r.path).sort());
    assert.deepEqual(readdirSync(join(archiveDir, STAGING_DIR)), []);
    for (const r of rs) if (!checked.has(r.key)) checkEntry(r);
    assert.ok(rs.reduce((s, r) => s + r.bytes, 0) <= MAX_BYTES);
    assert.ok(checked.size > rs.length, `${checked.size} entries seen, ${rs.length} kept: trimming ran`);
    t.diagnostic(
      `${ROUNDS} kills in ${Math.round((Date.now() - t0) / 1000)} s, ${checked.size} entries checked`,
    );
  });
});
