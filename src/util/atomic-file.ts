// Atomic file replacement: readers see the old file or the new one, never a half-written one
// (a crash or a full disk mid-write leaves only a stray temporary file behind).
import { randomBytes } from 'node:crypto';
import { renameSync, rmSync, writeFileSync } from 'node:fs';

export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  // Same directory as the target, so the rename stays on one filesystem (rename is atomic only there).
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    writeFileSync(tmp, data);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}
