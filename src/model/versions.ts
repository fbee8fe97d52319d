// Model versions: a models directory holds one immutable bundle directory per version and a `current`
// symlink naming the active one, so a re-taught model can be published, promoted and rolled back without
// ever leaving a half-written bundle where the daemon loads it.
//
//   <models>/versions/<version>/   manifest.json, students.safetensors, [teacher.safetensors], version.json
//   <models>/current -> versions/<version>    swapped atomically (version-promote.ts)
//   <models>/history.json          promotion stack for rollback, and recent events (version-history.ts)
//   <models>/.staging/             bundles being written (version-publish.ts); never loaded
//
// `model.path` in the config may name a plain bundle (a manifest.json in it, as before) or a models directory
// (no manifest.json, a `versions/` folder): resolveModelPath tells which and where the bundle to load is.
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, readFileSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { z } from 'zod';
import { readManifest, teacherFilePath } from './bundle.js';
import { MANIFEST_FILE, STUDENTS_FILE, type Manifest } from './manifest.js';

export const VERSIONS_DIR = 'versions';
export const CURRENT_LINK = 'current';
export const STAGING_DIR = '.staging';
export const VERSION_FILE = 'version.json';

/** Version names are used as path components and come from CLI arguments and MQTT commands. */
const VERSION_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export class VersionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'VersionError';
  }
}

/** What a caller says about a version it publishes. */
export interface VersionMeta {
  /** The version it was derived from (re-taught from); null for a first or imported one. */
  parent: string | null;
  /** sha256 of every teach-in image's pixels (teach-in's `imageHashes`), when known. */
  teachIn?: { images: string[]; imagesSha256?: string } | null;
  /** What made it: 'train', 'reteach', 'import', … (free text, shown by `model versions`). */
  source?: string;
  note?: string;
}

/** version.json: written once, inside the version's directory, before it is published. */
export interface VersionRecord extends VersionMeta {
  format: 'pinpoint-model-version';
  version: string;
  modelId: string;
  /** ISO 8601. */
  createdAt: string;
}

const recordSchema = z.looseObject({
  format: z.literal('pinpoint-model-version'),
  version: z.string().regex(VERSION_NAME),
  modelId: z.string().min(1),
  createdAt: z.iso.datetime(),
  parent: z.string().nullable(),
  teachIn: z
    .looseObject({ images: z.array(z.string()), imagesSha256: z.string().optional() })
    .nullable()
    .optional(),
  source: z.string().optional(),
  note: z.string().optional(),
});

/** A version name a user or a command passed, checked before it becomes part of a path. */
export function checkVersionName(v: string): string {
  if (!VERSION_NAME.test(v) || v.includes('..'))
    throw new VersionError(`'${v}' is not a version name (letters, digits, '.', '_', '-')`);
  return v;
}

/** True when `dir` is a models directory rather than a plain bundle. */
export function isModelsDir(dir: string): boolean {
  const abs = resolve(dir);
  if (existsSync(join(abs, MANIFEST_FILE))) return false;
  return existsSync(join(abs, VERSIONS_DIR)) || isSymlink(join(abs, CURRENT_LINK));
}

export function versionDir(modelsDir: string, version: string): string {
  return join(resolve(modelsDir), VERSIONS_DIR, checkVersionName(version));
}

/** The version `current` names, or null when it is missing or not a link into versions/. */
export function currentVersion(modelsDir: string): string | null {
  const link = join(resolve(modelsDir), CURRENT_LINK);
  if (!isSymlink(link)) return null;
  const target = readlinkSync(link);
  const name = basename(target);
  return VERSION_NAME.test(name) && target === `${VERSIONS_DIR}/${name}` ? name : null;
}

/** Version directory names, oldest first (names start with their creation time). */
export function versionNames(modelsDir: string): string[] {
  const dir = join(resolve(modelsDir), VERSIONS_DIR);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((n) => VERSION_NAME.test(n) && statSync(join(dir, n)).isDirectory())
    .sort();
}

/** version.json of a version, validated. */
export function readVersionRecord(dir: string): VersionRecord {
  const file = join(dir, VERSION_FILE);
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new VersionError(`${file}: cannot be read (${(e as Error).message})`);
  }
  const r = recordSchema.safeParse(json);
  if (!r.success) throw new VersionError(`${file}: not a version record (${r.error.issues[0].message})`);
  return r.data as VersionRecord;
}

/**
 * Why a version directory cannot be loaded, or undefined when it is complete: its record and manifest parse,
 * the students' bytes match the manifest's sha256 and the teacher file is there (the teacher's own hash is
 * checked when the model loads; it is large and shared by every version).
 */
export function versionProblem(dir: string): string | undefined {
  try {
    readVersionRecord(dir);
    return bundleProblem(dir);
  } catch (e) {
    return (e as Error).message;
  }
}

/** Why a bundle directory is incomplete (manifest, students' hash, teacher present), or undefined. */
export function bundleProblem(dir: string): string | undefined {
  let m: Manifest;
  try {
    m = readManifest(dir);
  } catch (e) {
    return (e as Error).message;
  }
  const students = join(dir, STUDENTS_FILE);
  if (!existsSync(students)) return `${students} is missing`;
  const sha = createHash('sha256').update(readFileSync(students)).digest('hex');
  if (sha !== m.students.sha256)
    return `${students} does not match its manifest (sha256 ${sha.slice(0, 12)}…)`;
  const teacher = teacherFilePath(dir, m);
  if (!existsSync(teacher)) return `the teacher weights ${teacher} are missing`;
  return undefined;
}

/** Where `model.path` leads: a plain bundle, or a models directory and the version `current` names. */
export type ModelPath =
  | { kind: 'bundle'; bundleDir: string }
  | { kind: 'models'; modelsDir: string; version: string | null; bundleDir: string | null };

/** Read-only: the bundle a config's model.path names (recovery, which may write, is recoverModelsDir). */
export function resolveModelPath(path: string): ModelPath {
  const abs = resolve(path);
  if (!isModelsDir(abs)) return { kind: 'bundle', bundleDir: abs };
  const version = currentVersion(abs);
  return {
    kind: 'models',
    modelsDir: abs,
    version,
    bundleDir: version ? join(abs, VERSIONS_DIR, version) : null,
  };
}

function isSymlink(p: string): boolean {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}
