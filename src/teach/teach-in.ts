// Teach-in: good images in, trained and calibrated students in the bundle out (method.md, "Training";
// thresholds: "Beyond the paper"). The library entry point the CLI and the daemon share.
//
//   1. images are letterboxed as they arrive (only S·S·3 bytes each are kept) and fingerprinted; with tiling
//      (issue 15) the images are kept whole, their tiles are the training samples, and calibration runs on
//      stitched frame maps (calibrate-tiled.ts);
//   2. a seeded share is held out for calibration (default 20 %, at least one);
//   3. teacher features of the training images are extracted once (features.ts);
//   4. the students train on shuffled patch rows, Adam, one checkpoint per epoch (trainer.ts);
//   5. the held-out images are scored and the thresholds set (calibrate.ts);
//   6. students, training record and thresholds are written to the bundle together, atomically.
// Nothing is written to the bundle's students on failure (a non-finite loss, an abort, an error).
//
// Default schedule: see docs/teach-in.md for the measurements behind it.
import { createHash } from 'node:crypto';
import type { Bundle } from '../model/bundle.js';
import { loadBundle, saveStudents, sha256 } from '../model/bundle.js';
import { computeModelId, resizeModeOf, type Manifest, type ResizeMode } from '../model/manifest.js';
import { colourModeOf, frameProfileOf, type ColourMode, type FrameProfile } from '../model/frame-profile.js';
import { encodeSafetensors } from '../model/safetensors.js';
import { initStudents, studentsToTensors } from '../model/students.js';
import type { StudentWeights } from '../model/types.js';
import type { Image } from '../pipeline/image.js';
import { openAnomalyModel, openFeatureModel, type Device } from '../pipeline/inference.js';
import { letterbox } from '../pipeline/letterbox.js';
import { tileInputs } from '../pipeline/tiled-frame-map.js';
import { TilePlans } from '../pipeline/tiled-inspection.js';
import { describeTiling, tileGrid, type TilingSpec } from '../pipeline/tiling.js';
import { scoreHoldoutTiled } from './calibrate-tiled.js';
import type { Logger } from '../util/log.js';
import { Rng } from '../util/random.js';
import {
  DEFAULT_RULE,
  scoreHoldout,
  thresholdsFromHoldout,
  type CalibrationRule,
  type HeldOutFrame,
  type Thresholds,
} from './calibrate.js';
import {
  readCheckpoint,
  removeCheckpoint,
  runMismatches,
  writeCheckpoint,
  CheckpointError,
  type Checkpoint,
  type CheckpointMeta,
} from './checkpoint.js';
import { extractFeatures, type CachePlan, type FeatureCacheOptions, type FeatureStore } from './features.js';
import { ProgressLogPace } from './progress-log-pace.js';
import type { TeachInProgress, TrainPlan, TrainProgress } from './progress.js';
import { trainProgressText } from './progress-text.js';
import { StudentTrainer, type AdamState } from './trainer.js';

/**
 * How long to train when --epochs is not given: at least `minSteps` optimiser steps, then until the loss
 * levels off (the mean loss of the last `window` steps fell by less than `tolerance` against the `window`
 * before them), at most `maxSteps`; always whole epochs. Steps, not epochs, because a few-shot epoch is only
 * a handful of steps (24 images, 4 a step: 6) and Adam needs ~1000 of them whatever the set size. Measured
 * in docs/teach-in.md.
 */
export interface AutoSchedule {
  minSteps: number;
  maxSteps: number;
  window: number;
  tolerance: number;
}

export const DEFAULT_SCHEDULE: AutoSchedule = {
  minSteps: 1000,
  maxSteps: 5000,
  window: 200,
  tolerance: 0.1,
};

export const DEFAULT_LR = 1e-3;
export const DEFAULT_BATCH_IMAGES = 4;
export const DEFAULT_HOLDOUT = 0.2;

export interface TeachInOptions {
  /** Fixed number of epochs; absent = the auto schedule. */
  epochs?: number;
  lr?: number;
  /** Images' worth of patch rows per optimiser step (4). */
  batch?: number;
  seed?: number;
  /** Share of the good images held out for calibration (0.2; 0 = no thresholds). */
  holdout?: number;
  /** Continue from the bundle's checkpoint (it must belong to the same images and settings). */
  resume?: boolean;
  device?: Device;
  threads?: number;
  /** Calibrate in float16 (the deployment runs inference.fp16 on a GPU); features and training stay fp32. */
  fp16?: boolean;
  schedule?: Partial<AutoSchedule>;
  calibration?: Partial<CalibrationRule>;
  featureCache?: FeatureCacheOptions;
  /** Images per feature / scoring run (4). */
  inferenceBatch?: number;
  /** Write checkpoints (true). */
  checkpoint?: boolean;
  /** Teach in on tiles (docs/pipeline.md, "Tiling"); recorded in the bundle. Absent or null: letterboxed. */
  tiling?: TilingSpec | null;
  /**
   * A checkpoint is written at the end of an epoch when this many seconds passed since the last one (10; 0 =
   * every epoch). Few-shot epochs last milliseconds on a GPU; the latest finished epoch is also written
   * when the run stops early (error, abort), so nothing but the unfinished epoch is lost.
   */
  checkpointSeconds?: number;
}

export type { TeachInProgress, TrainPlan, TrainProgress } from './progress.js';

export interface TeachInParams {
  bundleDir: string;
  /** Good images (grey or RGB); an async iterable lets the daemon feed live frames. */
  images: Iterable<Image> | AsyncIterable<Image>;
  options?: TeachInOptions;
  log?: Logger;
  onProgress?: (p: TeachInProgress) => void;
  signal?: AbortSignal;
  /**
   * Recorded with the training (manifest `training`), e.g. the image files taught on (teach-in-set.ts) and,
   * for a re-teach, its parent: facts only the caller knows.
   */
  record?: Record<string, unknown>;
}

export type StopReason = 'epochs' | 'plateau' | 'max-steps';

export interface TeachInResult {
  manifest: Manifest;
  thresholds?: Thresholds;
  epochs: number;
  steps: number;
  finalLoss: number;
  epochLoss: number[];
  /** Loss of every optimiser step (the manifest keeps only a short curve). */
  stepLoss: number[];
  stoppedBy: StopReason;
  images: { train: number; holdout: number };
  /** Training samples (model inputs): one per training image, or its tiles with tiling. */
  samples: number;
  seconds: { features: number; train: number; calibrate: number };
  resumedFromEpoch?: number;
  featureCache: CachePlan;
  provider: string;
}

export class TeachInError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TeachInError';
  }
}

interface Frame extends HeldOutFrame {
  index: number;
  /** The whole image, kept with tiling only (`pixels` is then empty). */
  image?: Image;
}

/** The shuffle generator of epoch e (0-based): a function of (seed, e) only, so resumes replay exactly. */
export function epochRng(seed: number, epoch: number): Rng {
  return new Rng((Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(epoch + 1, 0x85ebca6b)) >>> 0);
}

/** Seeded choice of the held-out image indices (ascending). */
export function chooseHoldout(n: number, share: number, seed: number): number[] {
  if (!(share >= 0 && share < 1)) throw new TeachInError(`holdout must be in [0, 1), got ${share}`);
  if (share === 0) return [];
  const k = Math.max(1, Math.round(share * n));
  if (n - k < 1) {
    throw new TeachInError(
      `${n} good image(s) are too few to hold ${k} out for calibration and still train: show at least 2`,
    );
  }
  const idx = Array.from({ length: n }, (_, i) => i);
  new Rng((seed ^ 0x68e31da4) >>> 0).shuffle(idx);
  return idx.slice(0, k).sort((a, b) => a - b);
}

/** True when the last `window` step losses fell by less than `tolerance` against the `window` before. */
export function plateaued(stepLoss: readonly number[], window: number, tolerance: number): boolean {
  const n = stepLoss.length;
  if (n < 2 * window) return false;
  let recent = 0;
  let before = 0;
  for (let i = n - window; i < n; i++) recent += stepLoss[i];
  for (let i = n - 2 * window; i < n - window; i++) before += stepLoss[i];
  return before - recent < tolerance * before;
}

/** Planned epochs: fixed, or the auto schedule's upper bound (maxSteps in whole epochs). */
export function plannedEpochs(stepsPerEpoch: number, epochs: number | undefined, s: AutoSchedule): number {
  if (epochs !== undefined) return epochs;
  return Math.max(1, Math.ceil(s.maxSteps / stepsPerEpoch));
}

async function collectFrames(
  images: Iterable<Image> | AsyncIterable<Image>,
  size: number,
  mode: ResizeMode,
  tiling: TilingSpec | null,
  onProgress?: (p: TeachInProgress) => void,
  signal?: AbortSignal,
): Promise<{ frames: Frame[]; sha: string; profile: FrameProfile; imageHashes: string[] }> {
  const frames: Frame[] = [];
  const imageHashes: string[] = [];
  const seen: { width: number; height: number; colour: ColourMode }[] = [];
  const h = createHash('sha256');
  if (tiling) h.update(`tiling ${describeTiling(tiling)}\n`);
  for await (const img of images) {
    signal?.throwIfAborted();
    seen.push({ width: img.width, height: img.height, colour: colourModeOf(img) });
    imageHashes.push(imageSha256(img));
    if (tiling) {
      checkTileable(img, tiling, size, frames.length);
      h.update(`${img.width}x${img.height}\n`).update(img.data);
      const pixels = new Uint8Array(0);
      frames.push({ index: frames.length, width: img.width, height: img.height, pixels, image: img });
      onProgress?.({ phase: 'images', done: frames.length });
      continue;
    }
    const pixels = letterbox(img, size, undefined, mode);
    h.update(`${img.width}x${img.height}\n`).update(pixels);
    frames.push({ index: frames.length, width: img.width, height: img.height, pixels });
    onProgress?.({ phase: 'images', done: frames.length });
  }
  if (frames.length === 0) throw new TeachInError('teach-in needs good images, got none');
  return { frames, sha: h.digest('hex'), profile: frameProfileOf(seen), imageHashes };
}

/**
 * An image's identity in the teach-in set a version records: sha256 over its size, channels and decoded
 * pixels, so the same picture counts once whether it came from a PNG file, the archive or a live frame.
 */
export function imageSha256(img: Image): string {
  return createHash('sha256')
    .update(`${img.width}x${img.height}x${img.channels}\n`)
    .update(img.data)
    .digest('hex');
}

/** A good image smaller than a tile cannot be tiled (tiling never pads): refused, naming the image. */
function checkTileable(img: Image, tiling: TilingSpec, size: number, index: number): void {
  try {
    tileGrid(img.width, img.height, tiling, size);
  } catch (e) {
    throw new TeachInError(`good image ${index + 1}: ${(e as Error).message}`);
  }
}

/** The model inputs the students train on: each training frame letterboxed, or all its tiles. */
function trainingInputs(frames: readonly Frame[], tiling: TilingSpec | null, size: number, mode: ResizeMode) {
  if (!tiling) return frames.map((f) => f.pixels);
  const plans = new TilePlans();
  return frames.flatMap((f) => tileInputs(f.image!, plans.get(f.width, f.height, tiling, size), mode));
}

function validate(o: TeachInOptions): void {
  if (o.epochs !== undefined && !(Number.isInteger(o.epochs) && o.epochs >= 1)) {
    throw new TeachInError(`epochs must be a positive integer, got ${o.epochs}`);
  }
  if (o.lr !== undefined && !(o.lr > 0 && o.lr < 1))
    throw new TeachInError(`lr must be in (0, 1), got ${o.lr}`);
  if (o.batch !== undefined && !(Number.isInteger(o.batch) && o.batch >= 1)) {
    throw new TeachInError(`batch must be a positive integer (images per step), got ${o.batch}`);
  }
  if (o.seed !== undefined && !Number.isInteger(o.seed)) throw new TeachInError(`seed must be an integer`);
}

/** A view of the bundle with other students (hash and model id recomputed, so graph caches stay keyed right). */
function withStudents(bundle: Bundle, students: StudentWeights): Bundle {
  const sha = sha256(encodeSafetensors(studentsToTensors(students)));
  const m = bundle.manifest;
  return {
    ...bundle,
    students,
    manifest: {
      ...m,
      students: { ...m.students, sha256: sha },
      modelId: computeModelId(m.teacher.sha256, sha, m.input.size, m.layers),
    },
  };
}

export async function teachIn(p: TeachInParams): Promise<TeachInResult> {
  const o = p.options ?? {};
  validate(o);
  const log = p.log;
  const signal = p.signal;
  const lr = o.lr ?? DEFAULT_LR;
  const seed = o.seed ?? 0;
  const batchImages = o.batch ?? DEFAULT_BATCH_IMAGES;
  const schedule = { ...DEFAULT_SCHEDULE, ...o.schedule };
  const rule = { ...DEFAULT_RULE, ...o.calibration };
  const session = { device: o.device, threads: o.threads, log };
  const bundle = loadBundle(p.bundleDir);
  const m = bundle.manifest;
  const S = m.input.size;

  const tiling = o.tiling ?? null;
  const mode = resizeModeOf(m);
  const { frames, sha, profile, imageHashes } = await collectFrames(
    p.images,
    S,
    mode,
    tiling,
    p.onProgress,
    signal,
  );
  const holdoutIdx = chooseHoldout(frames.length, o.holdout ?? DEFAULT_HOLDOUT, seed);
  const held = new Set(holdoutIdx);
  const trainFrames = frames.filter((f) => !held.has(f.index));
  const holdFrames = frames.filter((f) => held.has(f.index));
  // Held-out images by whole image: a tile never trains and calibrates at once.
  const inputs = trainingInputs(trainFrames, tiling, S, mode);
  log?.info(
    {
      images: frames.length,
      train: trainFrames.length,
      holdout: holdFrames.length,
      size: S,
      ...(tiling ? { tiling: describeTiling(tiling), trainingTiles: inputs.length } : {}),
    },
    'teach-in images ready',
  );
  if (holdFrames.length === 0) {
    log?.warn('no images held out: the model gets no thresholds and cannot reject parts');
  }

  // Resume or start.
  const run: CheckpointMeta['run'] = {
    teacherSha256: m.teacher.sha256,
    size: S,
    layers: m.layers,
    imagesSha256: sha,
    images: frames.length,
    holdout: holdoutIdx,
    seed,
    lr,
    batchRows: 0, // set below, once the grid is known
    epochs: o.epochs ?? 'auto',
  };
  const grid = S / m.teacher.arch.patch;
  const P = grid * grid;
  run.batchRows = batchImages * P;
  let students: StudentWeights = initStudents(m.teacher.arch.dim, seed);
  let state: AdamState | undefined;
  let epochsDone = 0;
  let stepLoss: number[] = [];
  let epochLoss: number[] = [];
  let trainSecondsBefore = 0;
  let startedAt = new Date().toISOString();
  let resumedFromEpoch: number | undefined;
  if (o.resume) {
    const c = readCheckpoint(bundle.dir);
    if (!c) throw new CheckpointError(`${bundle.dir} has no teach-in checkpoint to resume from`);
    const diff = runMismatches(c.meta.run, run);
    if (diff.length > 0) {
      throw new CheckpointError(
        `the checkpoint in ${bundle.dir} belongs to another teach-in:\n  - ${diff.join('\n  - ')}`,
      );
    }
    students = c.students;
    state = c.state;
    epochsDone = c.meta.epochsDone;
    stepLoss = c.meta.stepLoss;
    epochLoss = c.meta.epochLoss;
    trainSecondsBefore = c.meta.trainSeconds;
    startedAt = c.meta.startedAt;
    resumedFromEpoch = epochsDone;
    log?.info({ epochsDone, steps: c.meta.steps }, 'resuming teach-in from checkpoint');
  }

  // Features once.
  const tFeat = performance.now();
  const featureModel = await openFeatureModel(bundle, session);
  let store: FeatureStore;
  try {
    store = await extractFeatures(featureModel, inputs, {
      batch: o.inferenceBatch,
      cache: { dir: bundle.dir, ...o.featureCache },
      signal,
      onProgress: (done, total) => p.onProgress?.({ phase: 'features', done, total }),
    });
  } finally {
    await featureModel.release();
  }
  const featureSeconds = (performance.now() - tFeat) / 1000;
  log?.info(
    { rows: store.rows, dim: store.dim, cache: store.plan, seconds: round(featureSeconds, 2) },
    'teacher features cached',
  );

  // Train.
  const R = store.rows;
  const B = Math.min(run.batchRows, R);
  const stepsPerEpoch = Math.ceil(R / B);
  const epochs = plannedEpochs(stepsPerEpoch, o.epochs, schedule);
  const plannedSteps = epochs * stepsPerEpoch;
  const minSteps = Math.min(plannedSteps, Math.ceil(schedule.minSteps / stepsPerEpoch) * stepsPerEpoch);
  const plan: TrainPlan =
    o.epochs !== undefined
      ? { kind: 'epochs', epochs, steps: plannedSteps }
      : { kind: 'auto', minSteps, maxSteps: plannedSteps, maxEpochs: epochs };
  let stoppedBy: StopReason = o.epochs !== undefined ? 'epochs' : 'max-steps';
  const tTrain = performance.now();
  let trainer: StudentTrainer | undefined;
  let provider = '';
  /** The last finished epoch, when its checkpoint has not been written yet. */
  let pending: Checkpoint | undefined;
  try {
    trainer = await StudentTrainer.open(bundle, students, { ...session, lr, maxRows: B, state });
    provider = trainer.provider;
    log?.info(
      {
        provider,
        lr,
        rowsPerStep: B,
        stepsPerEpoch,
        epochs: o.epochs ?? `auto (≤ ${epochs})`,
        fromEpoch: epochsDone,
      },
      'training the students',
    );
    const perm = new Uint32Array(R);
    const sel = new Uint32Array(B);
    const stepsBefore = stepLoss.length;
    const progressLog = new ProgressLogPace();
    let lastProgress: TrainProgress | undefined;
    const every = (o.checkpointSeconds ?? 10) * 1000;
    let lastWrite = performance.now();
    // A resumed run may already have met the stop test at its last checkpoint.
    let stop = o.epochs === undefined && epochsDone > 0 && stopsHere(stepLoss, schedule);
    if (stop) stoppedBy = 'plateau';
    for (let e = epochsDone; e < epochs && !stop; e++) {
      for (let i = 0; i < R; i++) perm[i] = i;
      epochRng(seed, e).shuffle(perm);
      let sum = 0;
      for (let k = 0; k < stepsPerEpoch; k++) {
        signal?.throwIfAborted();
        const n = Math.min(B, R - k * B);
        const idx = sel.subarray(0, n);
        idx.set(perm.subarray(k * B, k * B + n));
        idx.sort(); // file / cache order; the loss is a mean over the rows, their order does not matter
        store.gather(idx, trainer.fa, trainer.fb);
        const { loss } = await trainer.step(n);
        stepLoss.push(loss);
        sum += loss * n;
        const elapsed = trainSecondsBefore + (performance.now() - tTrain) / 1000;
        const done = stepLoss.length;
        const target = plan.kind === 'epochs' ? plan.steps : plan.minSteps;
        const rate = (performance.now() - tTrain) / 1000 / Math.max(1, done - stepsBefore);
        const progress: TrainProgress = {
          phase: 'train',
          epoch: e + 1,
          step: done,
          plan,
          loss,
          elapsedSeconds: elapsed,
          etaSeconds: done < target || plan.kind === 'epochs' ? rate * Math.max(0, target - done) : NaN,
        };
        p.onProgress?.(progress);
        lastProgress = progress;
      }
      const mean = sum / R;
      epochLoss.push(mean);
      const trainSeconds = trainSecondsBefore + (performance.now() - tTrain) / 1000;
      p.onProgress?.({ phase: 'epoch', epoch: e + 1, epochs, loss: mean, steps: stepLoss.length });
      log?.debug(
        { epoch: e + 1, steps: stepLoss.length, loss: round(mean, 6), seconds: round(trainSeconds, 1) },
        'epoch done',
      );
      if (log && lastProgress && progressLog.due(trainSeconds)) {
        // The epoch's mean loss: steadier than the last step's.
        log.info(
          { step: lastProgress.step, epoch: e + 1, loss: round(mean, 6) },
          trainProgressText({ ...lastProgress, loss: mean }, false),
        );
      }
      if (o.checkpoint !== false) {
        const snap = trainer.snapshot();
        pending = {
          meta: {
            version: 1,
            run,
            epochsDone: e + 1,
            steps: stepLoss.length,
            epochLoss: epochLoss.slice(),
            stepLoss: stepLoss.slice(),
            startedAt,
            trainSeconds,
          },
          students: snap.students,
          state: snap.state,
        };
        if (performance.now() - lastWrite >= every) {
          writeCheckpoint(bundle.dir, pending);
          pending = undefined;
          lastWrite = performance.now();
        }
      }
      if (o.epochs === undefined && stopsHere(stepLoss, schedule)) {
        stoppedBy = 'plateau';
        stop = true;
      }
    }
    students = trainer.snapshot().students;
  } catch (e) {
    // Keep the last finished epoch for --resume, whatever stopped the run.
    if (pending) writeCheckpoint(bundle.dir, pending);
    throw e;
  } finally {
    store.close();
    await trainer?.release();
  }
  const trainSeconds = trainSecondsBefore + (performance.now() - tTrain) / 1000;
  const finalLoss = epochLoss[epochLoss.length - 1];
  log?.info(
    {
      epochs: epochLoss.length,
      steps: stepLoss.length,
      loss: round(finalLoss, 6),
      stoppedBy,
      seconds: round(trainSeconds, 1),
    },
    'students trained',
  );

  // Calibrate on the held-out images with the trained students.
  const tCal = performance.now();
  let thresholds: Thresholds | undefined;
  const trained = withStudents(bundle, students);
  if (holdFrames.length > 0) {
    const model = await openAnomalyModel(trained, { ...session, fp16: o.fp16 });
    try {
      p.onProgress?.({ phase: 'calibrate', done: 0, total: holdFrames.length });
      const h = tiling
        ? await scoreHoldoutTiled(
            model,
            holdFrames.map((f) => f.image!),
            tiling,
            o.inferenceBatch ?? 4,
            signal,
          )
        : await scoreHoldout(model, holdFrames, o.inferenceBatch ?? 4, signal);
      thresholds = {
        ...thresholdsFromHoldout(h.scores, h.pixels, h.pixelMax, rule),
        precision: model.precision,
      };
      p.onProgress?.({ phase: 'calibrate', done: holdFrames.length, total: holdFrames.length });
    } finally {
      await model.release();
    }
    log?.info(
      {
        reject: Number(thresholds.reject.toPrecision(4)),
        pixel: Number(thresholds.pixel.toPrecision(4)),
        holdout: thresholds.holdout,
      },
      'thresholds calibrated on held-out good images',
    );
    log?.debug({ ...thresholds }, 'calibration details');
  }
  const calibrateSeconds = (performance.now() - tCal) / 1000;

  const training: NonNullable<Manifest['training']> = {
    trainedAt: new Date().toISOString(),
    startedAt,
    images: frames.length,
    trainImages: trainFrames.length,
    holdoutImages: holdFrames.length,
    trainingSamples: inputs.length,
    imagesSha256: sha,
    imageHashes,
    frames: profile,
    seed,
    lr,
    rowsPerStep: B,
    stepsPerEpoch,
    epochs: epochLoss.length,
    epochsSetting: o.epochs ?? 'auto',
    steps: stepLoss.length,
    stoppedBy,
    schedule: o.epochs === undefined ? schedule : undefined,
    finalLoss,
    lossCurve: lossCurve(epochLoss),
    provider,
    featureCache: store.plan,
    seconds: {
      features: round(featureSeconds, 2),
      train: round(trainSeconds, 2),
      calibrate: round(calibrateSeconds, 2),
    },
    ...(resumedFromEpoch !== undefined ? { resumedFromEpoch } : {}),
    ...p.record,
  };
  const manifest = saveStudents(bundle.dir, students, { training, thresholds, tiling });
  if (o.checkpoint !== false) removeCheckpoint(bundle.dir);
  log?.info({ modelId: manifest.modelId, dir: bundle.dir }, 'teach-in done: saved to the bundle');
  return {
    manifest,
    thresholds,
    epochs: epochLoss.length,
    steps: stepLoss.length,
    finalLoss,
    epochLoss,
    stepLoss,
    stoppedBy,
    images: { train: trainFrames.length, holdout: holdFrames.length },
    samples: inputs.length,
    seconds: { features: featureSeconds, train: trainSeconds, calibrate: calibrateSeconds },
    resumedFromEpoch,
    featureCache: store.plan,
    provider,
  };
}

/** The auto schedule's stop test at the end of an epoch. */
function stopsHere(stepLoss: readonly number[], s: AutoSchedule): boolean {
  return stepLoss.length >= s.minSteps && plateaued(stepLoss, s.window, s.tolerance);
}

/** At most 20 epoch means, evenly spaced, first and last included: enough to see the curve in `model info`. */
function lossCurve(epochLoss: readonly number[]): { epoch: number; loss: number }[] {
  const n = epochLoss.length;
  const k = Math.min(n, 20);
  const out: { epoch: number; loss: number }[] = [];
  for (let i = 0; i < k; i++) {
    const e = k === 1 ? n - 1 : Math.round((i * (n - 1)) / (k - 1));
    out.push({ epoch: e + 1, loss: round(epochLoss[e], 6) });
  }
  return out;
}

function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}
