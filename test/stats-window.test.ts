// The periodic stats line's numbers and text (pure: verdicts and engine counters in, one interval out).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { InspectionResult, Verdict, VerdictReason } from '../src/pipeline/result.js';
import type { EngineStats } from '../src/pipeline/engine.js';
import { createStatsLog } from '../src/sinks/stats-log.js';
import { StatsWindow, formatStatsLine, idle } from '../src/sinks/stats-window.js';
import { captureLog } from './helpers/log-capture.js';

function result(
  cameraId: string,
  verdict: Verdict,
  reason: VerdictReason,
  latencyMs: number,
): InspectionResult {
  return {
    version: 1,
    cameraId,
    partId: `${cameraId}-x`,
    seq: reason === 'no-frame' ? null : 1,
    captureTime: 0,
    decideTime: latencyMs,
    latencyMs,
    score: null,
    threshold: null,
    verdict,
    reason,
    blobs: [],
    modelId: 'm',
  };
}

const counts = (frames: number, dropped = 0, untriggered = 0) => ({ frames, dropped, untriggered });

describe('stats window', () => {
  test('parts by verdict, fail-safe causes, drops and fps since the last line; latency p50/p99', () => {
    const w = new StatsWindow({ top: counts(5, 1), side: counts(0) }, 1000);
    for (let i = 1; i <= 100; i++)
      w.add(result('top', i <= 97 ? 'ok' : 'reject', i <= 97 ? 'pass' : 'score', i));
    w.add(result('side', 'reject', 'timeout', 2000));
    w.add(result('side', 'reject', 'no-frame', 250));
    w.add(result('side', 'error', 'error', 30));
    const s = w.take({ top: counts(105, 3), side: counts(2, 0, 4) }, 11000);
    assert.equal(s.seconds, 10);
    assert.deepEqual(s.cameras.top, {
      parts: 100,
      ok: 97,
      reject: 3,
      error: 0,
      timeouts: 0,
      noFrame: 0,
      dropped: 2,
      untriggered: 0,
      fps: 10,
      latencyP50Ms: 50.5,
      latencyP99Ms: 99,
    });
    // No-frame verdicts have no frame: their latency is the trigger window, not the pipeline's.
    assert.deepEqual(
      [s.cameras.side.parts, s.cameras.side.timeouts, s.cameras.side.noFrame, s.cameras.side.fps],
      [3, 1, 1, 0.6],
    );
    assert.deepEqual([s.cameras.side.latencyP50Ms, s.cameras.side.latencyP99Ms], [1015, 1980.3]);
    assert.equal(
      formatStatsLine(s),
      'last 10 s: side 0 ok, 2 reject, 1 error (1 timeout, 1 no-frame), 0.6 fps, 0 dropped, 4 without trigger, ' +
        'latency p50 1015 ms p99 1980 ms; ' +
        'top 97 ok, 3 reject, 0 error, 10.0 fps, 2 dropped, latency p50 51 ms p99 99 ms',
    );
  });

  test('the next interval starts empty; a quiet one is idle and says so', () => {
    const w = new StatsWindow({ top: counts(0) }, 0);
    w.add(result('top', 'ok', 'pass', 4.25));
    assert.equal(
      formatStatsLine(w.take({ top: counts(1) }, 2000)),
      'last 2.0 s: top 1 ok, 0 reject, 0 error, 0.5 fps, 0 dropped, latency p50 4.3 ms p99 4.3 ms',
    );
    const quiet = w.take({ top: counts(1) }, 62000);
    assert.ok(idle(quiet));
    assert.equal(
      formatStatsLine(quiet),
      'last 60 s: top 0 ok, 0 reject, 0 error, 0.0 fps, 0 dropped, latency -',
    );
  });

  test('latency samples stay bounded under a flood (a uniform sample is kept)', () => {
    const w = new StatsWindow({ top: counts(0) }, 0);
    for (let i = 0; i < 100000; i++) w.add(result('top', 'ok', 'pass', i % 100));
    const s = w.take({ top: counts(100000) }, 1000);
    assert.equal(s.cameras.top.parts, 100000);
    assert.ok(Math.abs(s.cameras.top.latencyP50Ms! - 50) <= 5, String(s.cameras.top.latencyP50Ms));
    assert.ok(s.cameras.top.latencyP99Ms! >= 95, String(s.cameras.top.latencyP99Ms));
  });
});

describe('stats log', () => {
  const engine = (frames: number) => () => ({ cameras: { top: counts(frames) } }) as unknown as EngineStats;

  test('an idle interval writes nothing; the partial interval is written at stop', async () => {
    const c = captureLog({ level: 'info' });
    let frames = 0;
    const sink = createStatsLog({ log: c.log, intervalSec: 1, engineStats: () => engine(frames)() });
    await sink.start();
    await new Promise((r) => setTimeout(r, 1500));
    assert.deepEqual(c.records(), [], 'idle: no stats line');
    frames = 1;
    sink.result(result('top', 'reject', 'score', 12));
    await sink.stop();
    const lines = c.records();
    assert.equal(lines.length, 1);
    assert.match(String(lines[0].msg), /top 0 ok, 1 reject, 0 error/);
    assert.equal(lines.filter((r) => r.msg === 'decision').length, 0, 'decisions only at debug');
  });

  test('interval 0: no stats lines, decisions still at debug', async () => {
    const c = captureLog({ level: 'debug' });
    const sink = createStatsLog({ log: c.log, intervalSec: 0, engineStats: engine(1) });
    await sink.start();
    sink.result(result('top', 'ok', 'pass', 8.4));
    await sink.stop();
    assert.deepEqual(
      c.records().map((r) => [r.level, r.msg, r.camera, r.verdict, r.reason, r.latencyMs]),
      [['debug', 'decision', 'top', 'ok', 'pass', 8]],
    );
  });
});
