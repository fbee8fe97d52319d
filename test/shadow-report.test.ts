// The shadow report's rule and numbers, on hand-made scores (the model side is in reteach.test.ts): safeToPromote
// is false when one confirmed defect would pass or the reject rate would rise, and says why; histograms count
// every part on bins shared by both models; the text table carries the same numbers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  binEdges,
  histogram,
  shadowReport,
  shadowText,
  type ShadowPart,
} from '../src/teach/shadow-report.js';

let n = 0;
function part(
  label: ShadowPart['label'],
  current: number,
  candidate: number,
  inTraining = false,
): ShadowPart {
  n++;
  return {
    id: n,
    key: `k${n}`,
    partId: `P${n}`,
    cameraId: 'cam1',
    decideTime: n,
    label,
    inTraining,
    current,
    candidate,
  };
}

const models = { current: { modelId: 'cur', reject: 0.5 }, candidate: { modelId: 'cand', reject: 0.6 } };
const window = { from: 0, to: 3_600_000 };
const counts = { skipped: 1, currentRescored: 0 };

test('a candidate that passes the false rejects and keeps every defect is safe to promote', () => {
  const parts = [
    part('false-reject', 0.7, 0.3, true),
    part('confirmed-defect', 0.9, 0.8),
    part(null, 0.2, 0.1),
    part(null, 0.55, 0.4),
  ];
  const r = shadowReport(parts, models, window, counts);
  assert.equal(r.safeToPromote, true, r.reasons.join('; '));
  assert.equal(r.current.rejects, 3);
  assert.equal(r.candidate.rejects, 1);
  assert.equal(r.candidate.unseenRejects, 1);
  assert.equal(r.unseen, 3);
  assert.deepEqual(
    r.falseRejectsPassing.map((p) => p.partId),
    [parts[0].partId],
  );
  assert.deepEqual(
    r.changed.map((c) => [c.partId, c.candidateRejects]),
    [
      [parts[0].partId, false],
      [parts[3].partId, false],
    ],
  );
  assert.equal(r.window.hours, 1);
  assert.match(shadowText(r), /safe to promote: yes/);
});

test('one confirmed defect passing, or a rising reject rate, blocks promotion and says why', () => {
  const escape = shadowReport(
    [part('confirmed-defect', 0.9, 0.55), part('false-reject', 0.7, 0.2)],
    models,
    window,
    counts,
  );
  assert.equal(escape.safeToPromote, false);
  assert.equal(escape.defectsEscaping.length, 1);
  assert.match(escape.reasons.join(), /1 confirmed defect\(s\) would pass/);
  assert.match(shadowText(escape), /safe to promote: NO/);

  const rising = shadowReport([part(null, 0.2, 0.7), part(null, 0.2, 0.3)], models, window, counts);
  assert.equal(rising.safeToPromote, false);
  assert.match(rising.reasons.join(), /reject rate would rise \(0\.0 % → 50\.0 %\)/);

  const none = shadowReport([], models, window, counts);
  assert.equal(none.safeToPromote, false, 'nothing scored is no evidence');
});

test('histograms: shared edges up to the largest score or threshold, every part counted once', () => {
  const parts = [part(null, 0, 0.1), part(null, 0.3, 2), part(null, 1.2, 0.6)];
  const edges = binEdges(parts, 0.5, 0.6);
  assert.equal(edges.length, 21);
  assert.equal(edges[0], 0);
  assert.ok(edges[20] >= 2);
  const h = histogram([0, 0.3, 1.2, 2], edges);
  assert.equal(
    h.reduce((a, b) => a + b, 0),
    4,
  );
  assert.equal(h[0], 1);
  assert.equal(h[19], 1, 'the largest value lands in the last bin');
  const r = shadowReport(parts, models, window, counts);
  assert.deepEqual(r.bins, edges);
  assert.equal(
    r.candidate.histogram.reduce((a, b) => a + b, 0),
    3,
  );
});
