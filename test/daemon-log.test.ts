// What the daemon logs while it inspects, read back from a real run (startApp with a real onnxruntime session of a
// tiny dev-teacher bundle, two replaying files cameras and a real mosquitto): one debug line per decision, the
// periodic per-camera stats line whose counts add up to the decisions, a bounded number of lines for a PLC
// flooding triggers at a camera that takes none, and no key written twice.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { startApp } from '../src/app.js';
import { configSchema } from '../src/config/schema.js';
import { createBundle } from '../src/model/bundle.js';
import { writeDevTeacher } from '../src/model/dev-teacher.js';
import type { InspectionResult } from '../src/pipeline/result.js';
import type { StatsInterval } from '../src/sinks/stats-window.js';
import { writeImage } from '../src/util/image-io.js';
import { Rng } from '../src/util/random.js';
import { captureLog } from './helpers/log-capture.js';
import { startMosquitto, type Broker } from './helpers/mosquitto.js';

const tmp = mkdtempSync(join(tmpdir(), 'pinpoint-daemon-log-'));
const images = join(tmp, 'images');

describe('daemon log', () => {
  let broker: Broker;
  before(async () => {
    writeDevTeacher(join(tmp, 't.safetensors'), { depth: 2, dim: 16, heads: 2, seed: 1 });
    createBundle({
      teacherPath: join(tmp, 't.safetensors'),
      outDir: join(tmp, 'model'),
      size: 56,
      layers: [1, 2],
    });
    mkdirSync(images);
    const rng = new Rng(4);
    for (let i = 0; i < 4; i++) {
      const data = new Uint8Array(64 * 48 * 3);
      for (let k = 0; k < data.length; k++) data[k] = rng.int(0, 255);
      writeImage(join(images, `p${i}.png`), { width: 64, height: 48, channels: 3, data });
    }
    writeFileSync(join(images, 'broken.png'), 'not a png');
    broker = await startMosquitto();
  });
  after(async () => {
    await broker?.stop();
  });

  test(
    'decisions at debug, stats every interval adding up to them, a trigger flood in a few lines',
    { timeout: 120000 },
    async () => {
      // A slow, loaded machine may time out or drop a frame: a long deadline and deep queues keep the verdicts
      // real; the checks below still hold if some are fail-safe.
      const files = { type: 'files', path: images, fps: 5, loop: true, queue: { depth: 16 } };
      const config = configSchema.parse({
        cameras: {
          a: { ...files, verdict: { rejectThreshold: 1e6, pixelThreshold: 1e6 } },
          b: { ...files, verdict: { rejectThreshold: 1e-9, pixelThreshold: 1e6 } },
        },
        pipeline: { inputSize: 56 },
        model: { path: join(tmp, 'model') },
        inference: { device: 'cpu', threads: 1 },
        mqtt: { url: broker.url, topicPrefix: 'dl', outbox: { dir: join(tmp, 'outbox') } },
        verdict: { deadlineMs: 30000 },
        logging: { level: 'debug', statsIntervalSec: 1 },
      });
      const c = captureLog({ level: 'debug' });
      const results: InspectionResult[] = [];
      const app = await startApp({
        config,
        configDir: tmp,
        log: c.log,
        sinks: [
          {
            name: 'test',
            start: async () => {},
            result: (r) => results.push(r),
            cameraState: () => {},
            stop: async () => {},
          },
        ],
      });
      const plc = await mqtt.connectAsync(broker.url);
      let floodSeconds = 0;
      try {
        // A PLC sending part triggers to camera a, which has no trigger.enabled.
        const t0 = Date.now();
        for (let i = 0; i < 2000; i++)
          await plc.publishAsync('dl/a/trigger', JSON.stringify({ partId: `P${i}` }), { qos: 1 });
        floodSeconds = (Date.now() - t0) / 1000;
        const statsLines = () => c.records().filter((r) => r.interval !== undefined);
        const until = Date.now() + 60000;
        const triggers = () => app.status.mqtt?.().triggers ?? 0;
        while ((statsLines().length < 3 || triggers() < 2000) && Date.now() < until)
          await new Promise((r) => setTimeout(r, 100));
        assert.ok(statsLines().length >= 3, 'three stats lines within 60 s');
        assert.equal(triggers(), 2000, 'every trigger reached the engine');
      } finally {
        await plc.endAsync();
        await app.stop('test done');
      }
      const recs = c.records();

      // One debug line per decision, with what an operator needs to follow a part.
      const decisions = recs.filter((r) => r.msg === 'decision');
      assert.equal(decisions.length, results.length);
      assert.ok(results.length >= 4, `${results.length} parts`);
      for (const d of decisions) {
        assert.equal(d.level, 'debug');
        assert.ok(d.camera === 'a' || d.camera === 'b');
        assert.equal(typeof d.part, 'string');
        assert.equal(typeof d.latencyMs, 'number', JSON.stringify(d));
        // A frame dropped on an overloaded machine is an error verdict without a score; the rest are real.
        if (d.reason === 'error') continue;
        assert.equal(typeof d.score, 'number', JSON.stringify(d));
        assert.deepEqual([d.verdict, d.reason], d.camera === 'a' ? ['ok', 'pass'] : ['reject', 'score']);
      }
      assert.ok(decisions.some((d) => d.reason === 'pass') && decisions.some((d) => d.reason === 'score'));

      // Stats lines at info; over all of them (the last one at stop) every part is counted once.
      const stats = recs.filter((r) => r.interval !== undefined);
      const sum = { a: 0, b: 0 };
      for (const r of stats) {
        assert.equal(r.level, 'info');
        const s = r.interval as StatsInterval;
        assert.match(
          String(r.msg),
          /^last [\d.]+ s: a \d+ ok, 0 reject, \d+ error, [\d.]+ fps, \d+ dropped, latency /,
        );
        assert.match(String(r.msg), /; b 0 ok, \d+ reject, \d+ error, [\d.]+ fps, \d+ dropped, latency /);
        for (const id of ['a', 'b'] as const) {
          const cam = s.cameras[id];
          sum[id] += cam.parts;
          if (cam.parts > 0) {
            assert.ok(cam.latencyP50Ms! > 0 && cam.latencyP99Ms! >= cam.latencyP50Ms!, JSON.stringify(cam));
            assert.ok(cam.fps > 0);
          }
        }
      }
      assert.deepEqual(sum, {
        a: results.filter((r) => r.cameraId === 'a').length,
        b: results.filter((r) => r.cameraId === 'b').length,
      });
      const busy = stats.find((r) => (r.interval as StatsInterval).cameras.a.parts > 0);
      assert.ok(busy, 'a stats line with parts');

      // 2000 refused triggers: one line per 10 s of flood (a second or two here), not 2000.
      const refused = recs.filter((r) => /takes no triggers/.test(String(r.msg)));
      assert.ok(
        refused.length >= 1 && refused.length <= 2 + Math.floor(floodSeconds / 10),
        `${refused.length} lines for 2000 refused triggers`,
      );

      // Sources log through the camera-bound logger: `camera` appears once in the line.
      const skipped = c.text().find((l) => l.includes('unreadable image skipped'));
      assert.ok(skipped);
      assert.equal(skipped.match(/"camera"/g)?.length, 1, skipped);
    },
  );
});
