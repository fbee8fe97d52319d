// The engine with a real (tiny, untrained) onnxruntime model, in real time: batching, per-camera order,
// deadlines, drops, triggers, ignore zones, missing thresholds and inference failures.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Subject, from, lastValueFrom, map, timer, toArray, zip } from 'rxjs';
import type { Observable } from 'rxjs';
import { pino } from 'pino';
import { Engine } from '../src/pipeline/engine.js';
import type { EngineCamera, EngineFrame, EngineModel } from '../src/pipeline/engine.js';
import type { InspectionResult } from '../src/pipeline/result.js';
import type { PartTrigger } from '../src/pipeline/triggers.js';
import { Rng } from '../src/util/random.js';
import { tinyModel } from './helpers/tiny-model.js';
import type { TinyModel } from './helpers/tiny-model.js';

const log = pino({ level: 'silent' });

function frame(cameraId: string, seq: number, rng: Rng, w = 64, h = 48, partId?: string): EngineFrame {
  const data = new Uint8Array(w * h * 3);
  for (let i = 0; i < data.length; i++) data[i] = rng.int(0, 255);
  return {
    cameraId,
    seq,
    captureTime: Date.now(),
    partId,
    image: { width: w, height: h, channels: 3, data },
  };
}

/** Frames emitted every `periodMs` (capture time stamped at emission), from factories. */
function paced(makers: (() => EngineFrame)[], periodMs: number): Observable<EngineFrame> {
  return zip(from(makers), timer(0, periodMs)).pipe(
    map(([make]) => ({ ...make(), captureTime: Date.now() })),
  );
}

function camera(over: Partial<EngineCamera> = {}): EngineCamera {
  return {
    queue: { depth: 16, policy: 'drop-oldest' },
    verdict: { thresholds: { reject: 1e9, pixel: 1e9 }, minBlobArea: 1, ignore: [] },
    triggerWindowMs: null,
    ...over,
  };
}

function engine(
  model: EngineModel,
  cams: Record<string, EngineCamera>,
  over: Partial<ConstructorParameters<typeof Engine>[0]> = {},
) {
  return new Engine({
    model,
    cameras: new Map(Object.entries(cams)),
    maxBatch: 4,
    maxWaitMs: 5,
    deadlineMs: 5000,
    failSafe: 'reject',
    log,
    ...over,
  });
}

const collect = (o: Observable<InspectionResult>) => lastValueFrom(o.pipe(toArray()));

describe('engine', () => {
  let model: TinyModel;
  before(async () => {
    model = await tinyModel();
  });
  after(async () => {
    await model.release();
  });

  test('one verdict per frame, batched across cameras, order kept per camera', async () => {
    const rng = new Rng(1);
    const makers: (() => EngineFrame)[] = [];
    for (let i = 0; i < 12; i++) makers.push(() => frame(i % 3 === 0 ? 'b' : 'a', i, rng));
    const calls = model.calls.length;
    const e = engine(model, { a: camera(), b: camera() });
    const results = await collect(e.run(paced(makers, 1)));
    assert.equal(results.length, 12);
    assert.deepEqual(new Set(results.map((r) => r.partId)).size, 12);
    for (const cam of ['a', 'b']) {
      const seqs = results.filter((r) => r.cameraId === cam).map((r) => r.seq!);
      assert.deepEqual(
        seqs,
        [...seqs].sort((x, y) => x - y),
        `order of camera ${cam}`,
      );
    }
    for (const r of results) {
      assert.equal(r.verdict, 'ok');
      assert.equal(r.reason, 'pass');
      assert.ok(Number.isFinite(r.score) && r.score! > 0, `score ${r.score}`);
      assert.equal(r.partId, `${r.cameraId}-${r.seq}`);
      assert.ok(r.latencyMs >= 0 && r.decideTime >= r.captureTime);
    }
    const batches = model.calls.slice(calls);
    assert.equal(
      batches.reduce((s, b) => s + b, 0),
      12,
    );
    assert.ok(batches.length < 12 && Math.max(...batches) <= 4, `batches ${batches}`);
    const s = e.stats();
    assert.equal(s.published, 12);
    assert.equal(s.cameras.a.frames + s.cameras.b.frames, 12);
    assert.equal(e.pending, 0);
  });

  test('verdicts follow the thresholds; scores are those of the frame alone', async () => {
    const rng = new Rng(2);
    const frames = Array.from({ length: 6 }, (_, i) => frame('a', i, rng));
    const probe = await collect(engine(model, { a: camera() }).run(from(frames)));
    const scores = probe.map((r) => r.score!);
    const mid = [...scores].sort((x, y) => x - y)[2];
    // Same frames, now in batches of other sizes: the scores must not depend on the batch neighbours.
    const cams = {
      a: camera({ verdict: { thresholds: { reject: mid, pixel: 0 }, minBlobArea: 1, ignore: [] } }),
    };
    const res = await collect(
      engine(model, cams, { maxBatch: 3 }).run(
        paced(
          frames.map((f) => () => f),
          2,
        ),
      ),
    );
    for (const r of res) {
      const s0 = scores[r.seq!];
      assert.ok(Math.abs(r.score! - s0) <= 1e-5 * s0, `seq ${r.seq}: ${r.score} vs ${s0}`);
      assert.equal(r.verdict, r.score! > mid ? 'reject' : 'ok');
      assert.equal(r.threshold, mid);
      // pixel threshold 0: the whole frame is one blob
      assert.equal(r.blobs.length, 1);
      assert.deepEqual(r.blobs[0].box, { x: 0, y: 0, width: 64, height: 48 });
    }
  });

  test('an ignore zone over the whole frame scores 0: ok, no blobs', async () => {
    const cams = {
      a: camera({
        verdict: {
          thresholds: { reject: 1e-9, pixel: 1e-9 },
          minBlobArea: 1,
          ignore: [
            [
              [0, 0],
              [64, 0],
              [64, 48],
              [0, 48],
            ],
          ],
        },
      }),
    };
    const [r] = await collect(engine(model, cams).run(from([frame('a', 1, new Rng(3))])));
    assert.equal(r.score, 0);
    assert.equal(r.verdict, 'ok');
    assert.deepEqual(r.blobs, []);
  });

  test('without thresholds every part gets the error verdict, and inference is not run', async () => {
    const calls = model.calls.length;
    const cams = { a: camera({ verdict: { thresholds: null, minBlobArea: 1, ignore: [] } }) };
    const res = await collect(
      engine(model, cams).run(from([frame('a', 1, new Rng(4)), frame('a', 2, new Rng(5))])),
    );
    assert.deepEqual(
      res.map((r) => [r.verdict, r.reason, r.score]),
      [
        ['error', 'error', null],
        ['error', 'error', null],
      ],
    );
    assert.match(res[0].detail!, /threshold/);
    assert.equal(model.calls.length, calls);
  });

  test('a failed inference gives its frames the error verdict and the engine carries on', async () => {
    const failing = await tinyModel({ failOn: (n) => n === 1 });
    try {
      const rng = new Rng(6);
      const makers = Array.from({ length: 6 }, (_, i) => () => frame('a', i, rng));
      const e = engine(failing, { a: camera() }, { maxBatch: 2, maxWaitMs: 50 });
      const res = await collect(e.run(paced(makers, 1)));
      assert.equal(res.length, 6);
      const errs = res.filter((r) => r.verdict === 'error');
      assert.ok(errs.length >= 1 && errs.length <= 2, `${errs.length} errors`);
      assert.match(errs[0].detail!, /inference failed: injected/);
      assert.equal(res.filter((r) => r.verdict === 'ok').length, 6 - errs.length);
      assert.equal(e.stats().inferErrors, 1);
    } finally {
      await failing.release();
    }
  });

  test('slow inference: the fail-safe verdict comes on time, the late result is not published', async () => {
    const slow = await tinyModel({ delayMs: 400 });
    try {
      const rng = new Rng(7);
      const makers = Array.from({ length: 4 }, (_, i) => () => frame('a', i, rng));
      const e = engine(
        slow,
        { a: camera() },
        { deadlineMs: 150, maxBatch: 1, maxWaitMs: 0, failSafe: 'reject' },
      );
      const arrivals: number[] = [];
      const res = await collect(e.run(paced(makers, 20)).pipe(map((r) => (arrivals.push(Date.now()), r))));
      assert.equal(res.length, 4);
      assert.deepEqual(new Set(res.map((r) => r.partId)).size, 4);
      res.forEach((r, i) => {
        assert.equal(r.verdict, 'reject');
        assert.equal(r.reason, 'timeout');
        assert.equal(r.score, null);
        // On time: well before the 400-ms inference could have answered (a timer may fire a ms early by
        // Date.now; a loaded host may run it a little late).
        const late = arrivals[i] - r.captureTime - 150;
        assert.ok(late >= -2 && late <= 200, `published ${late} ms after the deadline`);
      });
      const s = e.stats();
      assert.equal(s.timeouts, 4);
      assert.equal(s.late, 4, 'every real result came late and was counted');
    } finally {
      await slow.release();
    }
  });

  test('a full queue drops frames by policy; each dropped part still gets one (error) verdict', async () => {
    const slow = await tinyModel({ delayMs: 60 });
    try {
      const rng = new Rng(8);
      const frames = Array.from({ length: 10 }, (_, i) => frame('a', i, rng));
      const cams = { a: camera({ queue: { depth: 1, policy: 'drop-newest' } }) };
      const e = engine(slow, cams, { maxBatch: 1, maxWaitMs: 0 });
      const res = await collect(e.run(from(frames)));
      assert.equal(res.length, 10);
      const dropped = res.filter((r) => r.reason === 'error');
      assert.ok(dropped.length >= 5, `${dropped.length} dropped`);
      assert.match(dropped[0].detail!, /dropped/);
      assert.equal(e.stats().cameras.a.dropped, dropped.length);
      // drop-newest keeps the first frames: the inspected ones are the lowest sequence numbers
      const inspected = res.filter((r) => r.reason === 'pass').map((r) => r.seq!);
      assert.deepEqual(
        inspected,
        inspected.map((_, i) => i),
      );
    } finally {
      await slow.release();
    }
  });

  test('triggers name parts; a trigger without a frame gets no-frame; stray frames and cameras are ignored', async () => {
    const rng = new Rng(9);
    const triggers = new Subject<PartTrigger>();
    const frames = new Subject<EngineFrame>();
    const cams = { t: camera({ triggerWindowMs: 300 }), u: camera() };
    const e = engine(model, cams);
    const got: InspectionResult[] = [];
    const done = new Promise<void>((resolve) =>
      e.run(frames, triggers).subscribe({ next: (r) => got.push(r), complete: resolve }),
    );
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    const now = Date.now;
    frames.next(frame('t', 1, rng)); // no trigger waiting: not a part
    triggers.next({ cameraId: 'nope', partId: 'X', time: now() }); // unknown camera
    triggers.next({ cameraId: 'u', partId: 'Y', time: now() }); // camera without triggers
    triggers.next({ cameraId: 't', partId: 'P1', time: now() });
    triggers.next({ cameraId: 't', partId: 'P1', time: now() }); // duplicate
    triggers.next({ cameraId: 't', partId: 'P2', time: now() });
    await sleep(10);
    frames.next(frame('t', 2, rng));
    frames.next(frame('t', 3, rng));
    frames.next(frame('u', 4, rng, 64, 48, 'U-own-id'));
    const t3 = now();
    triggers.next({ cameraId: 't', partId: 'P3', time: t3 }); // never gets a frame
    frames.next({ ...frame('zz', 5, rng) }); // unconfigured camera
    await sleep(800);
    frames.complete();
    await done;
    const by = new Map(got.map((r) => [r.partId, r]));
    assert.deepEqual([...by.keys()].sort(), ['P1', 'P2', 'P3', 'U-own-id']);
    assert.equal(got.length, 4);
    assert.equal(by.get('P1')!.seq, 2);
    assert.equal(by.get('P2')!.seq, 3);
    assert.equal(by.get('P1')!.reason, 'pass');
    const p3 = by.get('P3')!;
    assert.deepEqual([p3.verdict, p3.reason, p3.seq], ['reject', 'no-frame', null]);
    assert.ok(
      p3.decideTime - t3 >= 299 && p3.decideTime - t3 <= 600,
      `no-frame after ${p3.decideTime - t3} ms`,
    );
    const s = e.stats();
    assert.equal(s.cameras.t.untriggered, 1);
    assert.equal(s.unknownCamera, 1);
    assert.equal(s.noFrame, 1);
  });

  test('a source part id seen twice is refused, not decided twice', async () => {
    const rng = new Rng(10);
    const res = await collect(
      engine(model, { a: camera() }).run(
        from([frame('a', 1, rng, 64, 48, 'same'), frame('a', 2, rng, 64, 48, 'same')]),
      ),
    );
    assert.equal(res.length, 1);
    assert.equal(res[0].seq, 1);
  });
});
