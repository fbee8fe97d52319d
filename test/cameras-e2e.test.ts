// End to end with real cameras: `pinpoint run` (the CLI as a child process) with one GigE camera (Aravis's
// fake camera) and one RTSP camera (GStreamer RTSP server), batched together through a tiny dev-teacher
// bundle, verdicts for both on a real mosquitto; the cameras' states retained on MQTT.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { stringify } from 'yaml';
import { createBundle } from '../src/model/bundle.js';
import { writeDevTeacher } from '../src/model/dev-teacher.js';
import type { InspectionResult } from '../src/pipeline/result.js';
import { exitWithin, startDaemon } from './helpers/cli.js';
import { startFakeCamera, type FakeCamera } from './helpers/fake-camera.js';
import { startMosquitto, type Broker } from './helpers/mosquitto.js';
import { startRtspServer, type RtspServer } from './helpers/rtsp-server.js';

const SIZE = 56;
const tmp = mkdtempSync(join(tmpdir(), 'pinpoint-cam-e2e-'));
let cam: FakeCamera;
let srv: RtspServer;
let broker: Broker;

before(async () => {
  const teacher = join(tmp, 'dev-teacher.safetensors');
  writeDevTeacher(teacher, { seed: 0 });
  createBundle({ teacherPath: teacher, outDir: join(tmp, 'model'), size: SIZE });
  [cam, srv, broker] = await Promise.all([
    startFakeCamera('PPE2E'),
    startRtspServer({ size: '320x240', fps: 8 }),
    startMosquitto(),
  ]);
});

after(async () => {
  await Promise.all([cam?.kill(), srv?.stop(), broker?.stop()]);
  rmSync(tmp, { recursive: true, force: true });
});

test('pinpoint run: a GigE and an RTSP camera batched together, verdicts for both on MQTT', async () => {
  const config = {
    cameras: {
      line1: {
        type: 'gige',
        device: cam.device,
        pixelFormat: 'Mono8',
        packetSize: 8192,
        features: { Width: 256, Height: 192, AcquisitionFrameRate: 8 },
      },
      line2: { type: 'rtsp', url: srv.url.replace('rtsp://', 'rtsp://op:pw-e2e-secret@'), transport: 'tcp' },
    },
    // maxWaitMs long enough for the other camera's frame to join the batch.
    pipeline: { inputSize: SIZE, batch: { maxBatch: 4, maxWaitMs: 100 } },
    model: { path: join(tmp, 'model') },
    inference: { device: 'cpu', threads: 1 },
    // No teach-in here: explicit thresholds (the verdicts themselves are not what this test is about).
    verdict: { rejectThreshold: 1e6, pixelThreshold: 1e6 },
    mqtt: { url: broker.url, topicPrefix: 'cams', outbox: { dir: join(tmp, 'outbox') } },
    logging: { level: 'info', pretty: 'never' },
  };
  const file = join(tmp, 'pinpoint.yaml');
  writeFileSync(file, stringify(config));

  const client = await mqtt.connectAsync(broker.url);
  const results: InspectionResult[] = [];
  const states = new Map<string, string[]>();
  client.on('message', (topic, payload) => {
    if (topic.endsWith('/result')) results.push(JSON.parse(payload.toString()) as InspectionResult);
    if (topic.endsWith('/state')) {
      const cam = topic.split('/')[1];
      states.set(cam, [...(states.get(cam) ?? []), payload.toString()]);
    }
  });
  await client.subscribeAsync('cams/#', { qos: 1 });

  const daemon = startDaemon(file);
  const { child } = daemon;
  // Inspected frames; a frame dropped by a full queue (this box may be busy) gets an error verdict instead.
  const count = (c: string) => results.filter((r) => r.cameraId === c && r.reason === 'pass').length;
  try {
    const until = Date.now() + 45000;
    while ((count('line1') < 10 || count('line2') < 10) && Date.now() < until) {
      if (child.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(
      count('line1') >= 10 && count('line2') >= 10,
      `results ${count('line1')}/${count('line2')}\n${daemon.output().slice(-3000)}`,
    );
  } finally {
    child.kill('SIGTERM');
  }
  // pinpoint drains on SIGTERM; bounded here so a hung shutdown fails the test instead of hanging it.
  assert.equal(await exitWithin(daemon, 30000), 0, daemon.output().slice(-3000));
  await client.endAsync();

  // The states are retained: a client connecting after the run still reads each camera's last state.
  const late = await mqtt.connectAsync(broker.url);
  const retained = new Map<string, string>();
  late.on('message', (topic, payload, packet) => {
    if (packet.retain) retained.set(topic, (JSON.parse(payload.toString()) as { state: string }).state);
  });
  await late.subscribeAsync('cams/+/state', { qos: 1 });
  const end = Date.now() + 5000;
  while (retained.size < 2 && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
  await late.endAsync();
  assert.deepEqual(Object.fromEntries(retained), {
    'cams/line1/state': 'stopped',
    'cams/line2/state': 'stopped',
  });

  for (const c of ['line1', 'line2']) {
    const rs = results.filter((r) => r.cameraId === c);
    const odd = rs.filter((r) => r.reason !== 'pass' && !/queue was full/.test(r.detail ?? ''));
    assert.deepEqual(odd, [], 'every verdict is an inspection or a counted queue drop');
    assert.ok(
      rs.every((r, i) => i === 0 || r.seq! > rs[i - 1].seq!),
      'increasing seq',
    );
    const s = (states.get(c) ?? []).map((t) => (JSON.parse(t) as { state: string }).state);
    assert.ok(s.includes('streaming'), `${c} states ${s}`);
    const lat = rs
      .filter((r) => r.reason === 'pass')
      .map((r) => r.latencyMs)
      .sort((a, b) => a - b);
    console.log(
      `${c}: ${rs.length} verdicts (${lat.length} inspected), capture→verdict p50 ${lat[lat.length >> 1].toFixed(0)} ms, max ${lat.at(-1)!.toFixed(0)} ms`,
    );
  }
  // Cross-camera batching: the engine's final stats show batches of more than one frame.
  const out = daemon.output();
  const stopped = out.split('\n').find((l) => l.includes('pinpoint stopped'));
  assert.ok(stopped, out.slice(-2000));
  const stats = (JSON.parse(stopped) as { stats: { batches: number; meanBatch: number } }).stats;
  console.log(`batches ${stats.batches}, mean batch ${stats.meanBatch}`);
  assert.ok(stats.meanBatch > 1.2, `frames of both cameras share batches: ${JSON.stringify(stats)}`);
  assert.ok(!out.includes('pw-e2e-secret'), 'the RTSP password never reaches the log');
});
