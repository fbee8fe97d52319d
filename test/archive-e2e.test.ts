// Acceptance of the parts archive, /metrics and the health endpoints with real parts: `pinpoint run` as a child
// process on synthetic cameras (one of them tiled, issue 15), a dev-teacher bundle (untrained students;
// thresholds from the config), a real mosquitto and subscriber, real HTTP scrapes, the console's API, its
// drill-down page and the tiled camera's live heatmap in Chromium, and the archive read back from disk (SQLite
// index, PNG, .npy).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Page } from 'playwright-core';
import WebSocket from 'ws';
import { extract } from 'tar-stream';
import { stringify } from 'yaml';
import { createBundle } from '../src/model/bundle.js';
import { writeDevTeacher } from '../src/model/dev-teacher.js';
import { findBlobs } from '../src/pipeline/blobs.js';
import type { InspectionResult } from '../src/pipeline/result.js';
import { MAX_BLOBS } from '../src/pipeline/verdict.js';
import { ArchiveIndex } from '../src/sinks/archive/archive-index.js';
import type { MapInfo } from '../src/sinks/archive/entry-map.js';
import { FILES, INDEX_FILE } from '../src/sinks/archive/layout.js';
import { readImage, readNpy, writeImage } from '../src/util/image-io.js';
import { exitWithin, runCli, startDaemon as startRun, type Daemon } from './helpers/cli.js';
import { freePort, startMosquitto } from './helpers/mosquitto.js';
import type { Broker } from './helpers/mosquitto.js';
import { record } from './helpers/mqtt.js';
import type { Recorder } from './helpers/mqtt.js';

const SIZE = 56;
const FRAME = { width: 160, height: 120 };
/** Untrained students score synthetic parts around 2.12–2.20: these split them into passes and rejects. */
const VERDICT = { rejectThreshold: 2.14, pixelThreshold: 2.13, minBlobArea: 4 };
/** A tiled camera (issue 15): 160×120 frames cut into 4 × 3 tiles of 56 px, scored at native resolution. */
const TILING = { scale: 1, overlap: 0.125 };
/** Tiled, the untrained students score the same parts around 2.06–2.10. */
const TILED_VERDICT = { rejectThreshold: 2.08, pixelThreshold: 2.07, minBlobArea: 4 };
const tmp = mkdtempSync(join(tmpdir(), 'pinpoint-archive-e2e-'));
const bundleDir = join(tmp, 'model');
const daemons: Daemon[] = [];
const recorders: Recorder[] = [];
let broker: Broker;

function startDaemon(config: Record<string, unknown>, name: string, env: NodeJS.ProcessEnv = {}): Daemon {
  const file = join(tmp, `${name}.yaml`);
  writeFileSync(file, stringify(config));
  const d = startRun(file, { PINPOINT_LOG_LEVEL: 'info', ...env });
  daemons.push(d);
  return d;
}

function config(
  prefix: string,
  port: number,
  cameras: Record<string, unknown>,
  over: Record<string, unknown> = {},
) {
  return {
    cameras,
    pipeline: { inputSize: SIZE, batch: { maxBatch: 4, maxWaitMs: 10 } },
    model: { path: bundleDir, cacheDir: join(tmp, 'cache') },
    inference: { device: 'cpu', threads: 1 },
    verdict: VERDICT,
    mqtt: {
      url: broker.url,
      topicPrefix: prefix,
      outbox: { dir: join(tmp, `outbox-${prefix}`) },
      reconnect: { minMs: 200, maxMs: 1000 },
      statsIntervalSec: 1,
    },
    web: { enabled: true, port },
    logging: { level: 'info', pretty: 'never' },
    ...over,
  };
}

const synthetic = (over: Record<string, unknown>) => ({
  type: 'synthetic',
  ...FRAME,
  defectKinds: ['dent', 'spot'],
  defectSizes: [24, 40],
  defectRate: 0.5,
  ...over,
});

/** A files camera on an empty folder: stalled, never ends (keeps the daemon up after finite cameras end). */
function idleCamera(name: string): Record<string, unknown> {
  const dir = join(tmp, name);
  mkdirSync(dir, { recursive: true });
  return { type: 'files', path: dir, fps: 2, loop: true };
}

function results(rec: Recorder, prefix: string): InspectionResult[] {
  return rec.msgs
    .filter((m) => m.topic.startsWith(prefix + '/') && m.topic.endsWith('/result'))
    .map((m) => JSON.parse(m.text) as InspectionResult);
}

async function get(port: number, path: string, headers: Record<string, string> = {}) {
  const r = await fetch(`http://127.0.0.1:${port}${path}`, { headers });
  return { status: r.status, text: await r.text() };
}

async function waitHttp(port: number, path: string, pred: (s: number, t: string) => boolean, what: string) {
  const until = Date.now() + 60000;
  let last = '';
  while (Date.now() < until) {
    try {
      const r = await get(port, path);
      last = `${r.status} ${r.text}`;
      if (pred(r.status, r.text)) return r;
    } catch (e) {
      last = String(e);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.fail(`${what}: last ${path} answer: ${last}`);
}

type Samples = Map<string, number>;
/** Parses Prometheus text exposition format strictly enough to fail on a malformed line. */
function parseProm(text: string): Samples {
  const out: Samples = new Map();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('# HELP ') || line.startsWith('# TYPE ')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (\S+)$/.exec(
      line,
    );
    assert.ok(m, `not Prometheus text: ${line}`);
    const v = Number(m[3] === '+Inf' ? Infinity : m[3] === '-Inf' ? -Infinity : m[3]);
    // NaN in any case, as Prometheus's own text parser (Go's ParseFloat) reads it: prom-client writes "Nan" for
    // a default metric with no samples yet (nodejs_eventloop_lag_mean_seconds right after a reset).
    assert.ok(!Number.isNaN(v) || /^nan$/i.test(m[3]), `bad value: ${line}`);
    out.set(m[1] + (m[2] ?? ''), v);
  }
  return out;
}

const sum = (s: Samples, prefix: string): number =>
  [...s].filter(([k]) => k.startsWith(prefix)).reduce((a, [, v]) => a + v, 0);

describe('parts archive, metrics and health with pinpoint run', () => {
  before(async () => {
    const teacher = join(tmp, 'dev-teacher.safetensors');
    writeDevTeacher(teacher, { seed: 0 });
    createBundle({ teacherPath: teacher, outDir: bundleDir, size: SIZE });
    broker = await startMosquitto();
  });

  after(async () => {
    for (const d of daemons) if (d.child.exitCode === null) d.child.kill('SIGKILL');
    await Promise.all(recorders.map((r) => r.end().catch(() => undefined)));
    await broker?.stop();
  });

  test('keep all, a tiled camera among them: one archive entry per published result; map re-thresholded = published blobs; console API; queries; metrics = MQTT', async () => {
    const port = await freePort();
    const archiveDir = join(tmp, 'archive1');
    const cams = {
      a: synthetic({ seed: 41, count: 8, fps: 6 }),
      b: synthetic({ seed: 42, count: 8, fps: 6 }),
      // 12 model inputs a frame: a slower rate and a deeper queue, so a loaded CI machine drops none
      t: synthetic({
        seed: 43,
        count: 8,
        fps: 3,
        tiling: TILING,
        verdict: TILED_VERDICT,
        queue: { depth: 4 },
      }),
      idle: idleCamera('idle1'),
    };
    const rec = await record(broker.url, ['ar1/#']);
    recorders.push(rec);
    const cfg = config('ar1', port, cams, {
      // Room for every part: the worker runs at idle CPU priority and may get none on a loaded CI machine.
      archive: { enabled: true, dir: archiveDir, keep: 'all', queueDepth: 32 },
      // The bundle is taught untiled; camera t's thresholds are its own.
      pipeline: { inputSize: SIZE, batch: { maxBatch: 4, maxWaitMs: 10 }, allowTilingMismatch: true },
    });
    const d = startDaemon(cfg, 'ar1');
    await rec.waitFor(() => results(rec, 'ar1').length >= 24, '24 results', 90000);
    await rec.waitFor(() => rec.on('ar1/stats').length > 0, 'retained stats', 10000);
    // Quiet: the three finite cameras have ended; the idle one has no frames.
    await waitHttp(
      port,
      '/metrics',
      (s, t) => s === 200 && /pinpoint_mqtt_published_total 24\b/.test(t),
      'MQTT done',
    );
    const metrics = parseProm((await get(port, '/metrics')).text);
    const rs = results(rec, 'ar1');
    assert.equal(rs.length, 24);
    const tiled = rs.filter((r) => r.cameraId === 't');
    assert.equal(new Set(tiled.map((r) => r.partId)).size, 8, 'every tiled part exactly one verdict');
    for (const r of tiled) {
      assert.equal(r.reason === 'pass' || r.reason === 'score', true, `${r.partId}: ${r.reason} ${r.detail}`);
      assert.deepEqual(
        r.tiling && [r.tiling.columns, r.tiling.rows, r.tiling.tile],
        [4, 3, 56],
        'the grid recorded',
      );
    }
    // Warmed before READY for camera t's configured frame: 12 tiles, the tiled path timed.
    assert.match(d.output(), /"tiles":\{"t":12\},"tilePostMs":[0-9.]+[,}].*"model warmed up"/);
    await consoleShowsTiledPart(port, tiled);
    for (const cam of ['a', 'b', 't'])
      for (const verdict of ['ok', 'reject', 'error']) {
        const want = rs.filter((r) => r.cameraId === cam && r.verdict === verdict).length;
        assert.equal(
          sum(metrics, `pinpoint_parts_total{camera="${cam}",verdict="${verdict}"`),
          want,
          `${cam} ${verdict}`,
        );
      }
    assert.equal(sum(metrics, 'pinpoint_capture_to_publish_seconds_count'), 24);
    assert.equal(metrics.get('pinpoint_frames_captured_total{camera="a"}'), 8);
    assert.equal(metrics.get('pinpoint_camera_up{camera="idle"}'), 0);
    assert.ok(sum(metrics, 'pinpoint_batch_size_count') >= 4, 'batches observed');
    assert.ok(metrics.has('nodejs_eventloop_lag_seconds'), 'default process metrics');
    const ready = await get(port, '/readyz');
    assert.equal(ready.status, 503, 'finished and stalled cameras are not ready');
    assert.match(ready.text, /camera idle stalled/);
    const status = JSON.parse((await get(port, '/api/status')).text) as { modelId: string; cameras: object };
    assert.deepEqual(Object.keys(status.cameras).sort(), ['a', 'b', 'idle', 't']);
    d.child.kill('SIGTERM');
    assert.equal(await exitWithin(d, 30000), 0, d.output().slice(-3000));
    assert.doesNotMatch(d.output(), /MQTT connection lost/, 'a clean stop is not a lost connection');

    const index = new ArchiveIndex(join(archiveDir, INDEX_FILE), { readonly: true });
    try {
      const archiveLog = d
        .output()
        .split('\n')
        .filter((l) => l.includes('archive'))
        .join('\n');
      assert.equal(index.count(), 24, archiveLog);
      let withBlobs = 0;
      let tiledWithBlobs = 0;
      for (const r of rs) {
        const es = index.query({ partId: r.partId });
        assert.equal(es.length, 1, `${r.partId}: one entry`);
        const e = es[0];
        const folder = join(archiveDir, e.path);
        const stored = JSON.parse(readFileSync(join(folder, FILES.result), 'utf8')) as InspectionResult;
        const { publishTime, ...decided } = r as InspectionResult & { publishTime: number };
        assert.ok(publishTime >= r.decideTime);
        assert.deepEqual(stored, decided);
        const frame = readImage(join(folder, FILES.framePng));
        assert.deepEqual([frame.width, frame.height], [FRAME.width, FRAME.height]);
        const heat = readImage(join(folder, FILES.heatmap));
        assert.deepEqual([heat.width, heat.height], [FRAME.width, FRAME.height]);
        const map = readNpy(join(folder, FILES.mapNpy));
        assert.deepEqual(map.shape, [FRAME.height, FRAME.width]);
        // A tiled part's map is stitched from its tiles' Δ grids by the worker; within 2 MP it is in frame pixels.
        const v = r.cameraId === 't' ? TILED_VERDICT : VERDICT;
        assert.equal(r.pixelThreshold, v.pixelThreshold);
        const info = readMapInfo(folder);
        if (r.cameraId === 't')
          assert.deepEqual(info && [info.width, info.height, info.downsample, info.tiled], [
            160,
            120,
            1,
            true,
          ]);
        else assert.equal(info, null, 'a letterboxed map within the bound needs no map.json');
        const blobs = findBlobs({ ...FRAME, data: map.data }, v.pixelThreshold, v.minBlobArea).slice(
          0,
          MAX_BLOBS,
        );
        // Exact pixels, box, area, peak and mean; the centroid up to float rounding (the engine finds blobs in a
        // region of interest and adds its offset afterwards).
        assert.equal(blobs.length, r.blobs.length, `${r.partId}: blob count from the archived map`);
        blobs.forEach((b, k) => {
          const p = r.blobs[k];
          assert.deepEqual(
            [b.box, b.area, b.peak, b.mean],
            [p.box, p.area, p.peak, p.mean],
            `${r.partId} blob ${k}`,
          );
          assert.ok(
            Math.abs(b.centroid.x - p.centroid.x) < 1e-9 && Math.abs(b.centroid.y - p.centroid.y) < 1e-9,
          );
        });
        if (r.blobs.length) withBlobs++;
        if (r.blobs.length && r.cameraId === 't') tiledWithBlobs++;
      }
      assert.ok(withBlobs >= 2, `${withBlobs} parts with blobs (the comparison must not be vacuous)`);
      assert.ok(tiledWithBlobs >= 2, `${tiledWithBlobs} tiled parts with blobs`);
      const ids = (q: Parameters<ArchiveIndex['query']>[0]) =>
        index
          .query(q)
          .map((e) => e.partId)
          .sort();
      const want = (f: (r: InspectionResult) => boolean) =>
        rs
          .filter(f)
          .map((r) => r.partId)
          .sort();
      assert.deepEqual(
        ids({ cameraId: 'a' }),
        want((r) => r.cameraId === 'a'),
      );
      assert.deepEqual(
        ids({ verdict: 'reject' }),
        want((r) => r.verdict === 'reject'),
      );
      assert.ok(
        want((r) => r.verdict === 'reject').length > 0 && want((r) => r.verdict === 'ok').length > 0,
        'both verdicts',
      );
      const times = rs.map((r) => r.decideTime).sort((x, y) => x - y);
      const [from, to] = [times[3], times[11]];
      assert.deepEqual(
        ids({ from, to }),
        want((r) => r.decideTime >= from && r.decideTime < to),
      );
    } finally {
      index.close();
    }

    const tarFile = join(tmp, 'a.tar');
    const cli = await runCli([
      'archive',
      'export',
      '-c',
      join(tmp, 'ar1.yaml'),
      '--camera',
      'a',
      '--out',
      tarFile,
    ]);
    assert.equal(cli.code, 0, cli.stderr);
    const names = await tarNames(tarFile);
    const manifest = JSON.parse(names.get('manifest.json')!) as {
      entries: { partId: string; path: string }[];
    };
    assert.deepEqual(
      manifest.entries.map((e) => e.partId).sort(),
      rs
        .filter((r) => r.cameraId === 'a')
        .map((r) => r.partId)
        .sort(),
    );
    for (const e of manifest.entries)
      for (const f of [FILES.result, FILES.framePng, FILES.mapNpy, FILES.heatmap])
        assert.ok(names.has(`${e.path}/${f}`), `${e.path}/${f} in the tar`);
  });

  test('/readyz: 503 while a camera stalls or the broker is down, 200 otherwise; bearer token on /metrics', async () => {
    const port = await freePort();
    const files = join(tmp, 'files2');
    mkdirSync(files, { recursive: true });
    const cams = {
      s: synthetic({ seed: 51, count: 0, fps: 3 }),
      f: { type: 'files', path: files, fps: 3, loop: true },
    };
    const cfg = config('ar2', port, cams, {
      web: { enabled: true, port, auth: { tokenEnv: 'PP_TEST_TOKEN' } },
    });
    const d = startDaemon(cfg, 'ar2', { PP_TEST_TOKEN: 'sesame-1234' });
    await waitHttp(
      port,
      '/readyz',
      (s, t) => s === 503 && t.includes('camera f stalled'),
      'stalled camera → 503',
    );
    const img = {
      ...FRAME,
      channels: 3 as const,
      data: new Uint8Array(FRAME.width * FRAME.height * 3).fill(90),
    };
    writeImage(join(files, 'one.png'), img);
    await waitHttp(port, '/readyz', (s) => s === 200, 'all streaming → 200');
    await broker.stop();
    await waitHttp(
      port,
      '/readyz',
      (s, t) => s === 503 && t.includes('MQTT broker not connected'),
      'broker down → 503',
    );
    await broker.restart();
    await waitHttp(port, '/readyz', (s) => s === 200, 'broker back → 200');
    assert.equal((await get(port, '/metrics')).status, 401);
    assert.equal((await get(port, '/api/status', { authorization: 'Bearer wrong' })).status, 401);
    const ok = await get(port, '/metrics', { authorization: 'Bearer sesame-1234' });
    assert.equal(ok.status, 200);
    parseProm(ok.text);
    const st = await get(port, '/api/status', { authorization: 'Bearer sesame-1234' });
    assert.ok(!st.text.includes('sesame'), 'no secret in the status');
    d.child.kill('SIGTERM');
    assert.equal(await exitWithin(d, 30000), 0, d.output().slice(-3000));
  });

  test('archive on a full disk (2 MB tmpfs): every verdict still published; archive drops counted in /metrics', async (t) => {
    const mnt = join(tmp, 'tiny');
    mkdirSync(mnt, { recursive: true });
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mnt]);
    } catch (e) {
      t.diagnostic(`tmpfs mount failed (${String(e)}); filling a folder is not possible without it`);
      throw e;
    }
    try {
      const port = await freePort();
      const cams = {
        big: synthetic({ seed: 61, count: 30, fps: 10, width: 320, height: 240 }),
        idle: idleCamera('idle3'),
      };
      const rec = await record(broker.url, ['ar3/#']);
      recorders.push(rec);
      const cfg = config('ar3', port, cams, {
        archive: { enabled: true, dir: join(mnt, 'archive'), keep: 'all', maxMegabytes: 100 },
      });
      const d = startDaemon(cfg, 'ar3');
      await rec.waitFor(() => results(rec, 'ar3').length >= 30, '30 results', 90000);
      const m = await waitHttp(
        port,
        '/metrics',
        (s, t) =>
          s === 200 && /pinpoint_archive_queue 0\b/.test(t) && /pinpoint_mqtt_published_total 30\b/.test(t),
        'archive idle',
      );
      const s = parseProm(m.text);
      const dropped = sum(s, 'pinpoint_archive_dropped_total');
      const written = s.get('pinpoint_archive_written_total') ?? 0;
      t.diagnostic(`archive on 2 MB: ${written} written, ${dropped} dropped`);
      assert.ok(dropped > 0, 'drops counted');
      assert.equal(written + dropped, 30, 'every part archived or counted as dropped');
      assert.equal(sum(s, 'pinpoint_parts_total{camera="big"'), 30);
      assert.equal(new Set(results(rec, 'ar3').map((r) => r.partId)).size, 30);
      d.child.kill('SIGTERM');
      assert.equal(await exitWithin(d, 30000), 0, d.output().slice(-3000));
    } finally {
      execFileSync('umount', ['-l', mnt]);
    }
  });
});

/** map.json of an entry (tiled or pooled maps), or null. */
function readMapInfo(folder: string): MapInfo | null {
  return existsSync(join(folder, FILES.mapInfo))
    ? (JSON.parse(readFileSync(join(folder, FILES.mapInfo), 'utf8')) as MapInfo)
    : null;
}

/** The console's API on a tiled part: its result with the grid, the map's relation to the frame, the images. */
async function consoleShowsTiledPart(port: number, tiled: InspectionResult[]): Promise<void> {
  const r = tiled.find((x) => x.blobs.length > 0) ?? tiled[0];
  const list = await waitHttp(
    port,
    `/api/parts?camera=t&partId=${encodeURIComponent(r.partId)}`,
    (s, t) => s === 200 && (JSON.parse(t) as { parts: unknown[] }).parts.length === 1,
    'the tiled part archived',
  );
  const id = (JSON.parse(list.text) as { parts: { id: number }[] }).parts[0].id;
  const detail = JSON.parse((await get(port, `/api/parts/${id}`)).text) as {
    result: InspectionResult;
    images: Record<'frame' | 'heatmap' | 'map', string | null>;
    mapInfo: MapInfo | null;
  };
  const { publishTime: _p, ...decided } = r as InspectionResult & { publishTime: number };
  assert.deepEqual(detail.result, decided, 'the drill-down data is the decision MQTT delivered');
  assert.deepEqual(detail.mapInfo && [detail.mapInfo.downsample, detail.mapInfo.tiled], [1, true]);
  for (const kind of ['frame', 'heatmap', 'map'] as const) {
    assert.equal(detail.images[kind], `/api/parts/${id}/${kind}`);
    const res = await fetch(`http://127.0.0.1:${port}${detail.images[kind]}`);
    assert.equal(res.status, 200, kind);
    const bytes = Buffer.from(await res.arrayBuffer());
    if (kind !== 'map') {
      // PNG header: width and height at bytes 16..24; the frame whole, the heatmap at the map's size
      assert.deepEqual([bytes.readUInt32BE(16), bytes.readUInt32BE(20)], [FRAME.width, FRAME.height], kind);
    }
  }
  // The strip's thumbnail: a 160×120 frame is its own (large frames get thumb.jpg).
  const thumb = Buffer.from(
    await (await fetch(`http://127.0.0.1:${port}/api/parts/${id}/thumb`)).arrayBuffer(),
  );
  assert.deepEqual([thumb.readUInt32BE(16), thumb.readUInt32BE(20)], [FRAME.width, FRAME.height], 'thumb');
  assert.ok(r.blobs.length > 0, 'a tiled part with blobs to show');
  await drillDownShowsBoxes(port, r, id);
}

/**
 * The drill-down page in Chromium: the tile grid named, and the frame canvas (frame pixels) holds magenta blob
 * box strokes exactly around the published boxes (their union, within the 2-px stroke).
 */
async function drillDownShowsBoxes(port: number, r: InspectionResult, id: number): Promise<void> {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
  const pid = (browser as unknown as { _process?: ChildProcess })._process?.pid;
  try {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${port}/part/t/${encodeURIComponent(r.partId)}?id=${id}`);
    await page.locator('#tiling').waitFor({ timeout: 30000 });
    assert.match((await page.locator('#tiling').textContent()) ?? '', /^4 × 3 tiles of 56 px/);
    await page.waitForFunction(
      () => (document.getElementById('overlay-canvas') as HTMLCanvasElement).width > 0,
    );
    const box = await page.evaluate(() => {
      const c = document.getElementById('overlay-canvas') as HTMLCanvasElement;
      const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
      let [x0, y0, x1, y1] = [Infinity, Infinity, -1, -1];
      for (let y = 0; y < c.height; y++)
        for (let x = 0; x < c.width; x++) {
          const i = (y * c.width + x) * 4;
          if (d[i] > 200 && d[i + 2] > 200 && d[i + 1] < 60) {
            [x0, y0] = [Math.min(x0, x), Math.min(y0, y)];
            [x1, y1] = [Math.max(x1, x), Math.max(y1, y)];
          }
        }
      return { size: [c.width, c.height], x0, y0, x1, y1 };
    });
    assert.deepEqual(box.size, [FRAME.width, FRAME.height], 'the frame drawn whole, in frame pixels');
    const want = {
      x0: Math.min(...r.blobs.map((b) => b.box.x)),
      y0: Math.min(...r.blobs.map((b) => b.box.y)),
      x1: Math.max(...r.blobs.map((b) => b.box.x + b.box.width)),
      y1: Math.max(...r.blobs.map((b) => b.box.y + b.box.height)),
    };
    const near = (a: number, b: number) => Math.abs(a - b) <= 2;
    assert.ok(
      near(box.x0, Math.max(0, want.x0 - 1)) &&
        near(box.y0, Math.max(0, want.y0 - 1)) &&
        near(box.x1, Math.min(FRAME.width - 1, want.x1)) &&
        near(box.y1, Math.min(FRAME.height - 1, want.y1)),
      `magenta strokes ${JSON.stringify(box)} around the blobs ${JSON.stringify(want)}`,
    );
    await liveShowsTiledHeatmap(page, port);
  } finally {
    await Promise.race([browser.close(), new Promise((res) => setTimeout(res, 5000))]).catch(() => undefined);
    if (pid)
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
  }
}

/** The console's jet colour map (0 → dark blue, 2 × the pixel threshold → dark red), written out again. */
function jet(t: number): number[] {
  const c = (v: number) => Math.min(1, Math.max(0, v));
  const t4 = 4 * c(t);
  return [1.5 - Math.abs(t4 - 3), 1.5 - Math.abs(t4 - 2), 1.5 - Math.abs(t4 - 1)].map((v) => 255 * c(v));
}

/**
 * The live view of the finished run: tile t shows camera t's latest part as soon as the page connects (the
 * hub keeps it for clients that join later), with the heatmap of its tiles' blended grid over the whole frame.
 * The message a WebSocket client gets is the reference: at opacity 1, each grid cell's centre on the canvas
 * has the cell's colour (within what the browser's smoothing mixes in from the neighbours).
 */
async function liveShowsTiledHeatmap(page: Page, port: number): Promise<void> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/api/live`);
  const msg = await new Promise<Record<string, unknown>>((resolve, reject) => {
    ws.on('message', (d: Buffer) => {
      const m = JSON.parse(d.toString()) as Record<string, unknown>;
      if (m.type === 'part' && m.camera === 't') resolve(m);
    });
    ws.on('error', reject);
    setTimeout(() => reject(new Error('no latest part of camera t on connect')), 10000);
  }).finally(() => ws.close());
  const grid = new Float32Array(Uint8Array.from(Buffer.from(msg.grid as string, 'base64')).buffer);
  const [cols, rows] = [msg.gridCols as number, msg.gridRows as number];
  const gridBox = msg.gridBox as { x: number; y: number; width: number; height: number };
  assert.deepEqual([cols, rows, gridBox.x, gridBox.y], [12, 9, 0, 0], '160×120 in 14-px patches');
  await page.goto(`http://127.0.0.1:${port}/`);
  await page.waitForFunction((id) => {
    const tile = document.querySelector<HTMLElement>('.tile[data-camera="t"]');
    return tile?.dataset.partId === id && Number(tile?.dataset.frames ?? '0') >= 1;
  }, msg.partId);
  await page.locator('#opacity').fill('1');
  const { width, data } = await page.evaluate(() => {
    const c = document.querySelector<HTMLCanvasElement>('.tile[data-camera="t"] canvas')!;
    return { width: c.width, data: [...c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data] };
  });
  assert.equal(width, FRAME.width, 'a 160-px frame is its own live tile');
  const cell = gridBox.width / cols;
  // The blob boxes are stroked over the heatmap (2 px): a cell centre within 3 px of a box edge is not checked.
  const boxes = msg.blobs as { x: number; y: number; width: number; height: number }[];
  const near = (v: number, edge: number) => Math.abs(v - edge) <= 3;
  const onStroke = (x: number, y: number) =>
    boxes.some(
      (b) =>
        ((near(x, b.x) || near(x, b.x + b.width)) && y >= b.y - 3 && y <= b.y + b.height + 3) ||
        ((near(y, b.y) || near(y, b.y + b.height)) && x >= b.x - 3 && x <= b.x + b.width + 3),
    );
  let worst = 0;
  let checked = 0;
  for (let r = 0; r < rows; r++)
    for (let c = 0; c < cols; c++) {
      const [x, y] = [Math.floor((c + 0.5) * cell), Math.floor((r + 0.5) * cell)];
      if (x >= FRAME.width || y >= FRAME.height || onStroke(x, y)) continue;
      const want = jet(grid[r * cols + c] / (2 * (msg.pixelThreshold as number)));
      const i = (y * FRAME.width + x) * 4;
      for (let k = 0; k < 3; k++) worst = Math.max(worst, Math.abs(data[i + k] - want[k]));
      checked++;
    }
  assert.ok(checked >= 60, `${checked} of the 108 cell centres off the box strokes`);
  assert.ok(worst <= 16, `heatmap cell centres within ${worst} of their cells' colours`);
}

async function tarNames(file: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const ex = extract();
  const done = new Promise<void>((resolve, reject) => {
    ex.on('entry', (h, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c) => chunks.push(c as Buffer));
      stream.on('end', () => {
        out.set(h.name, h.name.endsWith('.json') ? Buffer.concat(chunks).toString('utf8') : '');
        next();
      });
      stream.resume();
    });
    ex.on('finish', resolve);
    ex.on('error', reject);
  });
  ex.end(readFileSync(file));
  await done;
  return out;
}
