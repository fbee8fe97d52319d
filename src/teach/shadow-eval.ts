// Shadow evaluation: the archived parts scored by the model in force and by a candidate, side by side, before
// anyone promotes the candidate. Which parts: every labelled part whatever its age (the operator's verdicts are
// the ground truth), then the unlabelled parts of the last N hours, evenly spaced when there are more than the
// bound allows. Each frame is decoded and letterboxed once and run through both models; each score is judged
// against its own model's reject threshold. Runs in the re-teach job process (low priority), never the daemon's.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Bundle } from '../model/bundle.js';
import type { Polygon } from '../pipeline/anomaly-map.js';
import { postprocess } from '../pipeline/anomaly-map.js';
import { openAnomalyModel, type AnomalyModel, type SessionOptions } from '../pipeline/inference.js';
import { computeLetterbox, letterbox } from '../pipeline/letterbox.js';
import { ArchiveIndex, type ArchiveEntry } from '../sinks/archive/archive-index.js';
import { FILES, INDEX_FILE } from '../sinks/archive/layout.js';
import { readImage } from '../util/image-io.js';
import { frameFile, latestLabel } from './reteach-set.js';
import { shadowReport, type ShadowPart, type ShadowReport } from './shadow-report.js';

export interface ShadowOptions {
  archiveDir: string;
  /** Window of unlabelled parts: [to - hours, to). */
  hours: number;
  to: number;
  /** Parts scored at most (labelled ones first). */
  maxParts: number;
  /** Archive keys of the parts the candidate was taught on. */
  taughtOn: ReadonlySet<string>;
  /** The reject threshold the daemon applies to the model in force, when it overrides the bundle's. */
  currentReject?: number;
  /** Ignore zones per camera, as the daemon applies them. */
  ignore?: Readonly<Record<string, readonly Polygon[]>>;
  session?: SessionOptions;
  batch?: number;
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

type Labelled = ArchiveEntry & { label: ShadowPart['label'] };

const QUERY_LIMIT = 100_000;

export async function shadowEvaluate(
  current: Bundle,
  candidate: Bundle,
  o: ShadowOptions,
): Promise<ShadowReport> {
  const from = o.to - o.hours * 3_600_000;
  const entries = selectParts(o.archiveDir, from, o.to, o.maxParts);
  const reject = {
    current: o.currentReject ?? current.manifest.thresholds?.reject,
    candidate: candidate.manifest.thresholds?.reject,
  };
  if (reject.current === undefined || reject.candidate === undefined) {
    throw new Error(
      `shadow evaluation needs both models' reject thresholds (${reject.current === undefined ? current.dir : candidate.dir} has none)`,
    );
  }
  const [a, b] = [current.manifest, candidate.manifest];
  if (a.input.size !== b.input.size || a.teacher.sha256 !== b.teacher.sha256) {
    throw new Error(
      'shadow evaluation compares students of one teacher at one input size (a re-teach keeps both)',
    );
  }
  const models: AnomalyModel[] = [];
  try {
    models.push(await openAnomalyModel(current, o.session));
    models.push(await openAnomalyModel(candidate, o.session));
    const { parts, skipped, rescored } = await scoreAll(models[0], models[1], entries, o);
    return shadowReport(
      parts,
      {
        current: { modelId: current.manifest.modelId, reject: reject.current },
        candidate: { modelId: candidate.manifest.modelId, reject: reject.candidate },
      },
      { from, to: o.to },
      { skipped, currentRescored: rescored },
    );
  } finally {
    for (const m of models) await m.release();
  }
}

/** Labelled parts (any age) first, then unlabelled parts of the window, evenly spaced, up to maxParts in all. */
export function selectParts(archiveDir: string, from: number, to: number, maxParts: number): Labelled[] {
  const index = new ArchiveIndex(join(archiveDir, INDEX_FILE), { readonly: true });
  try {
    const labelled = new Map<number, Labelled>();
    for (const kind of ['confirmed-defect', 'false-reject'] as const) {
      for (const e of index.query({ label: kind, limit: QUERY_LIMIT })) {
        const label = latestLabel(index, e.id);
        if (label === kind) labelled.set(e.id, { ...e, label: kind });
      }
    }
    const chosen = [...labelled.values()].slice(-maxParts);
    const room = maxParts - chosen.length;
    const rest = index
      .query({ from, to, limit: QUERY_LIMIT })
      .filter((e) => !labelled.has(e.id))
      .map((e) => ({ ...e, label: null }));
    const sampled =
      rest.length <= room
        ? rest
        : Array.from({ length: room }, (_, i) => rest[Math.floor(((i + 0.5) * rest.length) / room)]);
    return [...chosen, ...sampled].sort((a, b) => a.decideTime - b.decideTime || a.id - b.id);
  } finally {
    index.close();
  }
}

async function scoreAll(
  current: AnomalyModel,
  candidate: AnomalyModel,
  entries: readonly Labelled[],
  o: ShadowOptions,
): Promise<{ parts: ShadowPart[]; skipped: number; rescored: number }> {
  const S = current.size;
  const batch = o.batch ?? 4;
  const pixels = new Uint8Array(batch * S * S * 3);
  const parts: ShadowPart[] = [];
  let skipped = 0;
  let rescored = 0;
  for (let i = 0; i < entries.length; i += batch) {
    o.signal?.throwIfAborted();
    const frames = entries.slice(i, i + batch).flatMap((e) => {
      const img = readFrame(o.archiveDir, e);
      if (!img) skipped++;
      return img ? [{ e, img, known: archivedScore(o.archiveDir, e, current.modelId) }] : [];
    });
    if (frames.length > 0) {
      frames.forEach((f, j) =>
        letterbox(f.img, S, pixels.subarray(j * S * S * 3, (j + 1) * S * S * 3), current.resize),
      );
      const input = pixels.subarray(0, frames.length * S * S * 3);
      // The model in force already scored most archived parts: its score is in the entry (same model id).
      const unknown = frames.filter((f) => f.known === null).length;
      const a = unknown > 0 ? (await current.run(input, frames.length)).slice() : null;
      rescored += unknown;
      const b = await candidate.run(input, frames.length);
      const g = current.grid;
      frames.forEach((f, j) => {
        const lb = computeLetterbox(f.img.width, f.img.height, S);
        const ignore = o.ignore?.[f.e.cameraId];
        const score = (grid: Float32Array): number =>
          postprocess(grid.subarray(j * g * g, (j + 1) * g * g), g, lb, undefined, { ignore }).score;
        parts.push({
          id: f.e.id,
          key: f.e.key,
          partId: f.e.partId,
          cameraId: f.e.cameraId,
          decideTime: f.e.decideTime,
          label: f.e.label,
          inTraining: o.taughtOn.has(f.e.key),
          current: f.known ?? score(a!),
          candidate: score(b),
        });
      });
    }
    o.onProgress?.(Math.min(entries.length, i + batch), entries.length);
  }
  return { parts, skipped, rescored };
}

/**
 * The score the daemon decided the part with, when the model in force decided it (result.json's model id);
 * null otherwise (an older model, or no readable result): then it is scored here.
 */
function archivedScore(archiveDir: string, e: ArchiveEntry, modelId: string): number | null {
  try {
    const r = JSON.parse(readFileSync(join(archiveDir, e.path, FILES.result), 'utf8')) as {
      modelId?: unknown;
      score?: unknown;
    };
    return r.modelId === modelId && typeof r.score === 'number' ? r.score : null;
  } catch {
    return null;
  }
}

/** The entry's frame, or null when it kept none, was trimmed meanwhile or cannot be decoded. */
function readFrame(archiveDir: string, e: ArchiveEntry): ReturnType<typeof readImage> | null {
  const name = frameFile(e);
  const file = name && join(archiveDir, e.path, name);
  if (!file || !existsSync(file)) return null;
  try {
    return readImage(file);
  } catch {
    return null;
  }
}
