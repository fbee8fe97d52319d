// The console's per-shift counts: hourly buckets per camera summed over the last `hours` hours, exact at hour
// boundaries, memory fixed whatever the rate, late verdicts of the previous hour counted in their own hour.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { InspectionResult } from '../src/pipeline/result.js';
import { ShiftCounters } from '../src/sinks/web/shift-counters.js';

const H = 3_600_000;
const T0 = 1000 * H; // an hour boundary

function result(cameraId: string, decideTime: number, verdict: InspectionResult['verdict'], reason: string) {
  return { cameraId, decideTime, verdict, reason } as InspectionResult;
}

test('sums per camera over the last hours; fail-safe counted by verdict and apart; yield = ok / parts', () => {
  let now = T0 + 30 * 60_000;
  const c = new ShiftCounters(2, () => now);
  c.record(result('a', T0 - H + 5, 'ok', 'pass')); // the previous hour: inside a 2 h window
  c.record(result('a', T0 + 1, 'reject', 'score'));
  c.record(result('a', T0 + 2, 'reject', 'timeout'));
  c.record(result('a', T0 + 3, 'ok', 'pass'));
  c.record(result('b', T0 + 4, 'error', 'error'));
  assert.deepEqual(c.window(), {
    a: { parts: 4, ok: 2, reject: 2, error: 0, failSafe: 1, yield: 0.5 },
    b: { parts: 1, ok: 0, reject: 0, error: 1, failSafe: 1, yield: 0 },
  });
  now = T0 + H + 1; // the previous hour's bucket leaves the window
  assert.deepEqual(c.window().a, { parts: 3, ok: 1, reject: 2, error: 0, failSafe: 1, yield: 1 / 3 });
  now = T0 + 3 * H;
  assert.deepEqual(c.window().a, { parts: 0, ok: 0, reject: 0, error: 0, failSafe: 0, yield: null });
});

test('a late verdict of the previous hour goes to its own bucket; one older than the buckets is not counted', () => {
  const now = T0 + 10;
  const c = new ShiftCounters(1, () => now);
  c.record(result('a', T0 - 10, 'ok', 'pass'));
  c.record(result('a', T0 + 5, 'ok', 'pass'));
  c.record(result('a', T0 - 5, 'reject', 'score')); // decided before the boundary, recorded after
  assert.deepEqual(c.window().a, { parts: 1, ok: 1, reject: 0, error: 0, failSafe: 0, yield: 1 });
  c.record(result('a', T0 - 5 * H, 'reject', 'score')); // older than every bucket kept
  assert.deepEqual(c.window().a.parts, 1);
});

test('memory is fixed: at most `hours` buckets per camera after days of parts', () => {
  const c = new ShiftCounters(3, () => T0 + 99 * H + 1); // the hour of the last part
  for (let i = 0; i < 100 * 60; i++) c.record(result('a', T0 + i * 60_000, 'ok', 'pass'));
  const buckets = (c as unknown as { cams: Map<string, unknown[]> }).cams.get('a')!;
  assert.equal(buckets.length, 3);
  assert.equal(c.window().a.parts, 3 * 60);
});
