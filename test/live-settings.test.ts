// Live verdict settings and their audit log (src/app/live-settings.ts, audit-log.ts): a change replaces the
// camera's settings object the engine reads (so the next batch uses it whole), a refused change leaves
// everything as it was, and each change is one row in the archive's SQLite database (next to an open archive
// index, as in the daemon) and in `pinpoint archive export`'s manifest. Without the archive: log only.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { extract } from 'tar-stream';
import { createReadStream } from 'node:fs';
import { AuditLog } from '../src/app/audit-log.js';
import { LiveSettings, LiveSettingsError } from '../src/app/live-settings.js';
import type { EngineCamera } from '../src/pipeline/engine.js';
import { ArchiveIndex } from '../src/sinks/archive/archive-index.js';
import { exportArchive } from '../src/sinks/archive/archive-export.js';
import { INDEX_FILE } from '../src/sinks/archive/layout.js';
import { captureLog } from './helpers/mqtt.js';

const tmp = mkdtempSync(join(tmpdir(), 'pinpoint-live-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function cameras(): Map<string, EngineCamera> {
  const cam = (t: { reject: number; pixel: number } | null): EngineCamera => ({
    queue: { depth: 2, policy: 'drop-oldest' },
    verdict: { thresholds: t, minBlobArea: 4, ignore: [] },
    triggerWindowMs: null,
  });
  return new Map([
    ['a', cam({ reject: 2, pixel: 1.5 })],
    ['untaught', cam(null)],
  ]);
}

const console_ = { who: 'anna', source: 'console' as const };

describe('LiveSettings', () => {
  test('thresholds: the settings object is replaced, the old one untouched; audited', () => {
    const cams = cameras();
    const { log, lines } = captureLog();
    const live = new LiveSettings(cams, new AuditLog(log, undefined));
    const before = cams.get('a')!.verdict;
    assert.deepEqual(live.setThresholds('a', { reject: 3 }, console_), { reject: 3, pixel: 1.5 });
    const now = cams.get('a')!.verdict;
    assert.notEqual(now, before, 'a new object: a batch in progress keeps the one it read');
    assert.deepEqual(before.thresholds, { reject: 2, pixel: 1.5 });
    assert.deepEqual(now.thresholds, { reject: 3, pixel: 1.5 });
    assert.equal(now.minBlobArea, 4);
    const audit = lines().filter((l) => l.audit === true);
    assert.equal(audit.length, 1);
    assert.deepEqual(
      [audit[0].who, audit[0].source, audit[0].what, audit[0].camera],
      ['anna', 'console', 'thresholds', 'a'],
    );
    assert.deepEqual(
      [audit[0].old, audit[0].new],
      [
        { reject: 2, pixel: 1.5 },
        { reject: 3, pixel: 1.5 },
      ],
    );
  });

  test('refused changes change nothing and say why', () => {
    const cams = cameras();
    const live = new LiveSettings(cams, new AuditLog(captureLog().log, undefined));
    const v = cams.get('a')!.verdict;
    const refusals: [() => unknown, RegExp][] = [
      [() => live.setThresholds('nope', { reject: 1 }, console_), /unknown camera "nope"/],
      [() => live.setThresholds('a', {}, console_), /give reject, pixel or both/],
      [() => live.setThresholds('a', { reject: 0 }, console_), /reject/],
      [() => live.setThresholds('a', { pixel: Number.NaN }, console_), /pixel/],
      [() => live.setThresholds('untaught', { reject: 1 }, console_), /no thresholds yet.*both/],
      [
        () =>
          live.setIgnoreZones(
            'a',
            [
              [
                [0, 0],
                [1, 1],
              ],
            ],
            console_,
          ),
        /at least 3 points/,
      ],
      [() => live.setIgnoreZones('a', 'zones', console_), /ignore zones/],
      [
        () =>
          live.setIgnoreZones(
            'a',
            Array(65).fill([
              [0, 0],
              [1, 0],
              [1, 1],
            ]),
            console_,
          ),
        /at most 64/,
      ],
    ];
    for (const [f, msg] of refusals)
      assert.throws(f, (e: Error) => e instanceof LiveSettingsError && msg.test(e.message));
    assert.equal(cams.get('a')!.verdict, v);
    assert.equal(cams.get('untaught')!.verdict.thresholds, null);
  });

  test('an untaught camera gets thresholds when both are given; ignore zones replace the list', () => {
    const cams = cameras();
    const live = new LiveSettings(cams, new AuditLog(captureLog().log, undefined));
    live.setThresholds('untaught', { reject: 1, pixel: 0.5 }, console_);
    assert.deepEqual(live.settings('untaught')?.thresholds, { reject: 1, pixel: 0.5 });
    const zone = [
      [0, 0],
      [10, 0],
      [10, 10],
    ];
    live.setIgnoreZones('a', [zone], console_);
    assert.deepEqual(live.settings('a')?.ignore, [zone]);
    live.setIgnoreZones('a', [], console_);
    assert.deepEqual(live.settings('a')?.ignore, []);
  });

  test('a camera that no longer runs cannot be changed', () => {
    const live = new LiveSettings(cameras(), new AuditLog(captureLog().log, undefined), (id) => id !== 'a');
    assert.equal(live.settings('a'), undefined);
    assert.throws(() => live.setThresholds('a', { reject: 1 }, console_), /unknown camera/);
  });
});

describe('AuditLog', () => {
  test('with the archive: rows next to an open archive index, queried by time, exported', async () => {
    const dir = join(tmp, 'archive');
    const audit = new AuditLog(captureLog().log, dir);
    assert.ok(audit.persistent);
    const live = new LiveSettings(cameras(), audit);
    const t0 = Date.now();
    live.setThresholds('a', { reject: 3 }, console_);
    // The archive worker's connection, open at the same time (its schema has the audit table too).
    const index = new ArchiveIndex(join(dir, INDEX_FILE));
    live.setThresholds('a', { pixel: 1 }, { who: 'mqtt:scada', source: 'mqtt' });
    live.setIgnoreZones(
      'a',
      [
        [
          [0, 0],
          [4, 0],
          [4, 4],
        ],
      ],
      { who: 'config-file', source: 'sighup' },
    );
    const rows = audit.query({ from: t0 });
    assert.deepEqual(
      rows.map((r) => [r.who, r.source, r.what, r.camera]),
      [
        ['anna', 'console', 'thresholds', 'a'],
        ['mqtt:scada', 'mqtt', 'thresholds', 'a'],
        ['config-file', 'sighup', 'ignore zones', 'a'],
      ],
    );
    assert.deepEqual(
      [rows[1].old, rows[1].new],
      [
        { reject: 3, pixel: 1.5 },
        { reject: 3, pixel: 1 },
      ],
    );
    assert.deepEqual(
      audit.query({ from: t0, limit: 1 }).map((r) => r.what),
      ['ignore zones'],
      'the newest',
    );
    assert.deepEqual(audit.query({ to: t0 }), []);
    assert.equal(index.audit().length, 3, 'the archive index reads the same table');
    index.close();
    audit.close();
    // A new run (a restart) reads the earlier rows back.
    const again = new AuditLog(captureLog().log, dir);
    assert.equal(again.query().length, 3);
    again.close();

    const out = join(tmp, 'export.tar');
    await exportArchive(dir, {}, out);
    const manifest = await tarFile(out, 'manifest.json');
    const m = JSON.parse(manifest) as { audit: { who: string; what: string; new: string }[] };
    assert.deepEqual(
      m.audit.map((r) => r.who),
      ['anna', 'mqtt:scada', 'config-file'],
    );
    assert.deepEqual(JSON.parse(m.audit[1].new), { reject: 3, pixel: 1 });
  });

  test('without the archive: the log line only, this run in memory', () => {
    const { log, lines } = captureLog();
    const audit = new AuditLog(log, undefined);
    assert.equal(audit.persistent, false);
    audit.record(console_, { what: 'thresholds', camera: 'a', old: 1, new: 2 });
    assert.equal(lines().filter((l) => l.audit === true && l.what === 'thresholds').length, 1);
    assert.deepEqual(
      audit.query().map((e) => [e.who, e.old, e.new]),
      [['anna', 1, 2]],
    );
  });
});

/** One file's text from a tar. */
function tarFile(tar: string, name: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const x = extract();
    let found: string | undefined;
    x.on('entry', (h, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: unknown) => void chunks.push(c as Buffer));
      stream.on('end', () => {
        if (h.name === name) found = Buffer.concat(chunks).toString('utf8');
        next();
      });
    });
    x.on('finish', () => (found === undefined ? reject(new Error(`${name} not in ${tar}`)) : resolve(found)));
    x.on('error', reject);
    createReadStream(tar).pipe(x);
  });
}
