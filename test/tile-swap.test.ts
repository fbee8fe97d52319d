// A tiled frame and a hot model swap (issue 13 follow-up): a frame's tiles may span two batches, and each batch
// runs on the model it leased when it closed. A frame whose tiles would run on two models is not stitched from
// both (two score scales, one threshold): it fails once with the fail-safe verdict and its remaining tiles are not
// run; a frame whose tiles all run on one model, before or after the swap, is decided as usual. First the
// engine's TileJobs alone (real stitching, no session), then the engine on a tiny real onnxruntime model with a
// swap made while a tiled frame's batches are in flight.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Subject } from 'rxjs';
import { Engine, type EngineFrame, type EngineModel } from '../src/pipeline/engine.js';
import type { Image } from '../src/pipeline/image.js';
import type { InspectionResult } from '../src/pipeline/result.js';
import { TileJobs, type TileableJob } from '../src/pipeline/tile-jobs.js';
import type { PartRef, VerdictSettings, Thresholds } from '../src/pipeline/verdict.js';
import { createLogger } from '../src/util/log.js';
import { tinyModel, type TinyModel } from './helpers/tiny-model.js';

const S = 16;
const G = 2;
const settings: VerdictSettings & { thresholds: Thresholds } = {
  thresholds: { reject: 0.5, pixel: 0.5 },
  minBlobArea: 1,
  ignore: [],
};

function setup() {
  const failed: { ref: PartRef; detail: string }[] = [];
  const tiles = new TileJobs({
    model: { size: S, grid: G, resize: 'fast' },
    tiling: () => ({ scale: 1, overlap: 0 }),
    fail: (ref, detail) => failed.push({ ref, detail }),
    decided: () => false,
    log: createLogger({ level: 'silent' }),
  });
  return { tiles, failed };
}

function frame(partId: string): TileableJob {
  const image: Image = { width: 64, height: 48, channels: 3, data: new Uint8Array(64 * 48 * 3) };
  return { ref: { cameraId: 'top', partId, seq: 1, captureTime: 0 }, image };
}

/** Runs a batch of tile jobs on `modelId`: the live ones get a flat Δ grid; returns the frames decided. */
function run(tiles: TileJobs, jobs: TileableJob[], modelId: string): string[] {
  const decided: string[] = [];
  for (const j of tiles.live(jobs, modelId)) {
    const done = tiles.receive(j, new Float32Array(G * G).fill(0.1), settings);
    if (done) decided.push(done.ref.partId);
  }
  return decided;
}

describe('a tiled frame across a hot swap', () => {
  test('tiles on two models: failed once, the rest not run; frames on one model decided before and after', () => {
    const { tiles, failed } = setup();
    const before = tiles.expand(frame('p1'));
    assert.equal(before.length, 12, '64×48 in 16-px tiles');
    assert.deepEqual(run(tiles, before, 'model-a'), ['p1'], 'all its tiles on one model: decided');

    const spanning = tiles.expand(frame('p2'));
    assert.deepEqual(run(tiles, spanning.slice(0, 5), 'model-a'), []);
    // The swap: the next batch leased model-b. None of p2's remaining tiles is run.
    assert.deepEqual(tiles.live(spanning.slice(5), 'model-b'), []);
    assert.equal(failed.length, 1);
    assert.equal(failed[0].ref.partId, 'p2');
    assert.match(failed[0].detail, /model swapped while its tiles ran \(model-a → model-b\)/);
    assert.deepEqual(
      run(tiles, spanning.slice(5), 'model-b'),
      [],
      'later tiles of a failed frame are ignored',
    );
    assert.equal(failed.length, 1, 'failed once');

    const after = tiles.expand(frame('p3'));
    assert.deepEqual(run(tiles, after.slice(0, 7), 'model-b'), []);
    assert.deepEqual(run(tiles, after.slice(7), 'model-b'), ['p3'], 'a frame after the swap: decided');
    assert.equal(failed.length, 1);
  });

  test('a batch with the tail of one frame and the head of the next: each judged by its own tiles', () => {
    const { tiles, failed } = setup();
    const a = tiles.expand(frame('a'));
    const b = tiles.expand(frame('b'));
    assert.deepEqual(run(tiles, a.slice(0, 8), 'model-a'), []);
    // One batch closed after the swap holds a's last tiles and b's first: a spans the swap, b does not.
    assert.deepEqual(run(tiles, [...a.slice(8), ...b.slice(0, 4)], 'model-b'), []);
    assert.deepEqual(
      failed.map((f) => f.ref.partId),
      ['a'],
    );
    assert.deepEqual(run(tiles, b.slice(4), 'model-b'), ['b']);
  });
});

describe('the engine swapping models while a tiled frame is in flight', () => {
  let base: TinyModel;
  before(async () => {
    base = await tinyModel();
  });
  after(async () => {
    await base.release();
  });

  test('one frame spans the swap: it alone gets the fail-safe verdict, the other is decided by one model', async () => {
    // Model A's first run waits until the swap is made: its batch (4 of frame 1's 6 tiles) is leased on A, the
    // next batch holds frame 1's last 2 tiles and frame 2's first 2, the one after frame 2's last 4. Whether that
    // second batch closed before or after the swap, exactly one of the two frames has tiles on both models.
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    let started!: () => void;
    const firstRun = new Promise<void>((r) => (started = r));
    const as = (modelId: string, run: EngineModel['run']): EngineModel => ({
      size: base.size,
      grid: base.grid,
      resize: base.resize,
      modelId,
      run,
    });
    const a = as('model-a', async (pixels, batch) => {
      started();
      await gate;
      return base.run(pixels, batch);
    });
    const b = as('model-b', (pixels, batch) => base.run(pixels, batch));
    const engine = new Engine({
      model: a,
      cameras: new Map([
        [
          'top',
          {
            queue: { depth: 8, policy: 'drop-oldest' },
            verdict: settings,
            triggerWindowMs: null,
            tiling: { scale: 1, overlap: 0.125 },
          },
        ],
      ]),
      maxBatch: 4,
      maxWaitMs: 5,
      deadlineMs: 60_000,
      failSafe: 'reject',
      log: createLogger({ level: 'silent' }),
    });
    const frames$ = new Subject<EngineFrame>();
    const results: InspectionResult[] = [];
    const done = new Promise<void>((resolve, reject) =>
      engine.run(frames$).subscribe({ next: (r) => results.push(r), error: reject, complete: resolve }),
    );
    // 150×100 at S = 56 with overlap 0.125: 3×2 = 6 tiles a frame.
    for (const seq of [1, 2]) {
      const data = new Uint8Array(150 * 100 * 3).map((_, i) => (i * 7 + seq) & 255);
      frames$.next({
        cameraId: 'top',
        seq,
        captureTime: Date.now(),
        image: { width: 150, height: 100, channels: 3, data },
      });
    }
    await firstRun;
    engine.models.swap({ model: b });
    open();
    frames$.complete();
    await done;

    assert.equal(results.length, 2, 'one verdict per part');
    const spans = results.filter((r) => r.reason === 'error');
    const whole = results.filter((r) => r.reason === 'pass' || r.reason === 'score');
    assert.equal(spans.length, 1, JSON.stringify(results.map((r) => [r.seq, r.reason, r.detail])));
    assert.match(spans[0].detail ?? '', /model swapped while its tiles ran \(model-a → model-b\)/);
    assert.equal(spans[0].verdict, 'error', 'a fail-safe verdict (the reject output follows failSafe)');
    assert.equal(whole.length, 1);
    // The frame decided whole ran on the model of its batches: frame 1 on A (frame 2 spans), or frame 2 on B.
    assert.equal(whole[0].modelId, whole[0].seq === 1 ? 'model-a' : 'model-b');
  });
});
