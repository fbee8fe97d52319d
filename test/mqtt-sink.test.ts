// The MQTT sink against a real mosquitto: topics, payloads (checked against the schemas), retained status and
// last will, triggers, the outbox through broker outages, crashes and restarts, authentication and TLS.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { z } from 'zod';
import { configSchema } from '../src/config/schema.js';
import type { InspectionResult } from '../src/pipeline/result.js';
import { createMqttSink, mqttTopics, type MqttSink, type PartTrigger } from '../src/sinks/mqtt.js';
import {
  cameraStatePayloadSchema,
  infoPayloadSchema,
  mqttJsonSchemas,
  rejectPayloadSchema,
  rejectPlainPayloadSchema,
  resultPayloadSchema,
  statusPayloadSchema,
} from '../src/sinks/mqtt-payloads.js';
import { createLogger } from '../src/util/log.js';
import { freePort, startMosquitto, type Broker } from './helpers/mosquitto.js';
import { captureLog, makeResult, record, type Received, type Recorder } from './helpers/mqtt.js';
import { makeTestPki } from './helpers/tls.js';
import { track } from './helpers/children.js';

const log = createLogger({ level: 'silent' });

// Everything a test opens is closed here too, so a failing test cannot leave the process hanging.
const open: { stop?: () => Promise<unknown>; end?: () => Promise<unknown> }[] = [];
function sinkOf(...args: Parameters<typeof createMqttSink>): MqttSink {
  const s = createMqttSink(...args);
  open.push(s);
  return s;
}
async function recorder(...args: Parameters<typeof record>): Promise<Recorder> {
  const r = await record(...args);
  open.push(r);
  return r;
}
after(async () => {
  for (const o of open) await (o.stop ?? o.end)?.().catch(() => undefined);
});
const tmp = (): string => mkdtempSync(join(tmpdir(), 'pinpoint-mqtt-'));

function mqttConfig(m: Record<string, unknown>) {
  return configSchema.parse({ mqtt: { outbox: { dir: tmp() }, reconnect: { minMs: 100, maxMs: 400 }, ...m } })
    .mqtt;
}

/** Parses a payload with its schema (strict: unknown keys fail). */
function valid<S extends z.ZodType>(schema: S, m: Received | undefined, json = true): z.infer<S> {
  assert.ok(m, 'message missing');
  const r = schema.safeParse(json ? JSON.parse(m.text) : m.text);
  assert.ok(r.success, `${m.topic}: ${m.text}\n${r.success ? '' : r.error.message}`);
  return r.data;
}

const partIds = (msgs: Received[]): string[] =>
  msgs.map((m) => (JSON.parse(m.text) as InspectionResult).partId);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function retained(url: string, topic: string): Promise<Received[]> {
  const r = await recorder(url, [topic]);
  // The broker sends retained messages right after the subscription: wait for the first (a loaded host may
  // be slow to read it), then a moment for the rest.
  await r.waitFor(() => r.msgs.length > 0, `a retained message on ${topic}`).catch(() => undefined);
  await sleep(200);
  await r.end();
  return r.msgs;
}

describe('MQTT sink', () => {
  let broker: Broker;
  before(async () => {
    broker = await startMosquitto();
  });
  after(async () => {
    await broker.stop();
  });

  test('the committed JSON Schemas in docs/mqtt are the ones generated from the code', () => {
    const generated = mqttJsonSchemas();
    const files = readdirSync('docs/mqtt').filter((f) => f.endsWith('.schema.json'));
    assert.deepEqual(
      files.sort(),
      Object.keys(generated)
        .map((k) => `${k}.schema.json`)
        .sort(),
    );
    for (const [name, schema] of Object.entries(generated)) {
      const committed: unknown = JSON.parse(readFileSync(`docs/mqtt/${name}.schema.json`, 'utf8'));
      assert.deepEqual(
        committed,
        schema,
        `docs/mqtt/${name}.schema.json is stale: npx tsx scripts/mqtt-schemas.ts`,
      );
    }
  });

  test('results, reject signals, camera state, info and retained status online → stopped (MQTT 5)', async () => {
    const t = mqttTopics('t1/line');
    const sub = await recorder(broker.url, ['t1/line/#']);
    const sink = sinkOf(mqttConfig({ url: broker.url, topicPrefix: 't1/line' }), {
      log,
      cameras: ['cam1', 'cam2'],
      modelId: 'model-test',
    });
    sink.cameraState('cam1', 'connecting'); // before start: published on connect
    await sink.start();
    assert.equal(sink.connected, true);
    sink.cameraState('cam2', 'streaming', 'at 2 fps');
    const sent = [makeResult('cam1', 0), makeResult('cam1', 1)];
    const failSafe: InspectionResult = {
      ...makeResult('cam2', 0),
      seq: null,
      score: null,
      threshold: null,
      verdict: 'reject',
      reason: 'no-frame',
      blobs: [],
      detail: 'triggered part never got a frame',
    };
    sent.push(failSafe);
    for (const r of sent) sink.result(r);
    await sub.waitFor(() => sub.msgs.filter((m) => m.topic.endsWith('/result')).length === 3, '3 results');

    for (const r of sent) {
      const res = sub.on(t.result(r.cameraId)).find((m) => m.text.includes(`"${r.partId}"`));
      const p = valid(resultPayloadSchema, res);
      const { publishTime, ...rest } = p;
      assert.deepEqual(rest, r);
      assert.ok(publishTime >= r.decideTime);
      const rej = valid(
        rejectPayloadSchema,
        sub.on(t.reject(r.cameraId)).find((m) => m.text.includes(`"${r.partId}"`)),
      );
      assert.deepEqual(rej, {
        v: 1,
        partId: r.partId,
        seq: r.seq,
        reject: r.verdict !== 'ok',
        reason: r.reason,
        score: r.score,
        time: r.decideTime,
      });
    }
    assert.deepEqual(partIds(sub.on(t.result('cam1'))), ['cam1-part-0', 'cam1-part-1'], 'per-camera order');
    assert.deepEqual(
      sub.on(t.status).map((m) => m.text),
      ['online'],
    );
    valid(statusPayloadSchema, sub.on(t.status)[0], false);

    // What a gateway that connects later sees: the retained messages.
    const late = await retained(broker.url, 't1/line/#');
    const byTopic = new Map(late.map((m) => [m.topic, m]));
    assert.equal(byTopic.get(t.status)?.text, 'online');
    assert.ok(late.every((m) => m.retain));
    assert.deepEqual([...byTopic.keys()].sort(), [t.info, t.state('cam1'), t.state('cam2'), t.status].sort());
    const s2 = valid(cameraStatePayloadSchema, byTopic.get(t.state('cam2')));
    assert.deepEqual([s2.state, s2.detail], ['streaming', 'at 2 fps']);
    assert.equal(valid(cameraStatePayloadSchema, byTopic.get(t.state('cam1'))).state, 'connecting');
    const info = valid(infoPayloadSchema, byTopic.get(t.info));
    assert.deepEqual([info.modelId, info.cameras], ['model-test', ['cam1', 'cam2']]);

    assert.deepEqual(sink.stats().published, 3);
    assert.equal(sink.stats().outboxSize, 0);
    await sink.stop();
    assert.equal((await retained(broker.url, t.status))[0]?.text, 'stopped');
    await sub.end();
  });

  test('triggers: valid ones are emitted; malformed, unknown-camera and retained ones are ignored and counted', async () => {
    const prefix = 't3';
    const t = mqttTopics(prefix);
    const plc = await recorder(broker.url, []);
    // A retained trigger left on the broker would name a stale part on every resubscribe.
    await plc.client.publishAsync(t.trigger('cam1'), '{"partId":"stale"}', { qos: 1, retain: true });
    const sub = await recorder(broker.url, [`${prefix}/+/result`]);
    const sink = sinkOf(mqttConfig({ url: broker.url, topicPrefix: prefix }), {
      log,
      cameras: ['cam1', 'cam2'],
    });
    const got: PartTrigger[] = [];
    sink.triggers$.subscribe((x) => got.push(x));
    await sink.start();
    const send = (topic: string, payload: string | Buffer): Promise<unknown> =>
      plc.client.publishAsync(topic, payload, { qos: 1 });
    await send(t.trigger('cam1'), '{"partId":"P-1"}');
    await send(t.triggerAll, '{"partId":1002,"camera":"cam2","time":1700000000000}');
    for (const bad of [
      'garbage',
      '{"partId":""}',
      '{"camera":"cam1"}',
      '{"partId":"x","camera":"cam2"}',
      '[1,2]',
    ]) {
      await send(t.trigger('cam1'), bad);
    }
    await send(t.trigger('cam1'), Buffer.from([0xc3, 0x28]));
    await send(t.triggerAll, '{"partId":"x"}');
    await send(t.trigger('cam7'), '{"partId":"x"}');
    await send(t.triggerAll, '{"partId":"x","camera":"cam8"}');
    await send(t.trigger('cam2'), '{"partId":"P-3"}');
    await plc.waitFor(() => sink.stats().triggers === 3, '3 triggers');
    assert.deepEqual(
      got.map((x) => [x.cameraId, x.partId, x.sentTime]),
      [
        ['cam1', 'P-1', undefined],
        ['cam2', '1002', 1700000000000],
        ['cam2', 'P-3', undefined],
      ],
    );
    assert.ok(got.every((x) => Math.abs(x.time - Date.now()) < 5000));
    const s = sink.stats();
    assert.equal(
      s.malformedTriggers,
      1 + 6 + 1,
      'retained + 6 bad payloads on cam1 + no camera on the shared topic',
    );
    assert.equal(s.unknownCameraTriggers, 2);
    // Still working.
    sink.result(makeResult('cam1', 5));
    await sub.waitFor(() => sub.msgs.length === 1, 'a result after the bad triggers');
    await sink.stop();
    assert.equal(got.length, 3);
    await plc.client.publishAsync(t.trigger('cam1'), '', { qos: 1, retain: true }); // clear the retained one
    await Promise.all([plc.end(), sub.end()]);
  });

  test('outbox: overflow drops the oldest and counts; what is left survives a restart of the sink', async () => {
    const dir = tmp();
    const deadUrl = `mqtt://127.0.0.1:${await freePort()}`;
    const cfg = mqttConfig({ url: deadUrl, topicPrefix: 't6', outbox: { dir, maxMessages: 5 } });
    const c = captureLog();
    const first = sinkOf(cfg, { log: c.log, cameras: ['cam1'], startTimeoutMs: 1000 });
    await first.start();
    assert.equal(first.connected, false);
    assert.match(first.lastError ?? '', /ECONNREFUSED/);
    for (let n = 0; n < 12; n++) first.result(makeResult('cam1', n));
    const s = first.stats();
    assert.deepEqual([s.outboxDropped, s.outboxSize, s.queued, s.published], [7, 5, 5, 0]);
    const warned = c.lines().filter((l) => /outbox full/.test(String(l.msg)));
    assert.equal(warned.length, 1, 'the overflow is logged once (rate-limited)');
    assert.equal(warned[0].level, 'warn');
    await first.stop();

    const sub = await recorder(broker.url, ['t6/+/result']);
    const second = sinkOf({ ...cfg, url: broker.url }, { log, cameras: ['cam1'] });
    await second.start();
    second.result(makeResult('cam1', 12));
    await sub.waitFor(() => sub.msgs.length === 6, '6 results');
    await sleep(100);
    assert.deepEqual(
      partIds(sub.msgs),
      [7, 8, 9, 10, 11, 12].map((n) => `cam1-part-${n}`),
      'the survivors first, in order, then the new one; the 7 oldest were dropped',
    );
    assert.equal(second.stats().outboxSize, 0);
    await second.stop();
    await sub.end();
  });

  test('a killed process: the broker publishes the last will `offline`; its outbox is sent by the next start', async () => {
    const spawnChild = (args: object): { child: ChildProcess; out: () => string } => {
      const child = track(
        spawn(
          process.execPath,
          ['--import', 'tsx', 'test/helpers/mqtt-sink-child.ts', JSON.stringify(args)],
          { stdio: ['ignore', 'pipe', 'inherit'] },
        ),
      );
      let out = '';
      child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
      return { child, out: () => out };
    };
    const until = async (pred: () => boolean, what: string): Promise<void> => {
      const end = Date.now() + 15_000;
      while (!pred()) {
        if (Date.now() > end) throw new Error(`timed out: ${what}`);
        await sleep(20);
      }
    };
    const status = await recorder(broker.url, ['t5/status']);
    const crashDir = tmp();
    const deadUrl = `mqtt://127.0.0.1:${await freePort()}`;
    // Both children at once: their start-up (tsx) dominates the test's time.
    const lwt = spawnChild({ url: broker.url, prefix: 't5', outboxDir: tmp(), results: 0 });
    const crash = spawnChild({ url: deadUrl, prefix: 't5c', outboxDir: crashDir, results: 20 });
    try {
      await until(() => lwt.out().includes('connected'), 'the child to connect');
      await status.waitFor(() => status.msgs.some((m) => m.text === 'online'), 'online');
      lwt.child.kill('SIGKILL');
      await status.waitFor(() => status.msgs.at(-1)?.text === 'offline', 'the last will');
      assert.equal(
        (await retained(broker.url, 't5/status'))[0]?.text,
        'offline',
        'the last will is retained',
      );

      await until(() => crash.out().includes('written 20'), 'the child to write 20 results');
      crash.child.kill('SIGKILL');
    } finally {
      lwt.child.kill('SIGKILL');
      crash.child.kill('SIGKILL');
    }
    const sub = await recorder(broker.url, ['t5c/+/result']);
    const next = sinkOf(mqttConfig({ url: broker.url, topicPrefix: 't5c', outbox: { dir: crashDir } }), {
      log,
      cameras: ['cam1'],
    });
    await next.start();
    await sub.waitFor(() => sub.msgs.length === 20, '20 results from the crashed run');
    await sleep(100);
    assert.deepEqual(
      partIds(sub.msgs),
      Array.from({ length: 20 }, (_, n) => `cam1-part-${n}`),
    );
    await next.stop();
    await Promise.all([sub.end(), status.end()]);
  });

  test('username/password: a wrong password is reported clearly and results wait; the right one connects (MQTT 3.1.1, plain reject)', async () => {
    const acl = join(tmp(), 'acl');
    writeFileSync(acl, 'user pinpoint\ntopic readwrite t7/#\ntopic deny t7/blocked/#\n');
    const secured = await startMosquitto({ users: { pinpoint: 's3cret' }, extraConfig: `acl_file ${acl}` });
    try {
      const c = captureLog();
      const base = { url: secured.url, topicPrefix: 't7', protocolVersion: 4, username: 'pinpoint' };
      const wrong = sinkOf(mqttConfig({ ...base, password: 'nope' }), {
        log: c.log,
        cameras: ['cam1'],
        startTimeoutMs: 3000,
      });
      await wrong.start();
      assert.equal(wrong.connected, false);
      assert.match(
        wrong.lastError ?? '',
        /(Bad username or password|Not authorized).*mqtt\.username \/ mqtt\.password/,
      );
      const warn = c
        .lines()
        .find((l) => l.level === 'warn' && /Not authorized|Bad username/.test(String(l.err)));
      assert.ok(warn, 'logged at warn');
      assert.ok(!JSON.stringify(c.lines()).includes('nope'), 'the password is not logged');
      wrong.result(makeResult('cam1', 1));
      assert.equal(wrong.stats().queued, 1);
      await wrong.stop();

      const sub = await recorder(secured.url, ['t7/#'], {
        username: 'pinpoint',
        password: 's3cret',
        protocolVersion: 4,
      });
      const right = sinkOf(mqttConfig({ ...base, password: 's3cret', rejectPayload: 'plain' }), {
        log,
        cameras: ['cam1'],
      });
      await right.start();
      assert.equal(right.connected, true);
      right.result(makeResult('cam1', 2));
      right.result(makeResult('cam1', 3));
      const rejects = (): Received[] => sub.on('t7/cam1/reject');
      await sub.waitFor(() => rejects().length === 2, '2 reject signals');
      assert.deepEqual(
        rejects().map((m) => valid(rejectPlainPayloadSchema, m)),
        [0, 1],
      );
      await right.stop();

      // MQTT 5: the broker refuses publishes the ACL denies; they are counted and do not block the rest.
      const v5 = sinkOf(mqttConfig({ ...base, protocolVersion: 5, password: 's3cret' }), {
        log,
        cameras: ['cam1', 'blocked'],
      });
      await v5.start();
      v5.result(makeResult('blocked', 0));
      v5.result(makeResult('cam1', 4));
      await sub.waitFor(() => v5.stats().published === 2, 'the refused result and the next one done');
      assert.ok(sub.on('t7/cam1/result').some((m) => m.text.includes('"cam1-part-4"')));
      assert.equal(sub.msgs.filter((m) => m.topic.startsWith('t7/blocked/')).length, 0);
      assert.deepEqual([v5.stats().publishErrors, v5.stats().published, v5.stats().outboxSize], [2, 2, 0]);
      await v5.stop();
      await sub.end();
    } finally {
      await secured.stop();
    }
  });

  test('TLS with a CA and a client certificate; without the client certificate the broker refuses', async () => {
    const pki = makeTestPki(tmp());
    const secured = await startMosquitto({
      tls: { ca: pki.ca, cert: pki.serverCert, key: pki.serverKey, requireCertificate: true },
    });
    try {
      const tls = { ca: pki.ca, cert: pki.clientCert, key: pki.clientKey };
      const sub = await recorder(secured.url, ['t8/+/result'], {
        ca: readFileSync(pki.ca),
        cert: readFileSync(pki.clientCert),
        key: readFileSync(pki.clientKey),
      });
      const sink = sinkOf(mqttConfig({ url: secured.url, topicPrefix: 't8', tls }), {
        log,
        cameras: ['cam1'],
      });
      await sink.start();
      assert.equal(sink.connected, true);
      sink.result(makeResult('cam1', 0));
      await sub.waitFor(() => sub.msgs.length === 1, 'a result over TLS');
      await sink.stop();
      await sub.end();

      const noCert = sinkOf(mqttConfig({ url: secured.url, topicPrefix: 't8', tls: { ca: pki.ca } }), {
        log,
        cameras: ['cam1'],
        startTimeoutMs: 3000,
      });
      await noCert.start();
      assert.equal(noCert.connected, false);
      await noCert.stop();
    } finally {
      await secured.stop();
    }
  });
});

describe('MQTT sink through a broker outage', () => {
  test('broker killed mid-stream, back 5 s later: every result exactly once, in order; status offline → online', async () => {
    const broker = await startMosquitto({ persistence: true });
    open.push({ stop: () => broker.stop() });
    const prefix = 't4';
    const t = mqttTopics(prefix);
    // A persistent session: the broker keeps our subscription and queues for us across its restart.
    const subOpts = { clientId: 'pinpoint-test-sub', clean: false, protocolVersion: 5 as const };
    const sub = await recorder(broker.url, [`${prefix}/+/result`, t.status], {
      ...subOpts,
      properties: { sessionExpiryInterval: 600 },
    });
    const sink: MqttSink = sinkOf(mqttConfig({ url: broker.url, topicPrefix: prefix }), {
      log,
      cameras: ['cam1'],
    });
    await sink.start();
    let n = 0;
    const timer = setInterval(() => sink.result(makeResult('cam1', n++)), 20);
    try {
      await sleep(500);
      await broker.stop();
      const atKill = n;
      await sleep(5000);
      assert.equal(sink.connected, false);
      // Floors at about a fifth of the nominal 50/s: they show results kept coming, also on a loaded host.
      assert.ok(sink.stats().queued > 50, `results wait in the outbox (${sink.stats().queued})`);
      await broker.restart();
      await sleep(1000);
      assert.ok(atKill > 5 && n > atKill + 100, `results kept coming (${atKill} before, ${n} after)`);
    } finally {
      clearInterval(timer);
    }
    const total = n;
    // QoS 1 towards our subscriber is at-least-once too: mosquitto resends what it had in flight to it when
    // its session resumes, with the DUP flag. A copy sent by the sink would arrive as a fresh message (DUP is
    // never forwarded, MQTT 3.3.1.1), so "exactly once from pinpoint" = exactly once among the non-DUP ones.
    const results = (): Received[] => sub.msgs.filter((m) => m.topic === t.result('cam1'));
    const firsts = (): Received[] => results().filter((m) => !m.dup);
    await sub.waitFor(() => firsts().length >= total, `${total} results`, 10_000);
    await sleep(200);
    const expected = Array.from({ length: total }, (_, i) => `cam1-part-${i}`);
    assert.deepEqual(partIds(firsts()), expected, 'each result exactly once, in order');
    const redelivered = partIds(results().filter((m) => m.dup));
    assert.ok(
      redelivered.length <= 5 && redelivered.every((id) => expected.includes(id)),
      redelivered.join(),
    );
    const statuses = sub.on(t.status).map((m) => m.text);
    const off = statuses.indexOf('offline');
    assert.ok(
      off >= 0 && statuses.indexOf('online', off) > off,
      `status went offline → online: ${statuses.join(' ')}`,
    );
    assert.equal(sink.stats().reconnects, 1);
    assert.equal(sink.stats().outboxSize, 0);
    await sink.stop();
    await sub.end();
    await broker.stop();
  });
});
