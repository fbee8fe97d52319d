// `pinpoint model reteach`: the daemon's re-teach without the daemon. Teaches a candidate bundle on the model's
// teach-in set plus the archive's labelled false rejects, in a low-priority job process (the same one the daemon
// starts), then prints the shadow evaluation of the candidate against the model. Ctrl-C cancels; the candidate
// directory is removed unless the job finished.
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { createLogger } from '../util/log.js';
import { ReteachCancelledError, ReteachRunner } from '../teach/reteach-runner.js';
import { RETEACH_DEFAULTS, type ReteachProgress, type ReteachResult } from '../teach/reteach-types.js';
import { shadowText } from '../teach/shadow-report.js';
import { CliError, EXIT } from './exit.js';
import { intOption, numberOption } from './parse-options.js';

interface ReteachOpts {
  model: string;
  archive: string;
  out: string;
  images?: string;
  shadowHours: number;
  shadowMaxParts: number;
  recentGood: number;
  maxArchiveImages: number;
  threads: number;
  epochs?: number;
  seed?: number;
  json?: boolean;
}

function hours(v: string): number {
  const n = numberOption(v);
  if (!(n > 0 && n <= 24 * 365))
    throw new CliError(`--shadow-hours must be in (0, 8760], got ${v}`, EXIT.usage);
  return n;
}

export function registerReteach(model: Command): void {
  const d = RETEACH_DEFAULTS;
  model
    .command('reteach')
    .description('teach a candidate on the teach-in set plus archived false rejects; shadow-evaluate it')
    .requiredOption('--model <dir>', 'the bundle in force')
    .requiredOption('--archive <dir>', 'the parts archive (archive.dir)')
    .requiredOption('--out <dir>', 'new directory for the candidate bundle')
    .option('--images <dir>', "the model's teach-in images, for a bundle that does not record them")
    .option('--shadow-hours <h>', 'hours of archived parts to evaluate', hours, d.shadowHours)
    .option('--shadow-max-parts <n>', 'parts evaluated at most', intOption(1), d.shadowMaxParts)
    .option(
      '--recent-good <n>',
      'archived good parts of that window added to the set',
      intOption(0),
      d.recentGood,
    )
    .option('--max-archive-images <n>', 'archived frames added at most', intOption(0), d.maxArchiveImages)
    .option('--threads <n>', 'onnxruntime threads of the job', intOption(1, 256), d.threads)
    .option('--epochs <n>', 'fixed number of epochs (default: the automatic schedule)', intOption(1))
    .option('--seed <n>', 'teach-in seed (default 0)', intOption(0))
    .option('--json', 'print the result as JSON')
    .action(async (o: ReteachOpts) => {
      await reteach(o);
    });
}

async function reteach(o: ReteachOpts): Promise<void> {
  const log = createLogger({ destination: process.stderr, level: 'warn' });
  const runner = new ReteachRunner({ log, logLevel: 'warn' });
  const job = runner.start(
    {
      modelDir: resolve(o.model),
      archiveDir: resolve(o.archive),
      outDir: resolve(o.out),
      teachInImages: o.images && resolve(o.images),
      shadowHours: o.shadowHours,
      shadowMaxParts: o.shadowMaxParts,
      recentGood: o.recentGood,
      maxArchiveImages: o.maxArchiveImages,
      threads: o.threads,
      teach: { epochs: o.epochs, seed: o.seed },
    },
    progressPrinter(),
  );
  const onSigint = (): void => {
    process.stderr.write('cancelling the re-teach…\n');
    job.cancel();
  };
  process.on('SIGINT', onSigint);
  try {
    const r = await job.result;
    if (o.json) process.stdout.write(JSON.stringify(r, null, 2) + '\n');
    else process.stdout.write(summary(r));
  } catch (e) {
    if (e instanceof ReteachCancelledError) throw new CliError(e.message, 130);
    throw new CliError(`pinpoint model reteach: ${(e as Error).message}`, EXIT.failure);
  } finally {
    process.off('SIGINT', onSigint);
  }
}

/** One stderr line per phase change and every few seconds within a phase. */
function progressPrinter(): (p: ReteachProgress) => void {
  let phase = '';
  let last = 0;
  return (p) => {
    const now = performance.now();
    if (p.phase === phase && now - last < 5000) return;
    phase = p.phase;
    last = now;
    const of = p.total ? `/${p.total}` : '';
    const loss = p.loss !== undefined ? `, loss ${p.loss.toFixed(5)}` : '';
    const eta = p.etaSeconds !== undefined ? `, eta ${Math.round(p.etaSeconds)} s` : '';
    process.stderr.write(
      `re-teach: ${p.phase} ${p.step}${of}${loss}${eta} (${p.elapsedSeconds.toFixed(0)} s)\n`,
    );
  };
}

function summary(r: ReteachResult): string {
  const s = r.set;
  const t = r.thresholds;
  return (
    [
      `candidate ${r.candidateModelId} in ${r.candidateDir} (parent ${r.parentModelId})`,
      `  set        ${s.teachIn} teach-in, ${s.falseRejects} false rejects, ${s.recentGood} recent good` +
        (s.skipped.length ? `, ${s.skipped.length} left out` : ''),
      `  training   ${r.training.steps} steps (${r.training.stoppedBy}), loss ${r.training.finalLoss.toFixed(5)}, ` +
        `${r.training.seconds.toFixed(1)} s; job ${r.seconds.toFixed(1)} s at priority ` +
        `${r.priority.policies.join('/')} (nice ≥ ${r.priority.minNice})`,
      `  thresholds ${t ? `reject > ${t.reject.toPrecision(4)}, pixel > ${t.pixel.toPrecision(4)}` : 'none'}`,
    ].join('\n') +
    '\n' +
    shadowText(r.shadow)
  );
}
