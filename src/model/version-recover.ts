// Start-up repair of a models directory: whatever a crash or a hand edit left, the daemon starts on the last
// complete version and says so. A `current` that is missing, dangling or names an incomplete version is
// re-pointed at the newest complete version on the promotion stack (else the newest complete one of all);
// staging leftovers of processes that are gone are removed. Nothing is done to a directory that is fine.
import { readdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Logger } from '../util/log.js';
import { replaceSymlink } from '../util/durable-fs.js';
import { event, readHistory, reconcileStack, writeHistory } from './version-history.js';
import {
  CURRENT_LINK,
  STAGING_DIR,
  VERSIONS_DIR,
  VersionError,
  currentVersion,
  versionDir,
  versionNames,
  versionProblem,
} from './versions.js';

export interface Recovery {
  version: string;
  /** What was repaired, when something was. */
  repaired?: string;
  /** Staging directories of dead writers removed. */
  removedStaging: number;
}

/** The version to start on: `current` when complete, else the newest complete one (stack first). */
export function chooseStartVersion(modelsDir: string): { version: string; problem?: string } {
  const abs = resolve(modelsDir);
  const cur = currentVersion(abs);
  const problem = cur
    ? versionProblem(versionDir(abs, cur))
    : `${join(abs, CURRENT_LINK)} is missing or dangling`;
  if (cur && !problem) return { version: cur };
  const stack = reconcileStack(readHistory(abs).stack, null);
  const candidates = [...stack.reverse(), ...versionNames(abs).reverse()].filter((v) => v !== cur);
  for (const v of candidates) {
    if (versionNames(abs).includes(v) && !versionProblem(versionDir(abs, v))) return { version: v, problem };
  }
  throw new VersionError(`${abs}: no complete model version to start on (${problem ?? 'no versions'})`);
}

/** Repairs `current` when needed (logged at warn) and clears dead staging directories. */
export function recoverModelsDir(modelsDir: string, log?: Logger): Recovery {
  const abs = resolve(modelsDir);
  const removedStaging = clearDeadStaging(abs, log);
  const { version, problem } = chooseStartVersion(abs);
  if (!problem) return { version, removedStaging };
  const from = currentVersion(abs);
  const h = readHistory(abs);
  writeHistory(abs, {
    stack: reconcileStack(h.stack, version),
    events: [...h.events, event('recover', version, from, problem)],
  });
  replaceSymlink(join(abs, CURRENT_LINK), `${VERSIONS_DIR}/${version}`);
  const repaired = `current was unusable (${problem}); now ${version}`;
  log?.warn(
    { modelsDir: abs, version, was: from, problem },
    'model versions repaired: starting on the last complete version',
  );
  return { version, repaired, removedStaging };
}

/** Removes .staging/<label>-<pid>-<hex> directories whose process is no longer alive. */
function clearDeadStaging(abs: string, log?: Logger): number {
  let removed = 0;
  let names: string[];
  try {
    names = readdirSync(join(abs, STAGING_DIR));
  } catch {
    return 0;
  }
  for (const n of names) {
    const pid = Number(/-(\d+)-[0-9a-f]{8}$/.exec(n)?.[1]);
    if (Number.isInteger(pid) && pid > 0 && alive(pid)) continue;
    rmSync(join(abs, STAGING_DIR, n), { recursive: true, force: true });
    removed++;
  }
  if (removed > 0) log?.info({ modelsDir: abs, removed }, 'removed unfinished model staging directories');
  return removed;
}

function alive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
