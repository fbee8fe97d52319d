// Publishing a version: the bundle's files are copied (the teacher copy hard-linked) into a fresh directory
// under <models>/.staging on the same file system, every file and the directory fsynced, version.json written
// last, and only then is the directory renamed into versions/. rename(2) is atomic, so a crash or kill -9 at
// any point leaves either no new version or a complete one; leftovers in .staging are removed at the next
// start (recoverModelsDir). A published version is never written again.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { copySynced, fsyncPath, linkOrCopySynced, writeFileSynced } from '../util/durable-fs.js';
import { readManifest } from './bundle.js';
import { MANIFEST_FILE, STUDENTS_FILE } from './manifest.js';
import { event, readHistory, writeHistory } from './version-history.js';
import { promoteVersion } from './version-promote.js';
import {
  STAGING_DIR,
  VERSIONS_DIR,
  VERSION_FILE,
  VersionError,
  bundleProblem,
  versionNames,
  type VersionMeta,
  type VersionRecord,
} from './versions.js';

/** Creates the models directory's folders (idempotent). */
export function initModelsDir(modelsDir: string): string {
  const abs = resolve(modelsDir);
  mkdirSync(join(abs, VERSIONS_DIR), { recursive: true });
  mkdirSync(join(abs, STAGING_DIR), { recursive: true });
  return abs;
}

/**
 * A new empty directory under <models>/.staging (same file system as versions/), named for this process so
 * a later start can tell a dead writer's leftovers from a live one's work. `label` must be a plain name.
 */
export function createStaging(modelsDir: string, label = 'stage'): string {
  const abs = initModelsDir(modelsDir);
  const dir = join(abs, STAGING_DIR, `${label}-${process.pid}-${randomBytes(4).toString('hex')}`);
  mkdirSync(dir);
  return dir;
}

/**
 * Copies a bundle's own files (manifest, students, a teacher copy) into `to`: a working copy to re-teach
 * in, or the content of a version. Caches, checkpoints and anything else in the bundle stay behind.
 */
export function copyBundleFiles(from: string, to: string): void {
  const m = readManifest(from);
  copySynced(join(from, MANIFEST_FILE), join(to, MANIFEST_FILE));
  copySynced(join(from, STUDENTS_FILE), join(to, STUDENTS_FILE));
  if (!isAbsolute(m.teacher.path)) {
    if (m.teacher.path.includes('..') || m.teacher.path.includes('/'))
      throw new VersionError(`${from}: the manifest's teacher path ${m.teacher.path} leaves the bundle`);
    linkOrCopySynced(join(from, m.teacher.path), join(to, m.teacher.path));
  }
}

/** `<UTC yyyymmdd-hhmmss>-<model id>`, with a counter when that name is taken: sorts by creation time. */
export function newVersionName(modelsDir: string, modelId: string, now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  const base = `${stamp}-${modelId}`;
  const taken = new Set(versionNames(modelsDir));
  let name = base;
  for (let i = 2; taken.has(name); i++) name = `${base}-${i}`;
  return name;
}

export interface PublishOptions {
  /** Make it current right away (default false: `model promote` or the daemon's command does). */
  promote?: boolean;
  /** The version name (default newVersionName). */
  version?: string;
}

/**
 * Publishes the complete bundle in `stagedDir` (any directory; it is copied, not moved, and left to the
 * caller) as a new immutable version of `modelsDir`. Refused before anything is written when the bundle is
 * incomplete (its students do not match its manifest, the teacher is missing).
 */
export function publishVersion(
  modelsDir: string,
  stagedDir: string,
  meta: VersionMeta,
  opts: PublishOptions = {},
): VersionRecord {
  const abs = initModelsDir(modelsDir);
  const problem = bundleProblem(resolve(stagedDir));
  if (problem) throw new VersionError(`cannot publish ${resolve(stagedDir)}: ${problem}`);
  const m = readManifest(stagedDir);
  const name = opts.version ?? newVersionName(abs, m.modelId);
  const target = join(abs, VERSIONS_DIR, name);
  if (existsSync(target)) throw new VersionError(`version ${name} already exists in ${abs}`);
  const record: VersionRecord = {
    format: 'pinpoint-model-version',
    version: name,
    modelId: m.modelId,
    createdAt: new Date().toISOString(),
    parent: meta.parent,
    teachIn: meta.teachIn ?? null,
    ...(meta.source ? { source: meta.source } : {}),
    ...(meta.note ? { note: meta.note } : {}),
  };
  const tmp = createStaging(abs, 'publish');
  try {
    copyBundleFiles(resolve(stagedDir), tmp);
    writeFileSynced(join(tmp, VERSION_FILE), JSON.stringify(record, null, 2) + '\n');
    fsyncPath(tmp, true);
    renameSync(tmp, target);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  fsyncPath(join(abs, VERSIONS_DIR), true);
  const h = readHistory(abs);
  writeHistory(abs, { ...h, events: [...h.events, event('publish', name, meta.parent)] });
  if (opts.promote) promoteVersion(abs, name);
  return record;
}
