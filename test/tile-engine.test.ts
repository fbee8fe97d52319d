// The engine with tiled cameras (issue 15), on a real tiny onnxruntime model: tiles share the cross-camera
// batches with whole frames, a frame is decided once all its tiles are in (equal to the offline tiled
// inspection of the same frame), the result records the grid, queues count tiles, and every loss gives one
// verdict per part.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { from, lastValueFrom, map, timer, toArray, zip } from 'rxjs';
import type { Observable } from 'rxjs';
import { pino } from 'pino';
import { Engine } from '../src/pipeline/engine.js';
import type { EngineCamera, EngineFrame, EngineModel } from '../src/pipeline/engine.js';
import type { InspectionResult } from '../src/pipeline/result.js';
import { Rng } from '../src/util/random.js';
import { tileCount, tileGrid } from '../src/pipeline/tiling.js';
import { tileInput } from '../src/pipeline/tile-input.js';
import { inspectTiles } from '../src/pipeline/tiled-inspection.js';
import { stitchPlan } from '../src/pipeline/stitch.js';
import { tinyModel } from './helpers/tiny-model.js';
import type { TinyModel } from './helpers/tiny-model.js';

const log = pino({ level: 'silent' });
const TILING = { scale: 1, overlap: 0.125 };

function frame(cameraId: string, seq: number, rng: Rng, w: number, h: number): EngineFrame {
  const data = new Uint8Array(w * h * 3);
  for (let i = 0; i < data.length; i++) data[i] = rng.int(0, 255);
  return { cameraId, seq, captureTime: Date.now(), image: { width: w, height: h, channels: 3, data } };
}

function paced(frames: EngineFrame[], periodMs: number): Observable<EngineFrame> {
  return zip(from(frames), timer(0, periodMs)).pipe(map(([f]) => ({ ...f, captureTime: Date.now() })));
}

const verdict = { thresholds: { reject: 0.5, pixel: 0.3 }, minBlobArea: 1, ignore: [] };

function camera(over: Partial<EngineCamera> = {}): EngineCamera {
  return { queue: { depth: 8, policy: 'drop-oldest' }, verdict, triggerWindowMs: null, ...over };
}

function engine(model: EngineModel, cams: Record<string, EngineCamera>, over = {}) {
  return new Engine({
    model,
    cameras: new Map(Object.entries(cams)),
    maxBatch: 4,
    maxWaitMs: 5,
    deadlineMs: 20000,
    failSafe: 'reject',
    log,
    ...over,
  });
}

const collect = (o: Observable<InspectionResult>) => lastValueFrom(o.pipe(toArray()));

/** The tiled inspection of one frame done offline: each tile alone through the model, then stitched. */
async function offline(model: TinyModel, f: EngineFrame) {
  const grid = tileGrid(f.image.width, f.image.height, TILING, model.size);
  const cells = model.grid ** 2;
  const grids = new Float32Array(tileCount(grid) * cells);
  for (let i = 0; i < tileCount(grid); i++) {
    const input = new Uint8Array(model.size * model.size * 3);
    tileInput(f.image, grid, i, input, model.resize);
    grids.set(await model.run(input, 1), i * cells);
  }
  return inspectTiles(grids, model.grid, stitchPlan(grid), verdict);
}

describe('engine with tiling', () => {
  let model: TinyModel;
  before(async () => {
    model = await tinyModel();
  });
  after(async () => {
    await model.release();
  });

  test('tiles share batches with whole frames; each tiled frame decided as its offline stitching', async () => {
    const rng = new Rng(2);
    // 150×100 at S = 56: columns [0, 47, 94], rows [0, 44]: 6 tiles, so a frame spans batches of 4
    const frames: EngineFrame[] = [];
    for (let i = 0; i < 8; i++)
      frames.push(frame(i % 2 ? 'tiled' : 'plain', i, rng, i % 2 ? 150 : 64, i % 2 ? 100 : 48));
    const calls = model.calls.length;
    const e = engine(model, { tiled: camera({ tiling: TILING }), plain: camera() });
    const results = await collect(e.run(paced(frames, 2)));
    assert.equal(results.length, 8);
    assert.ok(
      results.every((r) => r.reason === 'pass' || r.reason === 'score'),
      JSON.stringify(results[0]),
    );
    for (const id of ['tiled', 'plain']) {
      const seqs = results.filter((r) => r.cameraId === id).map((r) => r.seq);
      assert.deepEqual(
        seqs,
        [...seqs].sort((a, b) => a! - b!),
        `order kept for ${id}`,
      );
    }
    const inputs = model.calls.slice(calls).reduce((a, b) => a + b, 0);
    assert.equal(inputs, 4 * 6 + 4, 'every tile and every plain frame ran exactly once');
    assert.ok(model.calls.slice(calls).every((b) => b <= 4));
    for (const r of results) {
      if (r.cameraId === 'plain') {
        assert.equal(r.tiling, undefined);
        continue;
      }
      assert.deepEqual(r.tiling, { size: 56, tile: 56, columns: 3, rows: 2, xs: [0, 47, 94], ys: [0, 44] });
      const ref = await offline(model, frames[r.seq!]);
      assert.ok(Math.abs(r.score! - ref.score) <= 1e-5 * ref.score, `score ${r.score} vs ${ref.score}`);
      assert.equal(r.verdict, ref.verdict);
      assert.deepEqual(
        r.blobs.map((b) => b.box),
        ref.blobs.map((b) => b.box),
      );
    }
  });

  test('a frame smaller than a tile gets the error verdict, saying why', async () => {
    const e = engine(model, { tiled: camera({ tiling: TILING }) });
    const [r] = await collect(e.run(from([frame('tiled', 0, new Rng(1), 200, 40)])));
    assert.equal(r.verdict, 'error');
    assert.match(r.detail!, /frame 200×40 is smaller than one tile \(56×56/);
  });

  test('queues count tiles: an overloaded tiled camera drops whole frames, one verdict per part', async () => {
    const slow = await tinyModel({ delayMs: 40 });
    try {
      const rng = new Rng(4);
      const frames = Array.from({ length: 12 }, (_, i) => frame('tiled', i, rng, 150, 100));
      const e = engine(slow, {
        tiled: camera({ tiling: TILING, queue: { depth: 1, policy: 'drop-oldest' } }),
      });
      const results = await collect(e.run(paced(frames, 1)));
      assert.equal(results.length, 12);
      assert.deepEqual(
        results.map((r) => r.seq).sort((a, b) => a! - b!),
        frames.map((f) => f.seq),
      );
      const dropped = results.filter((r) => r.verdict === 'error');
      assert.ok(dropped.length > 0, 'some frames dropped');
      for (const r of dropped) assert.match(r.detail!, /queue was full/);
      assert.equal(e.stats().cameras.tiled.dropped, dropped.length, 'a dropped frame counts once');
      // every decided frame ran all its tiles; the queue held at most one frame's tiles at a time
      const inputs = slow.calls.reduce((a, b) => a + b, 0);
      const decided = results.length - dropped.length;
      assert.ok(inputs >= decided * 6, `${inputs} inputs for ${decided} decided frames`);
    } finally {
      await slow.release();
    }
  });

  test('a tiled part decided by its deadline has its remaining tiles skipped', async () => {
    const slow = await tinyModel({ delayMs: 60 });
    try {
      const rng = new Rng(6);
      const frames = Array.from({ length: 4 }, (_, i) => frame('tiled', i, rng, 150, 100));
      const e = engine(slow, { tiled: camera({ tiling: TILING }) }, { deadlineMs: 150 });
      const results = await collect(e.run(paced(frames, 1)));
      assert.equal(results.length, 4);
      assert.ok(results.every((r) => r.reason === 'timeout' || r.reason === 'pass' || r.reason === 'score'));
      const timedOut = results.filter((r) => r.reason === 'timeout').length;
      assert.ok(timedOut >= 2, `${timedOut} timeouts`);
      const inputs = slow.calls.reduce((a, b) => a + b, 0);
      assert.ok(inputs < 4 * 6, `${inputs} tile inputs ran of ${4 * 6}: late tiles were skipped`);
      assert.equal(e.pending, 0, 'every part left the ledger');
    } finally {
      await slow.release();
    }
  });

  test('an inference failure gives each tiled part one error verdict', async () => {
    const failing = await tinyModel({ failOn: (n) => n === 2 });
    try {
      const rng = new Rng(5);
      const frames = Array.from({ length: 3 }, (_, i) => frame('tiled', i, rng, 150, 100));
      const e = engine(failing, { tiled: camera({ tiling: TILING }) });
      const results = await collect(e.run(paced(frames, 1)));
      assert.equal(results.length, 3);
      assert.ok(results.some((r) => r.verdict === 'error' && /inference failed/.test(r.detail!)));
      assert.equal(new Set(results.map((r) => r.seq)).size, 3);
    } finally {
      await failing.release();
    }
  });
});
