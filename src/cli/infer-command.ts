// `pinpoint infer --model DIR IMAGE|FOLDER...`: score image files with a bundle. Images go through the model in
// batches (each letterboxed straight into its slot of one contiguous input buffer); per image the score,
// the verdict when thresholds are known, blobs, and optionally the anomaly map as .npy.
import type { Command } from 'commander';
import { basename, extname, join, resolve } from 'node:path';
import { mkdirSync, statSync } from 'node:fs';
import { loadBundle } from '../model/bundle.js';
import { colourModeOf, frameMismatch, frameProfileFrom, patchPixels } from '../model/frame-profile.js';
import type { FrameProfile } from '../model/frame-profile.js';
import { ImageFolderError, listImages } from '../model/image-folder.js';
import type { Manifest } from '../model/manifest.js';
import { postprocess } from '../pipeline/anomaly-map.js';
import { findBlobs, type Blob } from '../pipeline/blobs.js';
import { thresholdsForPrecision, tilingOf } from '../model/manifest.js';
import { InferenceError, openAnomalyModel, type AnomalyModel, type Device } from '../pipeline/inference.js';
import { computeLetterbox, letterbox } from '../pipeline/letterbox.js';
import { TilePlans } from '../pipeline/tiled-inspection.js';
import { tiledFrameMap } from '../pipeline/tiled-frame-map.js';
import type { TilingSpec } from '../pipeline/tiling.js';
import { tilingMismatch, tilingSetting } from '../pipeline/tiling.js';
import {
  DEFAULT_MAX_IMAGE_PIXELS,
  ImageTooLargeError,
  readImage,
  writeNpy,
  type RgbImage,
} from '../util/image-io.js';
import { createLogger } from '../util/log.js';
import { CliError, EXIT } from './exit.js';
import { asUserError, DEV_TEACHER_WARNING } from './model-command.js';
import { intOption, numberOption, pixelsOption, tilingOption } from './parse-options.js';

export interface ImageResult {
  image: string;
  width: number;
  height: number;
  score: number;
  /** Frame pixels one teacher patch covers: defects much smaller than this may be missed. */
  patchPx: number;
  /** Present when a reject threshold is known (bundle or --reject-threshold). */
  verdict?: 'ok' | 'reject';
  /** Empty when no pixel threshold is known. */
  blobs: Blob[];
  /** The .npy written with --save-maps. */
  map?: string;
}

export interface ImageFailure {
  image: string;
  error: string;
}

export interface InferOptions {
  /** Score above which the verdict is reject. */
  reject?: number;
  /** Map value above which a pixel belongs to a blob. */
  pixel?: number;
  minArea: number;
  batch: number;
  saveMaps?: string;
  /** Receives each image's anomaly map (H·W, the image's own size) before onResult (`pinpoint eval`). */
  onMap?: (r: ImageResult, map: Float32Array) => void;
  /** Images above this many pixels are refused before decoding. */
  maxPixels?: number;
  /** Teacher patch size, for `patchPx` (14). */
  patch?: number;
  /** Called once per kind when an image is unlike the ones the model was taught on. */
  onMismatch?: (why: string) => void;
  profile?: FrameProfile;
  /** Tile each image (the bundle's tiling unless told otherwise); absent or null: letterbox it. */
  tiling?: TilingSpec | null;
}

/**
 * Runs the images through the model `batch` at a time, calling `onResult` / `onFailure` in input order.
 * An unreadable image is a failure of that image only.
 */
export async function inferImages(
  model: AnomalyModel,
  paths: readonly string[],
  opts: InferOptions,
  onResult: (r: ImageResult) => void,
  onFailure: (f: ImageFailure) => void,
): Promise<void> {
  const S = model.size;
  const g = model.grid;
  const frame = S * S * 3;
  const input = new Uint8Array(opts.batch * frame);
  if (opts.saveMaps) mkdirSync(opts.saveMaps, { recursive: true });
  const warned = new Set<string>();
  const checkProfile = (img: RgbImage): void => {
    const why = frameMismatch(opts.profile, { ...img, colour: colourModeOf(img) });
    for (const [kind, text] of Object.entries(why)) {
      if (warned.has(kind)) continue;
      warned.add(kind);
      opts.onMismatch?.(text);
    }
  };
  const emit = (path: string, img: RgbImage, map: Float32Array, score: number, patchPx: number): void => {
    const r: ImageResult = { image: path, width: img.width, height: img.height, score, patchPx, blobs: [] };
    if (opts.reject !== undefined) r.verdict = score > opts.reject ? 'reject' : 'ok';
    if (opts.pixel !== undefined) {
      r.blobs = findBlobs({ width: img.width, height: img.height, data: map }, opts.pixel, opts.minArea);
    }
    if (opts.saveMaps) {
      r.map = join(opts.saveMaps, mapName(path));
      try {
        writeNpy(r.map, map, [img.height, img.width]);
      } catch (e) {
        onFailure({ image: path, error: `cannot write ${r.map}: ${(e as Error).message}` });
        return;
      }
    }
    opts.onMap?.(r, map);
    onResult(r);
  };
  if (opts.tiling) {
    await inferTiled(model, paths, { ...opts, tiling: opts.tiling }, checkProfile, emit, onFailure);
    return;
  }
  for (let start = 0; start < paths.length; start += opts.batch) {
    const chunk = paths.slice(start, start + opts.batch);
    // Read and letterbox; failed reads are reported in order, without holding up the rest of the batch.
    const slots: { path: string; img: RgbImage }[] = [];
    const outcome = new Map<string, ImageFailure>();
    for (const path of chunk) {
      try {
        const img = readImage(path, { maxPixels: opts.maxPixels });
        checkProfile(img);
        letterbox(img, S, input.subarray(slots.length * frame, (slots.length + 1) * frame), model.resize);
        slots.push({ path, img });
      } catch (e) {
        const hint = e instanceof ImageTooLargeError ? ' (--max-image-pixels raises the limit)' : '';
        outcome.set(path, { image: path, error: (e as Error).message + hint });
      }
    }
    const grids =
      slots.length > 0 ? await model.run(input.subarray(0, slots.length * frame), slots.length) : null;
    let k = 0;
    for (const path of chunk) {
      const failed = outcome.get(path);
      if (failed) {
        onFailure(failed);
        continue;
      }
      const { img } = slots[k];
      const lb = computeLetterbox(img.width, img.height, S);
      const { map, score } = postprocess(grids!.subarray(k * g * g, (k + 1) * g * g), g, lb);
      k++;
      emit(path, img, map, score, patchPixels(img.width, img.height, S, opts.patch ?? 14));
    }
  }
}

/**
 * The tiled path: each image's tiles through the model `batch` at a time, stitched (tiled-frame-map.ts, the
 * engine's stitching). An image that cannot be read or tiled is a failure of that image only.
 */
async function inferTiled(
  model: AnomalyModel,
  paths: readonly string[],
  opts: InferOptions & { tiling: TilingSpec },
  checkProfile: (img: RgbImage) => void,
  emit: (path: string, img: RgbImage, map: Float32Array, score: number, patchPx: number) => void,
  onFailure: (f: ImageFailure) => void,
): Promise<void> {
  const plans = new TilePlans();
  for (const path of paths) {
    let img: RgbImage;
    try {
      img = readImage(path, { maxPixels: opts.maxPixels });
      checkProfile(img);
      plans.get(img.width, img.height, opts.tiling, model.size); // a frame smaller than a tile fails here
    } catch (e) {
      const hint = e instanceof ImageTooLargeError ? ' (--max-image-pixels raises the limit)' : '';
      onFailure({ image: path, error: (e as Error).message + hint });
      continue;
    }
    // the model's errors end the run, as on the letterboxed path
    const tiled = await tiledFrameMap(model, img, opts.tiling, opts.batch, plans);
    const { tile, size } = tiled.plan.grid;
    emit(path, img, tiled.map, tiled.score, ((opts.patch ?? 14) * tile) / size);
  }
}

/** `<image basename without extension>.npy`. */
export function mapName(path: string): string {
  const b = basename(path);
  return b.slice(0, b.length - extname(b).length) + '.npy';
}

/**
 * Decimals that show `ref` (the reject threshold, or the first score) with at least 4 significant digits: every
 * score of a run is printed with the same number, so the column lines up and compares by eye.
 */
export function scoreDecimals(ref: number): number {
  if (!(ref > 0) || !Number.isFinite(ref)) return 6;
  return Math.min(12, Math.max(4, 3 - Math.floor(Math.log10(ref))));
}

function formatResult(r: ImageResult, decimals: number): string {
  const parts = [`${r.image}`, `${r.width}×${r.height}`, `score ${r.score.toFixed(decimals)}`];
  if (r.verdict) parts.push(r.verdict.toUpperCase());
  if (r.blobs.length > 0 || r.verdict) parts.push(`${r.blobs.length} blob${r.blobs.length === 1 ? '' : 's'}`);
  parts.push(`(patch ≈ ${r.patchPx.toFixed(1)} px)`);
  let s = parts.join('  ') + '\n';
  for (const b of r.blobs.slice(0, 10)) {
    s +=
      `    blob centre x ${b.centroid.x.toFixed(1)} y ${b.centroid.y.toFixed(1)}  ` +
      `box x ${b.box.x} y ${b.box.y} ${b.box.width}×${b.box.height}  area ${b.area}  ` +
      `peak ${b.peak.toFixed(decimals)}  mean ${b.mean.toFixed(decimals)}\n`;
  }
  if (r.blobs.length > 10) s += `    … ${r.blobs.length - 10} more\n`;
  return s;
}

interface CliOptions {
  model: string;
  json?: boolean;
  saveMaps?: string;
  device: Device;
  threads: number;
  fp16?: boolean;
  batch: number;
  minArea: number;
  rejectThreshold?: number;
  pixelThreshold?: number;
  verbose?: boolean;
  maxImagePixels: number;
  tiling?: TilingSpec | 'off';
  allowTilingMismatch?: boolean;
}

/**
 * The tiling to infer with: --tiling, else the bundle's. One that differs from the bundle's is refused unless
 * --allow-tiling-mismatch (the thresholds were calibrated on maps of the bundle's tiling).
 */
export function inferTiling(
  m: Pick<Manifest, 'input'>,
  asked: TilingSpec | 'off' | undefined,
  allow: boolean | undefined,
): TilingSpec | null {
  const taught = tilingOf(m);
  if (asked === undefined) return taught;
  const wanted = tilingSetting(asked);
  const why = tilingMismatch(taught, wanted);
  if (why && !allow) throw new CliError(`${why} (--allow-tiling-mismatch to run anyway)`, EXIT.usage);
  if (why) process.stderr.write(`warning: ${why}\n`);
  return wanted;
}

/** Why the results carry no verdict, or undefined when they do. */
function noVerdictReason(m: Manifest, reject: number | undefined): string | undefined {
  if (reject !== undefined) return undefined;
  if (!m.training) {
    return 'the bundle is not taught in (no thresholds): `pinpoint train --model DIR --images GOOD_DIR` calibrates them, or pass --reject-threshold';
  }
  return 'the bundle was taught in without held-out images, so no thresholds were calibrated: train again with --holdout > 0, or pass --reject-threshold';
}

/** The images named on the command line: files as given, folders searched recursively (sorted). */
export function expandImageArgs(args: readonly string[]): { paths: string[]; failures: ImageFailure[] } {
  const paths: string[] = [];
  const failures: ImageFailure[] = [];
  for (const a of args) {
    let dir = false;
    try {
      dir = statSync(a).isDirectory();
    } catch {
      // Missing: readImage reports it as this image's failure, in order.
    }
    if (!dir) {
      paths.push(a);
      continue;
    }
    try {
      paths.push(...listImages(a));
    } catch (e) {
      if (!(e instanceof ImageFolderError)) throw e;
      failures.push({ image: a, error: e.message });
    }
  }
  return { paths, failures };
}

/** Two inputs with the same base name would overwrite each other's map. */
function assertDistinctMapNames(images: readonly string[]): void {
  const seen = new Map<string, string>();
  for (const p of images) {
    const n = mapName(p);
    const prev = seen.get(n);
    if (prev !== undefined && resolve(prev) !== resolve(p)) {
      throw new CliError(`--save-maps: ${prev} and ${p} would both be saved as ${n}`, EXIT.usage);
    }
    seen.set(n, p);
  }
}

async function inferCommand(args: string[], o: CliOptions): Promise<void> {
  const expanded = expandImageArgs(args);
  const images = expanded.paths;
  if (o.saveMaps) assertDistinctMapNames(images);
  let bundle;
  try {
    bundle = loadBundle(o.model);
  } catch (e) {
    throw asUserError(e);
  }
  const m = bundle.manifest;
  if (m.teacher.devTeacher) process.stderr.write(`warning: ${DEV_TEACHER_WARNING}\n`);
  const tiling = inferTiling(m, o.tiling, o.allowTilingMismatch);
  const log = createLogger({ level: o.verbose ? 'info' : 'warn', destination: process.stderr });
  let model: AnomalyModel;
  try {
    model = await openAnomalyModel(bundle, { device: o.device, threads: o.threads, fp16: o.fp16, log });
  } catch (e) {
    throw e instanceof InferenceError ? new CliError(e.message, EXIT.failure) : e;
  }
  const results: ImageResult[] = [];
  const failures: ImageFailure[] = [];
  const calibrated = thresholdsForPrecision(m, model.precision);
  if (calibrated.mismatch) process.stderr.write(`warning: ${calibrated.mismatch}\n`);
  for (const f of expanded.failures) {
    failures.push(f);
    process.stderr.write(`error: ${f.error}\n`);
  }
  const opts: InferOptions = {
    reject: o.rejectThreshold ?? calibrated.thresholds?.reject,
    pixel: o.pixelThreshold ?? calibrated.thresholds?.pixel,
    minArea: o.minArea,
    batch: o.batch,
    saveMaps: o.saveMaps,
    maxPixels: o.maxImagePixels,
    patch: m.teacher.arch.patch,
    profile: frameProfileFrom(m.training),
    onMismatch: (why) => process.stderr.write(`warning: ${why}\n`),
    tiling,
  };
  const noVerdict = noVerdictReason(m, opts.reject);
  if (!o.json) {
    process.stdout.write(thresholdLine(m.modelId, opts));
    if (noVerdict) process.stderr.write(`note: no verdicts: ${noVerdict}\n`);
  }
  let decimals = opts.reject !== undefined ? scoreDecimals(opts.reject) : undefined;
  try {
    await inferImages(
      model,
      images,
      opts,
      (r) => {
        decimals ??= scoreDecimals(r.score);
        if (o.json) results.push(r);
        else process.stdout.write(formatResult(r, decimals));
      },
      (f) => {
        failures.push(f);
        process.stderr.write(`error: ${f.error}\n`);
      },
    );
  } finally {
    await model.release();
  }
  if (o.json) {
    const out = {
      model: {
        dir: bundle.dir,
        modelId: m.modelId,
        size: m.input.size,
        provider: model.provider,
        devTeacher: m.teacher.devTeacher,
        thresholds: { reject: opts.reject ?? null, pixel: opts.pixel ?? null, minArea: opts.minArea },
        noVerdict: noVerdict ?? null,
      },
      results,
      failures,
    };
    process.stdout.write(JSON.stringify(out, null, 2) + '\n');
  }
  if (failures.length > 0) process.exitCode = EXIT.failure;
}

/** The thresholds the verdicts and blobs of this run use, as one line above the results. */
function thresholdLine(modelId: string, opts: InferOptions): string {
  const reject = opts.reject !== undefined ? `reject score > ${opts.reject}` : 'no reject threshold';
  const pixel =
    opts.pixel !== undefined
      ? `blob pixels > ${opts.pixel}, min area ${opts.minArea} px`
      : 'no blob threshold';
  return `model ${modelId}: ${reject}, ${pixel}\n`;
}

export function registerInfer(program: Command): void {
  program
    .command('infer')
    .description('score images with a bundle: score, verdict (when thresholds are known) and blobs per image')
    .requiredOption('--model <dir>', 'model bundle directory')
    .argument('<images...>', 'image files (png, jpg, bmp, tif…) or folders of them (searched recursively)')
    .option('--json', 'machine-readable output')
    .option('--save-maps <dir>', 'write each anomaly map as float32 <image name>.npy of the image’s own H×W')
    .option('--device <name>', 'auto | cpu | cuda | tensorrt | webgpu', 'auto')
    .option('--threads <n>', 'onnxruntime threads (0 = all cores)', intOption(0, 256), 0)
    .option('--fp16', 'float16 teacher (GPU only)')
    .option('--batch <n>', 'images per model call', intOption(1, 64), 4)
    .option('--min-area <px>', 'smallest blob reported, in pixels', intOption(1), 16)
    .option('--reject-threshold <score>', 'override the bundle’s reject threshold', numberOption)
    .option('--pixel-threshold <value>', 'override the bundle’s blob pixel threshold', numberOption)
    .option(
      '--max-image-pixels <n>',
      'images with more pixels are refused unread (a count, or megapixels like 100MP)',
      pixelsOption,
      DEFAULT_MAX_IMAGE_PIXELS,
    )
    .option(
      '--tiling <off|SCALE[,OVERLAP]>',
      'tile each image into model-sized tiles (default: the tiling the bundle was taught with)',
      tilingOption,
    )
    .option(
      '--allow-tiling-mismatch',
      'infer with a tiling other than the bundle’s (thresholds may not hold)',
    )
    .option('-v, --verbose', 'log provider choice and graph cache use')
    .action(async (images: string[], o: CliOptions) => {
      if (!['auto', 'cpu', 'cuda', 'tensorrt', 'webgpu'].includes(o.device)) {
        throw new CliError(`--device ${o.device}: expected auto, cpu, cuda, tensorrt or webgpu`, EXIT.usage);
      }
      await inferCommand(images, o);
    });
}
