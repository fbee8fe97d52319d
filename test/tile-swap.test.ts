// A tiled frame and a hot model swap (issue 13 follow-up): a frame's tiles may span two batches, and each batch
// runs on the model it leased when it closed. A frame's map is stitched from one model only: the frame holds a
// lease on the model its first tiles ran on, and for swapDeferMs after a swap a batch with its tiles runs on
// that model, so a frame in flight at a swap is finished by the model it started on and the outgoing model is
// released once it is done. A frame still part-way after that (a saturated line) fails once with the fail-safe
// verdict and its remaining tiles are not run. First the engine's TileJobs with a real ModelSlot (real
// stitching, no session), then the engine on a tiny real onnxruntime model with a swap made while a tiled
// frame's batches are in flight.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Subject } from 'rxjs';
import { Engine, type EngineFrame, type EngineModel } from '../src/pipeline/engine.js';
import type { Image } from '../src/pipeline/image.js';
import { ModelSlot, type ModelLease } from '../src/pipeline/model-slot.js';
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

/** A model TileJobs only leases (never run); `released` says whether the slot let it go. */
function stub(modelId: string) {
  const m = {
    size: S,
    grid: G,
    resize: 'fast' as const,
    modelId,
    released: false,
    run: () => Promise.reject(new Error('not run here')),
    release: async () => {
      m.released = true;
    },
  };
  return m;
}

function setup(swapDeferMs?: number) {
  const failed: { ref: PartRef; detail: string }[] = [];
  const tiles = new TileJobs({
    model: { size: S, grid: G, resize: 'fast' },
    tiling: () => ({ scale: 1, overlap: 0 }),
    fail: (ref, detail) => failed.push({ ref, detail }),
    decided: () => false,
    swapDeferMs,
    log: createLogger({ level: 'silent' }),
  });
  const a = stub('model-a');
  const slot = new ModelSlot({ model: a });
  return { tiles, failed, slot, a };
}

function frame(partId: string): TileableJob {
  const image: Image = { width: 64, height: 48, channels: 3, data: new Uint8Array(64 * 48 * 3) };
  return { ref: { cameraId: 'top', partId, seq: 1, captureTime: 0 }, image };
}

/** Runs a batch of tile jobs on `lease`: the live ones get a flat Δ grid; returns the frames decided. */
function run(tiles: TileJobs, jobs: TileableJob[], lease: ModelLease): string[] {
  const decided: string[] = [];
  for (const j of tiles.live(jobs, lease)) {
    const done = tiles.receive(j, new Float32Array(G * G).fill(0.1), settings);
    if (done) decided.push(done.ref.partId);
  }
  return decided;
}

/** One batch as the engine runs it: its lease (batchLease), its tiles, the lease returned. */
function batch(tiles: TileJobs, slot: ModelSlot, jobs: TileableJob[]): { model: string; decided: string[] } {
  const lease = tiles.batchLease(jobs, slot.acquire());
  const decided = run(tiles, jobs, lease);
  lease.release();
  return { model: lease.use.model.modelId, decided };
}

describe('a tiled frame across a hot swap', () => {
  test('frames in flight at the swap finish on the model they started on; the next take the new one; the old is released after them', async () => {
    const { tiles, failed, slot, a } = setup();
    const p1 = tiles.expand(frame('p1'));
    const p2 = tiles.expand(frame('p2'));
    assert.equal(p1.length, 12, '64×48 in 16-px tiles');
    assert.deepEqual(batch(tiles, slot, p1.slice(0, 5)), { model: 'model-a', decided: [] });
    const b = stub('model-b');
    const { retired } = slot.swap({ model: b });
    // p1's rest with p2's head: p1 started on A, so the batch runs on A; p2 starts there too.
    assert.deepEqual(batch(tiles, slot, [...p1.slice(5), ...p2.slice(0, 3)]), {
      model: 'model-a',
      decided: ['p1'],
    });
    assert.equal(a.released, false, 'p2 still holds model A');
    assert.deepEqual(batch(tiles, slot, p2.slice(3)), { model: 'model-a', decided: ['p2'] });
    await retired;
    assert.equal(a.released, true, 'A released once its last frame was done');
    const p3 = tiles.expand(frame('p3'));
    assert.deepEqual(batch(tiles, slot, p3), { model: 'model-b', decided: ['p3'] });
    assert.deepEqual(failed, [], 'no fail-safe verdict');
    assert.equal(b.released, false);
  });

  test('a frame still part-way swapDeferMs after the swap: failed once, the rest not run; frames on one model decided', () => {
    const { tiles, failed, slot } = setup(0);
    assert.deepEqual(batch(tiles, slot, tiles.expand(frame('p1'))).decided, ['p1'], 'all tiles on one model');

    const spanning = tiles.expand(frame('p2'));
    assert.deepEqual(batch(tiles, slot, spanning.slice(0, 5)).decided, []);
    slot.swap({ model: stub('model-b') });
    // The next batch leased model-b. None of p2's remaining tiles is run.
    const lease = tiles.batchLease(spanning.slice(5), slot.acquire());
    assert.equal(lease.use.model.modelId, 'model-b');
    assert.deepEqual(tiles.live(spanning.slice(5), lease), []);
    assert.equal(failed.length, 1);
    assert.equal(failed[0].ref.partId, 'p2');
    assert.match(failed[0].detail, /model swapped while its tiles ran \(model-a → model-b\)/);
    assert.deepEqual(run(tiles, spanning.slice(5), lease), [], 'later tiles of a failed frame are ignored');
    lease.release();
    assert.equal(failed.length, 1, 'failed once');

    const after = tiles.expand(frame('p3'));
    assert.deepEqual(batch(tiles, slot, after.slice(0, 7)).decided, []);
    assert.deepEqual(batch(tiles, slot, after.slice(7)), { model: 'model-b', decided: ['p3'] });
    assert.equal(failed.length, 1);
  });

  test('past swapDeferMs, a batch with the tail of one frame and the head of the next: each judged by its own tiles', () => {
    const { tiles, failed, slot } = setup(0);
    const a = tiles.expand(frame('a'));
    const b = tiles.expand(frame('b'));
    assert.deepEqual(batch(tiles, slot, a.slice(0, 8)).decided, []);
    slot.swap({ model: stub('model-b') });
    // One batch closed after the swap holds a's last tiles and b's first: a spans the swap, b does not.
    assert.deepEqual(batch(tiles, slot, [...a.slice(8), ...b.slice(0, 4)]).decided, []);
    assert.deepEqual(
      failed.map((f) => f.ref.partId),
      ['a'],
    );
    assert.deepEqual(batch(tiles, slot, b.slice(4)).decided, ['b']);
  });

  test('the engine stopping returns the leases of frames part-way, so a swapped-out model is still released', async () => {
    const { tiles, slot, a } = setup();
    const p1 = tiles.expand(frame('p1'));
    batch(tiles, slot, p1.slice(0, 5));
    const { retired } = slot.swap({ model: stub('model-b') });
    assert.equal(a.released, false, 'p1 holds model A');
    tiles.close();
    await retired;
    assert.equal(a.released, true);
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

  /**
   * Two 6-tile frames, a swap A → B while A's first batch runs. Model A's first run waits until the swap is made:
   * its batch (4 of frame 1's 6 tiles) is leased on A, the next batch holds frame 1's last 2 tiles and frame 2's
   * first 2, the one after frame 2's last 4.
   */
  async function swapMidFrame(
    swapDeferMs?: number,
  ): Promise<{ results: InspectionResult[]; aReleased: boolean }> {
    let aReleased = false;
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
    const a = Object.assign(
      as('model-a', async (pixels, batch) => {
        started();
        await gate;
        return base.run(pixels, batch);
      }),
      { release: async () => void (aReleased = true) },
    );
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
      swapDeferMs,
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
    const { retired } = engine.models.swap({ model: b });
    open();
    frames$.complete();
    await done;
    await Promise.race([retired, new Promise((r) => setTimeout(r, 2000))]);
    return { results, aReleased };
  }

  test('frames in flight at the swap are finished by the model they started on, none fail-safe; A is released', async () => {
    const { results, aReleased } = await swapMidFrame();
    assert.equal(results.length, 2, 'one verdict per part');
    const reasons = results.map((r) => [r.seq, r.reason, r.modelId, r.detail]);
    assert.ok(
      results.every((r) => r.reason === 'pass' || r.reason === 'score'),
      JSON.stringify(reasons),
    );
    // Frame 1 started on A and finished there; frame 2 started in a batch with frame 1's tail (so on A too) or,
    // had that batch closed first, in a batch of its own on B.
    assert.equal(results.find((r) => r.seq === 1)?.modelId, 'model-a');
    assert.ok(aReleased, 'the outgoing model released once its frames were done');
  });

  test('with swapDeferMs 0, one frame spans the swap: it alone gets the fail-safe verdict, the other is decided by one model', async () => {
    // Whether the second batch closed before or after the swap, exactly one of the two frames has tiles on both.
    const { results } = await swapMidFrame(0);

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
