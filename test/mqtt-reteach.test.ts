// The retained `<prefix>/reteach` publisher's rate limit: a burst of progress changes gives one message at once
// and the latest state within a second (trailing), a change of job state goes out at once, nothing is
// published while disconnected, and stop() ends it. The daemon side is in test/reteach-daemon-e2e.test.ts.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MIN_INTERVAL_MS, ReteachPublisher } from '../src/sinks/mqtt-reteach.js';
import { IDLE_RETEACH, type ReteachHandle, type ReteachState } from '../src/sinks/reteach-view.js';

/** A handle whose state the test sets (the real one needs a job process: the e2e test runs that). */
function handle(): ReteachHandle & { emit(p: Partial<ReteachState>): void } {
  let state: ReteachState = IDLE_RETEACH;
  const fns = new Set<(s: ReteachState) => void>();
  return {
    status: () => state,
    start: () => ({ job: 'j' }),
    cancel: () => false,
    promote: () => Promise.reject(new Error('none')),
    onChange: (fn) => {
      fns.add(fn);
      return () => fns.delete(fn);
    },
    emit(p) {
      state = { ...state, ...p };
      for (const fn of fns) fn(state);
    },
  };
}

const step = (n: number): Partial<ReteachState> => ({
  progress: { phase: 'train', step: n, total: 1000, etaSeconds: null, elapsedSeconds: n / 100 },
});

describe('retained re-teach state', () => {
  test('progress at most once a second (latest, trailing); state changes at once', async () => {
    const h = handle();
    const sent: { topic: string; s: ReteachState }[] = [];
    let connected = true;
    const p = new ReteachPublisher(
      h,
      'x/reteach',
      (topic, payload) => sent.push({ topic, s: JSON.parse(payload) as ReteachState }),
      () => connected,
    );
    p.start();
    p.publishNow();
    assert.equal(sent.length, 1);
    h.emit({ state: 'running', job: 'j' });
    assert.equal(sent.length, 2, 'a state change goes out at once');
    for (let i = 1; i <= 200; i++) h.emit(step(i));
    assert.equal(sent.length, 2, 'progress within the interval waits');
    const until = Date.now() + MIN_INTERVAL_MS + 3000; // a loaded host runs the timer late
    while (sent.length < 3 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 200)); // a second trailing message would come at once
    assert.equal(sent.length, 3, 'one trailing message for the burst');
    assert.equal(sent[2].s.progress?.step, 200, 'carrying the latest step');
    assert.ok(sent.every((m) => m.topic === 'x/reteach'));
    connected = false;
    h.emit({ state: 'done' });
    assert.equal(sent.length, 3, 'nothing while disconnected (the connect republishes)');
    connected = true;
    p.publishNow();
    assert.equal(sent.at(-1)!.s.state, 'done');
    p.stop();
    h.emit({ state: 'running' });
    assert.equal(sent.at(-1)!.s.state, 'done', 'stopped: no more messages');
  });
});
