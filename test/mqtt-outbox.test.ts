// The MQTT sink's pure parts: the on-disk outbox, trigger parsing, reconnect backoff, log throttling.
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { backoffDelay } from '../src/sinks/mqtt-backoff.js';
import { Outbox } from '../src/sinks/mqtt-outbox.js';
import { parseTrigger } from '../src/sinks/mqtt-trigger.js';
import { createLogThrottle } from '../src/util/log-throttle.js';
import { createLogger } from '../src/util/log.js';

const log = createLogger({ level: 'silent' });

function capture(): { log: ReturnType<typeof createLogger>; lines: () => Record<string, unknown>[] } {
  const chunks: string[] = [];
  const dest = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString());
      cb();
    },
  });
  const l = createLogger({ level: 'debug', pretty: 'never', destination: dest });
  return {
    log: l,
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter(Boolean)
        .map((s) => JSON.parse(s) as Record<string, unknown>),
  };
}

const tmp = (): string => mkdtempSync(join(tmpdir(), 'pinpoint-outbox-'));

interface Item {
  n: number;
  text?: string;
}

function drain(o: Outbox<Item>): number[] {
  const out: number[] = [];
  for (let e = o.next(); e; e = o.next()) {
    out.push(e.item.n);
    o.ack(e.seq);
  }
  return out;
}

describe('outbox', () => {
  test('hands records out in order, tracks waiting / in flight, and forgets acknowledged ones', () => {
    const o = new Outbox<Item>({ dir: tmp(), maxMessages: 100, log });
    for (let n = 0; n < 5; n++) assert.equal(o.append({ n }), 0);
    assert.deepEqual([o.waiting, o.inFlight, o.size], [5, 0, 5]);
    const a = o.next();
    const b = o.next();
    assert.deepEqual([a?.item.n, b?.item.n], [0, 1]);
    assert.deepEqual([o.waiting, o.inFlight, o.size], [3, 2, 5]);
    o.ack(b?.seq ?? -1);
    o.ack(b?.seq ?? -1); // a repeated ack is harmless
    assert.deepEqual([o.waiting, o.inFlight, o.size], [3, 1, 4]);
    o.ack(a?.seq ?? -1);
    assert.deepEqual(drain(o), [2, 3, 4]);
    assert.equal(o.size, 0);
    assert.equal(o.next(), undefined);
    o.close();
  });

  test('survives a restart: unacknowledged records (in flight ones included) come back, in order', () => {
    const dir = tmp();
    const o1 = new Outbox<Item>({ dir, maxMessages: 100, log });
    for (let n = 0; n < 6; n++) o1.append({ n });
    const e0 = o1.next();
    const e1 = o1.next();
    o1.next(); // in flight at the "crash": sent again (at-least-once)
    o1.ack(e0?.seq ?? -1);
    o1.ack(e1?.seq ?? -1);
    // No close(): a crash leaves the files as they are.
    const o2 = new Outbox<Item>({ dir, maxMessages: 100, log });
    assert.equal(o2.size, 4);
    o2.append({ n: 6 });
    assert.deepEqual(drain(o2), [2, 3, 4, 5, 6]);
    o2.close();
    const o3 = new Outbox<Item>({ dir, maxMessages: 100, log });
    assert.equal(o3.size, 0);
    o3.append({ n: 7 });
    const e = o3.next();
    assert.equal(e?.item.n, 7);
    assert.ok((e?.seq ?? 0) > 7, 'sequence numbers keep counting up across restarts');
    o3.close();
  });

  test('overflow: at most maxMessages wait (in flight ones on top); the oldest waiting are dropped, counted', () => {
    const dir = tmp();
    const o = new Outbox<Item>({ dir, maxMessages: 4, log });
    for (let n = 0; n < 3; n++) o.append({ n });
    const first = o.next(); // n = 0 in flight
    let dropped = 0;
    for (let n = 3; n < 10; n++) dropped += o.append({ n });
    assert.equal(dropped, 5);
    assert.equal(o.dropped, 5);
    assert.deepEqual([o.size, o.inFlight, o.waiting], [5, 1, 4]);
    o.ack(first?.seq ?? -1);
    assert.deepEqual(drain(o), [6, 7, 8, 9]);
    o.close();
    // The drops are persisted as acknowledged: nothing comes back.
    const again = new Outbox<Item>({ dir, maxMessages: 4, log });
    assert.equal(again.size, 0);
    again.close();
  });

  test('rolls segments and deletes fully acknowledged ones', () => {
    const dir = tmp();
    const o = new Outbox<Item>({ dir, maxMessages: 1000, segmentRecords: 4, log });
    for (let n = 0; n < 10; n++) o.append({ n });
    const segs = (): string[] => readdirSync(dir).filter((f) => f.endsWith('.jsonl'));
    assert.equal(segs().length, 3);
    const got: number[] = [];
    for (let i = 0; i < 5; i++) {
      const e = o.next();
      got.push(e?.item.n ?? -1);
      o.ack(e?.seq ?? -1);
    }
    assert.deepEqual(got, [0, 1, 2, 3, 4]);
    assert.equal(segs().length, 2, 'the first segment (0-3) is gone');
    assert.deepEqual(drain(o), [5, 6, 7, 8, 9]);
    assert.deepEqual(segs().length, 1, 'only the segment being written stays');
    o.close();
  });

  test('a torn last record (crash mid-write) is truncated; records longer than a read chunk work', () => {
    const dir = tmp();
    const big = 'x'.repeat(200_000);
    const o = new Outbox<Item>({ dir, maxMessages: 100, log });
    o.append({ n: 0 });
    o.append({ n: 1, text: big });
    o.append({ n: 2 });
    o.close();
    const seg = readdirSync(dir).find((f) => f.endsWith('.jsonl')) ?? '';
    appendFileSync(join(dir, seg), '{"seq":4,"item":{"n":3');
    const c = capture();
    const o2 = new Outbox<Item>({ dir, maxMessages: 100, log: c.log });
    assert.ok(c.lines().some((l) => /torn last record/.test(String(l.msg))));
    const e = [o2.next(), o2.next(), o2.next()];
    assert.deepEqual(
      e.map((x) => x?.item.n),
      [0, 1, 2],
    );
    assert.equal(e[1]?.item.text?.length, big.length);
    o2.append({ n: 3 });
    assert.equal(o2.next()?.item.n, 3);
    o2.close();
    assert.ok(readFileSync(join(dir, seg), 'utf8').endsWith('\n'));
  });

  test('out-of-order acks: acknowledged-through only advances over a contiguous prefix', () => {
    const dir = tmp();
    const o = new Outbox<Item>({ dir, maxMessages: 100, log });
    for (let n = 0; n < 3; n++) o.append({ n });
    const [a, b] = [o.next(), o.next()];
    o.ack(b?.seq ?? -1);
    assert.equal(o.size, 2);
    o.close();
    // a was never acknowledged, so after a restart both a and b come back (b again: at-least-once).
    const o2 = new Outbox<Item>({ dir, maxMessages: 100, log });
    assert.deepEqual(drain(o2), [0, 1, 2]);
    o2.close();
    void a;
  });
});

describe('trigger payloads', () => {
  const cams = new Set(['cam1', 'cam2']);
  const parse = (topic: string, payload: string | Uint8Array) =>
    parseTrigger('p/line', topic, typeof payload === 'string' ? Buffer.from(payload) : payload, cams, 1000);

  test('per-camera and shared topics; numeric part ids; the sender time rides along', () => {
    assert.deepEqual(parse('p/line/cam1/trigger', '{"partId":"A-1"}'), {
      ok: true,
      trigger: { cameraId: 'cam1', partId: 'A-1', time: 1000 },
    });
    assert.deepEqual(parse('p/line/trigger', '{"partId":42,"camera":"cam2","time":5,"extra":true}'), {
      ok: true,
      trigger: { cameraId: 'cam2', partId: '42', time: 1000, sentTime: 5 },
    });
    assert.equal(parse('p/line/cam1/trigger', '{"partId":"x","camera":"cam1"}').ok, true);
  });

  test('malformed payloads and unknown cameras are reported, never thrown', () => {
    const malformed: [string, string | Uint8Array][] = [
      ['p/line/cam1/trigger', 'not json'],
      ['p/line/cam1/trigger', '"A-1"'],
      ['p/line/cam1/trigger', 'null'],
      ['p/line/cam1/trigger', '{"partId":""}'],
      ['p/line/cam1/trigger', '{"partId":-1}'],
      ['p/line/cam1/trigger', '{"partId":1.5}'],
      ['p/line/cam1/trigger', '{"partId":"a\\u0000b"}'],
      ['p/line/cam1/trigger', `{"partId":"${'y'.repeat(129)}"}`],
      ['p/line/cam1/trigger', '{"partId":"x","time":"noon"}'],
      ['p/line/cam1/trigger', '{"partId":"x","camera":"cam2"}'],
      ['p/line/trigger', '{"partId":"x"}'],
      ['p/line/trigger', '{"partId":"x","camera":"bad/id"}'],
      ['p/line/cam1/trigger', `{"partId":"x","pad":"${'z'.repeat(5000)}"}`],
      ['p/line/cam1/trigger', new Uint8Array([0x7b, 0xff, 0xfe, 0x7d])],
      ['p/line/cam1/other', '{"partId":"x"}'],
    ];
    for (const [topic, payload] of malformed) {
      const r = parse(topic, payload);
      assert.equal(r.ok, false, `${topic} ${String(payload).slice(0, 40)}`);
      assert.equal(!r.ok && r.kind, 'malformed', `${topic} ${String(payload).slice(0, 40)}`);
    }
    for (const [topic, payload] of [
      ['p/line/cam9/trigger', '{"partId":"x"}'],
      ['p/line/trigger', '{"partId":"x","camera":"cam9"}'],
    ]) {
      const r = parse(topic, payload);
      assert.equal(!r.ok && r.kind, 'unknown-camera');
    }
  });
});

describe('reconnect backoff', () => {
  test('doubles from minMs, caps at maxMs, jitter within [step/2, step]', () => {
    const range = { minMs: 500, maxMs: 10_000 };
    assert.deepEqual(
      [0, 1, 2, 3, 4, 5, 10, 1000].map((a) => backoffDelay(a, range, 1)),
      [500, 1000, 2000, 4000, 8000, 10_000, 10_000, 10_000],
    );
    assert.deepEqual(
      [0, 1, 5].map((a) => backoffDelay(a, range, 0)),
      [250, 500, 5000],
    );
  });
});

describe('log throttle', () => {
  test('first occurrence at once, then at most one per interval with the suppressed count', () => {
    const c = capture();
    let now = 0;
    const t = createLogThrottle(c.log, 1000, () => now);
    for (let i = 0; i < 5; i++) t.warn('a', { i }, 'A');
    t.warn('b', {}, 'B');
    now = 1500;
    t.warn('a', { i: 9 }, 'A');
    const lines = c.lines();
    assert.deepEqual(
      lines.map((l) => [l.msg, l.i, l.suppressed]),
      [
        ['A', 0, undefined],
        ['B', undefined, undefined],
        ['A', 9, 4],
      ],
    );
  });
});
