// `pinpoint model versions | publish | promote | rollback`: the versions of a models directory. Promote and
// rollback re-point `current` atomically; a running daemon on that directory follows within a second (hot
// swap between two batches, docs/model-bundles.md). A version whose input differs from the current one
// (size, resize mode) is refused unless --restart-needed: the daemon could not swap to it.
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { BundleError, readManifest } from '../model/bundle.js';
import { ManifestError, resizeModeOf, type Manifest } from '../model/manifest.js';
import { readHistory } from '../model/version-history.js';
import { publishVersion } from '../model/version-publish.js';
import { promoteVersion, rollbackTarget, type Promotion } from '../model/version-promote.js';
import {
  VersionError,
  currentVersion,
  isModelsDir,
  readVersionRecord,
  versionDir,
  versionNames,
  versionProblem,
} from '../model/versions.js';
import { CliError, EXIT } from './exit.js';

export interface VersionRow {
  version: string;
  current: boolean;
  modelId?: string;
  createdAt?: string;
  parent?: string | null;
  source?: string;
  teachInImages?: number;
  thresholds?: { reject: number; pixel: number } | null;
  problem?: string;
}

/** Every version of a models directory, oldest first. */
export function listVersionRows(modelsDir: string): VersionRow[] {
  const cur = currentVersion(modelsDir);
  return versionNames(modelsDir).map((v) => {
    const dir = versionDir(modelsDir, v);
    const problem = versionProblem(dir);
    const row: VersionRow = { version: v, current: v === cur, ...(problem ? { problem } : {}) };
    try {
      const r = readVersionRecord(dir);
      const m = readManifest(dir);
      Object.assign(row, {
        modelId: r.modelId,
        createdAt: r.createdAt,
        parent: r.parent,
        source: r.source,
        teachInImages: r.teachIn?.images.length,
        thresholds: m.thresholds ? { reject: m.thresholds.reject, pixel: m.thresholds.pixel } : null,
      });
    } catch {
      // the problem above says why
    }
    return row;
  });
}

function formatRows(rows: VersionRow[]): string {
  if (rows.length === 0) return 'no versions\n';
  return (
    rows
      .map((r) => {
        const mark = r.current ? '*' : ' ';
        const t = r.thresholds ? `reject > ${r.thresholds.reject.toPrecision(4)}` : 'no thresholds';
        const from = r.parent ? `from ${r.parent}` : 'no parent';
        const imgs = r.teachInImages !== undefined ? `, ${r.teachInImages} teach-in images` : '';
        const state = r.problem ? `  BROKEN: ${r.problem}` : '';
        return `${mark} ${r.version}  model ${r.modelId ?? '?'}  ${t}  ${from}${imgs}${state}`;
      })
      .join('\n') + '\n'
  );
}

function modelsDirArg(dir: string): string {
  const abs = resolve(dir);
  if (!isModelsDir(abs))
    throw new CliError(
      `${abs} is not a models directory (no versions/; \`model publish\` creates one)`,
      EXIT.usage,
    );
  return abs;
}

/** Refuses a version a running daemon could not swap to (it needs a restart), unless the user says so. */
function checkSwappable(modelsDir: string, version: string, restartNeeded: boolean): void {
  const cur = currentVersion(modelsDir);
  if (!cur || restartNeeded) return;
  const a: Manifest = readManifest(versionDir(modelsDir, cur));
  const b: Manifest = readManifest(versionDir(modelsDir, version));
  if (
    a.input.size !== b.input.size ||
    resizeModeOf(a) !== resizeModeOf(b) ||
    a.teacher.arch.patch !== b.teacher.arch.patch
  )
    throw new CliError(
      `version ${version} takes other input than ${cur} (size ${b.input.size} vs ${a.input.size}, resize ` +
        `${resizeModeOf(b)} vs ${resizeModeOf(a)}): a running daemon cannot swap to it; ` +
        'pass --restart-needed to promote it anyway and restart pinpoint',
      EXIT.failure,
    );
}

function said(p: Promotion, what: string): string {
  return `${what}: current is now ${p.to}${p.from ? ` (was ${p.from})` : ''}\n`;
}

function guarded<A extends unknown[]>(fn: (...a: A) => void): (...a: A) => void {
  return (...a: A) => {
    try {
      fn(...a);
    } catch (e) {
      const known = e instanceof VersionError || e instanceof BundleError || e instanceof ManifestError;
      throw known ? new CliError(e.message, EXIT.failure) : e;
    }
  };
}

export function registerModelVersions(model: Command): void {
  model
    .command('versions')
    .description('list the versions of a models directory (* = current) and recent promotions')
    .argument('<models-dir>')
    .option('--json', 'machine-readable output')
    .action(
      guarded((dir: string, o: { json?: boolean }) => {
        const abs = modelsDirArg(dir);
        const rows = listVersionRows(abs);
        if (o.json) {
          const out = {
            modelsDir: abs,
            current: currentVersion(abs),
            previous: rollbackTarget(abs),
            versions: rows,
            events: readHistory(abs).events.slice(-20),
          };
          process.stdout.write(JSON.stringify(out, null, 2) + '\n');
        } else process.stdout.write(formatRows(rows));
      }),
    );
  model
    .command('publish')
    .description('publish a bundle as a new immutable version of a models directory (created if needed)')
    .argument('<models-dir>')
    .argument('<bundle-dir>')
    .option('--promote', 'make it current (a running daemon swaps to it)')
    .option('--parent <version>', 'the version it was derived from (default: none)')
    .option('--note <text>', 'free text shown by `model versions`')
    .action(
      guarded((dir: string, bundle: string, o: { promote?: boolean; parent?: string; note?: string }) => {
        const abs = resolve(dir);
        const m = readManifest(bundle);
        const training = m.training as { imageHashes?: unknown; imagesSha256?: unknown } | undefined;
        const images = Array.isArray(training?.imageHashes) ? (training.imageHashes as string[]) : null;
        const r = publishVersion(abs, bundle, {
          parent: o.parent ?? null,
          teachIn: images ? { images, imagesSha256: String(training?.imagesSha256 ?? '') } : null,
          source: 'publish',
          note: o.note,
        });
        process.stdout.write(`published ${r.version} (model ${r.modelId})\n`);
        if (o.promote) process.stdout.write(said(promoteVersion(abs, r.version), 'promoted'));
      }),
    );
  model
    .command('promote')
    .description('make a version current; a running daemon swaps to it between two batches')
    .argument('<models-dir>')
    .argument('<version>')
    .option(
      '--restart-needed',
      'promote a version that takes other input (a running daemon cannot swap to it)',
    )
    .action(
      guarded((dir: string, version: string, o: { restartNeeded?: boolean }) => {
        const abs = modelsDirArg(dir);
        checkSwappable(abs, version, o.restartNeeded === true);
        process.stdout.write(said(promoteVersion(abs, version), 'promoted'));
      }),
    );
  model
    .command('rollback')
    .description('make the previous version current again (the one before the last promotion)')
    .argument('<models-dir>')
    .action(
      guarded((dir: string) => {
        const abs = modelsDirArg(dir);
        const target = rollbackTarget(abs);
        if (!target) throw new VersionError(`${abs}: no previous version to roll back to`);
        checkSwappable(abs, target, false);
        process.stdout.write(said(promoteVersion(abs, target, 'rollback'), 'rolled back'));
      }),
    );
}
