// Acceptance of `pinpoint run` end to end: the real CLI as a child process, a real mosquitto, a real
// onnxruntime session of a dev-teacher bundle taught in here (S = 112, good synthetic parts), synthetic
// cameras whose ground truth the test regenerates from the same seeds, and a real MQTT subscriber.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { configSchema } from '../src/config/schema.js';
import type { CameraConfig } from '../src/config/schema.js';
import { createBundle } from '../src/model/bundle.js';
import { writeDevTeacher } from '../src/model/dev-teacher.js';
import type { InspectionResult } from '../src/pipeline/result.js';
import { syntheticParts } from '../src/sources/synthetic.js';
import { makeDataset } from '../src/synthetic/parts.js';
import type { SyntheticPart } from '../src/synthetic/parts.js';
import { teachIn } from '../src/teach/teach-in.js';
import { exitWithin, startDaemon as startRun, type Daemon } from './helpers/cli.js';
import { startMosquitto } from './helpers/mosquitto.js';
import type { Broker } from './helpers/mosquitto.js';
import { record } from './helpers/mqtt.js';
import type { Recorder } from './helpers/mqtt.js';

const SIZE = 112;
const FRAME = { width: 320, height: 240 };
const tmp = mkdtempSync(join(tmpdir(), 'pinpoint-e2e-'));
const bundleDir = join(tmp, 'model');
let thresholds: { reject: number; pixel: number };
/** Everything a failed test may leave open, closed in after() so the file never hangs. */
const daemons: Daemon[] = [];
const recorders: Recorder[] = [];

async function subscribe(url: string, filters: string[], options = {}): Promise<Recorder> {
  const rec = await record(url, filters, options);
  recorders.push(rec);
  return rec;
}

function startDaemon(config: Record<string, unknown>, name: string, env: NodeJS.ProcessEnv = {}): Daemon {
  const file = join(tmp, `${name}.yaml`);
  writeFileSync(file, stringify(config));
  const d = startRun(file, { ...env, PINPOINT_LOG_LEVEL: 'info' });
  daemons.push(d);
  return d;
}

function baseConfig(
  broker: Broker,
  prefix: string,
  cameras: Record<string, unknown>,
  over: Record<string, unknown> = {},
) {
  return {
    cameras,
    pipeline: { inputSize: SIZE, batch: { maxBatch: 4, maxWaitMs: 10 } },
    model: { path: bundleDir },
    inference: { device: 'cpu', threads: 1 },
    mqtt: { url: broker.url, topicPrefix: prefix, outbox: { dir: join(tmp, `outbox-${prefix}`) } },
    logging: { level: 'info', pretty: 'never' },
    ...over,
  };
}

function synthetic(over: Record<string, unknown>): Record<string, unknown> {
  // A deep queue: a loaded test host may stall the daemon for a moment, which must not turn a part into a
  // dropped-frame error here (drops are tested in engine.test.ts).
  return {
    type: 'synthetic',
    ...FRAME,
    defectKinds: ['dent', 'missing'],
    defectSizes: [80, 96],
    queue: { depth: 16 },
    ...over,
  };
}

/** Ground truth of the first n parts of a synthetic camera config. */
function truthOf(raw: Record<string, unknown>, n: number): SyntheticPart[] {
  const cfg = configSchema.parse({ cameras: { c: raw } }).cameras.c as Extract<
    CameraConfig,
    { type: 'synthetic' }
  >;
  const it = syntheticParts(cfg);
  return Array.from({ length: n }, () => it.next().value as SyntheticPart);
}

function results(rec: Recorder, prefix: string): InspectionResult[] {
  return rec.msgs
    .filter((m) => m.topic.startsWith(prefix + '/') && m.topic.endsWith('/result'))
    .map((m) => JSON.parse(m.text) as InspectionResult);
}

function byPart(rs: InspectionResult[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const r of rs) m.set(r.partId, (m.get(r.partId) ?? 0) + 1);
  return m;
}

const overlaps = (
  a: { x: number; y: number; width: number; height: number },
  b: { x: number; y: number; width: number; height: number },
) => a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;

describe('pinpoint run end to end', () => {
  let broker: Broker;

  before(async () => {
    const teacher = join(tmp, 'dev-teacher.safetensors');
    writeDevTeacher(teacher, { seed: 0 });
    createBundle({ teacherPath: teacher, outDir: bundleDir, size: SIZE });
    const good = makeDataset({ good: 24, defective: 0, seed: 1000, ...FRAME });
    const r = await teachIn({
      bundleDir,
      images: good.map((p) => ({ width: p.width, height: p.height, channels: 3 as const, data: p.rgb })),
      options: { seed: 0, device: 'cpu' },
    });
    assert.ok(r.thresholds, 'teach-in calibrated thresholds');
    thresholds = r.thresholds;
    broker = await startMosquitto({ persistence: true });
  });

  after(async () => {
    for (const d of daemons) if (d.child.exitCode === null) d.child.kill('SIGKILL');
    await Promise.all(recorders.map((r) => r.end().catch(() => undefined)));
    await broker?.stop();
  });

  test('N synthetic parts → exactly N verdicts; defective parts rejected with a blob on the defect', async () => {
    const cams = {
      a: synthetic({ seed: 21, count: 20, fps: 8, defectRate: 0.5 }),
      b: synthetic({ seed: 22, count: 20, fps: 8, defectRate: 0.5 }),
    };
    const rec = await subscribe(broker.url, ['e2e1/#']);
    const d = startDaemon(baseConfig(broker, 'e2e1', cams), 'e2e1');
    assert.equal(await exitWithin(d, 60000), 0, d.output().slice(-3000));
    await rec.waitFor(() => results(rec, 'e2e1').length >= 40, '40 results');
    await rec.waitFor(() => rec.on('e2e1/status').some((m) => m.text === 'stopped'), 'status stopped');
    await new Promise((r) => setTimeout(r, 200)); // a 41st result would have arrived by now
    await rec.end();
    const rs = results(rec, 'e2e1');
    assert.equal(rs.length, 40);
    assert.equal(byPart(rs).size, 40, 'one verdict per part');
    let defective = 0;
    let caught = 0;
    let good = 0;
    let falseRejects = 0;
    for (const [cam, raw] of Object.entries(cams)) {
      const truth = truthOf(raw, 20);
      for (const r of rs.filter((x) => x.cameraId === cam)) {
        assert.match(r.partId, new RegExp(`^${cam}-[0-9a-z]{8}-${r.seq}$`), 'camera, run id, frame number');
        assert.ok(r.reason === 'pass' || r.reason === 'score', `${r.partId}: ${r.reason} ${r.detail ?? ''}`);
        assert.equal(r.threshold, thresholds.reject);
        const t = truth[r.seq! - 1];
        if (t.defect) {
          defective++;
          if (r.verdict === 'reject' && r.blobs.some((b) => overlaps(b.box, t.defect!.box))) caught++;
        } else {
          good++;
          if (r.verdict !== 'ok') falseRejects++;
        }
      }
    }
    console.log(
      `# e2e: ${caught}/${defective} defective parts rejected with a blob on the defect; ` +
        `false rejects ${falseRejects}/${good} good parts (${((100 * falseRejects) / Math.max(1, good)).toFixed(1)} %)`,
    );
    assert.ok(defective >= 10, `${defective} defective parts`);
    assert.ok(caught >= 0.95 * defective, `${caught} of ${defective} defective parts caught`);
    // The reject signal topic carries one message per part too.
    const rejects = rec.msgs.filter((m) => m.topic.endsWith('/reject'));
    assert.equal(rejects.length, 40);
  });

  test('broker killed mid-run and back 5 s later: every verdict arrives once; status offline, then online', async () => {
    const cams = { a: synthetic({ seed: 31, count: 40, fps: 4, defectRate: 0.3 }) };
    const rec = await subscribe(broker.url, ['e2e2/#'], { clientId: 'e2e2-plc', clean: false });
    const cfg = baseConfig(broker, 'e2e2', cams);
    // Reconnect within a second of the broker's return, well before the 10 s run ends (default backoff: up to 10 s).
    const d = startDaemon({ ...cfg, mqtt: { ...cfg.mqtt, reconnect: { minMs: 200, maxMs: 1000 } } }, 'e2e2');
    await rec.waitFor(() => results(rec, 'e2e2').length >= 4, 'first results', 90000);
    await broker.stop();
    await new Promise((r) => setTimeout(r, 5000));
    await broker.restart();
    assert.equal(await exitWithin(d, 60000), 0, d.output().slice(-3000));
    await rec.waitFor(() => results(rec, 'e2e2').length >= 40, 'all 40 results', 15000);
    await rec.waitFor(() => rec.on('e2e2/status').some((m) => m.text === 'stopped'), 'status stopped');
    await new Promise((r) => setTimeout(r, 300));
    await rec.end();
    // QoS 1 is at-least-once: a message in flight when the broker died may be delivered again after the
    // restart, byte for byte. What must never happen is a second, different decision for a part.
    const texts = new Map<string, Set<string>>();
    for (const m of rec.msgs.filter((x) => x.topic === 'e2e2/a/result')) {
      const id = (JSON.parse(m.text) as InspectionResult).partId;
      texts.set(id, (texts.get(id) ?? new Set()).add(m.text));
    }
    assert.equal(texts.size, 40, 'every part');
    const decidedTwice = [...texts].filter(([, t]) => t.size > 1).map(([id]) => id);
    assert.deepEqual(decidedTwice, [], 'no part with two different verdict messages');
    const rs = results(rec, 'e2e2');
    const redelivered = rs.length - 40;
    console.log(`# e2e: broker outage: 40 parts, ${redelivered} identical QoS 1 redeliveries`);
    // Each part once, in order, apart from redeliveries of the message in flight at the outage.
    const firsts = rs.filter((r, i) => rs.findIndex((x) => x.partId === r.partId) === i).map((r) => r.seq);
    assert.deepEqual(
      firsts,
      firsts.map((_, i) => i + 1),
    );
    const statuses = rec.on('e2e2/status').map((m) => m.text);
    const off = statuses.indexOf('offline');
    assert.ok(off > 0 && statuses.indexOf('online') < off, `statuses ${statuses}`);
    assert.ok(statuses.slice(off).includes('online'), `online again after offline: ${statuses}`);
    assert.equal(statuses.at(-1), 'stopped');
  });

  test('slow inference: late parts get the fail-safe verdict at their deadline, before inference ends, never a second one', async () => {
    const deadlineMs = 300;
    const cams = { a: synthetic({ seed: 41, count: 8, fps: 4, defectRate: 0 }) };
    const rec = await subscribe(broker.url, ['e2e3/#']);
    const cfg = baseConfig(broker, 'e2e3', cams, {
      verdict: { deadlineMs, failSafe: 'reject' },
      pipeline: { inputSize: SIZE, batch: { maxBatch: 1, maxWaitMs: 0 } },
    });
    const d = startDaemon(cfg, 'e2e3', { PINPOINT_TEST_INFER_DELAY_MS: '1000' });
    assert.equal(await exitWithin(d, 60000), 0, d.output().slice(-3000));
    await rec.waitFor(() => rec.on('e2e3/status').some((m) => m.text === 'stopped'), 'status stopped');
    await new Promise((r) => setTimeout(r, 300));
    await rec.end();
    const rs = results(rec, 'e2e3');
    assert.equal(rs.length, 8);
    assert.equal(byPart(rs).size, 8, 'one verdict per part');
    const timeouts = rs.filter((r) => r.reason === 'timeout');
    assert.ok(timeouts.length >= 4, `${timeouts.length} timeouts`);
    // Inference takes 1000 ms per frame here: a verdict well before that came from the deadline timer, not from
    // a late inference result. The bound leaves room for timers on a loaded machine (not a timing goal:
    // bench/ measures latency).
    const bound = deadlineMs + 500;
    for (const r of timeouts) {
      const p = r as InspectionResult & { publishTime: number };
      assert.equal(r.verdict, 'reject');
      assert.ok(r.latencyMs >= deadlineMs && r.latencyMs <= bound, `decided after ${r.latencyMs} ms`);
      const published = p.publishTime - r.captureTime;
      assert.ok(published <= bound, `published ${published} ms after capture`);
    }
    assert.match(d.output(), /TEST ONLY: inference slowed/);
    assert.match(d.output(), /result came after the fail-safe verdict/);
  });

  test('PLC triggers name parts; malformed ones and unknown cameras are ignored; SIGTERM drains, exits 0, stopped', async () => {
    const cams = {
      t: synthetic({
        seed: 51,
        fps: 10,
        defectRate: 0,
        trigger: { enabled: true, windowMs: 1000, pairing: 'order' },
      }),
      u: synthetic({ seed: 52, fps: 5, defectRate: 0 }),
    };
    const rec = await subscribe(broker.url, ['e2e4/#']);
    const d = startDaemon(baseConfig(broker, 'e2e4', cams), 'e2e4');
    await rec.waitFor(() => results(rec, 'e2e4').some((r) => r.cameraId === 'u'), 'daemon running', 90000);
    const pub = (topic: string, payload: string) => rec.client.publishAsync(topic, payload, { qos: 1 });
    await pub('e2e4/t/trigger', 'not json');
    await pub('e2e4/t/trigger', JSON.stringify({ partId: '' }));
    await pub('e2e4/trigger', JSON.stringify({ partId: 'X1', camera: 'nope' }));
    await pub('e2e4/nope/trigger', JSON.stringify({ partId: 'X2' }));
    await pub('e2e4/t/trigger', JSON.stringify({ partId: 'PLC-1' }));
    await pub('e2e4/trigger', JSON.stringify({ partId: 'PLC-2', camera: 't' }));
    await rec.waitFor(() => results(rec, 'e2e4').some((r) => r.partId === 'PLC-2'), 'triggered parts', 10000);
    const before = results(rec, 'e2e4').filter((r) => r.cameraId === 'u').length;
    await rec.waitFor(
      () => results(rec, 'e2e4').filter((r) => r.cameraId === 'u').length >= before + 2,
      'still inspecting after bad triggers',
      10000,
    );
    d.child.kill('SIGTERM');
    assert.equal(await exitWithin(d, 15000), 0, d.output().slice(-3000));
    await rec.waitFor(() => rec.on('e2e4/status').some((m) => m.text === 'stopped'), 'status stopped');
    await new Promise((r) => setTimeout(r, 200));
    await rec.end();
    const rs = results(rec, 'e2e4');
    const t = rs.filter((r) => r.cameraId === 't');
    assert.deepEqual(
      t.map((r) => r.partId),
      ['PLC-1', 'PLC-2'],
      'only triggered frames are parts on camera t',
    );
    assert.ok(t.every((r) => r.reason === 'pass' || r.reason === 'score'));
    assert.ok(!rs.some((r) => r.partId.startsWith('X')));
    // Drained: every frame of camera u that became a part has its verdict, with no gap in the sequence.
    const useqs = rs.filter((r) => r.cameraId === 'u').map((r) => r.seq!);
    assert.deepEqual(
      useqs,
      useqs.map((_, i) => i + 1),
    );
    assert.equal(byPart(rs).size, rs.length, 'no part twice');
    const out = d.output();
    assert.match(out, /malformed|not UTF-8 JSON/i);
    assert.match(out, /unknown camera/i);
    assert.match(out, /stopping: draining frames in flight/);
    assert.equal(rec.on('e2e4/status').at(-1)!.text, 'stopped');
  });
});
