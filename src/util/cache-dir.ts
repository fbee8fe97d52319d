// Where pinpoint keeps what it can rebuild (model graphs, file hashes): next to the bundle when it is
// writable, else the user's cache directory; nowhere when neither is (then everything is recomputed).
import { accessSync, constants, mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

function isWritableDir(dir: string): boolean {
  try {
    mkdirSync(dir, { recursive: true });
    accessSync(dir, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** `explicit` if writable; else `<bundle>/.cache` when the bundle is writable, else `$XDG_CACHE_HOME/pinpoint`. */
export function resolveCacheDir(bundleDir: string, explicit?: string): string | undefined {
  if (explicit) return isWritableDir(explicit) ? explicit : undefined;
  const local = join(bundleDir, '.cache');
  if (isWritableDir(local)) return local;
  const xdg = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  const user = join(xdg, 'pinpoint');
  return isWritableDir(user) ? user : undefined;
}
