// MQTT sink details against a real mosquitto: a trigger published *live* with the retain flag is ignored (MQTT 5
// Retain-As-Published), a clean stop is not reported as a lost connection, a restart with a delivered outbox says
// nothing about recovered records, and the retained `<prefix>/stats` carries the daemon's counters; a real
// engine (tiny model) behind the sink: lost frames, missed triggers, unanswered triggers, frames without a
// trigger and an unusable frame show in the retained camera state and in /metrics (issues 11 and 17).
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as prom from 'prom-client';
import { Subject } from 'rxjs';
import { pino } from 'pino';
import { configSchema } from '../src/config/schema.js';
import { Engine } from '../src/pipeline/engine.js';
import type { EngineCamera, EngineFrame } from '../src/pipeline/engine.js';
import type { PartTrigger as EngineTrigger, TriggerLoss } from '../src/pipeline/triggers.js';
import { DaemonStatus } from '../src/sinks/daemon-status.js';
import { createMqttSink, mqttTopics, type PartTrigger } from '../src/sinks/mqtt.js';
import { cameraStatePayloadSchema, statsPayloadSchema } from '../src/sinks/mqtt-payloads.js';
import { PrometheusMetrics } from '../src/sinks/prometheus.js';
import { tinyModel } from './helpers/tiny-model.js';
import { startMosquitto, type Broker } from './helpers/mosquitto.js';
import { captureLog, makeResult, record, type Recorder } from './helpers/mqtt.js';

let broker: Broker;
const recorders: Recorder[] = [];
before(async () => {
  broker = await startMosquitto();
});
after(async () => {
  for (const r of recorders) await r.end().catch(() => undefined);
  await broker?.stop();
});

const cfgOf = (prefix: string, outbox: string, over: Record<string, unknown> = {}) =>
  configSchema.parse({
    mqtt: {
      url: broker.url,
      topicPrefix: prefix,
      outbox: { dir: outbox },
      reconnect: { minMs: 100, maxMs: 400 },
      ...over,
    },
  }).mqtt;

describe('MQTT sink: retained triggers, clean stop, outbox log, stats', () => {
  test('MQTT 5: a trigger published live with retain is ignored and counted; a normal one is taken', async () => {
    const prefix = 'rap1';
    const t = mqttTopics(prefix);
    const { log } = captureLog();
    const sink = createMqttSink(cfgOf(prefix, mkdtempSync(join(tmpdir(), 'pp-rap-'))), {
      log,
      cameras: ['cam1'],
    });
    const got: PartTrigger[] = [];
    sink.triggers$.subscribe((x) => got.push(x));
    await sink.start();
    const plc = await record(broker.url, [`${prefix}/never`]);
    recorders.push(plc);
    await plc.client.publishAsync(t.trigger('cam1'), '{"partId":"STALE"}', { qos: 1, retain: true });
    await plc.client.publishAsync(t.trigger('cam1'), '{"partId":"LIVE"}', { qos: 1 });
    await plc.waitFor(
      () => sink.stats().triggers + sink.stats().malformedTriggers === 2,
      'both triggers seen',
    );
    assert.deepEqual(
      got.map((x) => x.partId),
      ['LIVE'],
    );
    assert.equal(sink.stats().malformedTriggers, 1);
    await plc.client.publishAsync(t.trigger('cam1'), '', { qos: 1, retain: true }); // clear the retained one
    await sink.stop();
  });

  test('a clean stop logs no lost connection; a restart with everything delivered reports no recovered records', async () => {
    const prefix = 'clean1';
    const outbox = mkdtempSync(join(tmpdir(), 'pp-clean-'));
    const first = captureLog();
    const sink = createMqttSink(cfgOf(prefix, outbox), { log: first.log, cameras: ['cam1'] });
    await sink.start();
    for (let n = 1; n <= 3; n++) sink.result(makeResult('cam1', n));
    await sink.stop();
    assert.equal(sink.stats().published, 3);
    const warn = first
      .lines()
      .filter((l) => l.level === 40)
      .map((l) => l.msg);
    assert.deepEqual(warn, [], 'no warnings on a clean stop');
    const second = captureLog();
    const again = createMqttSink(cfgOf(prefix, outbox), { log: second.log, cameras: ['cam1'] });
    await again.start();
    await again.stop();
    assert.ok(!second.lines().some((l) => String(l.msg).includes('recovered')), 'nothing recovered');
  });

  test('retained <prefix>/stats every statsIntervalSec, valid against its schema, with the daemon counters', async () => {
    const prefix = 'stats1';
    const status = new DaemonStatus('model-x', ['cam1']);
    status.setCameraState('cam1', 'streaming');
    const { log } = captureLog();
    const sink = createMqttSink(
      cfgOf(prefix, mkdtempSync(join(tmpdir(), 'pp-stats-')), { statsIntervalSec: 1 }),
      {
        log,
        cameras: ['cam1'],
        status,
      },
    );
    await sink.start();
    sink.result(makeResult('cam1', 1));
    const sub = await record(broker.url, [`${prefix}/stats`]);
    recorders.push(sub);
    await sub.waitFor(
      () => sub.msgs.some((m) => JSON.parse(m.text).mqtt.published === 1),
      'stats with 1 published',
      10000,
    );
    const last = statsPayloadSchema.parse(JSON.parse(sub.msgs.at(-1)!.text));
    assert.equal(last.modelId, 'model-x');
    assert.equal(last.cameras.cam1.state, 'streaming');
    assert.ok(
      sub.msgs.some((m) => m.retain),
      'retained copy on subscribe',
    );
    await sink.stop();
  });

  test('camera state and /metrics: pairing losses, frames without trigger, unusable frames, queue depth', async () => {
    const prefix = 'loss1';
    const t = mqttTopics(prefix);
    const status = new DaemonStatus('tiny', ['trig', 'free']);
    const model = await tinyModel({ delayMs: 150 });
    const camera = (over: Partial<EngineCamera>): EngineCamera => ({
      queue: { depth: 16, policy: 'drop-oldest' },
      verdict: { thresholds: { reject: 1e9, pixel: 1e9 }, minBlobArea: 1, ignore: [] },
      triggerWindowMs: null,
      ...over,
    });
    const frames$ = new Subject<EngineFrame>();
    const losses$ = new Subject<TriggerLoss>();
    let seq = 0;
    const frame = (cameraId: string, w: number, trigger?: number): EngineFrame => ({
      cameraId,
      seq: ++seq,
      captureTime: Date.now(),
      image: { width: w, height: 48, channels: 3, data: new Uint8Array(Math.max(w, 1) * 48 * 3).fill(90) },
      ...(trigger === undefined ? {} : { evidence: { frameId: seq, cameraTimestampUs: 0, trigger } }),
    });
    // The camera's answers to the PLC's parts: P1 a frame, P2 lost on the wire, P3 not taken, P4 nothing.
    const answer = (p: EngineTrigger): void => {
      const token = p.token!;
      if (p.partId === 'P1') frames$.next(frame('trig', 64, token));
      if (p.partId === 'P2')
        losses$.next({ cameraId: 'trig', token, reason: 'frame-lost', detail: 'block gap' });
      if (p.partId === 'P3')
        losses$.next({ cameraId: 'trig', token, reason: 'trigger-missed', detail: 'merged' });
    };
    const engine = new Engine({
      model,
      cameras: new Map([
        ['trig', camera({ triggerWindowMs: 400, pairing: { method: 'trigger-token' } })],
        ['free', camera({})],
      ]),
      maxBatch: 4,
      maxWaitMs: 5,
      deadlineMs: 20000,
      failSafe: 'reject',
      log: pino({ level: 'silent' }),
      onTriggerAccepted: answer,
    });
    status.attachEngine(
      () => engine.stats(),
      () => engine.pending,
    );
    const { log } = captureLog();
    const sink = createMqttSink(
      cfgOf(prefix, mkdtempSync(join(tmpdir(), 'pp-loss-')), { statsIntervalSec: 1 }),
      { log, cameras: ['trig', 'free'], status },
    );
    const metrics = new PrometheusMetrics(prom, status, 4);
    const scrape = async (): Promise<string> => metrics.registry.metrics();
    const value = (text: string, series: string): number | undefined => {
      const line = text.split('\n').find((l) => l.startsWith(series + ' '));
      return line === undefined ? undefined : Number(line.slice(series.length + 1));
    };
    await sink.start();
    sink.cameraState('trig', 'streaming');
    sink.cameraState('free', 'streaming');
    const decided: string[] = [];
    const sub = engine.run(frames$, sink.triggers$, losses$).subscribe((r) => {
      decided.push(`${r.partId}:${r.reason}`);
      sink.result(r);
    });
    try {
      const plc = await record(broker.url, [`${prefix}/+/state`]);
      recorders.push(plc);
      for (const id of ['P1', 'P2', 'P3', 'P4'])
        await plc.client.publishAsync(t.trigger('trig'), JSON.stringify({ partId: id }), { qos: 1 });
      frames$.next(frame('trig', 64)); // answers no trigger
      // A burst on the free-running camera while inference is slow: frames wait in its queue; one is unusable.
      frames$.next(frame('free', 0));
      for (let i = 0; i < 11; i++) frames$.next(frame('free', 64));
      let maxDepth = 0;
      const until = Date.now() + 30000;
      while (Date.now() < until && decided.length < 16) {
        const d = value(await scrape(), 'pinpoint_queue_depth{camera="free"}') ?? 0;
        maxDepth = Math.max(maxDepth, d);
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal(decided.length, 16, decided.join(' '));
      assert.ok(maxDepth >= 1, `frames seen waiting in the queue (max depth ${maxDepth})`);
      const text = await scrape();
      const want: [string, number][] = [
        ['pinpoint_queue_depth{camera="free"}', 0],
        ['pinpoint_queue_depth{camera="trig"}', 0],
        ['pinpoint_frames_unusable_total{camera="free"}', 1],
        ['pinpoint_frames_unusable_total{camera="trig"}', 0],
        ['pinpoint_frames_dropped_total{camera="free"}', 0],
        ['pinpoint_frames_untriggered_total{camera="trig"}', 1],
        ['pinpoint_triggers_unanswered_total{camera="trig",reason="frame_lost"}', 1],
        ['pinpoint_triggers_unanswered_total{camera="trig",reason="trigger_missed"}', 1],
        ['pinpoint_triggers_unanswered_total{camera="trig",reason="no_frame"}', 1],
        ['pinpoint_triggers_unanswered_total{camera="free",reason="no_frame"}', 0],
      ];
      for (const [series, v] of want) assert.equal(value(text, series), v, series);
      const counters = {
        frames: 1,
        dropped: 0,
        unusable: 0,
        untriggered: 1,
        noFrame: 3,
        frameLost: 1,
        triggerMissed: 1,
      };
      const stateOf = (cam: string) =>
        plc
          .on(t.state(cam))
          .map((m) => cameraStatePayloadSchema.parse(JSON.parse(m.text)))
          .at(-1);
      await plc.waitFor(
        () => JSON.stringify(stateOf('trig')?.counters) === JSON.stringify(counters),
        'trig state with its loss counters',
        10000,
      );
      await plc.waitFor(
        () => stateOf('free')?.counters?.unusable === 1 && stateOf('free')?.counters?.frames === 12,
        'free state with its unusable frame',
        10000,
      );
      assert.equal(stateOf('trig')!.state, 'streaming', 'the state itself is unchanged');
    } finally {
      sub.unsubscribe();
      await sink.stop();
      metrics.close();
      await model.release();
    }
  });
});
