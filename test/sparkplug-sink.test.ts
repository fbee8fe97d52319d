// The Sparkplug B sink against a real mosquitto, with a Sparkplug host simulated by a subscriber that decodes
// with the independent Tahu decoder (test/helpers/sparkplug-host.ts): births, decisions, seq, bdSeq and the
// will, rebirth and trigger commands, a lost connection (decisions of the outage delivered after the births),
// cameras dying and coming back, the primary host's STATE, and bdSeq across restarts.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { configSchema } from '../src/config/schema.js';
import type { PartTrigger } from '../src/sinks/mqtt-trigger.js';
import { createSparkplugSink, type SparkplugSink } from '../src/sinks/sparkplug/sink.js';
import { createLogger } from '../src/util/log.js';
import { freePort, startMosquitto, type Broker } from './helpers/mosquitto.js';
import { makeResult } from './helpers/mqtt.js';
import { sparkplugHost, type HostMessage, type SparkplugHost } from './helpers/sparkplug-host.js';
import { startTcpProxy, type TcpProxy } from './helpers/tcp-proxy.js';

const log = createLogger({ level: 'silent' });
const open: {
  stop?: () => Promise<unknown>;
  end?: () => Promise<unknown>;
  close?: () => Promise<unknown>;
}[] = [];
after(async () => {
  for (const o of open) await (o.stop ?? o.end ?? o.close)?.().catch(() => undefined);
});
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const tmp = (): string => mkdtempSync(join(tmpdir(), 'pinpoint-spb-'));

const CAMERAS = [
  { id: 'top', softwareTrigger: true },
  { id: 'side', softwareTrigger: false },
];

/** Each test its own edge node id: a sink left running by a failed test cannot disturb the next. */
function sink(url: string, dir: string, sparkplug: Record<string, unknown>): SparkplugSink {
  const cfg = configSchema.parse({
    mqtt: {
      url,
      json: false,
      reconnect: { minMs: 100, maxMs: 300 },
      sparkplug: { enabled: true, groupId: 'plant', dir, ...sparkplug },
    },
  }).mqtt;
  const s = createSparkplugSink(cfg, { log, cameras: CAMERAS, modelId: 'model-a', startTimeoutMs: 3000 });
  open.push(s);
  return s;
}

async function hostOn(url: string, node: string): Promise<SparkplugHost> {
  const h = await sparkplugHost(url, 'plant', node);
  open.push(h);
  return h;
}

/** Every message after the first NBIRTH-to-NBIRTH run has seq one more than the one before, mod 256. */
function assertSeqContinuous(msgs: HostMessage[]): void {
  let prev: number | undefined;
  for (const m of msgs) {
    if (m.type === 'NDEATH') continue;
    if (m.type === 'NBIRTH') {
      assert.equal(m.seq, 0, 'NBIRTH seq 0');
    } else {
      assert.ok(prev !== undefined, `${m.type} before any NBIRTH`);
      assert.equal(m.seq, (prev + 1) % 256, `seq after ${prev} (${m.type} ${m.deviceId ?? ''})`);
    }
    prev = m.seq;
  }
}

const ddataParts = (h: SparkplugHost): string[] => h.of('DDATA').map((m) => String(m.get('Part ID')));

describe('Sparkplug B sink', () => {
  let broker: Broker;
  before(async () => {
    broker = await startMosquitto();
  });
  after(async () => {
    await broker.stop();
  });

  test('a run of N parts: NBIRTH, DBIRTH per camera, N DDATA, seq mod 256, rebirth, trigger, NDEATH on stop', async () => {
    const host = await hostOn(broker.url, 'run');
    const dir = tmp();
    const s = sink(broker.url, dir, { edgeNodeId: 'run' });
    await s.start();
    assert.ok(s.online);
    s.cameraState('top', 'connecting');
    s.cameraState('top', 'streaming');
    s.cameraState('side', 'streaming');
    const N = 300; // more than 256 messages: seq wraps
    const t0 = Date.now();
    for (let i = 0; i < N; i++) s.result(makeResult(i % 2 === 0 ? 'top' : 'side', i, t0 + i));
    await host.waitFor(() => host.of('DDATA').length === N, `${N} DDATA`);

    const [nbirth] = host.of('NBIRTH');
    assert.equal(host.of('NBIRTH').length, 1);
    assert.equal(nbirth.seq, 0);
    assert.equal(nbirth.get('bdSeq'), s.bdSeq);
    assert.equal(nbirth.metrics.find((m) => m.name === 'bdSeq')?.type, 'Int64');
    assert.equal(nbirth.get('Node Control/Rebirth'), false);
    assert.equal(nbirth.get('Node Info/Model ID'), 'model-a');
    assert.deepEqual(
      host.of('DBIRTH').map((m) => m.deviceId),
      ['top', 'side'],
    );
    assert.equal(host.of('DBIRTH', 'top')[0].get('Trigger'), '');
    assert.equal(
      host.of('DBIRTH', 'side')[0].get('Trigger'),
      undefined,
      'no Trigger without softwareTrigger',
    );
    // Every part exactly once, in order per camera, with its values and its decision time.
    assert.deepEqual(
      ddataParts(host),
      Array.from({ length: N }, (_, i) => `${i % 2 === 0 ? 'top' : 'side'}-part-${i}`),
    );
    const d1 = host.of('DDATA', 'side')[0];
    assert.equal(d1.timestamp, t0 + 1);
    assert.deepEqual(
      d1.metrics.map((m) => [m.name, m.type, m.value, m.timestamp]),
      [
        ['Part ID', 'String', 'side-part-1', t0 + 1],
        ['Verdict', 'String', 'reject', t0 + 1],
        ['Reject', 'Boolean', true, t0 + 1],
        ['Reason', 'String', 'score', t0 + 1],
        ['Score', 'Double', 0.9, t0 + 1],
        ['Threshold', 'Double', 0.5, t0 + 1],
        ['Blob Count', 'Int32', 1, t0 + 1],
        ['Largest Blob Area', 'Int32', 17, t0 + 1],
        ['Latency ms', 'Double', 12, t0 + 1],
        ['Model ID', 'String', 'model-test', t0 + 1],
      ],
    );
    assert.equal(host.of('DDATA', 'top')[0].get('Reject'), false);
    assert.ok(host.of('DDATA').every((m) => m.metrics.every((x) => !x.historical)));

    // Rebirth: NBIRTH (seq 0, same bdSeq) and both DBIRTHs again.
    const before = host.msgs.length;
    await host.command([{ name: 'Node Control/Rebirth', type: 'Boolean', value: true }]);
    await host.waitFor(() => host.of('NBIRTH').length === 2 && host.of('DBIRTH').length === 4, 'rebirth');
    const reborn = host.msgs.slice(before);
    assert.deepEqual(
      reborn.map((m) => [m.type, m.deviceId, m.seq]),
      [
        ['NBIRTH', undefined, 0],
        ['DBIRTH', 'top', 1],
        ['DBIRTH', 'side', 2],
      ],
    );
    assert.equal(reborn[0].get('bdSeq'), s.bdSeq);

    // DCMD Trigger on the software-triggered camera reaches triggers$; other writes are refused.
    const got: PartTrigger[] = [];
    s.triggers$.subscribe((t) => got.push(t));
    await host.command([{ name: 'Trigger', type: 'String', value: 'P-77' }], 'top');
    await host.command([{ name: 'Trigger', type: 'String', value: 'P-78' }], 'side');
    await host.command([{ name: 'Verdict', type: 'String', value: 'ok' }], 'top');
    await host.command([{ name: 'bdSeq', type: 'Int64', value: 9 }]);
    await host.waitFor(() => s.stats().refusedCommands === 3, 'three refusals');
    assert.deepEqual(
      got.map((t) => [t.cameraId, t.partId]),
      [['top', 'P-77']],
    );
    s.result(makeResult('top', N, Date.now()));
    await host.waitFor(() => host.of('DDATA').length === N + 1, 'one more DDATA');

    await s.stop();
    await host.waitFor(() => host.of('NDEATH').length === 1, 'NDEATH on stop');
    assert.equal(host.of('NDEATH')[0].get('bdSeq'), s.bdSeq);
    assertSeqContinuous(host.msgs);
    assert.equal(s.stats().published, N + 1);

    // bdSeq is persisted: the next run of the daemon uses the next one.
    const s2 = sink(broker.url, dir, { edgeNodeId: 'run' });
    await s2.start();
    await host.waitFor(() => host.of('NBIRTH').length === 3, 'NBIRTH of the next run');
    assert.equal(host.of('NBIRTH')[2].get('bdSeq'), (nbirth.get('bdSeq') as number) + 1);
    await s2.stop();
    await host.end();
  });

  test('connection lost mid-run: the broker sends the will; after reconnect births (bdSeq + 1), then the backlog', async () => {
    const proxy: TcpProxy = await startTcpProxy(broker.port);
    open.push(proxy);
    const host = await hostOn(broker.url, 'outage');
    const s = sink(proxy.url, tmp(), { edgeNodeId: 'outage' });
    await s.start();
    s.cameraState('top', 'streaming');
    s.cameraState('side', 'streaming');
    const first = s.bdSeq;
    for (let i = 0; i < 5; i++) s.result(makeResult(i % 2 ? 'side' : 'top', i));
    await host.waitFor(() => host.of('DDATA').length === 5, 'the first 5 decisions');

    await proxy.cut();
    await host.waitFor(() => host.of('NDEATH').length === 1, 'NDEATH from the broker (will)');
    assert.equal(host.of('NDEATH')[0].get('bdSeq'), first, "the will's bdSeq is the NBIRTH's");
    assert.equal(host.of('NBIRTH')[0].get('bdSeq'), first);
    await host.waitFor(() => !s.online, 'the sink notices');
    const outageStart = Date.now() - 5000;
    for (let i = 5; i < 25; i++) s.result(makeResult(i % 2 ? 'side' : 'top', i, outageStart + i));
    await sleep(300);
    assert.equal(host.of('DDATA').length, 5, 'nothing sent during the outage');
    assert.equal(s.stats().outboxSize, 20);

    const mark = host.msgs.length;
    await proxy.restore();
    await host.waitFor(() => host.of('DDATA').length === 25, 'the backlog after reconnect');
    const after = host.msgs.slice(mark);
    assert.deepEqual(
      after.slice(0, 3).map((m) => [m.type, m.deviceId]),
      [
        ['NBIRTH', undefined],
        ['DBIRTH', 'top'],
        ['DBIRTH', 'side'],
      ],
    );
    assert.equal(after[0].get('bdSeq'), first + 1);
    const backlog = after.slice(3);
    assert.deepEqual(
      backlog.map((m) => m.get('Part ID')),
      Array.from({ length: 20 }, (_, k) => `${(k + 5) % 2 ? 'side' : 'top'}-part-${k + 5}`),
    );
    for (const [k, m] of backlog.entries()) {
      assert.equal(m.timestamp, outageStart + k + 5, 'original decision time');
      assert.ok(m.metrics.every((x) => x.historical && x.timestamp === outageStart + k + 5));
    }
    // None lost, none doubled.
    assert.deepEqual(
      [...ddataParts(host)].sort(),
      Array.from({ length: 25 }, (_, i) => `${i % 2 ? 'side' : 'top'}-part-${i}`).sort(),
    );
    assertSeqContinuous(host.msgs);
    await s.stop();
    await host.end();
  });

  test('a restart with a backlog: the decisions of the broker-less run follow the births, historical', async () => {
    const dir = tmp();
    const dead = `mqtt://127.0.0.1:${await freePort()}`;
    const s1 = sink(dead, dir, { edgeNodeId: 'restart' });
    await s1.start();
    assert.equal(s1.online, false);
    const t0 = Date.now() - 1000;
    for (let i = 0; i < 6; i++) s1.result(makeResult('top', i, t0 + i));
    await s1.stop();
    assert.equal(s1.stats().outboxSize, 6);

    const host = await hostOn(broker.url, 'restart');
    const s2 = sink(broker.url, dir, { edgeNodeId: 'restart' });
    await s2.start();
    await host.waitFor(
      () => host.of('NDATA').filter((m) => m.get('Cameras/top/Part ID')).length === 6,
      'backlog',
    );
    assert.equal(host.of('NBIRTH')[0].get('bdSeq'), 1, 'the first run used bdSeq 0');
    // No camera has streamed in this run yet: the decisions of the dead device go out on the node.
    const backlog = host.of('NDATA').filter((m) => m.get('Cameras/top/Part ID'));
    assert.deepEqual(
      backlog.map((m) => [m.get('Cameras/top/Part ID'), m.timestamp]),
      Array.from({ length: 6 }, (_, i) => [`top-part-${i}`, t0 + i]),
    );
    assert.ok(backlog.every((m) => m.metrics.every((x) => x.historical)));
    assert.equal(s2.stats().outboxSize, 0);
    assertSeqContinuous(host.msgs);
    await s2.stop();
    await host.end();
  });

  test('a camera stalls: DDEATH; its fail-safe verdicts on the node; DBIRTH when it streams again', async () => {
    const host = await hostOn(broker.url, 'stall');
    const s = sink(broker.url, tmp(), { edgeNodeId: 'stall' });
    await s.start();
    s.cameraState('top', 'streaming');
    s.result(makeResult('top', 0));
    await host.waitFor(() => host.of('DDATA').length === 1, 'a decision');
    s.cameraState('top', 'stalled');
    await host.waitFor(() => host.of('DDEATH', 'top').length === 1, 'DDEATH');
    s.result({ ...makeResult('top', 1), verdict: 'error', reason: 'no-frame', score: null });
    await host.waitFor(
      () => host.of('NDATA').some((m) => m.get('Cameras/top/Part ID') !== undefined),
      'NDATA',
    );
    const orphan = host.of('NDATA').find((m) => m.get('Cameras/top/Part ID') !== undefined);
    assert.equal(orphan?.get('Cameras/top/Part ID'), 'top-part-1');
    assert.equal(orphan?.get('Cameras/top/Reject'), true);
    assert.equal(orphan?.get('Cameras/top/Score'), null);
    assert.equal(host.of('DDATA').length, 1, 'no DDATA for a dead device');
    s.cameraState('top', 'backoff');
    s.cameraState('top', 'streaming');
    await host.waitFor(() => host.of('DBIRTH', 'top').length === 2, 'DBIRTH again');
    assert.equal(
      host.of('DBIRTH', 'top')[1].get('Part ID'),
      'top-part-1',
      'the birth carries the last decision',
    );
    assert.deepEqual(
      host
        .of('NDATA')
        .map((m) => m.get('Cameras/top/State'))
        .filter(Boolean),
      ['streaming', 'stalled', 'backoff', 'streaming'],
    );
    assertSeqContinuous(host.msgs);
    await s.stop();
    await host.end();
  });

  test('primaryHostId: births wait for the host ONLINE, and are sent again when it comes back', async () => {
    const host = await hostOn(broker.url, 'host');
    const s = sink(broker.url, tmp(), { edgeNodeId: 'host', primaryHostId: 'scada' });
    const started = s.start();
    await sleep(500);
    assert.equal(host.of('NBIRTH').length, 0, 'no births before the primary host is online');
    const state = (online: boolean, timestamp: number) =>
      host.client.publishAsync('spBv1.0/STATE/scada', JSON.stringify({ online, timestamp }), {
        qos: 1,
        retain: true,
      });
    await state(true, 1000);
    await started;
    await host.waitFor(() => host.of('NBIRTH').length === 1, 'NBIRTH once the host is online');
    s.cameraState('top', 'streaming');
    await host.waitFor(() => host.of('DBIRTH').length === 1, 'DBIRTH');
    await state(false, 2000);
    await host.waitFor(() => !s.online, 'offline');
    s.result(makeResult('top', 1));
    await sleep(300);
    assert.equal(host.of('DDATA').length, 0, 'decisions wait while the primary host is away');
    await state(true, 1500); // stale: older than the OFFLINE
    await sleep(200);
    assert.equal(s.online, false);
    await state(true, 3000);
    await host.waitFor(() => host.of('DDATA').length === 1, 'the decision after new births');
    assert.deepEqual(
      host.msgs.slice(-3).map((m) => m.type),
      ['NBIRTH', 'DBIRTH', 'DDATA'],
    );
    assertSeqContinuous(host.msgs);
    await host.client.publishAsync('spBv1.0/STATE/scada', '', { qos: 1, retain: true });
    await s.stop();
    await host.end();
  });
});

describe('mqtt.sparkplug config', () => {
  const issues = (mqtt: Record<string, unknown>): string[] => {
    const r = configSchema.safeParse({ mqtt });
    return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  };

  test('defaults: off, JSON topics on', () => {
    const m = configSchema.parse({}).mqtt;
    assert.equal(m.json, true);
    assert.deepEqual(m.sparkplug, { enabled: false, dir: '/var/lib/pinpoint/sparkplug' });
  });

  test('refused: enabled without ids, ids with topic characters, json off without Sparkplug, unknown keys', () => {
    assert.match(
      issues({ sparkplug: { enabled: true } }).join(),
      /mqtt\.sparkplug\.groupId: enabled: true needs/,
    );
    assert.match(
      issues({ sparkplug: { enabled: true, groupId: 'a/b', edgeNodeId: 'n' } }).join(),
      /mqtt\.sparkplug\.groupId: no \/ \+ #/,
    );
    assert.match(
      issues({ sparkplug: { enabled: true, groupId: 'g', edgeNodeId: 'n#' } }).join(),
      /edgeNodeId: no \/ \+ #/,
    );
    assert.match(issues({ json: false }).join(), /mqtt\.json: json: false needs sparkplug\.enabled/);
    assert.match(
      issues({ sparkplug: { enabled: true, groupId: 'g', edgeNodeId: 'n', qos: 1 } }).join(),
      /qos/,
    );
    assert.deepEqual(
      issues({ json: false, sparkplug: { enabled: true, groupId: 'g', edgeNodeId: 'n' } }),
      [],
    );
  });
});
