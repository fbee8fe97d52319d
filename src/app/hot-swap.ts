// Wires hot swaps into `pinpoint run`: the loader opens an incoming version the way the running model was
// opened (worker thread, device, threads, cache) and derives each camera's verdict settings from its
// thresholds (config overrides still win, as at start); the shared status follows the model in force.
import { resolve } from 'node:path';
import type { CameraConfig, Config } from '../config/schema.js';
import { thresholdsForPrecision } from '../model/manifest.js';
import type { Manifest } from '../model/manifest.js';
import { recoverModelsDir } from '../model/version-recover.js';
import { resolveModelPath } from '../model/versions.js';
import type { Engine, EngineCamera } from '../pipeline/engine.js';
import { ModelSwapper, type SwappableModel } from '../pipeline/model-swap.js';
import { ModelSwapError } from '../pipeline/model-slot.js';
import { resolveVerdictSettings, type Thresholds, type VerdictSettings } from '../pipeline/verdict.js';
import { openModelInWorker } from '../pipeline/worker-model.js';
import type { DaemonStatus } from '../sinks/daemon-status.js';
import type { Logger } from '../util/log.js';
import { createModelControl, type ModelControl } from './model-control.js';

/**
 * Before preflight: a models directory is repaired to its last complete version (logged); returns the
 * models directory and the version to start on, or nulls for a plain bundle.
 */
export function prepareModelPath(
  config: Config,
  configDir: string,
  log: Logger,
): { modelsDir: string | null; version: string | null } {
  if (!config.model) return { modelsDir: null, version: null };
  const p = resolveModelPath(resolve(configDir, config.model.path));
  if (p.kind === 'bundle') return { modelsDir: null, version: null };
  const r = recoverModelsDir(p.modelsDir, log);
  log.info({ modelsDir: p.modelsDir, version: r.version }, 'model version');
  return { modelsDir: p.modelsDir, version: r.version };
}

export interface HotSwapWiring {
  /** The config in force (a SIGHUP reload may have changed cameras and their verdict sections). */
  config: () => Config;
  configDir: string;
  /** The engine's live camera settings (live-settings.ts writes them): ignore zones and blob area carry over. */
  engineCameras: ReadonlyMap<string, EngineCamera>;
  engine: Engine;
  status: DaemonStatus;
  log: Logger;
  modelsDir: string | null;
  testInferDelayMs?: number;
  /** The calibrated thresholds of the model now in force (a reload resolves new cameras against them). */
  onThresholds(t: Thresholds | undefined): void;
}

/** The bundle thresholds each swap's verdict map was derived from (read once, when that map goes in force). */
const derivedFrom = new WeakMap<object, Thresholds | undefined>();

export function startModelControl(w: HotSwapWiring): ModelControl {
  const { log } = w;
  const config = w.config();
  const cacheDir = config.model?.cacheDir && resolve(w.configDir, config.model.cacheDir);
  const swapper = new ModelSwapper(w.engine.models, {
    open: (bundleDir) =>
      openModelInWorker(bundleDir, {
        device: config.inference.device,
        threads: config.inference.threads,
        fp16: config.inference.fp16,
        deviceId: config.inference.deviceId,
        maxBatch: config.pipeline.batch.maxBatch,
        cacheDir,
        log,
        testDelayMs: w.testInferDelayMs,
      }),
    verdicts: (m, model) => cameraVerdicts(w.config(), w.engineCameras, m, model),
    maxBatch: config.pipeline.batch.maxBatch,
    tiledCameras: () => w.engine.tiledCameras(),
    log,
  });
  w.engine.models.onSwap((use) => {
    w.status.modelId = use.model.modelId;
    if (use.verdicts && derivedFrom.has(use.verdicts)) w.onThresholds(derivedFrom.get(use.verdicts));
    // The cameras' live settings follow the model in force, so a later live change or reload starts from them.
    for (const [id, cam] of w.engineCameras) {
      const v = use.verdicts?.get(id);
      if (v) cam.verdict = v;
    }
  });
  return createModelControl(w.modelsDir, w.engine.models, swapper, log);
}

/**
 * Each camera's settings under the incoming bundle's thresholds (the config's own thresholds still win; a live
 * threshold change made for the outgoing model does not carry over: another model's scores are on another
 * scale); ignore zones and blob area stay as they are live. Refused when a camera would have no thresholds.
 */
function cameraVerdicts(
  config: Config,
  cameras: ReadonlyMap<string, EngineCamera>,
  m: Manifest,
  model: SwappableModel & { precision?: 'fp32' | 'fp16' },
): ReadonlyMap<string, VerdictSettings> {
  const t = thresholdsForPrecision(m, model.precision ?? 'fp32');
  const out = new Map<string, VerdictSettings>();
  for (const [id, cam] of cameras) {
    const cfg: CameraConfig | undefined = config.cameras[id];
    const v = resolveVerdictSettings(t.thresholds, config.verdict, cfg?.verdict ?? { ignore: [] });
    if (!v.thresholds)
      throw new ModelSwapError(
        `model ${m.modelId} gives camera ${id} no ${v.missing.join(' and ')}` +
          (t.mismatch ? `: ${t.mismatch}` : ''),
      );
    out.set(id, { ...cam.verdict, thresholds: v.thresholds });
  }
  derivedFrom.set(out, t.thresholds);
  return out;
}
