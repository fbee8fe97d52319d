// The streaming engine: frames of all cameras in, exactly one verdict per part out.
//
//   frames ─ part ids (source or PLC trigger) ─ ledger (deadline starts) ─ per-camera bounded queues ─
//   cross-camera batcher ─ letterbox into a pooled batch buffer ─ inference (one batch in flight, the next
//   prepared) ─ split per frame ─ anomaly map, ignore zones, blobs, verdict ─ ledger ─ verdicts
//
// Nothing in it grows without bound: the queues have depths, the batcher holds at most `CREDITS` batches
// outstanding (= the buffer pool size), the ledger holds only parts whose frame is in flight. A part that
// cannot be decided in time gets the fail-safe verdict from the ledger's timer, on time.
import { NEVER, Observable, Subject, filter, map, mergeMap } from 'rxjs';
import { performance } from 'node:perf_hooks';
import type { SchedulerLike } from 'rxjs';
import type { Logger } from '../util/log.js';
import type { Image } from './image.js';
import type { Letterbox, ResizeMode } from './letterbox.js';
import type { Decision, FrameEvidence } from './evidence.js';
import type { InspectionResult } from './result.js';
import type { DropPolicy } from './queue.js';
import { batchFrames } from './batcher.js';
import { BufferPool, inferSerially, prepareBatch } from './batch-run.js';
import type { Prepared, Ran } from './batch-run.js';
import type { LedgerStats } from './ledger.js';
import { PartLedger, emptyLedgerStats } from './ledger.js';
import type { CameraPairing, PartFrame, PartTrigger, TriggerLoss } from './triggers.js';
import { correlateTriggers } from './triggers.js';
import type { PartRef, Thresholds, VerdictSettings } from './verdict.js';
import { inspectGrid } from './verdict.js';
import { warmUpModel, type WarmUpTimes } from './warm-up-run.js';
import type { TiledCamera } from './tiled-warm-up.js';
import { ModelSlot, type ModelLease } from './model-slot.js';
import { TileJobs, tiledEvidence, type TileRef } from './tile-jobs.js';
import type { TilingSpec } from './tiling.js';
import type { PipelineLoad } from './pipeline-load.js';

/** Batches outstanding at once: one running on the session, one letterboxed and waiting (at the worker). */
export const CREDITS = 2;

/** What the engine needs of a frame (a source's Frame is one). */
export interface EngineFrame extends PartFrame {
  image: Image;
}

/** What the engine needs of a model (pipeline/inference.ts's AnomalyModel is one). */
export interface EngineModel {
  readonly size: number;
  /** How frames are letterboxed for this model (its bundle's mode). */
  readonly resize: ResizeMode;
  readonly grid: number;
  readonly modelId: string;
  /** pixels: B·S·S·3 bytes; resolves to B·g·g Δ values. Called with one batch in flight at a time. */
  run(pixels: Uint8Array, batch: number): Promise<Float32Array>;
  /**
   * Runs a batch whose whole buffer is transferred to another thread and back (worker-model.ts): resolves with
   * the output and the buffer again (a new object over the same memory), which replaces the old one in the
   * pool. A rejection carries `input` too (a fresh buffer when the old one was lost), so the pool never shrinks.
   */
  runTransfer?(buffer: Uint8Array, batch: number): Promise<{ output: Float32Array; input: Uint8Array }>;
  /** Execution provider (warm-up covers every batch size on a GPU); absent = cpu. */
  readonly provider?: string;
  /** The session pads every batch to this size (TensorRT): the only size to warm up. */
  readonly staticBatch?: number;
}

export interface EngineCamera {
  queue: { depth: number; policy: DropPolicy };
  verdict: VerdictSettings;
  /** The trigger window in ms when this camera's part ids come from PLC triggers, else null. */
  triggerWindowMs: number | null;
  /** How its frames are paired with triggers (default: order). */
  pairing?: CameraPairing;
  /** Tiling of its frames (tile-jobs.ts); absent or null: letterboxed. */
  tiling?: TilingSpec | null;
  /** Its frame size when the config says (synthetic cameras): what a tiled camera's warm-up plans for. */
  frameSize?: { width: number; height: number };
}

export interface EngineOptions {
  model: EngineModel;
  /** The models-directory version `model` came from (null: a plain bundle). */
  modelVersion?: string | null;
  cameras: ReadonlyMap<string, EngineCamera>;
  maxBatch: number;
  maxWaitMs: number;
  deadlineMs: number;
  failSafe: 'reject' | 'ok';
  /** How long after a hot swap a tiled frame part-way through may finish on the outgoing model (tile-jobs.ts). */
  swapDeferMs?: number;
  log: Logger;
  /** Clock and timers; its clock must be the frames' capture-time clock (Date.now by default). */
  scheduler?: SchedulerLike;
  /** A PLC trigger was accepted and waits for its camera's next frame (see TriggerOptions.onAccepted). */
  onTriggerAccepted?(t: PartTrigger): void;
  /** Keep each decided part's frame and Δ grid for the outputs (decisions()); off: nothing is kept. */
  evidence?: boolean;
  /** Called after each inference batch with its size and timings (for metrics; must be cheap). */
  onBatch?(b: BatchTimings): void;
  /** Kept equal to the parts in the pipeline (pipeline-load.ts): background work yields to inspection. */
  load?: PipelineLoad;
}

export interface BatchTimings {
  size: number;
  /** The model the batch ran on. */
  modelId: string;
  prepareSeconds: number;
  inferSeconds: number;
  postprocessSeconds: number;
}

export interface CameraStats {
  /** Frames that became parts. */
  frames: number;
  /** Frames dropped by the camera's queue policy. */
  dropped: number;
  /** Frames on a triggered camera that paired with no trigger (none waiting, stale, ambiguous). */
  untriggered: number;
  /** Frames that could not be letterboxed (wrong size, corrupt): their parts got the fail-safe verdict. */
  unusable: number;
  /** Frames waiting in the camera's queue now (a gauge, not a counter). */
  queued: number;
  /** PLC triggers answered by no frame, all reasons (no-frame, frame-lost, trigger-missed). */
  noFrame: number;
  /** Of those: the camera reported the frame lost (block-id gap, incomplete buffer). */
  frameLost: number;
  /** Of those: the camera did not take the picture (merged or missed trigger). */
  triggerMissed: number;
}

const zeroCameraStats = (): CameraStats => ({
  frames: 0,
  dropped: 0,
  untriggered: 0,
  unusable: 0,
  queued: 0,
  noFrame: 0,
  frameLost: 0,
  triggerMissed: 0,
});

export interface EngineStats extends LedgerStats {
  cameras: Record<string, CameraStats>;
  /** Frames from cameras the engine was not configured for. */
  unknownCamera: number;
  batches: number;
  batchedFrames: number;
  /** Sum of inference wall times, ms. */
  inferMs: number;
  /** Inference calls that failed (their frames got error verdicts). */
  inferErrors: number;
}

interface Job {
  ref: PartRef;
  image: Image;
  /** One tile of a tiled frame (tile-jobs.ts). */
  tile?: TileRef;
}

/** Runs a prepared batch; with a transferring model the buffer that comes back replaces the one sent. */
function runBatch(model: EngineModel, b: Prepared<unknown>): Promise<Float32Array> {
  if (!model.runTransfer) return model.run(b.pixels, b.frames.length);
  return model.runTransfer(b.buffer, b.frames.length).then(
    (r) => {
      b.buffer = r.input;
      return r.output;
    },
    (e: Error & { input?: Uint8Array }) => {
      if (e.input) b.buffer = e.input;
      throw e;
    },
  );
}

/** A prepared batch, how long letterboxing it took, and the model it runs on. */
type Timed<T> = T & { prepareMs: number; lease: ModelLease };

/** Scratch anomaly maps kept per frame size (a few sizes per deployment at most). */
const MAX_SCRATCH = 8;

export class Engine {
  private ledgerStats: LedgerStats = emptyLedgerStats();
  private readonly counts = {
    unknownCamera: 0,
    batches: 0,
    batchedFrames: 0,
    inferMs: 0,
    inferErrors: 0,
  };
  private readonly perCamera = new Map<string, CameraStats>();
  private ledger: PartLedger | null = null;
  private readonly scratch = new Map<string, Float32Array>();
  /** The running tile jobs (they know the frame sizes seen): null before run(). */
  private tiles: TileJobs | null = null;
  /** The model in force; a hot swap replaces it between two batches (model-slot.ts). */
  readonly models: ModelSlot;

  constructor(private readonly o: EngineOptions) {
    this.models = new ModelSlot({ model: o.model, version: o.modelVersion ?? null });
    for (const id of o.cameras.keys()) this.perCamera.set(id, zeroCameraStats());
  }

  stats(): EngineStats {
    const cameras: Record<string, CameraStats> = {};
    for (const [id, s] of this.perCamera) cameras[id] = { ...s };
    return { ...(this.ledger?.stats ?? this.ledgerStats), ...this.counts, cameras };
  }

  /**
   * Runs dummy frames through letterbox, inference and post-processing before the first real one: loading
   * OpenCV, the session's first run and the first operator set-up block the main thread for up to a second,
   * and on a GPU every new batch size sets up kernels (cuDNN search, TensorRT engines: warm-up.ts), which
   * would make the first parts miss their deadline; tiled cameras add the batch sizes their tiles make and
   * their own code path (tiled-warm-up.ts). Returns the measured times (warm-up-run.ts).
   */
  async warmUp(): Promise<WarmUpTimes> {
    return warmUpModel(this.models.current.model, this.o.maxBatch, this.tiledCameras());
  }

  /** The tiled cameras and their frame sizes: as seen when running (a hot swap), else as configured. */
  tiledCameras(): TiledCamera[] {
    const out: TiledCamera[] = [];
    for (const [camera, c] of this.o.cameras)
      if (c.tiling)
        out.push({ camera, spec: c.tiling, frame: this.tiles?.frameSize(camera) ?? c.frameSize ?? null });
    return out;
  }

  /** Parts in flight (admitted, not yet out of the pipeline). */
  get pending(): number {
    return this.ledger?.pending ?? 0;
  }

  /**
   * Cold: subscribing starts the engine on `frames$`. The output completes after `frames$` completes and every
   * frame in flight has been decided (triggers still waiting then get their no-frame verdict). `losses$`:
   * software triggers their camera reports answered by no frame.
   */
  run(
    frames$: Observable<EngineFrame>,
    triggers$: Observable<PartTrigger> = NEVER,
    losses$: Observable<TriggerLoss> = NEVER,
  ): Observable<InspectionResult> {
    return this.decisions(frames$, triggers$, losses$).pipe(map((d) => d.result));
  }

  /** run() with each verdict's evidence (frame and Δ grid) when the engine was made with `evidence: true`. */
  decisions(
    frames$: Observable<EngineFrame>,
    triggers$: Observable<PartTrigger> = NEVER,
    losses$: Observable<TriggerLoss> = NEVER,
  ): Observable<Decision> {
    const { cameras, log } = this.o;
    // Size, grid and resize mode are the same for every model the slot accepts.
    const model = this.models.current.model;
    const S = model.size;
    const g = model.grid;
    return new Observable<Decision>((subscriber) => {
      const ledger = new PartLedger({
        deadlineMs: this.o.deadlineMs,
        failSafe: this.o.failSafe,
        modelId: () => this.models.modelId,
        publish: (result, evidence) => subscriber.next(evidence ? { result, evidence } : { result }),
        log,
        scheduler: this.o.scheduler,
        load: this.o.load,
      });
      this.ledger = ledger;
      this.ledgerStats = ledger.stats;
      const credit$ = new Subject<void>();
      const tiles = new TileJobs({
        model,
        tiling: (id) => cameras.get(id)?.tiling ?? null,
        fail: (ref, detail) => ledger.fail(ref, detail),
        decided: (ref) => ledger.decidedEarly(ref),
        swapDeferMs: this.o.swapDeferMs,
        log,
      });
      this.tiles = tiles;
      const pool = new BufferPool(CREDITS, this.o.maxBatch * S * S * 3);

      const admit = (f: EngineFrame): Job | null => {
        const ref: PartRef = {
          cameraId: f.cameraId,
          partId: f.partId ?? `${f.cameraId}-${f.seq}`,
          seq: f.seq,
          captureTime: f.captureTime,
          ...(f.pairing === undefined ? {} : { pairing: f.pairing }),
        };
        if (!ledger.admit(ref)) return null;
        this.statsOf(f.cameraId).frames++;
        if (!cameras.get(f.cameraId)!.verdict.thresholds) {
          ledger.fail(ref, 'no reject/pixel threshold: the model was not taught in and the config sets none');
          return null;
        }
        return { ref, image: f.image };
      };

      const sub = frames$
        .pipe(
          filter((f) => {
            if (cameras.has(f.cameraId)) return true;
            if (this.counts.unknownCamera++ === 0)
              log.warn({ camera: f.cameraId }, 'frame from an unconfigured camera: ignored');
            return false;
          }),
          correlateTriggers<EngineFrame>(triggers$, {
            windowMs: (id) => cameras.get(id)?.triggerWindowMs ?? null,
            pairing: (id) => cameras.get(id)?.pairing ?? { method: 'order' },
            known: (id, part) => ledger.has(id, part),
            onNoFrame: (t, detail, reason) => {
              const method = cameras.get(t.cameraId)?.pairing?.method ?? 'order';
              const pairing = { method, triggerTime: t.time };
              const ref = { cameraId: t.cameraId, partId: t.partId, seq: null, captureTime: t.time, pairing };
              countNoFrame(this.statsOf(t.cameraId), reason);
              ledger.noFrame(ref, detail, reason);
            },
            onUntriggered: (f, why) => {
              this.statsOf(f.cameraId).untriggered++;
              log.debug({ camera: f.cameraId, seq: f.seq, why }, 'frame paired with no trigger: not a part');
            },
            losses$,
            onAccepted: this.o.onTriggerAccepted,
            log,
            scheduler: this.o.scheduler,
          }),
          map(admit),
          filter((j): j is Job => j !== null),
          mergeMap((j) => {
            const jobs = tiles.expand(j);
            this.statsOf(j.ref.cameraId).queued += jobs.length; // a tiled frame waits as its tiles
            return jobs;
          }),
          batchFrames<Job>({
            maxBatch: this.o.maxBatch,
            maxWaitMs: this.o.maxWaitMs,
            key: (j) => j.ref.cameraId,
            queue: (id) => tiles.queue(id, cameras.get(id)!.queue),
            onDrop: (j, id) => {
              this.statsOf(id).queued--;
              if (j.tile && !tiles.firstLoss(j)) return; // the frame already failed with its first tile
              this.statsOf(id).dropped++;
              log.debug({ camera: id, part: j.ref.partId }, 'frame dropped: queue full');
              ledger.fail(
                j.ref,
                `frame dropped: the camera's queue was full (${cameras.get(id)!.queue.policy})`,
              );
            },
            credits: CREDITS,
            credit$,
            partialWhenIdle: true,
            scheduler: this.o.scheduler,
          }),
          map((jobs) => {
            for (const j of jobs) this.statsOf(j.ref.cameraId).queued--;
            const t0 = performance.now();
            // The batch runs on the model in force when it closes, whatever is swapped in meanwhile (or, just
            // after a swap, on the outgoing one when it holds tiles of a frame started there: tile-jobs.ts).
            const lease = tiles.batchLease(jobs, this.models.acquire());
            const b = prepareBatch(
              tiles.live(jobs, lease),
              S,
              model.resize,
              pool,
              (j, e) => {
                if (j.tile && !tiles.firstLoss(j)) return;
                this.statsOf(j.ref.cameraId).unusable++;
                log.warn({ camera: j.ref.cameraId, part: j.ref.partId, err: e.message }, 'frame not usable');
                ledger.fail(j.ref, `frame not usable: ${e.message}`);
              },
              tiles.fill,
            );
            return Object.assign(b, { prepareMs: performance.now() - t0, lease });
          }),
          inferSerially<Timed<Prepared<Job>>>(
            (b) => runBatch(b.lease.use.model, b),
            (b) => {
              b.lease.release();
              pool.release(b.buffer);
              credit$.next();
            },
            // A worker-thread model queues runs itself: both batches go to it, the second starts there at once.
            model.runTransfer ? CREDITS : 1,
          ),
        )
        .subscribe({
          next: (ran) => this.inspect(ran, ledger, g, tiles),
          error: (e: unknown) => subscriber.error(e),
          complete: () => subscriber.complete(),
        });
      return () => {
        sub.unsubscribe();
        tiles.close();
        ledger.close();
        credit$.complete();
      };
    });
  }

  private inspect(ran: Ran<Timed<Prepared<Job>>>, ledger: PartLedger, g: number, tiles: TileJobs): void {
    const t0 = performance.now();
    this.inspectBatch(ran, ledger, g, tiles);
    this.o.onBatch?.({
      size: ran.batch.frames.length,
      modelId: ran.batch.lease.use.model.modelId,
      prepareSeconds: ran.batch.prepareMs / 1000,
      inferSeconds: ran.ms / 1000,
      postprocessSeconds: (performance.now() - t0) / 1000,
    });
  }

  private inspectBatch(ran: Ran<Timed<Prepared<Job>>>, ledger: PartLedger, g: number, tiles: TileJobs): void {
    const { frames, boxes, lease } = ran.batch;
    const modelId = lease.use.model.modelId;
    this.counts.batches++;
    this.counts.batchedFrames += frames.length;
    this.counts.inferMs += ran.ms;
    if (ran.error || !ran.output) {
      this.counts.inferErrors++;
      this.o.log.error({ err: ran.error?.message, frames: frames.length }, 'inference failed');
      for (const j of frames)
        if (!j.tile || tiles.firstLoss(j))
          ledger.fail(j.ref, `inference failed: ${ran.error?.message}`, modelId);
      return;
    }
    const cells = g * g;
    for (let i = 0; i < frames.length; i++) {
      const j = frames[i];
      const lb = boxes[i];
      const settings = (lease.use.verdicts?.get(j.ref.cameraId) ??
        this.o.cameras.get(j.ref.cameraId)!.verdict) as VerdictSettings & {
        thresholds: Thresholds;
      };
      try {
        const grid = ran.output.subarray(i * cells, (i + 1) * cells);
        if (j.tile) {
          const done = tiles.receive(j, grid, settings);
          if (done) {
            const ev = this.o.evidence ? tiledEvidence(done.frame, g, settings) : undefined;
            ledger.decide(done.ref, done.inspection, ev, modelId);
          }
          continue;
        }
        const inspection = inspectGrid(grid, g, lb, settings, this.scratchMap(lb.width, lb.height));
        ledger.decide(
          j.ref,
          inspection,
          this.o.evidence ? evidenceOf(j.image, grid, g, lb, settings) : undefined,
          modelId,
        );
      } catch (e) {
        if (j.tile && !tiles.firstLoss(j)) continue;
        this.o.log.error(
          { camera: j.ref.cameraId, part: j.ref.partId, err: (e as Error).message },
          'post-processing failed',
        );
        ledger.fail(j.ref, `post-processing failed: ${(e as Error).message}`, modelId);
      }
    }
  }

  /** A camera's counters; a camera added while running (config reload) gets its own on its first frame. */
  private statsOf(id: string): CameraStats {
    let s = this.perCamera.get(id);
    if (!s) {
      s = zeroCameraStats();
      this.perCamera.set(id, s);
    }
    return s;
  }

  /** One map buffer per frame size: the map is only read within inspectGrid, so it can be reused. */
  private scratchMap(w: number, h: number): Float32Array {
    const k = `${w}x${h}`;
    let m = this.scratch.get(k);
    if (!m) {
      if (this.scratch.size >= MAX_SCRATCH) this.scratch.clear();
      m = new Float32Array(w * h);
      this.scratch.set(k, m);
    }
    return m;
  }
}

/** Per-camera loss counters of a trigger answered by no frame (the camera may be unknown to the engine). */
function countNoFrame(c: CameraStats | undefined, reason: string | undefined): void {
  if (!c) return;
  c.noFrame++;
  if (reason === 'frame-lost') c.frameLost++;
  if (reason === 'trigger-missed') c.triggerMissed++;
}

/** The evidence of one frame: its pixels as they came, and a copy of its Δ grid (the batch output is reused). */
function evidenceOf(
  image: Image,
  grid: Float32Array,
  g: number,
  letterbox: Letterbox,
  s: VerdictSettings & { thresholds: Thresholds },
): FrameEvidence {
  return {
    image,
    grid: grid.slice(),
    g,
    letterbox,
    ignore: s.ignore,
    pixelThreshold: s.thresholds.pixel,
    minBlobArea: s.minBlobArea,
  };
}
