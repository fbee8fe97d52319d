// The console's labels against a busy archive writer, with real SQLite files: a second connection holds the
// write lock (as the archive worker does while it inserts or trims on a slow disk). A label then waits in short
// steps without holding the event loop (its ticks keep coming), is stored once the lock is free, and is refused
// as busy (ArchiveBusyError, 503 on HTTP) when the lock stays held too long. It used to wait on the event loop
// for up to 2 s, delaying every verdict behind it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { ArchiveIndex } from '../src/sinks/archive/archive-index.js';
import { INDEX_FILE } from '../src/sinks/archive/layout.js';
import { ArchiveBusyError, ConsoleIndex } from '../src/sinks/web/console-index.js';

/** The longest gap between 5 ms ticks of the event loop while `p` runs. */
async function longestStall<T>(
  p: () => Promise<T>,
): Promise<{ value?: T; error?: unknown; stallMs: number }> {
  let last = performance.now();
  let stallMs = 0;
  const tick = setInterval(() => {
    const now = performance.now();
    stallMs = Math.max(stallMs, now - last);
    last = now;
  }, 5);
  try {
    return { value: await p(), stallMs };
  } catch (error) {
    return { error, stallMs };
  } finally {
    clearInterval(tick);
  }
}

test('a label waits for the writer in short steps off the event loop, then is stored or refused as busy', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pp-console-index-'));
  try {
    const writer = new ArchiveIndex(join(dir, INDEX_FILE));
    const id = writer.insert({
      key: 'k1',
      partId: 'cam-1',
      cameraId: 'cam',
      captureTime: 1,
      decideTime: 2,
      verdict: 'reject',
      reason: 'score',
      score: 3,
      path: 'parts/x/cam/k1',
      bytes: 10,
      frameFormat: null,
      mapFormat: null,
      mapScale: null,
    });
    const ix = new ConsoleIndex(dir);
    const label = { label: 'false-reject' as const, note: null, who: 'op', time: 5 };
    const lock = new Database(join(dir, INDEX_FILE));
    lock.pragma('busy_timeout = 0');

    lock.exec('BEGIN IMMEDIATE'); // the worker's write lock
    const release = setTimeout(() => lock.exec('COMMIT'), 400);
    const stored = await longestStall(() => ix.addLabel(id, label));
    clearTimeout(release);
    assert.equal(stored.error, undefined);
    assert.deepEqual(
      ix.labels(id).map((l) => l.label),
      ['false-reject'],
      'stored once the lock was free',
    );
    assert.ok(
      stored.stallMs < 300,
      `the event loop kept ticking (longest gap ${stored.stallMs.toFixed(0)} ms)`,
    );

    lock.exec('BEGIN IMMEDIATE');
    const refused = await longestStall(() => ix.addLabel(id, { ...label, note: 'again', time: 6 }));
    lock.exec('ROLLBACK');
    assert.ok(refused.error instanceof ArchiveBusyError, String(refused.error));
    assert.ok(refused.stallMs < 300, `longest gap ${refused.stallMs.toFixed(0)} ms while refused`);
    assert.equal(ix.labels(id).length, 1, 'nothing half-stored');
    lock.close();
    ix.close();
    writer.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('label counts per camera (every camera in the archive): score rejects, each part counted once by its latest label', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pp-console-counts-'));
  try {
    const w = new ArchiveIndex(join(dir, INDEX_FILE));
    const add = (n: number, camera: string, verdict: 'ok' | 'reject', reason: 'pass' | 'score' | 'timeout') =>
      w.insert({
        key: `k${n}`,
        partId: `${camera}-${n}`,
        cameraId: camera,
        captureTime: n,
        decideTime: n,
        verdict,
        reason,
        score: reason === 'timeout' ? null : n,
        path: `parts/d/${camera}/k${n}`,
        bytes: 1,
        frameFormat: null,
        mapFormat: null,
        mapScale: null,
      });
    const by = (
      label: 'false-reject' | 'confirmed-defect' | null,
      time: number,
      note: string | null = null,
    ) => ({
      label,
      note,
      who: 'op',
      time,
    });
    const r1 = add(1, 'a', 'reject', 'score');
    const r2 = add(2, 'a', 'reject', 'score');
    const r3 = add(3, 'a', 'reject', 'score');
    add(4, 'a', 'reject', 'timeout'); // a fail-safe: not a score reject
    const g5 = add(5, 'a', 'ok', 'pass');
    const r6 = add(6, 'b', 'reject', 'score');
    add(7, 'c', 'ok', 'pass'); // a camera with nothing to count is listed with zeros
    w.addLabel(r1, by('false-reject', 10));
    w.addLabel(r1, by('confirmed-defect', 20)); // changed its mind: the latest counts
    w.addLabel(r2, by('false-reject', 10));
    w.addLabel(r2, by(null, 30, 'a note only')); // a note does not undo the label
    w.addLabel(r3, by(null, 10, 'looked at it'));
    w.addLabel(g5, by('confirmed-defect', 10)); // an escape
    w.addLabel(r6, by('false-reject', 10));
    const ix = new ConsoleIndex(dir);
    assert.deepEqual(ix.labelCounts(), {
      a: { rejects: 3, falseRejects: 1, confirmedRejects: 1, escapes: 1, falseRejectRate: 0.5 },
      b: { rejects: 1, falseRejects: 1, confirmedRejects: 0, escapes: 0, falseRejectRate: 1 },
      c: { rejects: 0, falseRejects: 0, confirmedRejects: 0, escapes: 0, falseRejectRate: null },
    });
    ix.close();
    w.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
