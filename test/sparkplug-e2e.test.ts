// End to end: `pinpoint run` (the CLI as a child process) as a Sparkplug B edge node with the JSON topics off,
// two synthetic cameras through a tiny dev-teacher bundle, watched by a Sparkplug host that decodes with the
// independent Tahu decoder: births, decisions, the camera whose parts run out stops (DDEATH, its state on the
// node), and SIGTERM gives NDEATH with the session's bdSeq. (The GigE fake camera killed by pid would show
// the same path through the app's camera states; the sink-level tests cover stall and return.)
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import mqtt from 'mqtt';
import { stringify } from 'yaml';
import { createBundle } from '../src/model/bundle.js';
import { writeDevTeacher } from '../src/model/dev-teacher.js';
import { exitWithin, startDaemon } from './helpers/cli.js';
import { startMosquitto, type Broker } from './helpers/mosquitto.js';
import { sparkplugHost, type SparkplugHost } from './helpers/sparkplug-host.js';

const SIZE = 56;
const tmp = mkdtempSync(join(tmpdir(), 'pinpoint-spb-e2e-'));
let broker: Broker;
let host: SparkplugHost | undefined;

before(async () => {
  const teacher = join(tmp, 'dev-teacher.safetensors');
  writeDevTeacher(teacher, { seed: 0 });
  createBundle({ teacherPath: teacher, outDir: join(tmp, 'model'), size: SIZE });
  broker = await startMosquitto();
});

after(async () => {
  await host?.end().catch(() => undefined);
  await broker?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

test('pinpoint run as a Sparkplug edge node: births, decisions, a camera stops, NDEATH on SIGTERM', async () => {
  // A deep queue: a stall of a loaded host must not drop a frame (an error verdict) where 'ok' is expected.
  const synthetic = { type: 'synthetic', width: 64, height: 48, fps: 4, queue: { depth: 16 } };
  const config = {
    cameras: { line1: { ...synthetic, seed: 1 }, line2: { ...synthetic, seed: 2, count: 4 } },
    pipeline: { inputSize: SIZE, batch: { maxBatch: 2, maxWaitMs: 10 } },
    model: { path: join(tmp, 'model') },
    inference: { device: 'cpu', threads: 1 },
    verdict: { rejectThreshold: 1e6, pixelThreshold: 1e6 },
    mqtt: {
      url: broker.url,
      json: false,
      reconnect: { minMs: 100, maxMs: 500 },
      sparkplug: { enabled: true, groupId: 'plant', edgeNodeId: 'cell7', dir: join(tmp, 'spb') },
    },
    logging: { level: 'info', pretty: 'never' },
  };
  const file = join(tmp, 'pinpoint.yaml');
  writeFileSync(file, stringify(config));
  const h = await sparkplugHost(broker.url, 'plant', 'cell7');
  host = h;
  // The JSON topics are off: nothing under the default prefix.
  const json = await mqtt.connectAsync(broker.url);
  const jsonMsgs: string[] = [];
  json.on('message', (t) => jsonMsgs.push(t));
  await json.subscribeAsync('pinpoint/#');

  const daemon = startDaemon(file);
  const { child } = daemon;
  const wait = async (pred: () => boolean, what: string): Promise<void> => {
    try {
      await h.waitFor(pred, what, 60000);
    } catch (err) {
      child.kill('SIGKILL');
      throw new Error(`${(err as Error).message}\n${daemon.output().slice(-3000)}`);
    }
  };
  const ddata = (cam: string) => h.of('DDATA', cam);
  try {
    await wait(() => h.of('DBIRTH').length === 2 && ddata('line1').length >= 5, 'DBIRTHs and 5 DDATA');
    const nbirth = h.of('NBIRTH')[0];
    assert.equal(nbirth.seq, 0);
    assert.equal(nbirth.get('Node Info/Cameras'), 'line1,line2');
    for (const d of ddata('line1').slice(0, 5)) {
      assert.match(String(d.get('Part ID')), /^line1-/);
      assert.equal(typeof d.get('Score'), 'number');
      assert.equal(d.get('Verdict'), 'ok');
      assert.equal(d.get('Reject'), false);
    }
    // line2's four parts, then it stops: DDEATH, and its state on the node.
    await wait(() => h.of('DDEATH', 'line2').length === 1, 'DDEATH of the camera that stopped');
    assert.equal(ddata('line2').length, 4);
    assert.ok(h.of('NDATA').some((m) => m.get('Cameras/line2/State') === 'stopped'));
  } finally {
    child.kill('SIGTERM');
  }
  assert.equal(await exitWithin(daemon, 30000), 0, daemon.output().slice(-3000));
  await wait(() => h.of('NDEATH').length === 1, 'NDEATH on SIGTERM');
  assert.equal(h.of('NDEATH')[0].get('bdSeq'), h.of('NBIRTH')[0].get('bdSeq'));
  // Seq runs on without a gap from the NBIRTH to the last message, across device deaths and births.
  const seqs = h.msgs.filter((m) => m.type !== 'NDEATH').map((m) => m.seq as number);
  for (let i = 1; i < seqs.length; i++) assert.equal(seqs[i], (seqs[i - 1] + 1) % 256, `seq at ${i}`);
  assert.equal(h.of('DDEATH', 'line1').length, 1, 'the cameras stop before the node');
  assert.equal(h.msgs.at(-1)?.type, 'NDEATH');
  await json.endAsync();
  assert.deepEqual(jsonMsgs, [], 'no JSON topics with mqtt.json: false');
});
