// Issue 10 against a running daemon (`pinpoint run` as a child, a real mosquitto, a real onnxruntime session):
// a PNG bomb in a files camera's folder is skipped and the other images keep getting verdicts; two runs
// without triggers publish disjoint part ids; a missing replay folder is a config error (exit 2); a daemon
// whose only source delivered nothing exits non-zero; frames unlike the taught ones are reported.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { createBundle, loadBundle, saveStudents } from '../src/model/bundle.js';
import { writeDevTeacher } from '../src/model/dev-teacher.js';
import type { InspectionResult } from '../src/pipeline/result.js';
import { makeDataset } from '../src/synthetic/parts.js';
import { writeImage } from '../src/util/image-io.js';
import { exitWithin, startDaemon, type Daemon } from './helpers/cli.js';
import { startMosquitto, type Broker } from './helpers/mosquitto.js';
import { record, type Recorder } from './helpers/mqtt.js';
import { writeBlackPng } from './helpers/png-bomb.js';

const tmp = mkdtempSync(join(tmpdir(), 'pinpoint-input-daemon-'));
const bundleDir = join(tmp, 'model');
const replay = join(tmp, 'replay');
const daemons: Daemon[] = [];
const recorders: Recorder[] = [];
let broker: Broker;

function config(prefix: string, cameras: Record<string, unknown>): string {
  const file = join(tmp, `${prefix}.yaml`);
  const cfg = {
    cameras,
    pipeline: { inputSize: 56 },
    model: { path: bundleDir },
    inference: { device: 'cpu', threads: 1 },
    mqtt: { url: broker.url, topicPrefix: prefix, outbox: { dir: join(tmp, `outbox-${prefix}`) } },
    logging: { level: 'info', pretty: 'never' },
  };
  writeFileSync(file, stringify(cfg));
  return file;
}

function run(file: string): Daemon {
  const d = startDaemon(file);
  daemons.push(d);
  return d;
}

async function subscribe(prefix: string): Promise<Recorder> {
  const rec = await record(broker.url, [`${prefix}/#`]);
  recorders.push(rec);
  return rec;
}

const results = (rec: Recorder): InspectionResult[] =>
  rec.msgs.filter((m) => m.topic.endsWith('/result')).map((m) => JSON.parse(m.text) as InspectionResult);

before(async () => {
  const teacher = join(tmp, 'dev-teacher.safetensors');
  writeDevTeacher(teacher, { depth: 2, dim: 16, heads: 2, registers: 1, seed: 0 });
  createBundle({ teacherPath: teacher, outDir: bundleDir, size: 56, layers: [1, 2] });
  // Thresholds and the frame profile a teach-in on 64×48 colour parts records.
  saveStudents(bundleDir, loadBundle(bundleDir).students, {
    training: { trainedAt: new Date().toISOString(), frames: { colour: 'colour', width: 64, height: 48 } },
    thresholds: { reject: 1e6, pixel: 1e6, rule: 'test: nothing rejects' },
  });
  mkdirSync(replay);
  makeDataset({ good: 3, defective: 0, seed: 2, width: 64, height: 48 }).forEach((p, i) =>
    writeImage(join(replay, `p${i}.png`), { width: p.width, height: p.height, channels: 3, data: p.rgb }),
  );
  // A grey frame and one four times the taught size: each warned about once.
  writeImage(join(replay, 'p3-grey.png'), {
    width: 64,
    height: 48,
    channels: 1,
    data: new Uint8Array(64 * 48).map((_, i) => i & 255),
  });
  writeImage(join(replay, 'p4-big.png'), {
    width: 256,
    height: 192,
    channels: 3,
    data: new Uint8Array(256 * 192 * 3).map((_, i) => (i * 7) & 255),
  });
  await writeBlackPng(join(replay, 'p2-bomb.png'), 20000, 20000);
  broker = await startMosquitto();
});

after(async () => {
  for (const d of daemons) if (d.child.exitCode === null) d.child.kill('SIGKILL');
  await Promise.all(recorders.map((r) => r.end().catch(() => undefined)));
  await broker?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

describe('pinpoint run on hostile input', () => {
  test('a PNG bomb in a replay is skipped; the other images get verdicts; two runs share no part id', async () => {
    const cameras = {
      // Deep queues: a stall of a loaded host must not drop a frame (an error verdict) where 'ok' is expected.
      cam: { type: 'files', path: replay, fps: 20, loop: false, queue: { depth: 16 } },
      syn: { type: 'synthetic', width: 64, height: 48, fps: 20, count: 3, queue: { depth: 16 } },
    };
    const ids: string[][] = [];
    for (const prefix of ['bomb1', 'bomb2']) {
      const rec = await subscribe(prefix);
      const d = run(config(prefix, cameras));
      assert.equal(await exitWithin(d, 90000), 0, d.output().slice(-3000));
      await rec.waitFor(() => results(rec).length >= 8, '8 results');
      const rs = results(rec);
      assert.equal(rs.length, 8, '5 readable files and 3 synthetic parts, the bomb skipped');
      for (const r of rs) assert.equal(r.verdict, 'ok', `${r.partId}: ${r.verdict} ${r.detail ?? ''}`);
      const files = rs.filter((r) => r.cameraId === 'cam').map((r) => r.partId);
      assert.equal(files.length, 5);
      for (const id of files) assert.match(id, /^cam-[0-9a-z]{8}-\d+-p\d(-grey|-big)?$/);
      assert.ok(!files.some((id) => id.includes('bomb')));
      for (const r of rs.filter((x) => x.cameraId === 'syn')) assert.match(r.partId, /^syn-[0-9a-z]{8}-\d+$/);
      ids.push(rs.map((r) => r.partId));

      const out = d.output();
      assert.match(out, /p2-bomb\.png.*20000×20000 pixels \(400 MP\) is above the limit of 64 MP/);
      assert.match(out, /image too large: skipped \(cameras\.cam\.maxImagePixels raises the limit\)/);
      // The geometry at camera start, and frames unlike the taught ones, each said once.
      assert.match(
        out,
        /camera cam: 64×48 colour frames, one patch ≈ 16 px: defects much smaller may be missed/,
      );
      assert.equal(out.match(/grey frames on a model taught on colour images/g)?.length, 1, out);
      assert.equal(out.match(/frames are 256×192, the model was taught on 64×48/g)?.length, 1, out);
      assert.match(out, /"runId":"[0-9a-z]{8}"/);
    }
    const first = new Set(ids[0]);
    assert.deepEqual(
      ids[1].filter((id) => first.has(id)),
      [],
      'no part id of the second run repeats one of the first',
    );
  });

  test('a replay folder that does not exist: exit 2 at start, naming the key and the path', async () => {
    const missing = join(tmp, 'no-such-folder');
    const d = run(config('missing', { cam: { type: 'files', path: missing } }));
    assert.equal(await exitWithin(d, 60000), 2, d.output());
    assert.match(d.output(), new RegExp(`cameras\\.cam\\.path: ${missing} does not exist`));
    // A glob below a missing folder, and an empty folder replayed once, likewise.
    const empty = join(tmp, 'empty');
    mkdirSync(empty);
    const g = run(config('missing-glob', { cam: { type: 'files', path: join(missing, '*.png') } }));
    assert.equal(await exitWithin(g, 60000), 2, g.output());
    const e = run(config('empty', { cam: { type: 'files', path: empty, loop: false } }));
    assert.equal(await exitWithin(e, 60000), 2, e.output());
    assert.match(e.output(), /no images at .*empty, and loop: false leaves nothing to replay/);
  });

  test('every source ends without a frame (a replay of only unusable files): exit 1, said at error level', async () => {
    const only = join(tmp, 'only-bomb');
    mkdirSync(only);
    await writeBlackPng(join(only, 'bomb.png'), 20000, 20000);
    const d = run(config('failed', { cam: { type: 'files', path: only, loop: false } }));
    assert.equal(await exitWithin(d, 90000), 1, d.output().slice(-3000));
    assert.match(d.output(), /"level":"error".*every camera source ended without delivering a frame/);
  });
});
