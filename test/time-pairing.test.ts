// Pairing by time (pipeline/time-pairing.ts): the learned delay and tolerance, the ambiguity rule, and the
// frame-id gaps that tell a lost frame from a missed trigger (16-bit GigE Vision ids skip 0 when they wrap).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LEARN_PAIRS, TriggerDelay, frameGap, triggersNear } from '../src/pipeline/time-pairing.js';

test('frameGap: consecutive ids, gaps, the 16-bit wrap that skips 0, extended ids', () => {
  assert.equal(frameGap(undefined, 7), 0);
  assert.equal(frameGap(7, 8), 0);
  assert.equal(frameGap(7, 10), 2);
  assert.equal(frameGap(65535, 1), 0);
  assert.equal(frameGap(65534, 2), 2); // 65535 and 1 are missing
  assert.equal(frameGap(70000, 70003), 2);
});

test('TriggerDelay: median delay and a tolerance from the spread, robust to one slow first frame', () => {
  const d = new TriggerDelay();
  const deltas = [104, 20, 24, 18, 22, 26, 19, 21];
  assert.equal(LEARN_PAIRS, deltas.length);
  for (const x of deltas.slice(0, -1)) {
    d.add(x);
    assert.equal(d.ready, false);
  }
  d.add(deltas.at(-1)!);
  assert.equal(d.ready, true);
  assert.equal(d.delayMs, 21.5);
  // deviations 0.5 0.5 1.5 2.5 2.5 3.5 4.5 82.5 → median 2.5 → ×3
  assert.equal(d.tolerance, 7.5);
  assert.equal(new TriggerDelay(12).tolerance, 12);
});

test('triggersNear: one trigger within the tolerance pairs; none or several never guess', () => {
  const d = new TriggerDelay(10);
  for (let i = 0; i < LEARN_PAIRS; i++) d.add(30);
  // frame at 1030: trigger at 1000 expects its frame at 1030
  assert.deepEqual(triggersNear(1030, [850, 1000, 1150], d), [1]);
  assert.deepEqual(triggersNear(1080, [850, 1000, 1150], d), []);
  // two triggers 8 ms apart: one picture, two candidates, nearest first
  assert.deepEqual(triggersNear(1032, [996, 1004], d), [1, 0]);
});
