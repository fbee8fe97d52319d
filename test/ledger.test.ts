// The part ledger and the trigger correlator on virtual time (rxjs TestScheduler): deadlines and trigger
// windows fire at exactly the right moment, and no part is ever decided twice.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { TestScheduler } from 'rxjs/testing';
import { PartLedger } from '../src/pipeline/ledger.js';
import { PipelineLoad } from '../src/pipeline/pipeline-load.js';
import type { InspectionResult } from '../src/pipeline/result.js';
import { correlateTriggers } from '../src/pipeline/triggers.js';
import type { PartFrame, PartTrigger } from '../src/pipeline/triggers.js';
import type { Inspection, PartRef } from '../src/pipeline/verdict.js';

const log = pino({ level: 'silent' });
const inspection: Inspection = {
  score: 0.1,
  threshold: 0.5,
  pixelThreshold: 0.4,
  verdict: 'ok',
  reason: 'pass',
  blobs: [],
};

function scheduler(): TestScheduler {
  return new TestScheduler((a, e) => assert.deepEqual(a, e));
}

function ledger(
  sched: TestScheduler,
  out: [number, InspectionResult][],
  failSafe: 'reject' | 'ok' = 'reject',
) {
  return new PartLedger({
    deadlineMs: 100,
    failSafe,
    modelId: 'm',
    publish: (r) => out.push([sched.now(), r]),
    log,
    scheduler: sched,
  });
}

const part = (partId: string, captureTime: number, seq: number | null = 1): PartRef => ({
  cameraId: 'c',
  partId,
  seq,
  captureTime,
});

describe('PartLedger', () => {
  test('a real result before the deadline is published once and cancels the timer', () => {
    const s = scheduler();
    const out: [number, InspectionResult][] = [];
    s.run(() => {
      const l = ledger(s, out);
      const p = part('p1', 0);
      l.admit(p);
      s.schedule(() => assert.equal(l.decide(p, inspection), true), 40);
    });
    assert.deepEqual(
      out.map(([t, r]) => [t, r.partId, r.verdict, r.reason, r.latencyMs]),
      [[40, 'p1', 'ok', 'pass', 40]],
    );
  });

  test('the shared load cell follows the parts in the pipeline, and a deadline verdict does not empty it', () => {
    const s = scheduler();
    const load = new PipelineLoad();
    const counted = new PartLedger({
      deadlineMs: 100,
      failSafe: 'reject',
      modelId: 'm',
      publish: () => {},
      log,
      scheduler: s,
      load,
    });
    const seen: number[] = [];
    s.run(() => {
      const [a, b] = [part('a', 0), part('b', 0)];
      counted.admit(a);
      counted.admit(b);
      seen.push(load.parts);
      s.schedule(() => {
        seen.push(load.parts); // b's deadline passed: decided, but its frame is still being inspected
        counted.decide(a, inspection);
        seen.push(load.parts);
        counted.fail(b, 'dropped');
        seen.push(load.parts);
      }, 150);
    });
    assert.deepEqual(seen, [2, 2, 1, 0]);
  });

  test('the deadline publishes the fail-safe at capture + deadlineMs; the late result is counted, not published', () => {
    const s = scheduler();
    const out: [number, InspectionResult][] = [];
    let l!: PartLedger;
    s.run(() => {
      l = ledger(s, out);
      s.schedule(() => {
        const p = part('p1', 5); // captured 5 ms before it entered the pipeline
        l.admit(p);
        s.schedule(() => assert.equal(l.decide(p, inspection), false), 300);
      }, 10);
    });
    assert.deepEqual(
      out.map(([t, r]) => [t, r.verdict, r.reason, r.score, r.latencyMs]),
      [[105, 'reject', 'timeout', null, 100]],
    );
    assert.deepEqual([l.stats.timeouts, l.stats.late, l.stats.published, l.pending], [1, 1, 1, 0]);
  });

  test('a part admitted after its deadline already passed gets the fail-safe at once', () => {
    const s = scheduler();
    const out: [number, InspectionResult][] = [];
    s.run(() => {
      const l = ledger(s, out);
      s.schedule(() => l.admit(part('old', 0)), 250);
    });
    assert.deepEqual(
      out.map(([t, r]) => [t, r.reason]),
      [[250, 'timeout']],
    );
  });

  test('fail: an error verdict at once (ok with failSafe ok); nothing when the deadline already decided', () => {
    for (const failSafe of ['reject', 'ok'] as const) {
      const s = scheduler();
      const out: [number, InspectionResult][] = [];
      s.run(() => {
        const l = ledger(s, out, failSafe);
        const a = part('a', 0);
        const b = part('b', 0);
        l.admit(a);
        l.admit(b);
        s.schedule(() => l.fail(a, 'frame dropped'), 20);
        s.schedule(() => l.fail(b, 'inference failed'), 150);
      });
      assert.deepEqual(
        out.map(([t, r]) => [t, r.partId, r.verdict, r.reason]),
        [
          [20, 'a', failSafe === 'ok' ? 'ok' : 'error', 'error'],
          [100, 'b', failSafe, 'timeout'],
        ],
        failSafe,
      );
    }
  });

  test('a part id already in flight or decided is refused; noFrame for a known id publishes nothing', () => {
    const s = scheduler();
    const out: [number, InspectionResult][] = [];
    let l!: PartLedger;
    s.run(() => {
      l = ledger(s, out);
      const p = part('p', 0);
      assert.equal(l.admit(p), true);
      assert.equal(l.admit(part('p', 1, 2)), false);
      l.decide(p, inspection);
      assert.equal(l.admit(part('p', 2, 3)), false);
      l.noFrame(part('p', 3, null), 'no frame');
      l.noFrame(part('q', 3, null), 'no frame');
    });
    assert.deepEqual(
      out.map(([, r]) => [r.partId, r.reason, r.seq]),
      [
        ['p', 'pass', 1],
        ['q', 'no-frame', null],
      ],
    );
    assert.equal(l.stats.duplicates, 2);
  });
});

describe('correlateTriggers', () => {
  const frame = (seq: number, cameraId = 't'): PartFrame => ({ cameraId, seq, captureTime: 0 });

  function setup(s: TestScheduler, noFrame: [number, string, string][], untriggered: number[]) {
    return {
      windowMs: (id: string) => (id === 't' ? 30 : id === 'u' ? null : null),
      known: (_id: string, part: string) => part === 'old',
      onNoFrame: (t: PartTrigger, detail: string) => noFrame.push([s.now(), t.partId, detail]),
      onUntriggered: (f: PartFrame) => untriggered.push(f.seq),
      log,
      scheduler: s,
      maxPending: 2,
    };
  }

  test('the next frame takes the oldest waiting trigger; a trigger without a frame gives up after its window', () => {
    const s = scheduler();
    const noFrame: [number, string, string][] = [];
    const untriggered: number[] = [];
    s.run(({ hot, expectObservable }) => {
      const trig = (partId: string, time: number): PartTrigger => ({ cameraId: 't', partId, time });
      const triggers = hot('--a-b 40ms c', { a: trig('A', 2), b: trig('B', 4), c: trig('C', 45) });
      const frames = hot('x----y-z 40ms w|', { x: frame(1), y: frame(2), z: frame(3), w: frame(4, 'u') });
      expectObservable(frames.pipe(correlateTriggers(triggers, setup(s, noFrame, untriggered)))).toBe(
        '-----Y-Z 40ms W|',
        {
          Y: { ...frame(2), partId: 'A', pairing: { method: 'order', triggerTime: 2 } },
          Z: { ...frame(3), partId: 'B', pairing: { method: 'order', triggerTime: 4 } },
          W: { ...frame(4, 'u'), partId: 'u-4' },
        },
      );
    });
    assert.deepEqual(untriggered, [1]);
    // C (at 45) never got a frame: the stream ended at 49, before its window (75): given up at the end.
    assert.deepEqual(noFrame, [[49, 'C', 'the stream stopped before a frame came']]);
  });

  test('window expiry, duplicates, unknown cameras and the pending bound', () => {
    const s = scheduler();
    const noFrame: [number, string, string][] = [];
    const accepted: string[] = [];
    s.run(({ hot, expectObservable }) => {
      const t = (cameraId: string, partId: string, time: number): PartTrigger => ({ cameraId, partId, time });
      const triggers = hot('a-bcdef', {
        a: t('t', 'A', 0),
        b: t('t', 'A', 2), // duplicate of a waiting trigger
        c: t('t', 'old', 3), // already decided
        d: t('nope', 'N', 4), // unknown camera
        e: t('t', 'E', 5),
        f: t('t', 'F', 6), // third waiting: A is given up
      });
      const frames = hot<PartFrame>('100ms |');
      const o = { ...setup(s, noFrame, []), onAccepted: (tr: PartTrigger) => accepted.push(tr.partId) };
      expectObservable(frames.pipe(correlateTriggers(triggers, o))).toBe('100ms |');
    });
    // what fires a software-triggered camera: only the triggers that now wait for a frame
    assert.deepEqual(accepted, ['A', 'E', 'F']);
    assert.deepEqual(noFrame, [
      [6, 'A', 'more than 2 triggers waiting for frames'],
      [35, 'E', 'no frame within 30 ms of the trigger'],
      [36, 'F', 'no frame within 30 ms of the trigger'],
    ]);
  });

  test('trigger-token: a frame pairs with the trigger it answers, a lost token fails its part at once, a stale frame pairs with nobody', () => {
    const s = scheduler();
    const noFrame: [number, string, string][] = [];
    const untriggered: number[] = [];
    const tokens: number[] = [];
    s.run(({ hot, expectObservable }) => {
      const trig = (partId: string, time: number): PartTrigger => ({ cameraId: 't', partId, time });
      const triggers = hot('a-b-c', { a: trig('A', 0), b: trig('B', 2), c: trig('C', 4) });
      const ev = (seq: number, trigger?: number): PartFrame => ({
        ...frame(seq),
        evidence: { frameId: 100 + seq, cameraTimestampUs: seq * 1000, trigger },
      });
      // B's frame first (A's is still on its way), then A's loss report, then a frame answering nobody.
      const frames = hot('-----x-y-z|', { x: ev(1, 2), y: ev(2), z: ev(3, 1) });
      const losses = hot('------l', {
        l: { cameraId: 't', token: 1, reason: 'frame-lost' as const, detail: 'frame 101 missing-packets' },
      });
      const o = {
        ...setup(s, noFrame, untriggered),
        maxPending: 8,
        pairing: () => ({ method: 'trigger-token' as const }),
        onAccepted: (t: PartTrigger) => tokens.push(t.token!),
        losses$: losses,
      };
      expectObservable(frames.pipe(correlateTriggers(triggers, o))).toBe('-----X----|', {
        X: {
          ...ev(1, 2),
          partId: 'B',
          pairing: { method: 'trigger-token', triggerTime: 2, frameId: 101, cameraTimestampUs: 1000 },
        },
      });
    });
    assert.deepEqual(tokens, [1, 2, 3]);
    // y answers no trigger; z answers A's token, already given up: neither is a part.
    assert.deepEqual(untriggered, [2, 3]);
    assert.deepEqual(noFrame, [
      [6, 'A', 'frame 101 missing-packets'],
      [10, 'C', 'the stream stopped before a frame came'],
    ]);
  });
});
