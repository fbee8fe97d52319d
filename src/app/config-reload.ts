// Re-reading the config file while the daemon runs (SIGHUP, or `cmd/reload` over MQTT): validate, compare with
// the running config (config/config-diff.ts), apply what can be applied live, report the rest.
//
//   1. load and validate the file: any problem refuses the whole reload (each logged as FILE:LINE:COL key:
//      message); the running config keeps running, untouched
//   2. check the cameras it would start (their plug-ins' own checks): a problem refuses it too
//   3. stop removed cameras, restart changed ones (stop, then start with the new settings and a fresh run id),
//      start added ones; parts in flight of a stopped camera are still decided, each exactly once
//   4. apply the verdict settings whose resolved values changed (live-settings.ts)
//   5. report keys that need a restart; they are not applied (the running value stays, effectiveConfig)
//
// Reloads run one at a time; every applied change is audited, and so is the reload itself.
import { loadConfigFile } from '../config/load.js';
import { ConfigError } from '../config/config-error.js';
import type { ConfigDiff } from '../config/config-diff.js';
import { diffConfig, effectiveConfig, isEmptyDiff } from '../config/config-diff.js';
import { redactSecrets } from '../config/redact.js';
import type { CameraConfig, Config } from '../config/schema.js';
import type { EngineCamera } from '../pipeline/engine.js';
import type { Thresholds } from '../pipeline/verdict.js';
import type { TilingSpec } from '../pipeline/tiling.js';
import type { DaemonStatus } from '../sinks/daemon-status.js';
import type { Logger } from '../util/log.js';
import type { AuditLog } from './audit-log.js';
import type { Camera } from './camera-set.js';
import { AppConfigError, CameraSet, enabledCameras } from './camera-set.js';
import type { ChangedBy } from '../config/change-source.js';
import { engineCameraFor, verdictSettingsFor } from './engine-camera.js';
import type { LiveSettings } from './live-settings.js';
import type { ReloadReport } from '../sinks/control-plane.js';

export type { ReloadReport } from '../sinks/control-plane.js';

export interface ReloadDeps {
  /** The config file the daemon was started with. */
  file: string;
  configDir: string;
  log: Logger;
  cameras: CameraSet;
  /** The engine's camera map (shared with the engine and LiveSettings). */
  engineCameras: Map<string, EngineCamera>;
  live: LiveSettings;
  audit: AuditLog;
  status: DaemonStatus;
  /** The daemon's run id (a restarted camera's parts get a different one). */
  runId: string;
  /** The calibrated thresholds of the model in force (a hot swap changes them), in its precision, if any. */
  bundleThresholds: () => Thresholds | undefined;
  /** A camera's tiling under a config (checked against the model's, app/camera-tiling.ts). */
  tiling: (config: Config, camera: CameraConfig, id: string) => TilingSpec | null;
}

export class ConfigReloader {
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    private running: Config,
    private readonly d: ReloadDeps,
  ) {}

  /** The config the daemon runs now (the last applied reload's effective config). */
  get config(): Config {
    return this.running;
  }

  /** Reloads the config file; never throws (a failure is a refused reload with its errors). */
  reload(by: ChangedBy): Promise<ReloadReport> {
    const next = this.chain.then(() => this.reloadNow(by));
    this.chain = next.catch(() => undefined);
    return next.catch((err: unknown) => {
      this.d.log.error({ err }, 'config reload failed');
      return { ok: false, errors: [(err as Error).message] };
    });
  }

  private async reloadNow(by: ChangedBy): Promise<ReloadReport> {
    const { log } = this.d;
    if (this.d.cameras.closed) return { ok: false, errors: ['the daemon is stopping'] };
    const loaded = this.load();
    if ('errors' in loaded) {
      log.error(
        { file: this.d.file, errors: loaded.errors, source: by.source },
        'config reload refused: the file is not valid; the running config stays',
      );
      return { ok: false, errors: loaded.errors };
    }
    const { next, cams } = loaded;
    const diff = diffConfig(this.running, next);
    if (isEmptyDiff(diff)) {
      log.info({ file: this.d.file, source: by.source }, 'config reloaded: nothing changed');
      return { ok: true, added: [], removed: [], restarted: [], verdict: [], needsRestart: [] };
    }
    const effective = effectiveConfig(this.running, next, diff);
    const byId = new Map(cams.map((c) => [c.id, c]));
    await this.d.cameras.changing(() => this.applyCameras(diff, effective, byId, by));
    const verdict = this.applyVerdicts(effective, diff, by);
    this.running = effective;
    const report: ReloadReport = {
      ok: true,
      added: diff.added,
      removed: diff.removed,
      restarted: diff.restarted,
      verdict,
      needsRestart: diff.needsRestart,
    };
    this.d.audit.record(by, { what: 'config reload', old: null, new: summary(report) });
    log.info({ ...summary(report), source: by.source }, 'config reloaded');
    if (diff.added.length > 0 && this.running.mqtt.enabled && this.running.mqtt.sparkplug.enabled)
      log.warn(
        { cameras: diff.added },
        'config reload: Sparkplug B births its devices at start: the added cameras reach the JSON topics and the ' +
          'other outputs now, Sparkplug B only after a restart',
      );
    if (diff.needsRestart.length > 0)
      log.warn(
        { needsRestart: diff.needsRestart },
        `config reload: ${diff.needsRestart.length} change(s) need a restart and were NOT applied: ` +
          diff.needsRestart.map((k) => k.key).join(', '),
      );
    return report;
  }

  /** The new config and its cameras, or the problems that refuse it. */
  private load(): { next: Config; cams: Camera[] } | { errors: string[] } {
    try {
      const { config } = loadConfigFile(this.d.file);
      const cams = enabledCameras(config, this.d.configDir);
      if (cams.length === 0)
        return {
          errors: [`${this.d.file}: cameras: no enabled camera (the daemon would have nothing to inspect)`],
        };
      return { next: config, cams };
    } catch (err) {
      if (err instanceof ConfigError)
        return {
          errors: err.problems.map(
            (p) => `${err.file}:${p.line}:${p.col} ${p.path || '(document)'}: ${p.message}`,
          ),
        };
      if (err instanceof AppConfigError) return { errors: [`${this.d.file}: ${err.message}`] };
      throw err;
    }
  }

  private async applyCameras(
    diff: ConfigDiff,
    effective: Config,
    cams: Map<string, Camera>,
    by: ChangedBy,
  ): Promise<void> {
    const { cameras, engineCameras, status, audit, log } = this.d;
    const bundleThresholds = this.d.bundleThresholds();
    for (const id of diff.removed) {
      await cameras.stop(id, 'removed by a config reload');
      status.removeCamera(id);
      audit.record(by, {
        what: 'camera removed',
        camera: id,
        old: redactSecrets(this.running.cameras[id]),
        new: null,
      });
    }
    for (const id of [...diff.restarted, ...diff.added]) {
      const restarted = diff.restarted.includes(id);
      const cam = cams.get(id)!;
      if (restarted) await cameras.stop(id);
      const camLog = log.child({ camera: id });
      const tiling = this.d.tiling(effective, cam.cfg, id);
      const engineCam = engineCameraFor(id, cam.cfg, effective, bundleThresholds, camLog, tiling);
      const current = engineCameras.get(id);
      // A restart keeps the camera's queue (the batcher's) and live verdict overrides the file did not change.
      if (restarted && current) {
        engineCam.queue = current.queue;
        engineCam.verdict = current.verdict;
      }
      engineCameras.set(id, engineCam);
      if (!restarted) status.setCameraState(id, 'connecting');
      cameras.start(cam, CameraSet.freshRunId(this.d.runId));
      audit.record(by, {
        what: restarted ? 'camera restarted' : 'camera added',
        camera: id,
        old: restarted ? redactSecrets(this.running.cameras[id]) : null,
        new: redactSecrets(cam.cfg),
      });
    }
  }

  /**
   * Cameras running in both configs whose resolved verdict settings differ between the running and the new
   * config get the new ones; a camera whose resolution did not change keeps any live override (MQTT, console).
   */
  private applyVerdicts(effective: Config, diff: ConfigDiff, by: ChangedBy): string[] {
    if (!diff.globalVerdict && diff.cameraVerdicts.length === 0) return [];
    const changed: string[] = [];
    const { live, cameras } = this.d;
    const bundleThresholds = this.d.bundleThresholds();
    for (const id of cameras.ids) {
      if (diff.added.includes(id) || !this.running.cameras[id]) continue;
      const { missing: _a, ...was } = verdictSettingsFor(this.running, id, bundleThresholds);
      const { missing: _b, ...now } = verdictSettingsFor(effective, id, bundleThresholds);
      if (JSON.stringify(was) === JSON.stringify(now)) continue;
      live.replace(id, now, by);
      changed.push(id);
    }
    return changed.sort();
  }
}

function summary(r: ReloadReport): Record<string, unknown> {
  return {
    added: r.added,
    removed: r.removed,
    restarted: r.restarted,
    verdict: r.verdict,
    needsRestart: r.needsRestart?.map((k) => k.key),
  };
}
