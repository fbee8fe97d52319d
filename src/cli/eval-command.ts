// `pinpoint eval --model DIR --data DIR`: how good a model is on parts with known defects. Per category (as
// the paper's tables are made): optionally teach in on its good training images first (--train, one bundle
// per category under --out), score every test image through infer's path (maps at the image's own size),
// stream the maps into the metrics, then print the table (or JSON) and write eval.json and report.html.
import type { Command } from 'commander';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createBundle, loadBundle, type Bundle } from '../model/bundle.js';
import { resizeModeOf, tilingOf } from '../model/manifest.js';
import { tilingSetting } from '../pipeline/tiling.js';
import { InferenceError, openAnomalyModel, type AnomalyModel, type Device } from '../pipeline/inference.js';
import { DEFAULT_LR, teachIn, TeachInError } from '../teach/teach-in.js';
import { NonFiniteLossError } from '../teach/trainer.js';
import { ImageReadError, readImage, type RgbImage } from '../util/image-io.js';
import { createLogger, type Logger } from '../util/log.js';
import { CategoryEvaluator, type CategoryEvaluation } from '../eval/category-evaluator.js';
import { DatasetError, type EvalCategory, type TestItem } from '../eval/dataset.js';
import { openDataset } from '../eval/open-dataset.js';
import { evalJson } from '../eval/report-json.js';
import { writeHtmlReport } from '../eval/report-html.js';
import { formatTable } from '../eval/report-table.js';
import { CliError, EXIT } from './exit.js';
import { inferImages, type ImageFailure } from './infer-command.js';
import { asUserError, DEV_TEACHER_WARNING } from './model-command.js';
import { intOption, numberOption, tilingOption } from './parse-options.js';

function learningRate(v: string): number {
  const n = numberOption(v);
  if (!(n > 0 && n < 1)) throw new CliError(`--lr must be in (0, 1), got ${v}`, EXIT.usage);
  return n;
}

interface EvalOpts {
  model: string;
  data: string;
  category?: string[];
  train?: boolean;
  out: string;
  json?: boolean;
  saveMaps?: boolean;
  device: Device;
  threads: number;
  batch: number;
  epochs?: number;
  lr?: number;
  seed?: number;
  tiling?: { scale: number; overlap: number } | 'off';
  worst: number;
}

export function registerEval(program: Command): void {
  program
    .command('eval')
    .description('measure a model on labelled parts (MVTec AD, VisA or good/ bad/ masks/ folders)')
    .requiredOption(
      '--model <dir>',
      'bundle to evaluate (with --train: the untrained bundle to teach in per category)',
    )
    .requiredOption('--data <dir>', 'dataset folder; the layout is detected')
    .option('--category <name...>', 'only these categories')
    .option(
      '--train',
      "teach in on each category's good training images first (the `pinpoint train` defaults)",
    )
    .option('--out <dir>', 'where eval.json, report.html (and with --train the bundles) go', 'pinpoint-eval')
    .option('--json', 'print the results as JSON instead of the table')
    .option('--save-maps', 'also write every anomaly map as <out>/<category>/maps/<type>/<image>.npy')
    .option('--device <name>', 'auto | cpu | cuda | tensorrt | webgpu', 'auto')
    .option('--threads <n>', 'onnxruntime threads (0 = all cores)', intOption(0, 256), 0)
    .option('--batch <n>', 'images per model call', intOption(1, 64), 4)
    .option('--epochs <n>', 'with --train: fixed epochs instead of the automatic schedule', intOption(1))
    .option(
      '--lr <x>',
      `with --train: Adam learning rate (default ${DEFAULT_LR}; the paper's code used 1e-4)`,
      learningRate,
    )
    .option('--seed <n>', 'with --train: seed of the teach-in (default 0)', intOption(0))
    .option(
      '--tiling <off|SCALE[,OVERLAP]>',
      'with --train: teach in and score on tiles (without --train the bundle’s own tiling is used)',
      tilingOption,
    )
    .option('--worst <n>', 'worst cases of each kind shown in the report', intOption(0, 50), 4)
    .action(async (o: EvalOpts) => {
      if (!['auto', 'cpu', 'cuda', 'tensorrt', 'webgpu'].includes(o.device)) {
        throw new CliError(`--device ${o.device}: expected auto, cpu, cuda, tensorrt or webgpu`, EXIT.usage);
      }
      if (
        !o.train &&
        (o.epochs !== undefined || o.seed !== undefined || o.lr !== undefined || o.tiling !== undefined)
      ) {
        throw new CliError('--epochs, --lr, --seed and --tiling only apply with --train', EXIT.usage);
      }
      try {
        await evalCommand(o);
      } catch (e) {
        throw userError(e);
      }
    });
}

function userError(e: unknown): unknown {
  if (
    e instanceof DatasetError ||
    e instanceof TeachInError ||
    e instanceof NonFiniteLossError ||
    e instanceof InferenceError
  ) {
    return new CliError(`pinpoint eval: ${e.message}`, EXIT.failure);
  }
  return asUserError(e);
}

async function evalCommand(o: EvalOpts): Promise<void> {
  const data = resolve(o.data);
  const out = resolve(o.out);
  const { layout, categories } = openDataset(data, o.category);
  const base = loadBundle(resolve(o.model));
  if (base.manifest.teacher.devTeacher) process.stderr.write(`warning: ${DEV_TEACHER_WARNING}\n`);
  const log = createLogger({ level: 'warn', destination: process.stderr });
  mkdirSync(out, { recursive: true });
  const evals: CategoryEvaluation[] = [];
  const failures: ImageFailure[] = [];
  let provider = '';
  for (const c of categories) {
    const bundle = o.train ? await trainCategory(c, base, out, o, log) : base;
    const r = await scoreCategory(c, bundle, out, o, log);
    provider = r.provider;
    evals.push(r.evaluation);
    failures.push(...r.failures);
  }
  const json = evalJson({ data, layout, model: base, trained: o.train === true, provider, evals, failures });
  writeFileSync(join(out, 'eval.json'), JSON.stringify(json, null, 2) + '\n');
  writeHtmlReport(join(out, 'report.html'), evals, {
    data,
    layout,
    modelId: base.manifest.modelId,
    trained: o.train === true,
  });
  process.stdout.write(o.json ? JSON.stringify(json, null, 2) + '\n' : formatTable(evals));
  process.stderr.write(`eval: wrote ${join(out, 'eval.json')} and ${join(out, 'report.html')}\n`);
  if (failures.length > 0) {
    process.stderr.write(`eval: ${failures.length} test image(s) could not be scored and are left out\n`);
    process.exitCode = EXIT.failure;
  }
}

/** A fresh bundle for the category (same teacher, size, layers and resize as --model), taught in on its train images. */
async function trainCategory(
  c: EvalCategory,
  base: Bundle,
  out: string,
  o: EvalOpts,
  log: Logger,
): Promise<Bundle> {
  if (!c.train || c.train.length === 0) {
    throw new DatasetError(
      `category ${c.name} has no good training images for --train (MVTec: train/good, VisA: train rows, own parts: train/)`,
    );
  }
  const m = base.manifest;
  const dir = join(out, c.name, 'bundle');
  createBundle({
    teacherPath: base.teacherPath,
    outDir: dir,
    size: m.input.size,
    layers: m.layers,
    resize: resizeModeOf(m),
    heads: m.teacher.arch.heads,
    force: true,
  });
  process.stderr.write(`eval: ${c.name}: teach-in on ${c.train.length} good images\n`);
  const t0 = performance.now();
  const r = await teachIn({
    bundleDir: dir,
    images: readable(c.train, log),
    options: {
      epochs: o.epochs,
      lr: o.lr,
      seed: o.seed,
      device: o.device,
      threads: o.threads,
      tiling: tilingSetting(o.tiling),
    },
    log,
  });
  process.stderr.write(
    `eval: ${c.name}: taught in (${r.epochs} epochs, ${r.steps} steps) in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`,
  );
  return loadBundle(dir);
}

/** The train images one at a time (a category's set is never all in memory); unreadable ones are skipped with a warning. */
function* readable(paths: readonly string[], log: Logger): Generator<RgbImage> {
  for (const p of paths) {
    try {
      yield readImage(p);
    } catch (e) {
      if (!(e instanceof ImageReadError)) throw e;
      log.warn({ path: p, reason: e.reason }, 'unreadable training image skipped');
    }
  }
}

async function scoreCategory(
  c: EvalCategory,
  bundle: Bundle,
  out: string,
  o: EvalOpts,
  log: Logger,
): Promise<{ evaluation: CategoryEvaluation; failures: ImageFailure[]; provider: string }> {
  const evaluator = new CategoryEvaluator(c, o.worst);
  const model = await openAnomalyModel(bundle, { device: o.device, threads: o.threads, log });
  const failures: ImageFailure[] = [];
  const byPath = new Map<string, TestItem>(c.test.map((t) => [t.path, t]));
  let bookkeeping = 0;
  const t0 = performance.now();
  try {
    for (const type of [...new Set(c.test.map((t) => t.type))]) {
      const paths = c.test.filter((t) => t.type === type).map((t) => t.path);
      const opts = {
        tiling: tilingOf(bundle.manifest), // scored as the bundle was taught: one code path with infer
        minArea: 16,
        batch: o.batch,
        saveMaps: o.saveMaps ? join(out, c.name, 'maps', type) : undefined,
        onMap: (r: { image: string; width: number; height: number; score: number }, map: Float32Array) => {
          const s = performance.now();
          const item = byPath.get(r.image)!;
          try {
            evaluator.add(item, r.score, map, r.width, r.height);
          } catch (e) {
            throw new DatasetError(`${item.path}: ${(e as Error).message}`);
          }
          bookkeeping += performance.now() - s;
        },
      };
      await inferImages(
        model as AnomalyModel,
        paths,
        opts,
        () => {},
        (f) => {
          failures.push(f);
          process.stderr.write(`error: ${f.error}\n`);
        },
      );
    }
  } finally {
    await model.release();
  }
  const scored = c.test.length - failures.length;
  const ms = scored > 0 ? (performance.now() - t0 - bookkeeping) / scored : null;
  process.stderr.write(
    `eval: ${c.name}: ${scored} test images scored, ${ms?.toFixed(1) ?? '—'} ms/frame on ${model.provider}\n`,
  );
  const evaluation = evaluator.finish(ms, bundle.manifest.thresholds?.reject ?? null);
  if (failures.length > 0)
    evaluation.metrics.notes.push(`${failures.length} test image(s) could not be read and are left out`);
  return { evaluation, failures, provider: model.provider };
}
