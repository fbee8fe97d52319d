// `pinpoint train`: teach in a bundle's students from a folder of good images and calibrate its thresholds.
// On a terminal a progress bar (loss, ETA) goes to stderr; otherwise structured log lines do. The summary
// goes to stdout (JSON with --json). Ctrl-C stops after the current step; --resume continues from the
// last finished epoch.
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { loadImages, ImageFolderError } from '../model/image-folder.js';
import { createLogger, type Logger } from '../util/log.js';
import { checkpointPath, CheckpointError } from '../teach/checkpoint.js';
import { DEFAULT_RULE } from '../teach/calibrate.js';
import {
  DEFAULT_BATCH_IMAGES,
  DEFAULT_HOLDOUT,
  DEFAULT_LR,
  teachIn,
  TeachInError,
  type TeachInProgress,
  type TeachInResult,
} from '../teach/teach-in.js';
import { teachInSetOf } from '../teach/teach-in-set.js';
import { teachVersion } from '../teach/teach-version.js';
import { isModelsDir, VersionError } from '../model/versions.js';
import { NonFiniteLossError } from '../teach/trainer.js';
import { InferenceError, type Device } from '../pipeline/inference.js';
import { asUserError, DEV_TEACHER_WARNING } from './model-command.js';
import { CliError, EXIT } from './exit.js';
import { intOption, numberOption, pixelsOption, tilingOption } from './parse-options.js';
import { tilingSetting } from '../pipeline/tiling.js';
import { ProgressBar } from './progress-bar.js';
import { DEFAULT_MAX_IMAGE_PIXELS, ImageTooLargeError } from '../util/image-io.js';

interface TrainOpts {
  model: string;
  images: string;
  epochs?: number;
  lr?: number;
  batch?: number;
  seed?: number;
  holdout?: number;
  resume?: boolean;
  device?: Device;
  threads?: number;
  fp16?: boolean;
  rejectMargin?: number;
  rejectK?: number;
  pixelQuantile?: number;
  pixelMargin?: number;
  json?: boolean;
  maxImagePixels: number;
  promote: boolean;
  tiling?: { scale: number; overlap: number } | 'off';
}

const DEVICES = ['auto', 'cpu', 'cuda', 'tensorrt', 'webgpu'];

function deviceOption(v: string): Device {
  if (!DEVICES.includes(v)) throw new CliError(`--device must be one of ${DEVICES.join(', ')}`, EXIT.usage);
  return v as Device;
}

function fraction(v: string): number {
  const n = numberOption(v);
  if (!(n >= 0 && n < 1)) throw new CliError(`--holdout must be in [0, 1), got ${v}`, EXIT.usage);
  return n;
}

function positive(v: string): number {
  const n = numberOption(v);
  if (!(n > 0)) throw new CliError(`expected a positive number, got ${v}`, EXIT.usage);
  return n;
}

export function registerTrain(program: Command): void {
  program
    .command('train')
    .description('teach in the students from good images and calibrate the reject and blob thresholds')
    .requiredOption(
      '--model <dir>',
      'model bundle (from `pinpoint model build`), or a models directory: teaches its current version into a new one',
    )
    .option('--no-promote', 'models directory: publish the new version without making it current')
    .requiredOption('--images <dir>', 'folder of good images (png/jpg/bmp/tiff, searched recursively)')
    .option('--epochs <n>', 'fixed number of epochs (default: automatic, see docs/teach-in.md)', intOption(1))
    .option('--lr <x>', `Adam learning rate (default ${DEFAULT_LR})`, positive)
    .option(
      '--batch <n>',
      `images' worth of patch rows per step (default ${DEFAULT_BATCH_IMAGES})`,
      intOption(1),
    )
    .option('--seed <n>', 'seed of the initialisation, shuffle and holdout choice (default 0)', intOption(0))
    .option(
      '--holdout <share>',
      `share of the images held out for calibration (default ${DEFAULT_HOLDOUT})`,
      fraction,
    )
    .option('--resume', "continue from the bundle's checkpoint of an interrupted teach-in")
    .option('--device <d>', 'auto, cpu, cuda, tensorrt or webgpu (default auto)', deviceOption)
    .option('--threads <n>', 'onnxruntime intra-op threads (default: all cores)', intOption(0, 256))
    .option('--fp16', 'calibrate the thresholds in float16, for a daemon with inference.fp16 on a GPU')
    .option(
      '--reject-margin <x>',
      `reject ≥ x · max held-out score (default ${DEFAULT_RULE.margin})`,
      positive,
    )
    .option(
      '--reject-k <x>',
      `reject ≥ mean + x · std of held-out scores (default ${DEFAULT_RULE.k})`,
      numberOption,
    )
    .option(
      '--pixel-quantile <q>',
      `blob threshold from this quantile of held-out map pixels (default ${DEFAULT_RULE.pixelQuantile})`,
      positive,
    )
    .option(
      '--pixel-margin <x>',
      `blob threshold = x · that quantile (default ${DEFAULT_RULE.pixelMargin})`,
      positive,
    )
    .option(
      '--max-image-pixels <n>',
      'images with more pixels are skipped unread (a count, or megapixels like 100MP)',
      pixelsOption,
      DEFAULT_MAX_IMAGE_PIXELS,
    )
    .option(
      '--tiling <off|SCALE[,OVERLAP]>',
      'teach in on tiles of the good images (the tiling a line inspects with; recorded in the bundle)',
      tilingOption,
    )
    .option('--json', 'print the result as JSON')
    .action(async (o: TrainOpts) => {
      await train(o);
    });
}

async function train(o: TrainOpts): Promise<void> {
  const tty = process.stderr.isTTY === true;
  // On a terminal the bar shows progress: only warnings and errors are logged beside it.
  const log = createLogger({ destination: process.stderr, level: tty ? 'warn' : 'info' });
  const bar = tty ? new ProgressBar(process.stderr) : undefined;
  const controller = new AbortController();
  const onSigint = (): void => {
    if (controller.signal.aborted) process.exit(EXIT.failure + 129);
    bar?.clear();
    process.stderr.write('stopping after the current step (Ctrl-C again to quit at once)…\n');
    controller.abort();
  };
  process.on('SIGINT', onSigint);
  try {
    let skipped = 0;
    const images = loadImages(resolve(o.images), {
      maxPixels: o.maxImagePixels,
      onSkip: (path, reason, err) => {
        skipped++;
        bar?.clear();
        if (err instanceof ImageTooLargeError) {
          log.warn({ path, reason }, 'image too large: skipped (--max-image-pixels raises the limit)');
        } else log.warn({ path, reason }, 'unreadable image skipped');
      },
    });
    // debug: the teach-in's 'images ready' line says the same with the holdout split; skips were warned.
    log.debug({ images: images.length, skipped, dir: resolve(o.images) }, 'good images loaded');
    const params = {
      images: images.map((i) => i.image),
      options: {
        epochs: o.epochs,
        lr: o.lr,
        batch: o.batch,
        seed: o.seed,
        holdout: o.holdout,
        resume: o.resume,
        device: o.device,
        threads: o.threads,
        fp16: o.fp16,
        tiling: tilingSetting(o.tiling),
        calibration: {
          ...(o.rejectMargin !== undefined ? { margin: o.rejectMargin } : {}),
          ...(o.rejectK !== undefined ? { k: o.rejectK } : {}),
          ...(o.pixelQuantile !== undefined ? { pixelQuantile: o.pixelQuantile } : {}),
          ...(o.pixelMargin !== undefined ? { pixelMargin: o.pixelMargin } : {}),
        },
      },
      log,
      onProgress: bar ? (p: TeachInProgress) => bar.update(p) : undefined,
      signal: controller.signal,
      // The files themselves, so a re-teach starts from the same set (and notices a changed file).
      record: { teachInSet: teachInSetOf(images.map((i) => i.path)) },
    };
    // A models directory is taught in a staged copy and published whole (teach-version.ts).
    const versioned = isModelsDir(resolve(o.model));
    const taught = versioned
      ? await teachVersion(resolve(o.model), params, { promote: o.promote })
      : { result: await teachIn({ ...params, bundleDir: resolve(o.model) }), record: undefined };
    const result = taught.result;
    bar?.clear();
    if (taught.record)
      process.stderr.write(
        `published version ${taught.record.version}${o.promote ? ' (now current)' : ' (not promoted)'}\n`,
      );
    if (o.json) process.stdout.write(JSON.stringify(summaryJson(result, skipped), null, 2) + '\n');
    else process.stdout.write(formatSummary(resolve(o.model), result, skipped));
    if (result.manifest.teacher.devTeacher) process.stderr.write(`warning: ${DEV_TEACHER_WARNING}\n`);
  } catch (e) {
    bar?.clear();
    if (controller.signal.aborted) {
      const resumable = existsSync(checkpointPath(resolve(o.model)));
      throw new CliError(
        'teach-in interrupted; no model was written.' +
          (resumable ? ' `pinpoint train ... --resume` continues from the last finished epoch.' : ''),
        130,
      );
    }
    throw userError(e, log);
  } finally {
    process.off('SIGINT', onSigint);
  }
}

function userError(e: unknown, _log: Logger): unknown {
  if (
    e instanceof NonFiniteLossError ||
    e instanceof TeachInError ||
    e instanceof CheckpointError ||
    e instanceof ImageFolderError ||
    e instanceof InferenceError ||
    e instanceof VersionError
  ) {
    return new CliError(`pinpoint train: ${e.message}`, EXIT.failure);
  }
  return asUserError(e);
}

function summaryJson(r: TeachInResult, skipped: number): Record<string, unknown> {
  return {
    modelId: r.manifest.modelId,
    images: { ...r.images, skipped },
    epochs: r.epochs,
    steps: r.steps,
    stoppedBy: r.stoppedBy,
    finalLoss: r.finalLoss,
    thresholds: r.thresholds ?? null,
    seconds: r.seconds,
    provider: r.provider,
    featureCache: r.featureCache,
  };
}

function formatSummary(dir: string, r: TeachInResult, skipped: number): string {
  const lines = [
    `taught in ${dir}: model ${r.manifest.modelId}`,
    `  images     ${r.images.train} trained, ${r.images.holdout} held out` +
      (skipped ? `, ${skipped} skipped` : ''),
    `  training   ${r.epochs} epochs, ${r.steps} steps (${r.stoppedBy}), final loss ${r.finalLoss.toFixed(5)}` +
      (r.resumedFromEpoch !== undefined ? `, resumed after epoch ${r.resumedFromEpoch}` : ''),
    `  time       features ${r.seconds.features.toFixed(1)} s, training ${r.seconds.train.toFixed(1)} s, ` +
      `calibration ${r.seconds.calibrate.toFixed(1)} s on ${r.provider}`,
  ];
  if (r.thresholds) {
    const t = r.thresholds;
    lines.push(
      `  thresholds reject score > ${t.reject.toPrecision(4)}, blob pixels > ${t.pixel.toPrecision(4)}`,
      `             held-out scores ${t.scoreMin.toPrecision(4)}..${t.scoreMax.toPrecision(4)} ` +
        `(mean ${t.scoreMean.toPrecision(4)}, std ${t.scoreStd.toPrecision(3)}, n ${t.holdout})`,
    );
  } else {
    lines.push('  thresholds NONE (no held-out images): this model cannot reject parts');
  }
  return lines.join('\n') + '\n';
}
