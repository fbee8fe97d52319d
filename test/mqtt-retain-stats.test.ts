// MQTT sink details against a real mosquitto: a trigger published *live* with the retain flag is ignored (MQTT 5
// Retain-As-Published), a clean stop is not reported as a lost connection, a restart with a delivered outbox says
// nothing about recovered records, and the retained `<prefix>/stats` carries the daemon's counters.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { configSchema } from '../src/config/schema.js';
import { DaemonStatus } from '../src/sinks/daemon-status.js';
import { createMqttSink, mqttTopics, type PartTrigger } from '../src/sinks/mqtt.js';
import { statsPayloadSchema } from '../src/sinks/mqtt-payloads.js';
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
});
