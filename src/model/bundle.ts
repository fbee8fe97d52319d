// Model bundles: a directory holding manifest.json, students.safetensors and the teacher weights (or an
// absolute reference to them). Loading verifies every file against the manifest's sha256, so a swapped,
// truncated or edited file is an error naming it, never silently different scores.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import type { StudentWeights, TeacherArch, TeacherWeights } from './types.js';
import { IMAGENET_MEAN, IMAGENET_STD } from './types.js';
import {
  computeModelId,
  DEFAULT_RESIZE_MODE,
  FORMAT_VERSION,
  MANIFEST_FILE,
  ManifestError,
  parseManifest,
  STUDENTS_FILE,
  type Manifest,
  type ResizeMode,
} from './manifest.js';
import { encodeSafetensors, parseSafetensors } from './safetensors.js';
import { teacherFromTensors, WeightsError } from './teacher-weights.js';
import { initStudents, studentsFromTensors, studentsToTensors } from './students.js';
import { DEFAULT_LAYERS } from './anomaly-graph.js';
import { writeFileAtomic } from '../util/atomic-file.js';
import { writeFileDurable } from '../util/durable-fs.js';
import { completePendingSave, saveJournaled } from './bundle-journal.js';
import { resolveCacheDir } from '../util/cache-dir.js';
import { FileHashCache } from '../util/file-hash-cache.js';

/** Name of the teacher copy inside a bundle built with copyTeacher. */
export const TEACHER_COPY_FILE = 'teacher.safetensors';
export const DEFAULT_SIZE = 1036;

export interface Bundle {
  /** Absolute path of the bundle directory. */
  dir: string;
  manifest: Manifest;
  teacher: TeacherWeights;
  students: StudentWeights;
  /** Absolute path of the teacher weights file. */
  teacherPath: string;
}

export class BundleError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BundleError';
  }
}

export interface CreateBundleOptions {
  teacherPath: string;
  outDir: string;
  /** Model input side S (default 1036), a multiple of the patch size. */
  size?: number;
  /** 1-based feature blocks (default [8, 12]). */
  layers?: [number, number];
  /** Student initialisation seed (default 0). */
  seed?: number;
  /** Copy the teacher into the bundle (self-contained) instead of referencing it by absolute path. */
  copyTeacher?: boolean;
  /** Attention heads, when neither the file's metadata nor width/64 gives them. */
  heads?: number;
  /** Replace an existing bundle in outDir (its students and thresholds are lost). */
  force?: boolean;
  /** How frames are resized for this bundle, at teach-in and inference (default 'fast'). */
  resize?: ResizeMode;
}

export function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

function readFile(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new BundleError(
      code === 'ENOENT'
        ? `${what} ${path} does not exist`
        : `${what} ${path} cannot be read (${(e as Error).message})`,
    );
  }
}

/** Parse a teacher file already in memory; heads from opts, else the file's metadata, else dim/64. */
function parseTeacher(
  buf: Uint8Array,
  path: string,
  opts: { heads?: number; lnEps?: number },
): { weights: TeacherWeights; layout: 'huggingface' | 'official'; devTeacher: boolean } {
  const { tensors, metadata } = parseSafetensors(buf, path);
  const metaHeads = metadata['pinpoint.heads'] !== undefined ? Number(metadata['pinpoint.heads']) : undefined;
  try {
    const r = teacherFromTensors(tensors, { ...opts, heads: opts.heads ?? metaHeads });
    return { ...r, devTeacher: metadata['pinpoint.dev_teacher'] === 'true' };
  } catch (e) {
    if (e instanceof WeightsError) throw new WeightsError(`${path}: teacher weights`, e.problems);
    throw e;
  }
}

function checkGeometry(arch: TeacherArch, size: number, layers: [number, number]): void {
  if (!Number.isInteger(size) || size < arch.patch || size % arch.patch !== 0) {
    throw new BundleError(`input size ${size} is not a positive multiple of the patch size ${arch.patch}`);
  }
  const [a, b] = layers;
  if (!Number.isInteger(a) || !Number.isInteger(b) || a < 1 || a >= b || b > arch.depth) {
    throw new BundleError(`layers ${a},${b}: need 1 ≤ a < b ≤ ${arch.depth} (the teacher's depth)`);
  }
}

/** The manifest's file text, checked: a bug here must not leave an unloadable bundle behind. */
function manifestText(dir: string, m: Manifest): string {
  parseManifest(JSON.parse(JSON.stringify(m)), join(dir, MANIFEST_FILE));
  return JSON.stringify(m, null, 2) + '\n';
}

function writeManifest(dir: string, m: Manifest): void {
  writeFileDurable(join(dir, MANIFEST_FILE), manifestText(dir, m));
}

/** A new bundle with freshly initialised (seeded) students. Returns its manifest. */
export function createBundle(opts: CreateBundleOptions): Manifest {
  const teacherPath = resolve(opts.teacherPath);
  const outDir = resolve(opts.outDir);
  if (existsSync(join(outDir, MANIFEST_FILE)) && !opts.force) {
    throw new BundleError(
      `${outDir} already holds a model bundle; refusing to overwrite it (--force replaces it; its training is lost)`,
    );
  }
  const buf = readFile(teacherPath, 'teacher weights');
  const teacher = parseTeacher(buf, teacherPath, { heads: opts.heads });
  const arch = teacher.weights.arch;
  const size = opts.size ?? DEFAULT_SIZE;
  const layers: [number, number] = opts.layers ?? [DEFAULT_LAYERS[0], DEFAULT_LAYERS[1]];
  checkGeometry(arch, size, layers);
  const seed = opts.seed ?? 0;
  if (!Number.isInteger(seed)) throw new BundleError(`seed must be an integer, got ${seed}`);

  mkdirSync(outDir, { recursive: true });
  const teacherSha = sha256(buf);
  let manifestTeacherPath = teacherPath;
  if (opts.copyTeacher) {
    writeFileAtomic(join(outDir, TEACHER_COPY_FILE), buf);
    manifestTeacherPath = TEACHER_COPY_FILE;
  }
  const studentsBytes = encodeSafetensors(studentsToTensors(initStudents(arch.dim, seed)));
  const studentsSha = sha256(studentsBytes);
  const manifest: Manifest = {
    format: 'pinpoint-bundle',
    formatVersion: FORMAT_VERSION,
    modelId: computeModelId(teacherSha, studentsSha, size, layers),
    createdAt: new Date().toISOString(),
    teacher: {
      path: manifestTeacherPath,
      sha256: teacherSha,
      layout: teacher.layout,
      arch: { ...arch },
      devTeacher: teacher.devTeacher,
    },
    input: {
      size,
      mean: [...IMAGENET_MEAN],
      std: [...IMAGENET_STD],
      resize: opts.resize ?? DEFAULT_RESIZE_MODE,
    },
    layers,
    students: { file: STUDENTS_FILE, sha256: studentsSha, seed, hidden: arch.dim },
  };
  // Over an existing bundle (--force), through the journal: never its old manifest with the new students.
  saveJournaled(outDir, studentsBytes, manifestText(outDir, manifest));
  return manifest;
}

/** manifest.json of a bundle, validated, without touching the weights. */
export function readManifest(dir: string): Manifest {
  const file = join(resolve(dir), MANIFEST_FILE);
  completePendingSave(resolve(dir)); // a save a crash interrupted after its students were renamed
  if (!existsSync(file)) throw new BundleError(`${resolve(dir)} is not a model bundle (no ${MANIFEST_FILE})`);
  const text = readFile(file, 'manifest').toString('utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ManifestError(`${file}: not valid JSON (${(e as Error).message})`);
  }
  return parseManifest(json, file);
}

/** Absolute path of the teacher file a manifest refers to. */
export function teacherFilePath(dir: string, m: Manifest): string {
  return isAbsolute(m.teacher.path) ? m.teacher.path : resolve(dir, m.teacher.path);
}

function checkStudents(s: StudentWeights, dim: number, hidden: number, what: string): void {
  for (const which of ['forward', 'backward'] as const) {
    const [l0, l1, l2] = s[which].layers;
    if (
      l0.inFeatures !== dim ||
      l2.outFeatures !== dim ||
      l0.outFeatures !== hidden ||
      l1.outFeatures !== hidden
    ) {
      throw new BundleError(
        `${what}: ${which} student is ${l0.inFeatures}→${l0.outFeatures}→${l1.outFeatures}→${l2.outFeatures}, ` +
          `the teacher needs ${dim}→${hidden}→${hidden}→${dim}`,
      );
    }
  }
}

/**
 * Load and verify a bundle: the manifest, the teacher (sha256 and architecture against the manifest) and
 * the students (sha256 and shapes against the teacher's width).
 */
export function loadBundle(dir: string, opts: { cacheDir?: string } = {}): Bundle {
  const abs = resolve(dir);
  const manifest = readManifest(abs);
  const teacherPath = teacherFilePath(abs, manifest);
  const hashes = new FileHashCache(resolveCacheDir(abs, opts.cacheDir));
  const what = `teacher weights referenced by ${join(abs, MANIFEST_FILE)}:`;
  let tbytes = verifiedFile(
    hashes,
    teacherPath,
    what,
    manifest.teacher.sha256,
    (got) =>
      `${teacherPath}: teacher weights differ from the ones the bundle ${abs} was built with ` +
      `(sha256 ${got}, manifest says ${manifest.teacher.sha256}); rebuild the bundle or restore the file`,
  );
  // Parsed when first used, so a start with a cached model graph never reads the teacher. Its bytes are
  // the ones the manifest's hash (and architecture, recorded from them at build time) vouch for.
  let teacher: TeacherWeights | undefined;
  const teacherWeights = (): TeacherWeights => {
    if (teacher) return teacher;
    const buf = tbytes ?? verifiedBytes(hashes, teacherPath, what, manifest.teacher.sha256);
    teacher = parsedTeacher(buf, teacherPath, manifest.teacher.arch);
    tbytes = undefined;
    return teacher;
  };
  if (tbytes) teacherWeights(); // read anyway (hashed): parse it now rather than read it twice

  const studentsPath = join(abs, STUDENTS_FILE);
  const sbuf = readFile(studentsPath, 'student weights');
  const ssha = sha256(sbuf);
  if (ssha !== manifest.students.sha256) {
    throw new BundleError(
      `${studentsPath}: student weights do not match the manifest (sha256 ${ssha}, manifest says ` +
        `${manifest.students.sha256}); the file is corrupt or was replaced outside pinpoint`,
    );
  }
  let students: StudentWeights;
  try {
    students = studentsFromTensors(parseSafetensors(sbuf, studentsPath).tensors);
  } catch (e) {
    if (e instanceof WeightsError) throw new WeightsError(`${studentsPath}: student weights`, e.problems);
    throw e;
  }
  checkStudents(students, manifest.teacher.arch.dim, manifest.students.hidden, studentsPath);
  return {
    dir: abs,
    manifest,
    get teacher() {
      return teacherWeights();
    },
    students,
    teacherPath,
  };
}

/** The file's sha256 checked against the manifest's (from the hash cache when the file is unchanged);
 * its bytes when it had to be read for that. */
function verifiedFile(
  hashes: FileHashCache,
  path: string,
  what: string,
  want: string,
  mismatch: (got: string) => string,
): Buffer | undefined {
  let h;
  try {
    h = hashes.sha256(path);
  } catch (e) {
    readFile(path, what); // throws the error naming the file
    throw e;
  }
  if (h.sha256 !== want) throw new BundleError(mismatch(h.sha256));
  return h.bytes;
}

/** The bytes of a file the cache vouched for, hashed again if it changed since. */
function verifiedBytes(hashes: FileHashCache, path: string, what: string, want: string): Buffer {
  const bytes = readFile(path, what);
  const h = hashes.sha256(path);
  if (h.sha256 !== want) throw new BundleError(`${path}: ${what} changed after the bundle was loaded`);
  return h.bytes ?? bytes;
}

/** Parses the teacher and checks its architecture against the manifest's. */
function parsedTeacher(buf: Uint8Array, teacherPath: string, arch: TeacherArch): TeacherWeights {
  const teacher = parseTeacher(buf, teacherPath, { heads: arch.heads, lnEps: arch.lnEps });
  const mismatched = (Object.keys(arch) as (keyof TeacherArch)[]).filter(
    (k) => teacher.weights.arch[k] !== arch[k],
  );
  if (mismatched.length > 0) {
    throw new BundleError(
      `${teacherPath}: architecture differs from the manifest: ` +
        mismatched.map((k) => `${k} ${teacher.weights.arch[k]} vs ${arch[k]}`).join(', '),
    );
  }
  return teacher.weights;
}

/**
 * Replace the bundle's students and manifest together (bundle-journal.ts: a crash leaves the old pair or the
 * new one), recompute their sha256 and the modelId, and merge `patch` into the manifest. Training info and thresholds describe particular
 * students: when the student bytes change, the old ones are dropped unless `patch` supplies new ones.
 */
export function saveStudents(
  dir: string,
  students: StudentWeights,
  patch: {
    training?: Manifest['training'];
    thresholds?: Manifest['thresholds'];
    /** The tiling the students were taught with (null: none); absent: unchanged. */
    tiling?: { scale: number; overlap: number } | null;
  },
): Manifest {
  const abs = resolve(dir);
  const old = readManifest(abs);
  checkStudents(students, old.teacher.arch.dim, old.students.hidden, 'saveStudents');
  const bytes = encodeSafetensors(studentsToTensors(students));
  const sha = sha256(bytes);
  const same = sha === old.students.sha256;
  const m: Manifest = {
    ...old,
    modelId: computeModelId(old.teacher.sha256, sha, old.input.size, old.layers),
    students: { ...old.students, sha256: sha },
  };
  delete m.training;
  delete m.thresholds;
  const training = patch.training ?? (same ? old.training : undefined);
  const thresholds = patch.thresholds ?? (same ? old.thresholds : undefined);
  if (training) m.training = training;
  if (thresholds) m.thresholds = thresholds;
  if (patch.tiling !== undefined) {
    const { tiling: _old, ...input } = m.input;
    m.input = patch.tiling ? { ...input, tiling: patch.tiling } : input;
  }
  if (same) writeManifest(abs, m);
  else saveJournaled(abs, bytes, manifestText(abs, m));
  return m;
}
