// Each camera's tiling (issue 15): the camera's own `tiling` or else `pipeline.tiling`, checked against the
// tiling the bundle was taught with. A mismatch is refused by `config check`/`run` (the thresholds were
// calibrated on maps of the taught tiling) unless `pipeline.allowTilingMismatch` says run anyway.
import type { Config } from '../config/schema.js';
import type { Manifest } from '../model/manifest.js';
import { tilingOf } from '../model/manifest.js';
import type { TilingSpec } from '../pipeline/tiling.js';
import { tilingMismatch, tilingSetting } from '../pipeline/tiling.js';
import type { Logger } from '../util/log.js';
import type { PreflightProblem } from './preflight.js';

type CameraConfig = Config['cameras'][string];

/** The tiling a camera's frames get; null: letterboxed. */
export function configuredTiling(config: Config, camera: CameraConfig): TilingSpec | null {
  return tilingSetting(camera.tiling ?? config.pipeline.tiling);
}

/** The camera's tiling for the engine; a mismatch allowed by the config is logged once per camera. */
export function cameraTiling(
  config: Config,
  camera: CameraConfig,
  m: Pick<Manifest, 'input'>,
  id: string,
  log: Logger,
): TilingSpec | null {
  const wanted = configuredTiling(config, camera);
  const why = tilingMismatch(tilingOf(m), wanted);
  if (why) log.warn({ camera: id }, `${why}; running anyway (pipeline.allowTilingMismatch: true)`);
  return wanted;
}

/** One problem per camera whose tiling differs from the bundle's, unless the config allows it. */
export function tilingProblems(
  config: Config,
  cameras: readonly [string, CameraConfig][],
  m: Pick<Manifest, 'input'>,
): PreflightProblem[] {
  if (config.pipeline.allowTilingMismatch) return [];
  const out: PreflightProblem[] = [];
  for (const [id, c] of cameras) {
    const why = tilingMismatch(tilingOf(m), configuredTiling(config, c));
    if (!why) continue;
    out.push({
      path: c.tiling !== undefined ? ['cameras', id, 'tiling'] : ['pipeline', 'tiling'],
      kind: 'config',
      message:
        `camera ${id}: ${why} (teach it in with this tiling, change the tiling, or set ` +
        'pipeline.allowTilingMismatch: true to run anyway)',
    });
  }
  return out;
}
