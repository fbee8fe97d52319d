// The candidate bundle's directory before teach-in writes its students: a loadable copy of the parent (manifest,
// students, the teacher hard-linked when the parent holds a copy, the parent's graph cache hard-linked), plus the
// archived frames of its set copied into `teach-set/`, because the archive trims old parts and the candidate must
// stay re-teachable after they are gone. Written into a new directory only: a half-staged candidate is never a
// bundle anyone loads, and the caller removes it on failure.
import { copyFileSync, existsSync, linkSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import type { Manifest } from '../model/manifest.js';
import { MANIFEST_FILE, STUDENTS_FILE } from '../model/manifest.js';
import { writeFileAtomic } from '../util/atomic-file.js';
import type { SetImage } from './reteach-set.js';
import type { TeachInSetEntry, TeachInSetRecord } from './teach-in-set.js';

/** Copies of archived (and earlier re-teach) frames inside a bundle. */
export const TEACH_SET_DIR = 'teach-set';

export class StageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StageError';
  }
}

/** Creates outDir (new or empty) as a loadable copy of the parent; returns the candidate's teach-in set. */
export function stageCandidate(
  parentDir: string,
  manifest: Manifest,
  outDir: string,
  images: readonly SetImage[],
): TeachInSetRecord {
  const out = resolve(outDir);
  assertFreshDir(out);
  mkdirSync(out, { recursive: true });
  copyFileSync(join(parentDir, STUDENTS_FILE), join(out, STUDENTS_FILE));
  if (!isAbsolute(manifest.teacher.path)) {
    const to = join(out, manifest.teacher.path);
    mkdirSync(dirname(to), { recursive: true });
    linkOrCopy(join(parentDir, manifest.teacher.path), to);
  }
  linkCache(join(parentDir, '.cache'), join(out, '.cache'));
  const set = { version: 1 as const, images: images.map((img) => keepInBundle(out, img)) };
  // Last: until the manifest is there the directory is not a bundle.
  writeFileAtomic(join(out, MANIFEST_FILE), JSON.stringify(manifest, null, 2) + '\n');
  return set;
}

/** A candidate is staged in a new (or empty) directory only: nothing of anyone else's is overwritten. */
export function assertFreshDir(dir: string): void {
  if (existsSync(dir) && readdirSync(dir).length > 0) {
    throw new StageError(`${dir} is not empty: a candidate is staged in a new directory only`);
  }
}

/** The set entry for an image; files that are not the user's own teach-in folder are copied in. */
function keepInBundle(out: string, img: SetImage): TeachInSetEntry {
  if (img.recorded && isAbsolute(img.recorded.path)) return img.recorded;
  const ext = img.frameExt ?? (img.file.toLowerCase().endsWith('.jpg') ? 'jpg' : 'png');
  const rel = join(TEACH_SET_DIR, `${img.source}-${img.sha256.slice(0, 16)}.${ext}`);
  mkdirSync(join(out, TEACH_SET_DIR), { recursive: true });
  linkOrCopy(img.file, join(out, rel));
  const e: TeachInSetEntry = { path: rel, sha256: img.sha256, source: img.source };
  if (img.partId !== undefined) e.partId = img.partId;
  if (img.archiveKey !== undefined) e.archiveKey = img.archiveKey;
  return e;
}

/**
 * A hard link when both sides share a filesystem, else a copy. Safe because neither bundles nor the archive
 * write a file in place (they replace by rename and delete by unlink, which leaves the other name intact).
 */
function linkOrCopy(from: string, to: string): void {
  try {
    linkSync(from, to);
  } catch {
    copyFileSync(from, to); // another filesystem, or links not allowed
  }
}

/** The parent's built graphs (keyed by content hashes, so valid for any bundle), linked when possible. */
function linkCache(from: string, to: string): void {
  if (!existsSync(from)) return;
  mkdirSync(to, { recursive: true });
  for (const name of readdirSync(from)) {
    const f = join(from, name);
    try {
      if (statSync(f).isFile()) linkSync(f, join(to, name));
    } catch {
      // A cache is only a speed-up: skip what cannot be linked.
    }
  }
}
