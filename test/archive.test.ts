// The parts archive's store without the daemon: keep policies, the SQLite index (queries, labels), the size
// bound (labelled entries last), repair after a crash, and kill -9 of a writing process at random moments
// (that one runs the built dist/: build first). That process writes back to back, so about 4 kills in 20 land
// inside a write (staging or rename-before-index); archive-kill.test.ts kills the whole daemon, whose archive is
// mostly idle between parts (about 1 in 20): the two together cover both.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configSchema } from '../src/config/schema.js';
import { ArchiveIndex } from '../src/sinks/archive/archive-index.js';
import { ArchiveStore } from '../src/sinks/archive/archive-store.js';
import type { StagedEntry } from '../src/sinks/archive/archive-store.js';
import { ArchiveWriter } from '../src/sinks/archive/archive-writer.js';
import { FrameSlots, makeSpares } from '../src/sinks/archive/frame-slots.js';
import { keepPolicy } from '../src/sinks/archive/keep-policy.js';
import { InspectionGate, type GateIo } from '../src/sinks/archive/inspection-gate.js';
import { PipelineLoad } from '../src/pipeline/pipeline-load.js';
import { computeLetterbox } from '../src/pipeline/letterbox.js';
import { readImage } from '../src/util/image-io.js';
import { captureLog } from './helpers/log-capture.js';
import { FILES, INDEX_FILE, PARTS_DIR, STAGING_DIR, entryKey } from '../src/sinks/archive/layout.js';
import type { Logger } from '../src/util/log.js';
import { createLogger } from '../src/util/log.js';
import { makeResult } from './helpers/mqtt.js';
import { track } from './helpers/children.js';

const tmp = mkdtempSync(join(tmpdir(), 'pinpoint-archive-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const silent = createLogger({ level: 'silent' });

/** A logger that records its warnings (to check what an operator is told). */
function recordingLog(): { log: Logger; warnings: string[] } {
  const warnings: string[] = [];
  const log = { info: () => {}, warn: (_f: unknown, msg: string) => warnings.push(msg), error: () => {} };
  return { log: log as unknown as Logger, warnings };
}

function staged(
  n: number,
  bytes: number,
  camera = 'cam1',
  decideTime = 1_700_000_000_000 + n * 1000,
): StagedEntry {
  const r = makeResult(camera, n, decideTime);
  return {
    key: entryKey(decideTime),
    partId: r.partId,
    cameraId: camera,
    captureTime: r.captureTime,
    decideTime,
    verdict: r.verdict,
    reason: r.reason,
    score: r.score,
    files: { [FILES.result]: JSON.stringify(r), [FILES.mapNpy]: new Uint8Array(bytes) },
    frameFormat: null,
    mapFormat: 'npy',
    mapScale: null,
  };
}

/** Index rows and entry folders agree, and every indexed folder is complete. */
function assertAgree(dir: string, files: string[]): number {
  const index = new ArchiveIndex(join(dir, INDEX_FILE));
  try {
    const rows = index.paths();
    for (const { path } of rows)
      for (const f of files) assert.ok(existsSync(join(dir, path, f)), `${path}/${f} of an indexed entry`);
    return rows.length;
  } finally {
    index.close();
  }
}

describe('archive keep policy', () => {
  const ok = makeResult('c', 2);
  const reject = makeResult('c', 1);
  const error = { ...makeResult('c', 3), verdict: 'error' as const, reason: 'timeout' as const };

  test('rejects keeps everything not passed; all keeps all; rejects+N% samples good parts', () => {
    const rejects = keepPolicy('rejects');
    assert.deepEqual([rejects(ok), rejects(reject), rejects(error)], [false, true, true]);
    assert.equal(keepPolicy('all')(ok), true);
    const draws = [0.004, 0.02, 0.5];
    const sampled = keepPolicy('rejects+1%', () => draws.shift()!);
    assert.deepEqual([sampled(ok), sampled(ok), sampled(reject)], [true, false, true]);
  });

  test('the config refuses anything else with a clear message', () => {
    for (const keep of ['some', 'rejects+200%', 'all+1%', 'rejects+%']) {
      const r = configSchema.safeParse({ archive: { keep } });
      assert.ok(!r.success, keep);
      assert.match(r.error.message, /rejects\+N%/);
    }
    assert.ok(configSchema.safeParse({ archive: { keep: 'rejects+0.5%' } }).success);
  });
});

describe('archive writer', () => {
  test('frame slots: copies are exact, slots are reused once free, at most max, spares asked once per size', () => {
    const asked: [number, number][] = [];
    const ask = (bytes: number, count: number): number => asked.push([bytes, count]);
    const slots = new FrameSlots(3);
    const a = new Uint8Array(300).map((_, i) => i % 251);
    const s1 = slots.copy(a, ask)!;
    assert.deepEqual(s1.view, a);
    assert.ok(
      s1.view.buffer instanceof SharedArrayBuffer,
      'a copy in shared memory, never the source buffer',
    );
    assert.deepEqual(asked, [[300, 2]], 'the worker is asked for the other slots of this size');
    const b = new Uint8Array(200).fill(7);
    const s2 = slots.copy(b, ask)!;
    assert.notEqual(s2.id, s1.id, 'a busy slot is not reused');
    slots.release(s1.id);
    const s3 = slots.copy(b, ask)!;
    assert.equal(s3.id, s1.id, 'a free slot up to twice the size is reused');
    assert.deepEqual(s3.view, b);
    slots.addSpares(makeSpares(1000, 4));
    assert.deepEqual(slots.size, { total: 3, free: 1, bytes: 1500 }, 'spares beyond max are let go');
    assert.equal(slots.copy(new Uint8Array(1000), ask)?.view.byteLength, 1000, 'a spare of that size');
    assert.equal(slots.copy(new Uint8Array(10), ask), undefined, 'every slot busy: no copy');
    assert.deepEqual(
      asked,
      [
        [300, 2],
        [200, 1],
      ],
      'asked once per new size, for the slots left',
    );
  });

  test('frame slots: their bytes are bounded too (big frames), spares included; too large is never copied', () => {
    const asked: [number, number][] = [];
    const slots = new FrameSlots(16, 1000);
    const a = slots.copy(new Uint8Array(400).fill(1), (b, c) => asked.push([b, c]))!;
    assert.deepEqual(asked, [[400, 1]], 'spares only as far as the byte bound allows');
    slots.addSpares(makeSpares(400, 3));
    assert.deepEqual(slots.size, { total: 2, free: 1, bytes: 800 });
    const b = slots.copy(new Uint8Array(400).fill(2), () => {})!;
    assert.equal(
      slots.copy(new Uint8Array(400), () => {}),
      undefined,
      'a third would pass 1000 bytes',
    );
    assert.equal(slots.fits(1001), false);
    assert.equal(
      slots.copy(new Uint8Array(1001), () => {}),
      undefined,
    );
    slots.release(a.id);
    slots.release(b.id);
    const big = slots.copy(new Uint8Array(900).fill(3), () => {});
    assert.equal(big?.view.byteLength, 900, 'free slots of another size make room');
    assert.deepEqual(slots.size, { total: 1, free: 0, bytes: 900 });
  });

  test('the worker runs at idle CPU priority, writes each part and hands its frame slot back', async () => {
    const dir = join(tmp, 'writer');
    const cap = captureLog();
    const writer = new ArchiveWriter(
      { dir, maxBytes: 50_000_000, imageFormat: 'png', jpegQuality: 90, mapFormat: 'npy' },
      4,
      cap.log,
    );
    await writer.start();
    const W = 40;
    const H = 30;
    const frames: Uint8Array[] = [];
    for (let n = 1; n <= 3; n++) {
      const data = new Uint8Array(W * H * 3).map((_, i) => (i * n) % 256);
      frames.push(data);
      writer.enqueue({
        result: makeResult('cam1', n),
        evidence: {
          image: { width: W, height: H, channels: 3, data },
          grid: new Float32Array(16).fill(n),
          g: 4,
          letterbox: computeLetterbox(W, H, 56),
          ignore: [],
          pixelThreshold: 3,
        },
      });
    }
    await writer.stop();
    assert.deepEqual([writer.st.written, writer.st.dropped, writer.st.failed], [3, 0, 0]);
    // One slot made for the first frame and two more for the frames right behind it; the worker's spares
    // (asked with the first) fill up to the queue depth.
    assert.equal(writer.frameSlots.total, 4, 'frames went through shared slots, at most the queue depth');
    assert.equal(writer.frameSlots.free, writer.frameSlots.total, 'every slot came back from the worker');
    for (const [n, data] of frames.entries())
      assert.equal(data.byteLength, W * H * 3, `frame ${n} not detached`);
    const open = cap.records().find((r) => r.msg === 'archive open');
    // SCHED_IDLE where chrt exists (Linux, util-linux), else nice 19.
    assert.equal(open?.cpuPriority, existsSync('/usr/bin/chrt') ? 'idle' : 'nice19', JSON.stringify(open));
    const index = new ArchiveIndex(join(dir, INDEX_FILE), { readonly: true });
    try {
      for (let n = 1; n <= 3; n++) {
        const [e] = index.query({ partId: makeResult('cam1', n).partId });
        const img = readImage(join(dir, e.path, FILES.framePng));
        assert.deepEqual(Buffer.from(img.data), Buffer.from(frames[n - 1]), `part ${n}: the frame as sent`);
      }
    } finally {
      index.close();
    }
  });

  test('the worker yields to inspection: with share 0 it writes nothing while parts are in the pipeline', async () => {
    const load = new PipelineLoad();
    load.set(2);
    const writer = new ArchiveWriter(
      {
        dir: join(tmp, 'gated'),
        maxBytes: 50_000_000,
        imageFormat: 'png',
        jpegQuality: 90,
        mapFormat: 'npy',
        load: load.buffer,
        cpuWhileInspecting: 0,
      },
      4,
      silent,
    );
    await writer.start();
    const W = 40;
    const H = 30;
    for (let n = 1; n <= 3; n++)
      writer.enqueue({
        result: makeResult('cam1', n),
        evidence: {
          image: { width: W, height: H, channels: 3, data: new Uint8Array(W * H * 3).fill(n) },
          grid: new Float32Array(16).fill(n),
          g: 4,
          letterbox: computeLetterbox(W, H, 56),
          ignore: [],
          pixelThreshold: 3,
        },
      });
    await new Promise((r) => setTimeout(r, 1500));
    assert.deepEqual(
      [writer.st.written, writer.st.queued],
      [0, 3],
      'nothing written while inspection is busy',
    );
    const t0 = Date.now();
    load.set(0); // the pipeline empties: the worker is woken at once (Atomics.notify), not at its next re-check
    while (writer.st.written < 1 && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 5));
    // The first entry, not all three: what is timed is the wake-up (under the 1-s re-check), not how fast an
    // idle-priority thread writes three entries with fsyncs on a loaded host.
    const firstMs = Date.now() - t0;
    while (writer.st.written < 3 && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 10));
    assert.equal(writer.st.written, 3, 'all written once the pipeline is empty');
    assert.ok(firstMs < 900, `the first written ${firstMs} ms after the pipeline emptied`);
    assert.ok(writer.st.yieldedSeconds >= 1, `counted as yielded: ${writer.st.yieldedSeconds} s`);
    await writer.stop();
  });
});

/** A virtual clock; the pipeline is busy until `idleAt` (ms), then empty. Sleeping advances the clock. */
function fakeIo(idleAt: number): GateIo & { t: number; sleeps: number[] } {
  const io = {
    t: 0,
    sleeps: [] as number[],
    now: () => io.t,
    parts: () => (io.t < idleAt ? 3 : 0),
    sleepWhileBusy(ms: number) {
      io.sleeps.push(ms);
      io.t = Math.min(io.t + ms, Math.max(io.t, idleAt)); // woken when the pipeline empties
    },
    sleepWhileEmpty(ms: number) {
      io.sleeps.push(ms);
      io.t += ms; // once empty it stays empty here
    },
  };
  return io;
}

describe('archive inspection gate', () => {
  const work = (io: { t: number }, ms: number) => () => {
    io.t += ms;
    return ms;
  };

  test('while parts are in the pipeline, a share of 0.25 sleeps three times each step before the next', () => {
    const io = fakeIo(Infinity);
    const gate = new InspectionGate(0.25, io);
    for (let i = 0; i < 4; i++) assert.equal(gate.step(work(io, 10)), 10);
    assert.deepEqual(io.sleeps, [30, 30, 30], 'the first step runs at once, each later one after 30 ms');
    assert.equal(io.t, 130);
    assert.equal(gate.sleptMs, 90);
  });

  test('an emptying pipeline ends the sleep at once; once it stayed empty 10 ms, nothing is owed', () => {
    const io = fakeIo(25);
    const gate = new InspectionGate(0.1, io);
    gate.step(work(io, 10)); // owes 90 ms
    gate.step(work(io, 10)); // woken at 25 by the empty pipeline, still empty at 35: runs
    gate.step(work(io, 10)); // quiet: runs at once
    assert.deepEqual(io.sleeps, [90, 10]);
    assert.equal(io.t, 55);
  });

  test('share 1 never sleeps; share 0 works only while the pipeline is empty', () => {
    const busy = fakeIo(Infinity);
    const free = new InspectionGate(1, busy);
    for (let i = 0; i < 3; i++) free.step(work(busy, 10));
    assert.deepEqual(busy.sleeps, []);
    const io = fakeIo(2500);
    const none = new InspectionGate(0, io);
    none.step(work(io, 10));
    assert.equal(io.t, 2520, 'the step ran only once the pipeline had been empty for 10 ms');
    assert.ok(io.sleeps.length >= 2, 'waits are bounded, and re-checked');
  });
});

describe('archive store', () => {
  test('queries by part, camera, time, verdict and label; labels survive', () => {
    const dir = join(tmp, 'q');
    const store = new ArchiveStore(dir, 1e9, silent);
    for (let n = 1; n <= 6; n++) store.add(staged(n, 10, n <= 3 ? 'a' : 'b'));
    const ix = store.index;
    assert.deepEqual(
      ix.query({ partId: 'a-part-2' }).map((e) => e.partId),
      ['a-part-2'],
    );
    assert.deepEqual(
      ix.query({ cameraId: 'b' }).map((e) => e.partId),
      ['b-part-4', 'b-part-5', 'b-part-6'],
    );
    assert.deepEqual(
      ix.query({ verdict: 'reject' }).map((e) => e.partId),
      ['a-part-1', 'a-part-3', 'b-part-5'],
    );
    const t0 = 1_700_000_000_000;
    assert.deepEqual(
      ix.query({ from: t0 + 2000, to: t0 + 4000 }).map((e) => e.partId),
      ['a-part-2', 'a-part-3'],
    );
    const e = ix.query({ partId: 'a-part-3' })[0];
    ix.addLabel(e.id, { label: 'false-reject', note: 'glare', who: 'anna', time: 5 });
    ix.addLabel(e.id, { label: null, note: 'checked twice', who: 'ben', time: 6 });
    assert.throws(
      () => ix.addLabel(e.id, { label: 'nonsense' as never, note: null, who: 'x', time: 7 }),
      /label must be/,
    );
    assert.deepEqual(
      ix.query({ label: 'false-reject' }).map((x) => x.partId),
      ['a-part-3'],
    );
    assert.equal(ix.query({ label: 'confirmed-defect' }).length, 0);
    store.close();
    const again = new ArchiveStore(dir, 1e9, silent);
    assert.deepEqual(
      again.index.labels(e.id).map((l) => [l.label, l.note, l.who]),
      [
        ['false-reject', 'glare', 'anna'],
        [null, 'checked twice', 'ben'],
      ],
    );
    again.close();
  });

  test('size bound: oldest first, labelled ones last, and said in the log when they must go', () => {
    const dir = join(tmp, 'bound');
    const { log, warnings } = recordingLog();
    const store = new ArchiveStore(dir, 8000, log);
    for (let n = 1; n <= 4; n++) store.add(staged(n, 1000));
    const first = store.index.query({ partId: 'cam1-part-1' })[0];
    store.index.addLabel(first.id, { label: 'confirmed-defect', note: null, who: 'qa', time: 1 });
    for (let n = 5; n <= 8; n++) store.add(staged(n, 1000));
    const left = store.index.query().map((e) => e.partId);
    assert.ok(left.includes('cam1-part-1'), 'the labelled oldest entry is kept');
    assert.ok(!left.includes('cam1-part-2'), 'the oldest unlabelled one went');
    assert.ok(store.totalBytes <= 8000);
    assert.equal(warnings.length, 0);
    assert.equal(readdirSync(join(dir, PARTS_DIR)).length > 0, true);
    // Labelled entries only, over a lowered bound: the oldest labelled go, with a warning.
    for (const e of store.index.query())
      if (e.partId !== 'cam1-part-1')
        store.index.addLabel(e.id, { label: null, note: 'keep', who: 'qa', time: 2 });
    store.close();
    const smaller = new ArchiveStore(dir, 3000, log);
    assert.ok(smaller.totalBytes <= 3000);
    assert.deepEqual(
      smaller.index.query().map((e) => e.partId),
      ['cam1-part-7', 'cam1-part-8'],
    );
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /only labelled entries are left/);
    assert.equal(assertAgree(dir, [FILES.result, FILES.mapNpy]), smaller.index.count());
    smaller.close();
  });

  test('opening repairs what a crash can leave: staging leftovers, unindexed folders, rows without files', () => {
    const dir = join(tmp, 'repair');
    const store = new ArchiveStore(dir, 1e9, silent);
    for (let n = 1; n <= 3; n++) store.add(staged(n, 10));
    const gone = store.index.query({ partId: 'cam1-part-2' })[0];
    store.close();
    rmSync(join(dir, gone.path), { recursive: true });
    mkdirSync(join(dir, STAGING_DIR, 'half-written'), { recursive: true });
    writeFileSync(join(dir, STAGING_DIR, 'half-written', FILES.result), '{"trunc');
    const orphan = join(dir, PARTS_DIR, '2023-11-14', 'cam1', 'orphan-key');
    mkdirSync(orphan, { recursive: true });
    writeFileSync(join(orphan, FILES.result), '{}');
    const { log, warnings } = recordingLog();
    const infos: unknown[] = [];
    (log as unknown as { info: (f: unknown) => void }).info = (f) => infos.push(f);
    const reopened = new ArchiveStore(dir, 1e9, log);
    assert.deepEqual(infos[0], { stagingRemoved: 1, orphansRemoved: 1, missingPruned: 1 });
    assert.deepEqual(
      reopened.index.query().map((e) => e.partId),
      ['cam1-part-1', 'cam1-part-3'],
    );
    assert.ok(!existsSync(orphan));
    assert.equal(readdirSync(join(dir, STAGING_DIR)).length, 0);
    assert.equal(warnings.length, 0);
    reopened.close();
  });

  test('kill -9 twenty times while it archives: index and files always agree, and it runs on', async () => {
    const dir = join(tmp, 'kill');
    const files = [FILES.result, FILES.framePng, FILES.mapNpy, FILES.heatmap];
    let wrote = 0;
    for (let round = 0; round < 20; round++) {
      const started = Date.now();
      const child = track(
        spawn(
          process.execPath,
          ['test/helpers/archive-child.mjs', JSON.stringify({ dir, maxBytes: 2_000_000 })],
          {
            stdio: ['ignore', 'pipe', 'inherit'],
          },
        ),
      );
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('archive child not ready in 60 s')), 60000);
        child.stdout!.on('data', (d: Buffer) => {
          if (d.toString().includes('ready')) {
            clearTimeout(t);
            resolve();
          }
        });
      });
      // The restarted writer writes (its worker runs at idle CPU priority: on a loaded machine the first entry
      // may take a while), then the kill lands at a random moment while it keeps writing.
      if (await newEntryWithin(dir, started, 60000)) wrote++;
      await new Promise((r) => setTimeout(r, Math.random() * 500));
      child.kill('SIGKILL');
      await exited;
      // Before any repair: every indexed entry is complete on disk (a row never points at half-written files).
      assertAgree(dir, files);
    }
    const store = new ArchiveStore(dir, 2_000_000, silent);
    const folders = readdirSync(join(dir, PARTS_DIR), { recursive: true }).filter(
      (p) => String(p).split('/').length === 3,
    );
    assert.equal(folders.length, store.index.count(), 'after repair: one folder per row');
    assert.ok(store.totalBytes <= 2_000_000);
    store.close();
    assert.equal(wrote, 20, `new entries in ${wrote} of 20 rounds (a restarted writer writes)`);
  });
});

/** Whether an entry decided after `since` shows up in the index within `ms` (the count alone stops growing once
 * the size bound is reached, so new entries are told by their decide time). */
async function newEntryWithin(dir: string, since: number, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    try {
      const index = new ArchiveIndex(join(dir, INDEX_FILE), { readonly: true });
      const n = index.query({ from: since }).length;
      index.close();
      if (n > 0) return true;
    } catch {
      // the index is being created: ask again
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}
