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
import { computeLetterbox, letterbox, type Letterbox, type ResizeMode } from './letterbox.js';
import type { Decision, PartEvidence } from './evidence.js';
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
import { warmUpBatches } from './warm-up.js';
import { TileJobs, type TileRef } from './tile-jobs.js';
import type { TilingSpec } from './tiling.js';

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
}

export interface EngineOptions {
  model: EngineModel;
  cameras: ReadonlyMap<string, EngineCamera>;
  maxBatch: number;
  maxWaitMs: number;
  deadlineMs: number;
  failSafe: 'reject' | 'ok';
  log: Logger;
  /** Clock and timers; its clock must be the frames' capture-time clock (Date.now by default). */
  scheduler?: SchedulerLike;
  /** A PLC trigger was accepted and waits for its camera's next frame (see TriggerOptions.onAccepted). */
  onTriggerAccepted?(t: PartTrigger): void;
  /** Keep each decided part's frame and Δ grid for the outputs (decisions()); off: nothing is kept. */
  evidence?: boolean;
  /** Called after each inference batch with its size and timings (for metrics; must be cheap). */
  onBatch?(b: BatchTimings): void;
}

export interface BatchTimings {
  size: number;
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
}

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

/** A prepared batch and how long letterboxing it took. */
type Timed<T> = T & { prepareMs: number };

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

  constructor(private readonly o: EngineOptions) {
    for (const id of o.cameras.keys()) this.perCamera.set(id, { frames: 0, dropped: 0, untriggered: 0 });
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
   * would make the first parts miss their deadline. Returns the measured ms per batch size (on a GPU the
   * second run of each size; on the CPU the only run, an upper bound).
   */
  async warmUp(): Promise<Map<number, number>> {
    const { model } = this.o;
    const S = model.size;
    const provider = model.provider ?? 'cpu';
    const sizes = warmUpBatches(provider, this.o.maxBatch, model.staticBatch);
    const largest = Math.max(...sizes);
    const bytes = largest * S * S * 3;
    const buffer = new Uint8Array(bytes);
    const image = {
      width: 64,
      height: 48,
      channels: 3 as const,
      data: new Uint8Array(64 * 48 * 3).fill(128),
    };
    const lb = computeLetterbox(image.width, image.height, S);
    for (let i = 0; i < largest; i++)
      letterbox(image, S, buffer.subarray(i * S * S * 3, (i + 1) * S * S * 3), model.resize);
    const ms = new Map<number, number>();
    let grid: Float32Array | undefined;
    for (const b of sizes) {
      const pixels = buffer.subarray(0, b * S * S * 3);
      if (provider !== 'cpu') await model.run(pixels, b); // per-shape set-up, not timed
      const t0 = performance.now();
      grid = await model.run(pixels, b);
      ms.set(b, performance.now() - t0);
    }
    inspectGrid(grid!.subarray(0, model.grid * model.grid), model.grid, lb, {
      thresholds: { reject: 1, pixel: 1 },
      minBlobArea: 1,
      ignore: [],
    });
    return ms;
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
    const { model, cameras, log } = this.o;
    const S = model.size;
    const g = model.grid;
    return new Observable<Decision>((subscriber) => {
      const ledger = new PartLedger({
        deadlineMs: this.o.deadlineMs,
        failSafe: this.o.failSafe,
        modelId: model.modelId,
        publish: (result, evidence) => subscriber.next(evidence ? { result, evidence } : { result }),
        log,
        scheduler: this.o.scheduler,
      });
      this.ledger = ledger;
      this.ledgerStats = ledger.stats;
      const credit$ = new Subject<void>();
      const tiles = new TileJobs({
        model,
        tiling: (id) => cameras.get(id)?.tiling ?? null,
        fail: (ref, detail) => ledger.fail(ref, detail),
        decided: (ref) => ledger.decidedEarly(ref),
        log,
      });
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
        this.perCamera.get(f.cameraId)!.frames++;
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
              ledger.noFrame(ref, detail, reason);
            },
            onUntriggered: (f, why) => {
              this.perCamera.get(f.cameraId)!.untriggered++;
              log.debug({ camera: f.cameraId, seq: f.seq, why }, 'frame paired with no trigger: not a part');
            },
            losses$,
            onAccepted: this.o.onTriggerAccepted,
            log,
            scheduler: this.o.scheduler,
          }),
          map(admit),
          filter((j): j is Job => j !== null),
          mergeMap((j) => tiles.expand(j)),
          batchFrames<Job>({
            maxBatch: this.o.maxBatch,
            maxWaitMs: this.o.maxWaitMs,
            key: (j) => j.ref.cameraId,
            queue: (id) => tiles.queue(id, cameras.get(id)!.queue),
            onDrop: (j, id) => {
              if (j.tile && !tiles.firstLoss(j)) return; // the frame already failed with its first tile
              this.perCamera.get(id)!.dropped++;
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
            const t0 = performance.now();
            const b = prepareBatch(
              tiles.live(jobs),
              S,
              model.resize,
              pool,
              (j, e) => {
                if (j.tile && !tiles.firstLoss(j)) return;
                log.warn({ camera: j.ref.cameraId, part: j.ref.partId, err: e.message }, 'frame not usable');
                ledger.fail(j.ref, `frame not usable: ${e.message}`);
              },
              tiles.fill,
            );
            return Object.assign(b, { prepareMs: performance.now() - t0 });
          }),
          inferSerially<Timed<Prepared<Job>>>(
            (b) => runBatch(model, b),
            (b) => {
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
      prepareSeconds: ran.batch.prepareMs / 1000,
      inferSeconds: ran.ms / 1000,
      postprocessSeconds: (performance.now() - t0) / 1000,
    });
  }

  private inspectBatch(ran: Ran<Timed<Prepared<Job>>>, ledger: PartLedger, g: number, tiles: TileJobs): void {
    const { frames, boxes } = ran.batch;
    this.counts.batches++;
    this.counts.batchedFrames += frames.length;
    this.counts.inferMs += ran.ms;
    if (ran.error || !ran.output) {
      this.counts.inferErrors++;
      this.o.log.error({ err: ran.error?.message, frames: frames.length }, 'inference failed');
      for (const j of frames)
        if (!j.tile || tiles.firstLoss(j)) ledger.fail(j.ref, `inference failed: ${ran.error?.message}`);
      return;
    }
    const cells = g * g;
    for (let i = 0; i < frames.length; i++) {
      const j = frames[i];
      const lb = boxes[i];
      const settings = this.o.cameras.get(j.ref.cameraId)!.verdict as VerdictSettings & {
        thresholds: Thresholds;
      };
      try {
        const grid = ran.output.subarray(i * cells, (i + 1) * cells);
        if (j.tile) {
          // evidence (frame + one Δ grid) does not describe a tiled frame: the outputs get the verdict only
          const done = tiles.receive(j, grid, settings);
          if (done) ledger.decide(done.ref, done.inspection);
          continue;
        }
        const inspection = inspectGrid(grid, g, lb, settings, this.scratchMap(lb.width, lb.height));
        ledger.decide(
          j.ref,
          inspection,
          this.o.evidence ? evidenceOf(j.image, grid, g, lb, settings) : undefined,
        );
      } catch (e) {
        if (j.tile && !tiles.firstLoss(j)) continue;
        this.o.log.error(
          { camera: j.ref.cameraId, part: j.ref.partId, err: (e as Error).message },
          'post-processing failed',
        );
        ledger.fail(j.ref, `post-processing failed: ${(e as Error).message}`);
      }
    }
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

/** The evidence of one frame: its pixels as they came, and a copy of its Δ grid (the batch output is reused). */
function evidenceOf(
  image: Image,
  grid: Float32Array,
  g: number,
  letterbox: Letterbox,
  s: VerdictSettings & { thresholds: Thresholds },
): PartEvidence {
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
