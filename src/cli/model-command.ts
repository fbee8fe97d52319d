// `pinpoint model build | info | dev-teacher`: create, describe and (for tests and the demo) fake model bundles.
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { BundleError, createBundle, loadBundle, readManifest } from '../model/bundle.js';
import { writeDevTeacher } from '../model/dev-teacher.js';
import { frameProfileFrom, patchPixels } from '../model/frame-profile.js';
import { ManifestError, type Manifest } from '../model/manifest.js';
import { SafetensorsError } from '../model/safetensors.js';
import { WeightsError } from '../model/teacher-weights.js';
import { CliError, EXIT } from './exit.js';
import { registerModelVersions } from './model-versions-command.js';
import { intOption, layersOption, numberOption } from './parse-options.js';
import { registerReteach } from './reteach-command.js';

export const DEV_TEACHER_WARNING =
  'DEV TEACHER: random weights, NOT a real backbone — scores mean nothing for real inspection';

/** Human-readable description of a bundle; `problem` is the verification failure, if any. */
export function formatBundleInfo(dir: string, m: Manifest, problem?: string): string {
  const a = m.teacher.arch;
  const g = m.input.size / a.patch;
  const short = (h: string) => h.slice(0, 12) + '…';
  const rows: [string, string][] = [
    ['bundle', dir],
    ['model id', m.modelId],
    ['created', m.createdAt],
    ['teacher', `${m.teacher.path} (${m.teacher.layout} layout, sha256 ${short(m.teacher.sha256)})`],
    [
      '',
      `ViT: ${a.depth} blocks, width ${a.dim}, ${a.heads} heads, ${a.registers} registers, patch ${a.patch}, ` +
        `MLP ${a.mlpHidden}`,
    ],
  ];
  if (m.teacher.devTeacher) rows.push(['', `!!! ${DEV_TEACHER_WARNING} !!!`]);
  rows.push(
    [
      'input',
      `${m.input.size}×${m.input.size} px (${g}×${g} patches), mean ${fmt3(m.input.mean)}, std ${fmt3(m.input.std)}`,
    ],
    ['resolution', resolutionLine(m)],
    ['layers', `${m.layers[0]}, ${m.layers[1]}`],
    ['students', `seed ${m.students.seed}, hidden ${m.students.hidden}, sha256 ${short(m.students.sha256)}`],
  );
  if (m.training) {
    const { trainedAt, ...rest } = m.training;
    rows.push(['training', `trained ${trainedAt}`]);
    for (const [k, v] of Object.entries(rest)) {
      // The teach-in set's per-image hashes are for `model versions` and re-teach, not for reading here.
      const shown = k === 'imageHashes' && Array.isArray(v) ? `${v.length} image sha256` : JSON.stringify(v);
      rows.push(['', `${k}: ${shown}`]);
    }
  } else rows.push(['training', 'not trained (students freshly initialised): run `pinpoint train`']);
  if (m.thresholds) {
    const { reject, pixel, rule, ...rest } = m.thresholds;
    rows.push(['thresholds', `reject score > ${reject}, blob pixels > ${pixel} (${rule})`]);
    for (const [k, v] of Object.entries(rest)) rows.push(['', `${k}: ${JSON.stringify(v)}`]);
  } else rows.push(['thresholds', 'none: infer prints scores without verdicts']);
  rows.push(['status', problem ? `BROKEN: ${problem}` : 'ok (teacher and students match their sha256)']);
  return rows.map(([k, v]) => `${k.padEnd(11)} ${v}`).join('\n') + '\n';
}

/** What the geometry resolves: one patch in frame pixels on the taught frames, or as a share of a frame. */
function resolutionLine(m: Manifest): string {
  const g = m.input.size / m.teacher.arch.patch;
  const f = frameProfileFrom(m.training);
  if (!f) return `one patch = 1/${g} of a frame's longer side: defects much smaller may be missed`;
  const px = patchPixels(f.width, f.height, m.input.size, m.teacher.arch.patch);
  return (
    `taught on ${f.width}×${f.height} ${f.colour} images: one patch ≈ ${px.toFixed(1)} px, ` +
    'defects much smaller may be missed'
  );
}

function fmt3(v: readonly number[]): string {
  return `(${v.map((x) => x.toFixed(3)).join(', ')})`;
}

/** Errors whose message is already written for the user become CliErrors (no stack trace). */
export function asUserError(e: unknown): unknown {
  if (
    e instanceof BundleError ||
    e instanceof ManifestError ||
    e instanceof WeightsError ||
    e instanceof SafetensorsError
  ) {
    return new CliError(e.message, EXIT.failure);
  }
  return e;
}

function userErrors<A extends unknown[]>(fn: (...args: A) => void): (...args: A) => void {
  return (...args: A) => {
    try {
      fn(...args);
    } catch (e) {
      throw asUserError(e);
    }
  };
}

export function registerModel(program: Command): void {
  const model = program.command('model').description('build and inspect model bundles');
  registerModelVersions(model);

  model
    .command('build')
    .description('build a bundle from teacher weights (students freshly initialised, seeded)')
    .requiredOption(
      '--teacher <file>',
      'DINOv2-with-registers weights (.safetensors, Hugging Face or official layout)',
    )
    .requiredOption('--out <dir>', 'bundle directory to create')
    .option('--size <px>', 'model input side S, a multiple of 14', intOption(14, 4200), 1036)
    .option('--layers <a,b>', 'feature blocks (1-based)', layersOption, [8, 12] as [number, number])
    .option('--seed <n>', 'student initialisation seed', intOption(0), 0)
    .option('--heads <n>', 'attention heads when the width is not a multiple of 64', intOption(1))
    .option('--copy-teacher', 'copy the teacher into the bundle instead of referencing it by absolute path')
    .option('--force', 'replace an existing bundle in --out (its training is lost)')
    .option('--json', 'print the manifest as JSON')
    .action(
      userErrors(
        (o: {
          teacher: string;
          out: string;
          size: number;
          layers: [number, number];
          seed: number;
          heads?: number;
          copyTeacher?: boolean;
          force?: boolean;
          json?: boolean;
        }) => {
          const m = createBundle({
            teacherPath: o.teacher,
            outDir: o.out,
            size: o.size,
            layers: o.layers,
            seed: o.seed,
            heads: o.heads,
            copyTeacher: o.copyTeacher,
            force: o.force,
          });
          if (o.json) process.stdout.write(JSON.stringify(m, null, 2) + '\n');
          else process.stdout.write(`built bundle\n` + formatBundleInfo(resolve(o.out), m));
          if (m.teacher.devTeacher) process.stderr.write(`warning: ${DEV_TEACHER_WARNING}\n`);
        },
      ),
    );

  model
    .command('info')
    .description('describe a bundle and verify its files')
    .argument('<dir>')
    .option('--json', 'machine-readable output')
    .action(
      userErrors((dir: string, o: { json?: boolean }) => {
        const abs = resolve(dir);
        const m = readManifest(abs);
        let problem: string | undefined;
        try {
          loadBundle(abs);
        } catch (e) {
          problem = (e as Error).message;
        }
        if (o.json) {
          const out = {
            dir: abs,
            status: problem ? 'broken' : 'ok',
            problem,
            devTeacher: m.teacher.devTeacher,
            manifest: m,
          };
          process.stdout.write(JSON.stringify(out, null, 2) + '\n');
        } else process.stdout.write(formatBundleInfo(abs, m, problem));
        if (m.teacher.devTeacher && !o.json) process.stderr.write(`warning: ${DEV_TEACHER_WARNING}\n`);
        if (problem) process.exitCode = EXIT.failure;
      }),
    );

  registerReteach(model);

  model
    .command('dev-teacher')
    .description('write a seeded random teacher (NOT a real backbone) for tests and the demo')
    .requiredOption('--out <file>', 'output .safetensors file')
    .option('--depth <n>', 'transformer blocks', intOption(1, 64), 12)
    .option('--dim <n>', 'token width', intOption(1, 4096), 64)
    .option('--heads <n>', 'attention heads (must divide --dim)', intOption(1, 256), 4)
    .option('--registers <n>', 'register tokens', intOption(0, 64), 4)
    .option('--seed <n>', 'random seed', intOption(0), 0)
    .option(
      '--patch-gain <x>',
      'scale of the patch embedding against the blocks (docs/pipeline.md)',
      numberOption,
      1,
    )
    .option(
      '--patch-filters <kind>',
      "patch filters: 'random', or 'bank' (shaped like a trained first layer)",
      'random',
    )
    .action(
      userErrors((o: DevTeacherCliOptions) => {
        if (o.dim % o.heads !== 0)
          throw new CliError(`--heads ${o.heads} does not divide --dim ${o.dim}`, EXIT.usage);
        if (!(o.patchGain > 0))
          throw new CliError(`--patch-gain must be above 0, got ${o.patchGain}`, EXIT.usage);
        if (o.patchFilters !== 'random' && o.patchFilters !== 'bank')
          throw new CliError(`--patch-filters: expected random or bank, got '${o.patchFilters}'`, EXIT.usage);
        if (o.patchFilters === 'bank' && o.dim > BANK_MAX_DIM)
          throw new CliError(
            `--patch-filters bank has ${BANK_MAX_DIM} filters (3 colours × 14×14 pixels): --dim ${o.dim} is too wide`,
            EXIT.usage,
          );
        writeDevTeacher(o.out, {
          depth: o.depth,
          dim: o.dim,
          heads: o.heads,
          registers: o.registers,
          seed: o.seed,
          patchGain: o.patchGain,
          patchFilters: o.patchFilters,
        });
        process.stdout.write(
          `wrote ${resolve(o.out)}: dev teacher, ${o.depth} blocks, width ${o.dim}, ${o.heads} heads, ` +
            `${o.registers} registers, seed ${o.seed}, patch ${o.patchFilters} ×${o.patchGain} (Hugging Face layout)\n` +
            `${DEV_TEACHER_WARNING}\n`,
        );
      }),
    );
}

/** The bank's filters are orthogonal over a 14×14 RGB patch: at most 3·14² of them. */
const BANK_MAX_DIM = 3 * 14 * 14;

interface DevTeacherCliOptions {
  out: string;
  depth: number;
  dim: number;
  heads: number;
  registers: number;
  seed: number;
  patchGain: number;
  patchFilters: string;
}
