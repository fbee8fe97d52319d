// The running daemon's hand on its model versions: swap to a version of the models directory (for the MQTT
// commands and the console: requestSwap, rollback), and follow `current` when `pinpoint model promote` or
// `rollback` re-points it from a shell (a cheap poll of one symlink). A swap that fails leaves the running
// model and `current` as they were; one that succeeds is recorded on disk (promoted), so a restart comes back
// on the same version. With a plain bundle as model.path there are no versions: requests are refused.
import type { Logger } from '../util/log.js';
import type { ModelSlot } from '../pipeline/model-slot.js';
import type { ModelSwapper, SwapOutcome } from '../pipeline/model-swap.js';
import { promoteVersion, rollbackTarget } from '../model/version-promote.js';
import { checkVersionName, currentVersion, versionDir } from '../model/versions.js';

const PLAIN_BUNDLE = 'model.path is a plain bundle: versions need a models directory';

/** How often `current` is read for changes made outside the daemon. */
export const CURRENT_POLL_MS = 1000;

export interface ModelControl {
  /** The models directory, or null when model.path is a plain bundle. */
  readonly modelsDir: string | null;
  /** The version in force (null with a plain bundle). */
  readonly version: string | null;
  /** Load `version`, swap it in between two batches, then make it `current` on disk. */
  requestSwap(version: string): Promise<SwapOutcome>;
  /** Swap back to the version that was current before this one (the promotion history). */
  rollback(): Promise<SwapOutcome>;
  /** Stops following `current`. */
  stop(): void;
}

export function createModelControl(
  modelsDir: string | null,
  slot: ModelSlot,
  swapper: ModelSwapper,
  log: Logger,
): ModelControl {
  let seen = modelsDir ? currentVersion(modelsDir) : null;
  const refused = (error: string): SwapOutcome => ({
    ok: false,
    modelId: slot.modelId,
    version: slot.current.version ?? null,
    previousModelId: slot.modelId,
    error,
  });

  const switchTo = async (version: string, action: 'promote' | 'rollback'): Promise<SwapOutcome> => {
    if (!modelsDir) return refused(PLAIN_BUNDLE);
    let dir: string;
    try {
      dir = versionDir(modelsDir, checkVersionName(version));
    } catch (e) {
      return refused((e as Error).message);
    }
    const r = await swapper.swapTo(dir, version);
    if (!r.ok || currentVersion(modelsDir) === version) return r;
    try {
      promoteVersion(modelsDir, version, action);
      seen = version;
    } catch (e) {
      log.error(
        { version, err: (e as Error).message },
        'swapped, but `current` could not be updated on disk',
      );
      return { ...r, error: `running ${version}, but current was not updated: ${(e as Error).message}` };
    }
    return r;
  };

  const follow = (): void => {
    if (!modelsDir) return;
    let v: string | null;
    try {
      v = currentVersion(modelsDir);
    } catch {
      return;
    }
    if (v === null || v === seen) return;
    seen = v; // a version that fails to load is not retried every poll; the next change is
    if (v === slot.current.version) return;
    log.info({ version: v }, '`current` changed on disk: swapping');
    void swapper.swapTo(versionDir(modelsDir, v), v);
  };
  const timer = modelsDir ? setInterval(follow, CURRENT_POLL_MS) : undefined;
  timer?.unref();

  return {
    modelsDir,
    get version() {
      return slot.current.version ?? null;
    },
    requestSwap: (version) => switchTo(version, 'promote'),
    rollback: () => {
      if (!modelsDir) return Promise.resolve(refused(PLAIN_BUNDLE));
      const target = rollbackTarget(modelsDir);
      if (!target) return Promise.resolve(refused('no previous version to roll back to'));
      return switchTo(target, 'rollback');
    },
    stop: () => clearInterval(timer),
  };
}
