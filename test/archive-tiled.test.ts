// Archive evidence of tiled parts (issue 15) on a real tiny onnxruntime model: the engine hands the outputs
// every tile's Δ grid, the archive stitches the map the verdict saw from them (its blobs and score are the
// published ones, exactly), and a map over the size bound is max-pooled so that every published blob still
// shows, with map.json saying how the map maps onto the frame; the live view gets the frame, the boxes and the
// tiles' grids blended over the frame.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { from, lastValueFrom, toArray } from 'rxjs';
import { pino } from 'pino';
import { topKCount, topKMean } from '../src/pipeline/anomaly-map.js';
import { findBlobs } from '../src/pipeline/blobs.js';
import { Engine } from '../src/pipeline/engine.js';
import type { EngineFrame } from '../src/pipeline/engine.js';
import type { Decision } from '../src/pipeline/evidence.js';
import type { Blob } from '../src/pipeline/blobs.js';
import { MAX_BLOBS } from '../src/pipeline/verdict.js';
import { computeLetterbox } from '../src/pipeline/letterbox.js';
import { tileCount } from '../src/pipeline/tiling.js';
import { EncodeScratch, encodeEntry } from '../src/sinks/archive/encode-entry.js';
import type { MapInfo } from '../src/sinks/archive/entry-map.js';
import { archiveEvidence, entryMap, mapDownsample, maxPool } from '../src/sinks/archive/entry-map.js';
import { FILES } from '../src/sinks/archive/layout.js';
import { thumbnail } from '../src/sinks/archive/thumbnail.js';
import jpeg from 'jpeg-js';
import { LIVE_GRID_MAX, encodeLiveMessage, snapshot } from '../src/sinks/web/live-frame.js';
import { stitchedGrid } from '../src/pipeline/stitched-grid.js';
import { Rng } from '../src/util/random.js';
import { tinyModel } from './helpers/tiny-model.js';
import type { TinyModel } from './helpers/tiny-model.js';

const TILING = { scale: 1, overlap: 0.125 };
const W = 200;
const H = 150;

describe('map size bound', () => {
  test('the smallest integer factor within the bound: 5 MP → 2, 20 MP → 4, 1.3 MP → 1', () => {
    assert.equal(mapDownsample(1280, 1024), 1);
    assert.equal(mapDownsample(2448, 2048), 2);
    assert.equal(mapDownsample(5472, 3648), 4, '3 would leave 1824×1216 = 2.2 MP');
    for (const [w, h, cap] of [
      [5472, 3648, 2_000_000],
      [101, 37, 100],
      [7, 5, 1],
    ]) {
      const f = mapDownsample(w, h, cap);
      assert.ok(Math.ceil(w / f) * Math.ceil(h / f) <= cap, `${w}×${h} at ${f}`);
      if (f > 1) assert.ok(Math.ceil(w / (f - 1)) * Math.ceil(h / (f - 1)) > cap, 'smallest');
    }
  });

  test('max pooling keeps each block maximum, the narrower last blocks included', () => {
    // 5×3 map, f = 2 → 3×2 blocks
    const map = Float32Array.from([1, 2, 3, 4, 9, 5, 6, 7, 8, 0, -1, -2, -3, -4, -5]);
    assert.deepEqual([...maxPool(map, 5, 3, 2)], [6, 8, 9, -1, -3, -5]);
  });
});

describe('tiled parts: evidence and archived map', () => {
  let model: TinyModel;
  let decisions: Decision[];
  const verdict = { thresholds: { reject: 0.5, pixel: 0 }, minBlobArea: 2, ignore: [] };

  before(async () => {
    model = await tinyModel({ size: 56 });
    const rng = new Rng(7);
    const frames: EngineFrame[] = Array.from({ length: 3 }, (_, seq) => {
      const data = new Uint8Array(W * H * 3);
      for (let i = 0; i < data.length; i++) data[i] = rng.int(0, 255);
      return {
        cameraId: 't',
        seq,
        captureTime: Date.now(),
        image: { width: W, height: H, channels: 3, data },
      };
    });
    const engine = new Engine({
      model,
      cameras: new Map([
        ['t', { queue: { depth: 8, policy: 'drop-oldest' }, verdict, triggerWindowMs: null, tiling: TILING }],
      ]),
      maxBatch: 4,
      maxWaitMs: 5,
      deadlineMs: 30000,
      failSafe: 'reject',
      log: pino({ level: 'silent' }),
      evidence: true,
    });
    // The pixel threshold sits inside the score range so the maps hold several blobs each.
    const probe = await lastValueFrom(engine.decisions(from(frames.slice(0, 1))).pipe(toArray()));
    verdict.thresholds.pixel = (probe[0].result.score ?? 0) * 0.97;
    decisions = await lastValueFrom(engine.decisions(from(frames)).pipe(toArray()));
  });
  after(() => model.release());

  test('the engine hands the outputs every tile Δ grid and the tile grid', () => {
    assert.equal(decisions.length, 3);
    for (const d of decisions) {
      const ev = d.evidence;
      assert.ok(ev && ev.kind === 'tiled', 'tiled evidence');
      assert.ok(d.result.tiling, 'the result records the grid');
      assert.deepEqual([ev.tiles.xs, ev.tiles.ys], [d.result.tiling.xs, d.result.tiling.ys]);
      assert.equal(ev.grids.length, tileCount(ev.tiles) * model.grid ** 2);
      assert.equal(ev.image.width, W);
      assert.equal(ev.pixelThreshold, verdict.thresholds.pixel);
    }
  });

  test('the archived map (stitched from the evidence) gives the published score and blobs exactly', () => {
    let blobs = 0;
    for (const d of decisions) {
      const m = entryMap(archiveEvidence(d.evidence!), new EncodeScratch());
      assert.deepEqual([m.info.width, m.info.height, m.info.downsample, m.info.tiled], [W, H, 1, true]);
      assert.equal(topKMean(m.map, topKCount(W, H)), d.result.score);
      const found = findBlobs(
        { width: W, height: H, data: m.map },
        verdict.thresholds.pixel,
        verdict.minBlobArea,
      ).slice(0, MAX_BLOBS);
      assert.deepEqual(
        found.map((b) => [b.box, b.area, b.peak, b.mean]),
        d.result.blobs.map((b) => [b.box, b.area, b.peak, b.mean]),
        d.result.partId,
      );
      blobs += found.length;
    }
    assert.ok(blobs >= 3, `${blobs} blobs: the comparison must not be vacuous`);
  });

  test('a map over the bound is max-pooled: every published blob lies in a pooled blob, map.json says how', () => {
    const cap = 4000; // 200×150 = 30 000 px → f = 3, 67×50
    for (const d of decisions) {
      const job = { result: d.result, evidence: archiveEvidence(d.evidence!) };
      const enc = encodeEntry(job, {
        imageFormat: 'png',
        jpegQuality: 90,
        mapFormat: 'npy',
        mapMaxPixels: cap,
      });
      const info = JSON.parse(enc.files[FILES.mapInfo] as string) as MapInfo;
      assert.deepEqual(info, {
        width: 67,
        height: 50,
        frameWidth: W,
        frameHeight: H,
        downsample: 3,
        pooling: 'max',
        tiled: true,
      });
      const m = entryMap(job.evidence, new EncodeScratch(), cap);
      const pooled = findBlobs({ width: 67, height: 50, data: m.map }, verdict.thresholds.pixel, 1);
      const f = info.downsample;
      const scaled = pooled.map((b) => ({
        x: b.box.x * f,
        y: b.box.y * f,
        width: b.box.width * f,
        height: b.box.height * f,
      }));
      for (const b of d.result.blobs)
        assert.ok(
          scaled.some((s) => inside(b.box, s)),
          `${d.result.partId}: blob ${JSON.stringify(b.box)} in a pooled blob`,
        );
      const peak = Math.max(...d.result.blobs.map((b) => b.peak), -Infinity);
      if (d.result.blobs.length) assert.equal(Math.max(...pooled.map((b) => b.peak)), peak, 'peak kept');
      assert.ok(enc.files[FILES.framePng], 'the frame is kept whole');
    }
  });

  test('the live view gets a tiled part as its frame, blob boxes and the tiles grids blended over the frame', async () => {
    const d = decisions.find((x) => x.result.blobs.length > 0)!;
    const ev = d.evidence!;
    assert.ok(ev.kind === 'tiled');
    const msg = JSON.parse(await encodeLiveMessage(snapshot(d.result, ev))) as Record<string, unknown>;
    assert.deepEqual(msg.frame, { width: W, height: H });
    assert.deepEqual(
      msg.blobs,
      d.result.blobs.map((b) => b.box),
    );
    assert.ok(typeof msg.jpeg === 'string' && msg.jpeg.length > 100);
    assert.equal(msg.verdict, d.result.verdict);
    const want = stitchedGrid(ev.grids, ev.g, ev.tiles, LIVE_GRID_MAX);
    const grid = new Float32Array(Uint8Array.from(Buffer.from(msg.grid as string, 'base64')).buffer);
    assert.deepEqual([...grid], [...want.values]);
    // 200×150 at 14 px a patch: 15 × 11 cells over the whole frame (the last ones reach past it)
    assert.deepEqual([msg.gridCols, msg.gridRows], [15, 11]);
    assert.deepEqual(msg.gridBox, { x: 0, y: 0, width: 15 * 14, height: 11 * 14 });
    assert.equal(msg.pixelThreshold, ev.pixelThreshold);
    // The blended raw Δ is hot where the map (the same Δ upsampled, blurred and stitched) gave the top blob.
    const top = d.result.blobs[0].box;
    let hot = -Infinity;
    for (let r = 0; r < 11; r++)
      for (let c = 0; c < 15; c++) {
        const [x, y] = [(c + 0.5) * 14, (r + 0.5) * 14];
        const near =
          x > top.x - 14 && x < top.x + top.width + 14 && y > top.y - 14 && y < top.y + top.height + 14;
        if (near) hot = Math.max(hot, grid[r * 15 + c]);
      }
    assert.ok(hot > ev.pixelThreshold, `near the top blob: ${hot} vs pixel threshold ${ev.pixelThreshold}`);
  });

  test('a letterboxed part within the bound gets no map.json (its map is in frame pixels)', () => {
    const d = decisions[0];
    const ev = d.evidence!;
    const grid = new Float32Array(model.grid ** 2);
    const job = {
      result: d.result,
      evidence: {
        image: ev.image,
        grid,
        g: model.grid,
        letterbox: computeLetterbox(W, H, model.size),
        ignore: [],
        pixelThreshold: 1,
      },
    };
    const enc = encodeEntry(job, { imageFormat: 'png', jpegQuality: 90, mapFormat: 'npy' });
    assert.equal(enc.files[FILES.mapInfo], undefined);
    assert.ok(enc.files[FILES.mapNpy]);
  });
});

type Box = Blob['box'];
describe('thumbnails', () => {
  test('a frame over 640 px gets a JPEG of at most 160 px a side; a smaller frame none', () => {
    const img = (width: number, height: number) => ({
      width,
      height,
      channels: 3 as const,
      data: new Uint8Array(width * height * 3).fill(200),
    });
    const t = thumbnail(img(2448, 2048));
    assert.ok(t);
    const d = jpeg.decode(t);
    assert.deepEqual([d.width, d.height], [153, 128]); // f = 16: ⌈2448/16⌉ × ⌈2048/16⌉
    assert.ok(Math.abs(d.data[0] - 200) <= 2, 'block means of the frame');
    assert.equal(thumbnail(img(640, 480)), null);
  });
});

const inside = (a: Box, b: Box): boolean =>
  a.x >= b.x && a.y >= b.y && a.x + a.width <= b.x + b.width && a.y + a.height <= b.y + b.height;
