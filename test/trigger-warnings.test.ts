// A PLC that floods triggers pinpoint refuses (a camera without trigger.enabled, a part already known) must not
// flood the journal: a bounded number of warning lines, with the count of the suppressed ones.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Subject, VirtualTimeScheduler } from 'rxjs';
import type { PartFrame, PartTrigger } from '../src/pipeline/triggers.js';
import { correlateTriggers } from '../src/pipeline/triggers.js';
import { captureLog } from './helpers/log-capture.js';

describe('refused trigger warnings', () => {
  test('2000 triggers for a camera that takes none log a bounded number of lines', () => {
    const c = captureLog();
    const sched = new VirtualTimeScheduler();
    const triggers = new Subject<PartTrigger>();
    const frames = new Subject<PartFrame>();
    const sub = frames
      .pipe(
        correlateTriggers<PartFrame>(triggers, {
          windowMs: (id) => (id === 'trig' ? 1000 : null),
          known: () => false,
          onNoFrame: () => {},
          log: c.log,
          scheduler: sched,
        }),
      )
      .subscribe();
    // 2000 messages over 40 s of virtual time (one every 20 ms), half of them duplicates of one part.
    for (let i = 0; i < 2000; i++) {
      sched.schedule(() => {
        triggers.next({ cameraId: 'plain', partId: `P${i}`, time: sched.now() });
        triggers.next({ cameraId: 'trig', partId: 'SAME', time: sched.now() });
      }, i * 20);
    }
    sched.flush();
    sub.unsubscribe();
    const warns = c.records().filter((r) => r.level === 'warn');
    const noTrig = warns.filter((r) => /takes no triggers/.test(String(r.msg)));
    const known = warns.filter((r) => /already known/.test(String(r.msg)));
    // 40 s at one line per 10 s each: 4 or 5 lines per kind, not 2000.
    assert.ok(noTrig.length >= 4 && noTrig.length <= 5, `${noTrig.length} lines`);
    assert.ok(known.length >= 4 && known.length <= 5, `${known.length} lines`);
    assert.equal(noTrig[0].camera, 'plain');
    assert.equal(noTrig[0].suppressed, undefined);
    // Nothing is lost from the count: every message is either a line or counted in one.
    const total = noTrig.reduce((n, r) => n + 1 + Number(r.suppressed ?? 0), 0);
    assert.ok(total <= 2000 && total >= 1500, `${total} of 2000 accounted for`);
  });
});
