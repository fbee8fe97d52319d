// A re-teach from start to report, as the job process runs it (reteach-child.ts):
//   1. the image set: the parent's teach-in set plus labelled false rejects (and recent good parts) from the
//      archive (reteach-set.ts);
//   2. the candidate directory staged as a loadable copy of the parent, archived frames copied in
//      (reteach-stage.ts);
//   3. teach-in on the set into the candidate: new students and thresholds (teach-in.ts, unchanged: one copy of
//      the training logic), the set and the parent recorded in the manifest;
//   4. the shadow evaluation of candidate against parent on the archive (shadow-eval.ts);
//   5. the report, also written into the candidate as reteach-report.json for whoever promotes it.
// The candidate directory is removed when any step fails or the job is cancelled.
import { rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadBundle, readManifest } from '../model/bundle.js';
import type { Image } from '../pipeline/image.js';
import { writeFileAtomic } from '../util/atomic-file.js';
import { readImage } from '../util/image-io.js';
import type { Logger } from '../util/log.js';
import { threadPriorities, summarise, type PriorityWrapper } from './reteach-priority.js';
import { collectSet, type SetImage } from './reteach-set.js';
import { assertFreshDir, stageCandidate } from './reteach-stage.js';
import {
  RETEACH_DEFAULTS,
  type ReteachProgress,
  type ReteachRequest,
  type ReteachResult,
} from './reteach-types.js';
import { shadowEvaluate } from './shadow-eval.js';
import { teachIn, type TeachInProgress } from './teach-in.js';

export const REPORT_FILE = 'reteach-report.json';

export interface JobHooks {
  log?: Logger;
  onProgress?: (p: ReteachProgress) => void;
  signal?: AbortSignal;
  /** How the process was lowered (for the report). */
  wrapper?: PriorityWrapper;
}

export async function runReteachJob(req: ReteachRequest, hooks: JobHooks = {}): Promise<ReteachResult> {
  const t0 = performance.now();
  const r = { ...RETEACH_DEFAULTS, ...definedOnly(req) };
  const now = req.now ?? Date.now();
  const modelDir = resolve(req.modelDir);
  const outDir = resolve(req.outDir);
  const progress = progressOf(hooks.onProgress, t0);
  const parent = readManifest(modelDir);
  progress({ phase: 'collect', step: 0, total: 0 });
  const { images, summary } = collectSet(modelDir, parent, resolve(req.archiveDir), {
    teachInImages: req.teachInImages,
    recentGood: r.recentGood,
    maxArchiveImages: r.maxArchiveImages,
    from: now - r.shadowHours * 3_600_000,
    to: now,
  });
  hooks.log?.info(
    { teachIn: summary.teachIn, falseRejects: summary.falseRejects, recentGood: summary.recentGood },
    're-teach image set ready',
  );
  for (const s of summary.skipped) hooks.log?.warn({ path: s.path, why: s.why }, 're-teach: image left out');
  assertFreshDir(outDir); // before the try: a directory that is not ours is never removed
  try {
    const set = stageCandidate(modelDir, parent, outDir, images);
    const taught = await teachIn({
      bundleDir: outDir,
      images: decoded(images),
      options: { ...req.teach, device: 'cpu', threads: r.threads, checkpoint: false },
      log: hooks.log,
      signal: hooks.signal,
      onProgress: (p) => {
        const q = fromTeachIn(p, images.length);
        if (q) progress(q);
      },
      record: {
        teachInSet: set,
        reteach: {
          parentModelId: parent.modelId,
          parentDir: modelDir,
          archiveDir: resolve(req.archiveDir),
          ...summary,
        },
      },
    });
    const shadow = await shadowEvaluate(loadBundle(modelDir), loadBundle(outDir), {
      archiveDir: resolve(req.archiveDir),
      hours: r.shadowHours,
      to: now,
      maxParts: r.shadowMaxParts,
      taughtOn: new Set(images.flatMap((i) => (i.archiveKey ? [i.archiveKey] : []))),
      currentReject: req.shadow?.currentReject,
      ignore: req.shadow?.ignore,
      session: { device: 'cpu', threads: r.threads },
      signal: hooks.signal,
      onProgress: (step, total) => progress({ phase: 'shadow', step, total }),
    });
    const result: ReteachResult = {
      candidateDir: outDir,
      candidateModelId: taught.manifest.modelId,
      parentModelId: parent.modelId,
      set: summary,
      training: {
        steps: taught.steps,
        finalLoss: taught.finalLoss,
        stoppedBy: taught.stoppedBy,
        seconds: taught.seconds.features + taught.seconds.train + taught.seconds.calibrate,
      },
      thresholds: taught.thresholds
        ? { reject: taught.thresholds.reject, pixel: taught.thresholds.pixel }
        : null,
      shadow,
      priority: summarise(hooks.wrapper ?? 'normal', threadPriorities('self')),
      seconds: (performance.now() - t0) / 1000,
    };
    writeFileAtomic(join(outDir, REPORT_FILE), JSON.stringify(result, null, 2) + '\n');
    return result;
  } catch (e) {
    rmSync(outDir, { recursive: true, force: true });
    throw e;
  }
}

/** The set's images decoded one at a time (teach-in keeps only the letterboxed copy of each). */
function* decoded(images: readonly SetImage[]): Iterable<Image> {
  for (const i of images) yield readImage(i.file);
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Teach-in's progress in the job's terms (step / total / loss / eta per phase). */
function fromTeachIn(
  p: TeachInProgress,
  images: number,
): Omit<ReteachProgress, 'elapsedSeconds'> | undefined {
  switch (p.phase) {
    case 'images':
      return { phase: 'images', step: p.done, total: images };
    case 'features':
      return { phase: 'features', step: p.done, total: p.total };
    case 'train': {
      const total = p.plan.kind === 'epochs' ? p.plan.steps : p.plan.maxSteps;
      return {
        phase: 'train',
        step: p.step,
        total,
        loss: p.loss,
        ...(Number.isFinite(p.etaSeconds) ? { etaSeconds: p.etaSeconds } : {}),
      };
    }
    case 'epoch':
      return undefined; // the steps already said it
    case 'calibrate':
      return { phase: 'calibrate', step: p.done, total: p.total };
  }
}

function progressOf(
  on: ((p: ReteachProgress) => void) | undefined,
  t0: number,
): (p: Omit<ReteachProgress, 'elapsedSeconds'>) => void {
  return (p) => on?.({ ...p, elapsedSeconds: (performance.now() - t0) / 1000 });
}
