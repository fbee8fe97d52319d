// Tiny real bundles for the model-version tests: a small dev teacher and bundles whose students differ by
// seed (so each has its own model id), with thresholds written the way teach-in writes them.
import { join } from 'node:path';
import { createBundle, loadBundle, saveStudents } from '../../src/model/bundle.js';
import { writeDevTeacher } from '../../src/model/dev-teacher.js';
import type { Manifest } from '../../src/model/manifest.js';

export const TINY_TEACHER = { depth: 2, dim: 16, heads: 2, registers: 4, posGrid: 4, seed: 3 };

export function tinyTeacher(dir: string): string {
  const path = join(dir, 'teacher.safetensors');
  writeDevTeacher(path, TINY_TEACHER);
  return path;
}

/** A bundle with seeded students and thresholds (so it can be promoted and run without config thresholds). */
export function tinyBundle(
  teacherPath: string,
  outDir: string,
  seed: number,
  opts: { size?: number; reject?: number } = {},
): Manifest {
  createBundle({ teacherPath, outDir, size: opts.size ?? 56, layers: [1, 2], seed, force: true });
  const b = loadBundle(outDir);
  return saveStudents(outDir, b.students, {
    thresholds: { reject: opts.reject ?? 1e9, pixel: 1e9, rule: 'test', precision: 'fp32' },
  });
}
