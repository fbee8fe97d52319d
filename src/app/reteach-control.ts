// Re-teach in the running daemon (issue 13): one ReteachRunner (a job process at the lowest CPU priority), started
// by MQTT `cmd/teach` or the console. A job re-teaches the version in force on its teach-in set plus the archived
// parts labelled false-reject, and scores both models on the archive (shadow evaluation) with the line's live
// reject threshold and ignore zones. Its candidate is published as a new version of the models directory, NOT
// promoted: an engineer reads the shadow report and promotes it (hot swap, audited), unless `reteach.autoPromote`
// is on and the report says it is safe. Without a models directory or the archive every request is refused
// with the reason; the daemon runs on regardless.
import { rmSync } from 'node:fs';
import { resolve } from 'node:path';
import type { ChangedBy } from '../config/change-source.js';
import type { Config } from '../config/schema.js';
import { createStaging, publishVersion } from '../model/version-publish.js';
import { versionDir } from '../model/versions.js';
import { CommandError } from '../sinks/command-registry.js';
import type { ControlPlane } from '../sinks/control-plane.js';
import { IDLE_RETEACH, type ReteachHandle, type ReteachState } from '../sinks/reteach-view.js';
import type { Polygon } from '../pipeline/anomaly-map.js';
import { reteachRequest } from '../teach/reteach-config.js';
import { ReteachBusyError, ReteachCancelledError, ReteachRunner } from '../teach/reteach-runner.js';
import type { ReteachProgress, ReteachRequest, ReteachResult } from '../teach/reteach-types.js';
import type { Logger } from '../util/log.js';
import type { AuditLog } from './audit-log.js';
import { auditedSwap } from './model-commands.js';
import type { ModelControl } from './model-control.js';

export interface ReteachWiring {
  /** The config in force (a reload may change the `reteach` section and cameras). */
  config: () => Config;
  configDir: string;
  models: ModelControl;
  /** The live verdict settings the shadow side of the model in force uses. */
  settings: ControlPlane['settings'];
  audit: AuditLog;
  log: Logger;
}

export interface ReteachControl extends ReteachHandle {
  /** Cancels a running job and waits for its process to end (daemon shutdown). */
  stop(): Promise<void>;
}

/** Why re-teach cannot run with this config and model path, or null. */
export function reteachUnavailable(config: Config, modelsDir: string | null): string | null {
  if (!modelsDir)
    return 're-teach needs model.path to be a models directory (`pinpoint model init`): its candidate is published as a new version';
  if (!config.archive.enabled)
    return 're-teach needs the parts archive (archive.enabled: true): it learns from archived parts labelled false-reject';
  return null;
}

export function createReteachControl(w: ReteachWiring): ReteachControl {
  const { log } = w;
  const runner = new ReteachRunner({
    log: log.child({ job: 'reteach' }),
    logLevel: w.config().logging.level,
  });
  const listeners = new Set<(s: ReteachState) => void>();
  let state: ReteachState = {
    ...IDLE_RETEACH,
    unavailable: reteachUnavailable(w.config(), w.models.modelsDir),
  };
  const set = (patch: Partial<ReteachState>): void => {
    state = { ...state, ...patch };
    for (const fn of listeners) {
      try {
        fn(state);
      } catch (err) {
        log.warn({ err }, 're-teach state listener failed');
      }
    }
  };

  const promote = async (by: ChangedBy): Promise<{ version: string; modelId: string }> => {
    const c = state.candidate;
    if (!c) throw new CommandError('no re-teach candidate to promote: run a re-teach first');
    if (c.promoted && w.models.version === c.version)
      throw new CommandError(`the candidate ${c.version} is already the version in force`);
    const r = await auditedSwap(() => w.models.requestSwap(c.version), 'model promote', by, w.audit);
    set({ candidate: { ...c, promoted: true } });
    return { version: c.version, modelId: r.modelId };
  };

  const finished = async (
    result: ReteachResult,
    ctx: { by: ChangedBy; parent: string; modelsDir: string },
  ): Promise<void> => {
    const rec = publishVersion(ctx.modelsDir, result.candidateDir, {
      parent: ctx.parent,
      source: 'reteach',
      note: `re-taught on ${result.set.falseRejects} false rejects and ${result.set.recentGood} recent good parts`,
    });
    const s = result.shadow;
    w.audit.record(ctx.by, {
      what: 'model reteach',
      old: { version: ctx.parent, modelId: result.parentModelId },
      new: {
        version: rec.version,
        modelId: rec.modelId,
        safeToPromote: s.safeToPromote,
        rejectRate: { current: s.current.rejectRate, candidate: s.candidate.rejectRate },
        falseRejectsPassing: s.falseRejectsPassing.length,
        defectsEscaping: s.defectsEscaping.length,
      },
    });
    set({
      state: 'done',
      endedAt: Date.now(),
      set: result.set,
      report: s,
      candidate: {
        version: rec.version,
        modelId: rec.modelId,
        parent: ctx.parent,
        safeToPromote: s.safeToPromote,
        reasons: s.reasons,
        promoted: false,
      },
    });
    log.info(
      { version: rec.version, safeToPromote: s.safeToPromote, reasons: s.reasons },
      `re-teach candidate ${rec.version} published (not promoted)`,
    );
    if (w.config().reteach.autoPromote && s.safeToPromote) {
      await promote({ who: 'reteach.autoPromote', source: ctx.by.source }).catch((err: Error) =>
        log.error({ err: err.message }, 're-teach: automatic promotion failed'),
      );
    }
  };

  const start = (by: ChangedBy): { job: string } => {
    const config = w.config();
    const modelsDir = w.models.modelsDir;
    const why = reteachUnavailable(config, modelsDir);
    if (why) throw new CommandError(why);
    const parent = w.models.version;
    if (!modelsDir || !parent) throw new CommandError('re-teach: no model version is in force');
    if (runner.current) throw new CommandError(new ReteachBusyError(runner.current).message);
    const outDir = createStaging(modelsDir, 'reteach');
    const request = buildRequest(w, config, versionDir(modelsDir, parent), outDir);
    const onProgress = (p: ReteachProgress): void =>
      set({
        progress: {
          phase: p.phase,
          step: p.step,
          total: p.total,
          etaSeconds: p.etaSeconds ?? null,
          elapsedSeconds: p.elapsedSeconds,
        },
      });
    let job;
    try {
      job = runner.start(request, onProgress);
    } catch (e) {
      rmSync(outDir, { recursive: true, force: true });
      throw new CommandError((e as Error).message);
    }
    set({
      ...IDLE_RETEACH,
      unavailable: null,
      state: 'running',
      job: job.id,
      by: by.who.startsWith(`${by.source}:`) ? by.who : `${by.source}:${by.who}`,
      startedAt: Date.now(),
    });
    log.info({ job: job.id, parent, by: by.who, source: by.source }, 're-teach requested');
    const id = job.id;
    void job.result
      .then((r) => finished(r, { by, parent, modelsDir }))
      .catch((err: Error) => {
        const cancelled = err instanceof ReteachCancelledError;
        if (!cancelled) log.error({ job: id, err: err.message }, 're-teach failed');
        set({ state: cancelled ? 'cancelled' : 'failed', endedAt: Date.now(), error: err.message });
      })
      .finally(() => rmSync(outDir, { recursive: true, force: true }));
    return { job: id };
  };

  return {
    status: () => ({ ...state, unavailable: reteachUnavailable(w.config(), w.models.modelsDir) }),
    start,
    cancel: (by) => {
      const ok = runner.cancel();
      if (ok) log.info({ by: by.who, source: by.source }, 're-teach cancel asked');
      return ok;
    },
    promote,
    onChange: (fn) => {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
    stop: () => runner.stop(),
  };
}

/** The job request: config, the version in force, the archive, and the line's live settings for the shadow side. */
function buildRequest(w: ReteachWiring, config: Config, modelDir: string, outDir: string): ReteachRequest {
  const cfg = config.reteach;
  const cameras = Object.keys(config.cameras);
  const ignore: Record<string, Polygon[]> = {};
  const rejects = new Set<number>();
  for (const id of cameras) {
    const s = w.settings(id);
    if (!s) continue;
    if (s.ignore.length) ignore[id] = [...s.ignore];
    if (s.thresholds) rejects.add(s.thresholds.reject);
  }
  // One reject threshold for the model in force's side: the cameras' own when they agree; else the bundle's.
  const currentReject = rejects.size === 1 ? [...rejects][0] : undefined;
  if (rejects.size > 1)
    w.log.warn(
      { rejects: [...rejects] },
      "re-teach: cameras use different reject thresholds; the shadow evaluation uses the bundle's",
    );
  return {
    ...reteachRequest(cfg, {
      modelDir,
      archiveDir: resolve(w.configDir, config.archive.dir),
      outDir,
      teachInImages: cfg.teachInImages && resolve(w.configDir, cfg.teachInImages),
    }),
    shadow: { currentReject, ignore },
  };
}
