// `pinpoint infer --model DIR IMAGE...`: score image files with a bundle. Images go through the model in
// batches (each letterboxed straight into its slot of one contiguous input buffer); per image the score,
// the verdict when thresholds are known, blobs, and optionally the anomaly map as .npy.
import type { Command } from 'commander';
import { basename, extname, join, resolve } from 'node:path';
import { mkdirSync } from 'node:fs';
import { loadBundle } from '../model/bundle.js';
import { postprocess } from '../pipeline/anomaly-map.js';
import { findBlobs, type Blob } from '../pipeline/blobs.js';
import { thresholdsForPrecision } from '../model/manifest.js';
import { InferenceError, openAnomalyModel, type AnomalyModel, type Device } from '../pipeline/inference.js';
import { computeLetterbox, letterbox } from '../pipeline/letterbox.js';
import { readImage, writeNpy, type RgbImage } from '../util/image-io.js';
import { createLogger } from '../util/log.js';
import { CliError, EXIT } from './exit.js';
import { asUserError, DEV_TEACHER_WARNING } from './model-command.js';
import { intOption, numberOption } from './parse-options.js';

export interface ImageResult {
  image: string;
  width: number;
  height: number;
  score: number;
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
  for (let start = 0; start < paths.length; start += opts.batch) {
    const chunk = paths.slice(start, start + opts.batch);
    // Read and letterbox; failed reads are reported in order, without holding up the rest of the batch.
    const slots: { path: string; img: RgbImage }[] = [];
    const outcome = new Map<string, ImageFailure>();
    for (const path of chunk) {
      try {
        const img = readImage(path);
        letterbox(img, S, input.subarray(slots.length * frame, (slots.length + 1) * frame), model.resize);
        slots.push({ path, img });
      } catch (e) {
        outcome.set(path, { image: path, error: (e as Error).message });
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
      const r: ImageResult = { image: path, width: img.width, height: img.height, score, blobs: [] };
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
          continue;
        }
      }
      opts.onMap?.(r, map);
      onResult(r);
    }
  }
}

/** `<image basename without extension>.npy`. */
export function mapName(path: string): string {
  const b = basename(path);
  return b.slice(0, b.length - extname(b).length) + '.npy';
}

function formatResult(r: ImageResult): string {
  const parts = [`${r.image}`, `${r.width}×${r.height}`, `score ${r.score.toPrecision(5)}`];
  if (r.verdict) parts.push(r.verdict.toUpperCase());
  if (r.blobs.length > 0 || r.verdict) parts.push(`${r.blobs.length} blob${r.blobs.length === 1 ? '' : 's'}`);
  let s = parts.join('  ') + '\n';
  for (const b of r.blobs.slice(0, 10)) {
    s +=
      `    blob at x ${b.box.x} y ${b.box.y} size ${b.box.width}×${b.box.height}  area ${b.area}  ` +
      `peak ${b.peak.toPrecision(4)}  mean ${b.mean.toPrecision(4)}\n`;
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
}

async function inferCommand(images: string[], o: CliOptions): Promise<void> {
  // Two inputs with the same base name would overwrite each other's map.
  if (o.saveMaps) {
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
  let bundle;
  try {
    bundle = loadBundle(o.model);
  } catch (e) {
    throw asUserError(e);
  }
  const m = bundle.manifest;
  if (m.teacher.devTeacher) process.stderr.write(`warning: ${DEV_TEACHER_WARNING}\n`);
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
  const opts: InferOptions = {
    reject: o.rejectThreshold ?? calibrated.thresholds?.reject,
    pixel: o.pixelThreshold ?? calibrated.thresholds?.pixel,
    minArea: o.minArea,
    batch: o.batch,
    saveMaps: o.saveMaps,
  };
  try {
    await inferImages(
      model,
      images,
      opts,
      (r) => {
        if (o.json) results.push(r);
        else process.stdout.write(formatResult(r));
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
      },
      results,
      failures,
    };
    process.stdout.write(JSON.stringify(out, null, 2) + '\n');
  }
  if (failures.length > 0) process.exitCode = EXIT.failure;
}

export function registerInfer(program: Command): void {
  program
    .command('infer')
    .description('score images with a bundle: score, verdict (when thresholds are known) and blobs per image')
    .requiredOption('--model <dir>', 'model bundle directory')
    .argument('<images...>', 'image files (png, jpg, bmp, tif…)')
    .option('--json', 'machine-readable output')
    .option('--save-maps <dir>', 'write each anomaly map as float32 <image name>.npy of the image’s own H×W')
    .option('--device <name>', 'auto | cpu | cuda | tensorrt | webgpu', 'auto')
    .option('--threads <n>', 'onnxruntime threads (0 = all cores)', intOption(0, 256), 0)
    .option('--fp16', 'float16 teacher (GPU only)')
    .option('--batch <n>', 'images per model call', intOption(1, 64), 4)
    .option('--min-area <px>', 'smallest blob reported, in pixels', intOption(1), 16)
    .option('--reject-threshold <score>', 'override the bundle’s reject threshold', numberOption)
    .option('--pixel-threshold <value>', 'override the bundle’s blob pixel threshold', numberOption)
    .option('-v, --verbose', 'log provider choice and graph cache use')
    .action(async (images: string[], o: CliOptions) => {
      if (!['auto', 'cpu', 'cuda', 'tensorrt', 'webgpu'].includes(o.device)) {
        throw new CliError(`--device ${o.device}: expected auto, cpu, cuda, tensorrt or webgpu`, EXIT.usage);
      }
      await inferCommand(images, o);
    });
}
