// Atomic file replacement: readers see the old file or the new one, never a half-written one
// (a crash or a full disk mid-write leaves only a stray temporary file behind).
import { randomBytes } from 'node:crypto';
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { rename, rm, writeFile } from 'node:fs/promises';

/** Same directory as the target, so the rename stays on one filesystem (rename is atomic only there). */
const tempName = (path: string): string => `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;

export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const tmp = tempName(path);
  try {
    writeFileSync(tmp, data);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

/** The same off the event loop; `mode` for a new file (e.g. 0o600 for one only the daemon may read). */
export async function writeFileAtomicAsync(
  path: string,
  data: string | Uint8Array,
  mode?: number,
): Promise<void> {
  const tmp = tempName(path);
  try {
    await writeFile(tmp, data, { mode });
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true }).catch(() => undefined);
    throw e;
  }
}
