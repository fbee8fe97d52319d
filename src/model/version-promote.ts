// Promote and roll back in a models directory: `current` is re-pointed with one atomic rename of a new
// symlink (then the directory is fsynced), so a reader, the daemon or a crash sees the old version or the new
// one, never neither. The history is written before the link: the link is the commit point (version-history.ts).
import { join, resolve } from 'node:path';
import { replaceSymlink } from '../util/durable-fs.js';
import { event, readHistory, reconcileStack, writeHistory } from './version-history.js';
import {
  CURRENT_LINK,
  VERSIONS_DIR,
  VersionError,
  checkVersionName,
  currentVersion,
  versionDir,
  versionProblem,
} from './versions.js';

export interface Promotion {
  from: string | null;
  to: string;
}

/** Makes `version` current. Refused (nothing changes) when it is incomplete or unknown. */
export function promoteVersion(
  modelsDir: string,
  version: string,
  action: 'promote' | 'rollback' = 'promote',
): Promotion {
  const abs = resolve(modelsDir);
  const dir = versionDir(abs, checkVersionName(version));
  const problem = versionProblem(dir);
  if (problem) throw new VersionError(`version ${version} cannot be promoted: ${problem}`);
  const from = currentVersion(abs);
  const h = readHistory(abs);
  const stack = reconcileStack(h.stack, from);
  const next = action === 'rollback' ? stack.slice(0, -1) : [...stack, version];
  if (next[next.length - 1] !== version) next.push(version);
  writeHistory(abs, { stack: next, events: [...h.events, event(action, version, from)] });
  replaceSymlink(join(abs, CURRENT_LINK), `${VERSIONS_DIR}/${version}`);
  return { from, to: version };
}

/** The version rollback would make current: the one current before the current one was promoted. */
export function rollbackTarget(modelsDir: string): string | null {
  const abs = resolve(modelsDir);
  const stack = reconcileStack(readHistory(abs).stack, currentVersion(abs));
  return stack.length >= 2 ? stack[stack.length - 2] : null;
}

/** Back to the previous version (the same operation as a promotion, popping the stack instead of pushing). */
export function rollbackVersion(modelsDir: string): Promotion {
  const target = rollbackTarget(modelsDir);
  if (!target) throw new VersionError(`${resolve(modelsDir)}: no previous version to roll back to`);
  return promoteVersion(modelsDir, target, 'rollback');
}
