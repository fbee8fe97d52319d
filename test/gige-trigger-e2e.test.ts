// End to end with a software-triggered GigE camera: `pinpoint run` (the CLI as a child process) with Aravis's
// fake camera, a tiny dev-teacher bundle and a real mosquitto. Each PLC part message on the trigger topic
// fires the camera and names the part in the frame it takes: K messages → K verdicts with the PLC's part
// ids; a repeated part id takes no second picture.
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

const SIZE = 56;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const tmp = mkdtempSync(join(tmpdir(), 'pinpoint-trig-e2e-'));
let cam: FakeCamera;
let broker: Broker;

before(async () => {
  const teacher = join(tmp, 'dev-teacher.safetensors');
  writeDevTeacher(teacher, { seed: 0 });
  createBundle({ teacherPath: teacher, outDir: join(tmp, 'model'), size: SIZE });
  [cam, broker] = await Promise.all([startFakeCamera('PPTE2E'), startMosquitto()]);
});

after(async () => {
  await Promise.all([cam?.kill(), broker?.stop()]);
  rmSync(tmp, { recursive: true, force: true });
});

test('pinpoint run: PLC part messages fire a software-triggered GigE camera, one verdict per part id', async () => {
  const config = {
    cameras: {
      line1: {
        type: 'gige',
        device: cam.device,
        pixelFormat: 'Mono8',
        packetSize: 8192,
        features: { Width: 256, Height: 192 },
        softwareTrigger: true,
        trigger: { enabled: true, windowMs: 1000 },
        stallTimeoutMs: 1000,
      },
    },
    pipeline: { inputSize: SIZE, batch: { maxBatch: 1, maxWaitMs: 5 } },
    model: { path: join(tmp, 'model') },
    inference: { device: 'cpu', threads: 1 },
    verdict: { rejectThreshold: 1e6, pixelThreshold: 1e6 },
    mqtt: { url: broker.url, topicPrefix: 'plant', outbox: { dir: join(tmp, 'outbox') } },
    logging: { level: 'info', pretty: 'never' },
  };
  const file = join(tmp, 'pinpoint.yaml');
  writeFileSync(file, stringify(config));

  const client = await mqtt.connectAsync(broker.url);
  const results: InspectionResult[] = [];
  let state = '';
  client.on('message', (topic, payload) => {
    if (topic === 'plant/line1/result') results.push(JSON.parse(payload.toString()) as InspectionResult);
    if (topic === 'plant/line1/state') state = (JSON.parse(payload.toString()) as { state: string }).state;
  });
  await client.subscribeAsync(['plant/line1/result', 'plant/line1/state'], { qos: 1 });

  const daemon = startDaemon(file);
  const { child } = daemon;
  const ids = ['P-1', 'P-2', 'P-3', 'P-4', 'P-5'];
  try {
    const ready = Date.now() + 60000; // a loaded host: tsx start-up, model load and warm-up
    while (state !== 'streaming' && Date.now() < ready && child.exitCode === null) await sleep(50);
    assert.equal(state, 'streaming', daemon.output().slice(-3000));
    await sleep(2500); // idle longer than stallTimeoutMs: the camera must stay up and send nothing
    assert.equal(results.length, 0, 'no picture without a part message');

    for (const partId of ids) {
      await client.publishAsync('plant/line1/trigger', JSON.stringify({ partId }), { qos: 1 });
      // Well over the fake camera's 40 ms trigger grid, also when the daemon is held up a moment: a second
      // trigger would be a second frame.
      await sleep(250);
      if (partId === 'P-3')
        // The PLC repeats a message: same part id, no second picture (and no second verdict).
        await client.publishAsync('plant/line1/trigger', JSON.stringify({ partId }), { qos: 1 });
      await sleep(250);
    }
    const end = Date.now() + 10000;
    while (results.length < ids.length && Date.now() < end) await sleep(50);
    await sleep(1500); // longer than the trigger window: a stray frame or no-frame verdict would show
  } finally {
    child.kill('SIGTERM');
  }
  const code = await exitWithin(daemon, 20000);
  await client.endAsync();
  const out = daemon.output();
  assert.equal(code, 0, out.slice(-3000));

  assert.deepEqual(
    results.map((r) => [r.partId, r.reason]),
    ids.map((id) => [id, 'pass']),
    out.slice(-3000),
  );
  assert.ok(
    results.every((r, i) => i === 0 || r.seq! > results[i - 1].seq!),
    'one frame each, in order',
  );
  // Each result carries its evidence: the frame answered this part's software trigger.
  for (const r of results) {
    const p = r.pairing!;
    assert.equal(p.method, 'trigger-token', JSON.stringify(r));
    assert.ok(Number.isInteger(p.frameId) && p.frameId! > 0, JSON.stringify(r));
    assert.ok(p.triggerTime <= r.captureTime + 5 && p.cameraTimestampUs! > 0, JSON.stringify(r));
  }
  const stopped = out.split('\n').find((l) => l.includes('pinpoint stopped'));
  assert.ok(stopped, out.slice(-2000));
  type Stats = { noFrame: number; cameras: Record<string, { frames: number; untriggered: number }> };
  const stats = (JSON.parse(stopped) as { stats: Stats }).stats;
  assert.equal(stats.noFrame, 0, JSON.stringify(stats));
  // The camera took exactly K pictures: none for the repeated part id (it would arrive untriggered).
  assert.deepEqual(
    [stats.cameras.line1.frames, stats.cameras.line1.untriggered],
    [ids.length, 0],
    JSON.stringify(stats),
  );
  const lat = results.map((r) => r.latencyMs).sort((a, b) => a - b);
  console.log(`capture→verdict p50 ${lat[lat.length >> 1].toFixed(0)} ms, max ${lat.at(-1)!.toFixed(0)} ms`);
});
