// The image set of a re-teach: the parent bundle's teach-in set (each file checked against its recorded
// sha256), plus the archived frames of parts an operator labelled "false reject" (the label in force is the
// part's latest one), plus optionally a few recent archived good parts. Duplicates (same bytes) count once.
// Reads files and the archive index only; decoding is the job's.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { listImages } from '../model/image-folder.js';
import { ArchiveIndex, type ArchiveEntry } from '../sinks/archive/archive-index.js';
import { FILES, INDEX_FILE } from '../sinks/archive/layout.js';
import type { Manifest } from '../model/manifest.js';
import {
  entryFile,
  fileSha256,
  teachInSetFrom,
  type TeachInSetEntry,
  type TeachInSource,
} from './teach-in-set.js';
import type { ReteachSetSummary } from './reteach-types.js';

/** One image of the set: where to read it now, and how to record it. */
export interface SetImage {
  file: string;
  sha256: string;
  source: TeachInSource;
  /** The parent's entry (teach-in images), kept as recorded when its path is absolute. */
  recorded?: TeachInSetEntry;
  partId?: string;
  archiveKey?: string;
  frameExt?: 'png' | 'jpg';
}

export interface SetOptions {
  teachInImages?: string;
  recentGood: number;
  maxArchiveImages: number;
  /** Recent good parts come from [from, to). */
  from: number;
  to: number;
}

export class ReteachSetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReteachSetError';
  }
}

/** Parts labelled at most per query (a bound on the index read, far above any useful set). */
const QUERY_LIMIT = 100_000;

export function collectSet(
  modelDir: string,
  manifest: Manifest,
  archiveDir: string,
  o: SetOptions,
): { images: SetImage[]; summary: ReteachSetSummary } {
  const skipped: ReteachSetSummary['skipped'] = [];
  const parent = parentImages(modelDir, manifest, o.teachInImages, skipped);
  const seen = new Set(parent.map((i) => i.sha256));
  const index = openIndex(archiveDir);
  let falseRejects: SetImage[];
  let recent: SetImage[];
  try {
    falseRejects = archived(archiveDir, labelledFalseRejects(index).reverse(), 'false-reject', seen, skipped);
    falseRejects = falseRejects.slice(0, o.maxArchiveImages);
    const room = Math.max(0, Math.min(o.recentGood, o.maxArchiveImages - falseRejects.length));
    recent = room > 0 ? archived(archiveDir, recentGood(index, o, room), 'recent-good', seen, skipped) : [];
  } finally {
    index.close();
  }
  if (falseRejects.length + recent.length === 0) {
    throw new ReteachSetError(
      `nothing to re-teach on: no archived part in ${archiveDir} is labelled false-reject with its frame kept` +
        (o.recentGood > 0 ? ', and no recent good part was found' : '') +
        ' (the candidate would be the model in force taught again)',
    );
  }
  return {
    images: [...parent, ...falseRejects, ...recent],
    summary: {
      teachIn: parent.length,
      falseRejects: falseRejects.length,
      recentGood: recent.length,
      skipped,
    },
  };
}

/** The parent's recorded set (files checked), else the folder given for a bundle that predates the record. */
function parentImages(
  dir: string,
  m: Manifest,
  folder: string | undefined,
  skipped: ReteachSetSummary['skipped'],
): SetImage[] {
  const record = teachInSetFrom(m.training, join(dir, 'manifest.json'));
  if (!record) {
    if (!folder) {
      throw new ReteachSetError(
        `${dir} does not record the images it was taught on (taught before pinpoint recorded them): ` +
          `give its teach-in image folder (--images / teachInImages)`,
      );
    }
    return listImages(folder).map((file) => ({
      file,
      sha256: fileSha256(file),
      source: 'teach-in' as const,
    }));
  }
  const out: SetImage[] = [];
  for (const e of record.images) {
    const file = entryFile(dir, e);
    if (!existsSync(file)) {
      skipped.push({ path: file, why: 'missing' });
      continue;
    }
    const sha = fileSha256(file);
    if (sha !== e.sha256) {
      skipped.push({ path: file, why: `changed since teach-in (sha256 ${sha.slice(0, 12)}…)` });
      continue;
    }
    out.push({
      file,
      sha256: sha,
      source: e.source,
      recorded: e,
      partId: e.partId,
      archiveKey: e.archiveKey,
    });
  }
  if (out.length === 0) {
    throw new ReteachSetError(
      `none of the ${record.images.length} teach-in images of ${dir} is readable unchanged`,
    );
  }
  return out;
}

function openIndex(archiveDir: string): ArchiveIndex {
  const file = join(archiveDir, INDEX_FILE);
  if (!existsSync(file)) throw new ReteachSetError(`${archiveDir} is not a parts archive (no ${INDEX_FILE})`);
  return new ArchiveIndex(file, { readonly: true });
}

/** Entries whose latest label is false-reject (an operator may have changed their mind), oldest first. */
export function labelledFalseRejects(index: ArchiveIndex): ArchiveEntry[] {
  return index
    .query({ label: 'false-reject', limit: QUERY_LIMIT })
    .filter((e) => latestLabel(index, e.id) === 'false-reject');
}

export function latestLabel(index: ArchiveIndex, id: number): string | null {
  const labels = index.labels(id).filter((l) => l.label !== null);
  return labels.length ? labels[labels.length - 1].label : null;
}

/** `n` good unlabelled parts of the window, evenly spaced over it. */
function recentGood(index: ArchiveIndex, o: SetOptions, n: number): ArchiveEntry[] {
  const ok = index
    .query({ verdict: 'ok', from: o.from, to: o.to, limit: QUERY_LIMIT })
    .filter((e) => e.frameFormat !== null && index.labels(e.id).length === 0);
  if (ok.length <= n) return ok;
  return Array.from({ length: n }, (_, i) => ok[Math.floor(((i + 0.5) * ok.length) / n)]);
}

/** The entries' frame files, new bytes only; entries without a frame (or trimmed meanwhile) are skipped. */
function archived(
  archiveDir: string,
  entries: readonly ArchiveEntry[],
  source: TeachInSource,
  seen: Set<string>,
  skipped: ReteachSetSummary['skipped'],
): SetImage[] {
  const out: SetImage[] = [];
  for (const e of entries) {
    const name = frameFile(e);
    const file = name && join(archiveDir, e.path, name);
    if (!file || !existsSync(file)) {
      skipped.push({
        path: join(archiveDir, e.path),
        why: name ? 'trimmed from the archive' : 'no frame kept',
      });
      continue;
    }
    const sha = fileSha256(file);
    if (seen.has(sha)) continue;
    seen.add(sha);
    out.push({
      file,
      sha256: sha,
      source,
      partId: e.partId,
      archiveKey: e.key,
      frameExt: e.frameFormat === 'jpeg' ? 'jpg' : 'png',
    });
  }
  return out;
}

/** An archive entry's frame file name, or null when the entry kept none. */
export function frameFile(e: Pick<ArchiveEntry, 'frameFormat'>): string | null {
  return e.frameFormat === 'png' ? FILES.framePng : e.frameFormat === 'jpeg' ? FILES.frameJpeg : null;
}
