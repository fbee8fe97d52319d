// Exact part ↔ frame pairing on a triggered GigE camera (issue 17), against Aravis's fake camera dropping a
// share of its stream packets for real (its --gvsp-lost-ratio: the packets are never sent). The camera child
// (gige-runner.py) and the engine's correlation (correlateTriggers) run as in the daemon; only inference is
// left out. What proves a pairing right does not come from the code under test:
//   - the fake camera paints (x + y + frame id) mod 255, so the image's first pixel names its frame id;
//   - its timestamps are the host's real-time clock, so a part's picture is never older than its trigger;
//   - it numbers every frame it sends, so between two delivered parts exactly as many frame ids are missing
//     as parts in between were reported `frame-lost` (a `trigger-missed` part took no picture; a `no-frame`
//     part, or a `trigger-missed` one paired by timestamp, may or may not have). One shifted pairing breaks
//     that count.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Subject } from 'rxjs';
import { pino } from 'pino';
import { cameraSchema } from '../src/config/schema.js';
import { sourcePlugin } from '../src/sources/registry.js';
import type { Frame, SourceState } from '../src/sources/types.js';
import { correlateTriggers } from '../src/pipeline/triggers.js';
import type {
  NoFrameReason,
  PairingEvidence,
  PairingMethod,
  PartTrigger,
  TriggerLoss,
} from '../src/pipeline/triggers.js';
import { frameGap } from '../src/pipeline/time-pairing.js';
import { startFakeCamera, type FakeCamera } from './helpers/fake-camera.js';

const log = pino({ level: 'silent' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const gige = sourcePlugin('gige')!;
const LOSS_PER_THOUSAND = 70; // 7 % of the packets: with 4 packets a frame, about a quarter of the frames

let cam: FakeCamera;
before(async () => {
  cam = await startFakeCamera('PPPAIR', { lostPerThousand: LOSS_PER_THOUSAND });
});
after(async () => {
  await cam?.kill();
});

interface LineOptions {
  method: Extract<PairingMethod, 'trigger-token' | 'timestamp'>;
  parts: number;
  gapMs: number;
  windowMs: number;
  /** Added to each trigger's receive time, uniform in ±jitterMs (the PLC message's transit). */
  jitterMs?: number;
}

interface Line {
  /** partId → the token its trigger got and when the camera was fired for it. */
  fired: Map<string, { token: number; at: number }>;
  paired: Map<string, Frame>;
  lost: Map<string, { reason: NoFrameReason; detail: string }>;
  /** frame id → the software trigger it answered (the runner's evidence, hidden from timestamp pairing). */
  answered: Map<number, number>;
  untriggered: number;
}

/** One line run: N part messages, the camera fired per accepted trigger, frames paired by `method`. */
async function runLine(o: LineOptions): Promise<Line> {
  const line: Line = {
    fired: new Map(),
    paired: new Map(),
    lost: new Map(),
    answered: new Map(),
    untriggered: 0,
  };
  const cfg = cameraSchema.parse({
    type: 'gige',
    device: cam.device,
    packetSize: 8192,
    softwareTrigger: true,
    trigger: { enabled: true, windowMs: o.windowMs },
    features: { Width: 256, Height: 64 }, // 16 KiB: leader, 2 data packets, trailer
  });
  assert.equal(cfg.type, 'gige');
  const fire = new Subject<number>();
  const losses = new Subject<TriggerLoss>();
  const triggers = new Subject<PartTrigger>();
  let state: SourceState | null = null;
  const frames$ = gige.create('cam', cfg as Extract<typeof cfg, { type: 'gige' }>, {
    log,
    configDir: '.',
    onState: (s) => (state = s),
    softwareTrigger$: fire,
    onTriggerLost: (token, reason, detail) => losses.next({ cameraId: 'cam', token, reason, detail }),
  });
  const hide = (f: Frame): Frame => {
    // Pairing by timestamp must not see which trigger a frame answers: that is the answer key.
    if (o.method !== 'timestamp' || f.evidence?.trigger === undefined) return f;
    line.answered.set(f.evidence.frameId, f.evidence.trigger);
    const { trigger: _, ...evidence } = f.evidence;
    return { ...f, evidence };
  };
  const sub = new Subject<Frame>();
  const srcSub = frames$.subscribe((f) => sub.next(hide(f)));
  const outSub = sub
    .pipe(
      correlateTriggers<Frame>(triggers, {
        windowMs: () => o.windowMs,
        pairing: () => ({ method: o.method }),
        known: () => false,
        onNoFrame: (t, detail, reason) => line.lost.set(t.partId, { reason, detail }),
        onUntriggered: () => line.untriggered++,
        onAccepted: (t) => {
          line.fired.set(t.partId, { token: t.token!, at: Date.now() });
          fire.next(t.token!);
        },
        // A hardware trigger's camera reports nothing per trigger: timestamp pairing gets no losses.
        losses$: o.method === 'trigger-token' ? losses : undefined,
        log,
      }),
    )
    .subscribe((f) => line.paired.set(f.partId!, f));
  try {
    const end = Date.now() + 15000;
    while (state !== 'streaming' && Date.now() < end) await sleep(20);
    assert.equal(state, 'streaming');
    const jitter = o.jitterMs ?? 0;
    for (let i = 1; i <= o.parts; i++) {
      const time = Date.now() + (Math.random() * 2 - 1) * jitter;
      triggers.next({ cameraId: 'cam', partId: `P-${i}`, time });
      await sleep(o.gapMs);
    }
    await sleep(o.windowMs + 500);
  } finally {
    outSub.unsubscribe();
    srcSub.unsubscribe();
  }
  return line;
}

/** The checks every run must pass: each part decided once, every pairing proven by the camera itself. */
function assertExact(line: Line, o: LineOptions): void {
  const ids = [...Array(o.parts).keys()].map((i) => `P-${i + 1}`);
  for (const id of ids)
    assert.equal(Number(line.paired.has(id)) + Number(line.lost.has(id)), 1, `${id}: one frame or one loss`);
  for (const [id, f] of line.paired) {
    const e = f.evidence!;
    assert.equal(f.image.data[0], e.frameId % 255, `${id}: the image is camera frame ${e.frameId}`);
    const fired = line.fired.get(id)!;
    // Real-time clock on both sides; 2 ms for the clocks' reading order.
    assert.ok(e.cameraTimestampUs / 1000 >= fired.at - 2, `${id}: picture taken before its trigger`);
    if (o.method === 'trigger-token') assert.equal(e.trigger, fired.token, `${id}: answers its own trigger`);
    else
      assert.equal(line.answered.get(e.frameId), fired.token, `${id}: frame ${e.frameId} is its trigger's`);
    const { pairing } = f as Frame & { pairing?: PairingEvidence };
    assert.equal(pairing?.method, o.method);
    assert.equal(pairing?.frameId, e.frameId);
  }
  // Frame-id accounting between consecutive delivered parts.
  let last: { id: string; frameId: number } | null = null;
  let lost = 0;
  let unknown = 0;
  for (const id of ids) {
    const f = line.paired.get(id);
    if (!f) {
      const reason = line.lost.get(id)!.reason;
      if (reason === 'frame-lost') lost++;
      // Pairing by timestamp cannot always tell a missed trigger from a frame that came too late to pair.
      if (reason === 'no-frame' || (o.method === 'timestamp' && reason === 'trigger-missed')) unknown++;
      continue;
    }
    const frameId = f.evidence!.frameId;
    if (last) {
      const gap = frameGap(last.frameId, frameId);
      const what = `${last.id} (frame ${last.frameId}) → ${id} (frame ${frameId}): ${lost} frame-lost, ${unknown} no-frame`;
      assert.ok(gap >= lost && gap <= lost + unknown, what);
    }
    last = { id, frameId };
    lost = 0;
    unknown = 0;
  }
}

function summary(line: Line): string {
  const reasons: Record<string, number> = {};
  for (const l of line.lost.values()) reasons[l.reason] = (reasons[l.reason] ?? 0) + 1;
  return `paired ${line.paired.size}, lost ${JSON.stringify(reasons)}, untriggered ${line.untriggered}`;
}

test('software trigger, 7 % packet loss, 220 parts 110 ms apart (a 1 s window holds 9): every pairing exact', async () => {
  const o: LineOptions = { method: 'trigger-token', parts: 220, gapMs: 110, windowMs: 1000 };
  const line = await runLine(o);
  console.log(`trigger-token: ${summary(line)}`);
  assertExact(line, o);
  const reasons = [...line.lost.values()].map((l) => l.reason);
  assert.ok(reasons.filter((r) => r === 'frame-lost').length >= 10, summary(line));
  // Enough pairings for the exactness above to mean something: ~150 on a quiet host, 130 under load.
  assert.ok(line.paired.size >= 50, summary(line));
  assert.ok(!reasons.includes('no-frame'), `every loss has its precise reason: ${summary(line)}`);
});

test('software triggers faster than the camera takes pictures (12 ms apart, its trigger grid is 40 ms): missed ones are reported, none shifts', async () => {
  // 160 triggers: answered ones are ~1 in 4 when the host is quiet, fewer under load; the paired floor below
  // keeps its margin (80 gave 7 paired once on a quiet CI-like run).
  const o: LineOptions = { method: 'trigger-token', parts: 160, gapMs: 12, windowMs: 1000 };
  const line = await runLine(o);
  console.log(`fast triggers: ${summary(line)}`);
  assertExact(line, o);
  const missed = [...line.lost.values()].filter((l) => l.reason === 'trigger-missed');
  assert.ok(missed.length >= 20, summary(line));
  assert.match(missed[0].detail, /camera busy/);
  assert.ok(line.paired.size >= 10, summary(line));
});

test('hardware trigger (paired by timestamp), ±5 ms jitter on the trigger times, 7 % packet loss: every pairing exact', async () => {
  const o: LineOptions = { method: 'timestamp', parts: 200, gapMs: 130, windowMs: 1000, jitterMs: 5 };
  const line = await runLine(o);
  console.log(`timestamp: ${summary(line)}`);
  assertExact(line, o);
  const reasons = [...line.lost.values()].map((l) => l.reason);
  assert.ok(reasons.filter((r) => r === 'frame-lost').length >= 10, summary(line));
  // Enough pairings for the exactness above to mean something: ~120 on a quiet host; 74 once with two other
  // test runs on the same 2 cores (frames late past the window are no-frame, then untriggered).
  assert.ok(line.paired.size >= 50, summary(line));
});
