// A camera as the engine sees it (queue, verdict settings, trigger window, pairing), from the config and the
// bundle's calibrated thresholds. Used at start and by a config reload for each camera it adds or restarts.
import type { CameraConfig, Config } from '../config/schema.js';
import type { EngineCamera } from '../pipeline/engine.js';
import type { TilingSpec } from '../pipeline/tiling.js';
import type { Thresholds, VerdictSettings } from '../pipeline/verdict.js';
import { resolveVerdictSettings } from '../pipeline/verdict.js';
import { cameraPairing } from '../sources/pairing.js';
import type { Logger } from '../util/log.js';

/** A camera's verdict settings: its own section over the global one over the bundle's thresholds. */
export function verdictSettingsFor(
  config: Config,
  cameraId: string,
  bundle: Thresholds | undefined,
): VerdictSettings & { missing: string[] } {
  const cam = config.cameras[cameraId];
  return resolveVerdictSettings(bundle, config.verdict, cam?.verdict ?? { ignore: [] });
}

export function engineCameraFor(
  id: string,
  cfg: CameraConfig,
  config: Config,
  bundle: Thresholds | undefined,
  log: Logger,
  /** Its tiling (app/camera-tiling.ts); null: letterboxed. */
  tiling: TilingSpec | null = null,
): EngineCamera {
  const { missing, ...verdict } = verdictSettingsFor(config, id, bundle);
  if (!verdict.thresholds) {
    log.error(
      { camera: id, missing },
      'NO THRESHOLDS: the model was not taught in (pinpoint train) and the config sets none; ' +
        `every part of camera ${id} gets the error verdict (fail-safe)`,
    );
  }
  const pairing = cameraPairing(cfg);
  if (pairing?.warning) log.warn({ camera: id }, pairing.warning);
  return {
    queue: cfg.queue,
    verdict,
    triggerWindowMs: cfg.trigger.enabled ? cfg.trigger.windowMs : null,
    pairing: pairing ?? undefined,
    tiling,
    frameSize: cfg.type === 'synthetic' ? { width: cfg.width, height: cfg.height } : undefined,
  };
}
