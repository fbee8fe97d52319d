// Replacing a plain bundle's students and manifest so that a crash leaves the old pair or the new pair, never
// old thresholds with new students. Two files cannot be renamed at once, so the new ones are written next to
// the old ones first (the journal), then renamed in a fixed order, and a reader finishes a save that a crash
// interrupted after its first rename:
//
//   1. students.next.safetensors and manifest.next.json written and fsynced   crash: old pair + leftovers
//   2. students.next.safetensors → students.safetensors                        crash: rolled forward on read
//   3. manifest.next.json → manifest.json                                      done
//
// A reader that finds manifest.next.json without students.next.safetensors (after step 2) checks that the
// students on disk are the ones manifest.next.json describes and renames it into place. Leftovers of a crash
// in step 1 are ignored by readers and removed by the next save. A models directory never needs this: its
// versions are published whole (version-publish.ts).
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fsyncPath, writeFileSynced } from '../util/durable-fs.js';
import { MANIFEST_FILE, STUDENTS_FILE } from './manifest.js';

export const NEXT_STUDENTS = 'students.next.safetensors';
export const NEXT_MANIFEST = 'manifest.next.json';

/** Writes new students and their manifest into the bundle `dir` through the journal above. */
export function saveJournaled(dir: string, students: Uint8Array, manifestText: string): void {
  rmSync(join(dir, NEXT_STUDENTS), { force: true });
  rmSync(join(dir, NEXT_MANIFEST), { force: true });
  writeFileSynced(join(dir, NEXT_STUDENTS), students);
  writeFileSynced(join(dir, NEXT_MANIFEST), manifestText);
  fsyncPath(dir, true);
  renameSync(join(dir, NEXT_STUDENTS), join(dir, STUDENTS_FILE));
  fsyncPath(dir, true);
  completePendingSave(dir);
}

/**
 * Finishes a save interrupted between its two renames (step 3 above); a no-op otherwise. Returns true when it
 * renamed the manifest. Safe against a writer finishing the same save at the same moment.
 */
export function completePendingSave(dir: string): boolean {
  const next = join(dir, NEXT_MANIFEST);
  if (!existsSync(next) || existsSync(join(dir, NEXT_STUDENTS))) return false;
  let want: unknown;
  try {
    want = (JSON.parse(readFileSync(next, 'utf8')) as { students?: { sha256?: unknown } }).students?.sha256;
  } catch {
    return false;
  }
  let got: string;
  try {
    got = createHash('sha256')
      .update(readFileSync(join(dir, STUDENTS_FILE)))
      .digest('hex');
  } catch {
    return false;
  }
  if (got !== want) return false;
  try {
    renameSync(next, join(dir, MANIFEST_FILE));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false; // the writer did it first
    throw e;
  }
  fsyncPath(dir, true);
  return true;
}
