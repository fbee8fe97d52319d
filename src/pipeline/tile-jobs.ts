// The engine's side of tiling (issue 15): a tiled camera's frame becomes one job per tile, the tiles travel
// through the same per-camera queues, cross-camera batches and inference as whole frames do (a frame's tiles
// may span two batches), and the frame is decided when its last tile's Δ grid is in: the grids are kept
// (g·g floats per tile) and stitched then (tiled-inspection.ts). Bounds: a frame counts as its tile count
// against the camera's queue (the queue holds depth × tiles-per-frame tile jobs) and its tiles fill batch slots,
// so credits limit tiles in flight exactly as they limit frames. A frame whose tile is dropped or not usable
// fails once (error verdict through the ledger) and its remaining tiles are skipped before inference.
// A map is stitched from one model only: a frame holds a lease on the model its first tiles ran on until its
// last tile ran, and for up to `swapDeferMs` after a hot swap a batch holding tiles of such a frame runs on that
// model (batchLease), so a frame in flight at a swap is finished by the model it started on. Only a frame still
// part-way after that (a line saturated for the whole while) spans two models: it fails with the fail-safe
// verdict, its remaining tiles not run.
import type { Logger } from '../util/log.js';
import type { Image } from './image.js';
import type { Letterbox, ResizeMode } from './letterbox.js';
import type { ModelLease } from './model-slot.js';
import { computeLetterbox } from './letterbox.js';
import type { TiledEvidence } from './evidence.js';
import type { DropPolicy } from './queue.js';
import type { StitchPlan } from './stitch.js';
import { tileInput } from './tile-input.js';
import { TilePlans, inspectTiles } from './tiled-inspection.js';
import type { TilingSpec } from './tiling.js';
import { tileCount, tilingRecord } from './tiling.js';
import type { Inspection, PartRef, Thresholds, VerdictSettings } from './verdict.js';

/** A frame cut into tiles, waiting for its tiles' Δ grids. */
export interface TiledFrame {
  ref: PartRef;
  image: Image;
  plan: StitchPlan;
  /** Tile i's Δ grid at grids[i·g·g ..]. */
  grids: Float32Array;
  received: number;
  /** Failed (a tile dropped, not usable, or its inference failed): the rest of its tiles are skipped. */
  failed: boolean;
  /** The model its first batched tiles ran on, held until its last tile ran: every tile must (one map, one model). */
  lease?: ModelLease;
}

/** How long after a hot swap a tiled frame part-way through may still finish on the outgoing model. */
export const SWAP_DEFER_MS = 2000;

/** What a tile job carries besides the engine's job fields. */
export interface TileRef {
  frame: TiledFrame;
  index: number;
}

/** The engine's job as tiling sees it. */
export interface TileableJob {
  ref: PartRef;
  image: Image;
  tile?: TileRef;
}

export interface TileJobsOptions {
  model: { size: number; grid: number; resize: ResizeMode };
  /** The camera's tiling; null: off. */
  tiling(cameraId: string): TilingSpec | null;
  /** Fails a part (the engine's ledger.fail). */
  fail(ref: PartRef, detail: string): void;
  /** Whether a part in flight was already decided by its deadline (its remaining tiles are not worth running). */
  decided(ref: PartRef): boolean;
  /** See SWAP_DEFER_MS (0: a frame in flight at a swap fails at once). */
  swapDeferMs?: number;
  log: Logger;
}

export class TileJobs {
  private readonly plans = new TilePlans();
  /** Tiles per frame of each tiled camera's latest frame: its queue depth in tiles. */
  private readonly tilesPerFrame = new Map<string, number>();
  /** Each tiled camera's latest frame size (a hot swap warms the incoming model at it). */
  private readonly frameSizes = new Map<string, { width: number; height: number }>();
  /** One stitched-map buffer per frame size (read only within receive, so it can be reused). */
  private readonly scratch = new Map<string, Float32Array>();
  /** Frames holding a model lease (part-way through): returned at close. */
  private readonly holding = new Set<TiledFrame>();

  constructor(private readonly o: TileJobsOptions) {}

  /** A job of an untiled camera as it is; a tiled camera's frame as its tile jobs (none if it cannot be tiled). */
  expand<J extends TileableJob>(job: J): J[] {
    const spec = this.o.tiling(job.ref.cameraId);
    if (!spec) return [job];
    const { size, grid: g } = this.o.model;
    let plan: StitchPlan;
    try {
      plan = this.plans.get(job.image.width, job.image.height, spec, size);
    } catch (e) {
      this.o.fail(job.ref, `frame not usable: ${(e as Error).message}`);
      return [];
    }
    const n = tileCount(plan.grid);
    this.tilesPerFrame.set(job.ref.cameraId, n);
    this.frameSizes.set(job.ref.cameraId, { width: job.image.width, height: job.image.height });
    const frame: TiledFrame = {
      ref: job.ref,
      image: job.image,
      plan,
      grids: new Float32Array(n * g * g),
      received: 0,
      failed: false,
    };
    return Array.from({ length: n }, (_, index) => ({ ...job, tile: { frame, index } }));
  }

  /** A tiled camera's latest frame size, if it sent one. */
  frameSize(cameraId: string): { width: number; height: number } | undefined {
    return this.frameSizes.get(cameraId);
  }

  /** The batcher's queue for a camera: a tiled camera's depth counts tiles (depth frames × tiles per frame). */
  queue(cameraId: string, q: { depth: number; policy: DropPolicy }): { depth: number; policy: DropPolicy } {
    const tiles = this.tilesPerFrame.get(cameraId) ?? 1;
    return { depth: q.depth * tiles, policy: q.policy };
  }

  /**
   * A tile job was lost (dropped by its queue, not usable, or its inference failed): true the first time for
   * its frame (the caller fails the part and counts it then), false for the frame's later tiles.
   */
  firstLoss(job: TileableJob): boolean {
    const frame = job.tile!.frame;
    if (frame.failed) return false;
    this.settle(frame, true);
    return true;
  }

  /**
   * The lease a batch of `jobs` runs on: `current` (the model in force), unless a frame among them started on a
   * model swapped out less than swapDeferMs ago: then that model (current is returned).
   */
  batchLease(jobs: readonly TileableJob[], current: ModelLease): ModelLease {
    const defer = this.o.swapDeferMs ?? SWAP_DEFER_MS;
    for (const j of jobs) {
      const held = j.tile?.frame.failed ? undefined : j.tile?.frame.lease;
      if (!held || held.use.model === current.use.model) continue;
      const since = held.retiredMs();
      if (since === null || since >= defer) continue;
      current.release();
      return held.again();
    }
    return current;
  }

  /**
   * The jobs worth running on the batch's lease: tiles of failed frames are left out, and so are those of frames
   * whose deadline already decided them (under overload a late 143-tile frame would otherwise keep the session
   * busy for nothing); such a frame leaves the ledger here. A frame's first batch gives it its model (a lease it
   * holds until its last tile ran); a frame whose earlier tiles ran on another model fails here, with the
   * fail-safe verdict: its map would be stitched from two models' scores, on two scales, and judged against one
   * model's threshold (batchLease keeps that to frames still part-way swapDeferMs after a swap).
   */
  live<J extends TileableJob>(jobs: J[], lease?: ModelLease): J[] {
    for (const j of jobs) {
      const frame = j.tile?.frame;
      if (!frame || frame.failed) continue;
      if (this.o.decided(frame.ref)) {
        this.settle(frame, true);
        this.o.fail(frame.ref, 'decided by its deadline: remaining tiles skipped');
        continue;
      }
      if (lease === undefined) continue;
      if (!frame.lease) {
        frame.lease = lease.again();
        this.holding.add(frame);
      }
      if (frame.lease.use.model !== lease.use.model) {
        const [from, to] = [frame.lease.use.model.modelId, lease.use.model.modelId];
        this.settle(frame, true);
        this.o.log.info(
          { camera: frame.ref.cameraId, part: frame.ref.partId, from, to },
          'tiled frame spans a model swap: fail-safe verdict',
        );
        this.o.fail(
          frame.ref,
          `model swapped while its tiles ran (${from} → ${to}): not stitched from two models`,
        );
      }
    }
    return jobs.some((j) => j.tile?.frame.failed) ? jobs.filter((j) => !j.tile?.frame.failed) : jobs;
  }

  /** Returns every lease a frame part-way through holds (the engine stops). */
  close(): void {
    for (const f of [...this.holding]) this.settle(f, true);
  }

  /** A frame is done (its last tile in) or failed: its model lease goes back. */
  private settle(frame: TiledFrame, failed: boolean): void {
    if (failed) frame.failed = true;
    frame.lease?.release();
    this.holding.delete(frame);
  }

  /** Writes a tile job's model input into `out` (prepareBatch's fill); null for a whole frame (letterboxed). */
  readonly fill = (job: TileableJob, out: Uint8Array): Letterbox | null => {
    if (!job.tile) return null;
    const { frame, index } = job.tile;
    tileInput(frame.image, frame.plan.grid, index, out, this.o.model.resize);
    return computeLetterbox(frame.plan.grid.tile, frame.plan.grid.tile, this.o.model.size);
  };

  /**
   * Stores a tile's Δ grid; when it was the frame's last, returns the frame's inspection (stitched) with its
   * grid record, and the frame (for its evidence). Tiles of a frame that failed meanwhile are ignored.
   */
  receive(
    job: TileableJob,
    grid: Float32Array,
    settings: VerdictSettings & { thresholds: Thresholds },
  ): { ref: PartRef; inspection: Inspection; frame: TiledFrame } | null {
    const { frame, index } = job.tile!;
    if (frame.failed) return null;
    const cells = this.o.model.grid ** 2;
    frame.grids.set(grid, index * cells);
    if (++frame.received < tileCount(frame.plan.grid)) return null;
    this.settle(frame, false);
    const { frameWidth: W, frameHeight: H } = frame.plan.grid;
    const out = this.scratchMap(W, H);
    const { map: _map, ...inspection } = inspectTiles(
      frame.grids,
      this.o.model.grid,
      frame.plan,
      settings,
      out,
    );
    return {
      ref: frame.ref,
      inspection: { ...inspection, tiling: tilingRecord(frame.plan.grid) },
      frame,
    };
  }

  private scratchMap(w: number, h: number): Float32Array {
    const k = `${w}x${h}`;
    let m = this.scratch.get(k);
    if (!m) {
      if (this.scratch.size >= 4) this.scratch.clear();
      m = new Float32Array(w * h);
      this.scratch.set(k, m);
    }
    return m;
  }
}

/**
 * A decided tiled frame's evidence for the outputs: the frame (the source's buffer, not copied), its tiles' Δ
 * grids (the frame's own array, never reused: no copy either) and the tile grid, so the archive can stitch the
 * map the verdict saw off the hot path.
 */
export function tiledEvidence(
  frame: TiledFrame,
  g: number,
  s: VerdictSettings & { thresholds: Thresholds },
): TiledEvidence {
  return {
    kind: 'tiled',
    image: frame.image,
    grids: frame.grids,
    tiles: frame.plan.grid,
    g,
    ignore: s.ignore,
    pixelThreshold: s.thresholds.pixel,
    minBlobArea: s.minBlobArea,
  };
}
