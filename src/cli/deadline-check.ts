// `pinpoint doctor --config`: whether verdict.deadlineMs holds, from the times the daemon's last warm-up
// measured for this model on this host (loading the model here would take as long as a start); a tiled
// camera of known frame size counts as its tiles.
import { resolve } from 'node:path';
import type { Config } from '../config/schema.js';
import { readManifest } from '../model/bundle.js';
import { resolveCacheDir } from '../util/cache-dir.js';
import { configuredFramesPerSec, deadlineFeasibility } from '../pipeline/warm-up.js';
import { msMap, readWarmUpRecord } from '../pipeline/warm-up-record.js';
import { tilesPerFrame } from '../pipeline/tiled-warm-up.js';
import { configuredTiling } from '../app/camera-tiling.js';

export function deadlineCheck(
  config: Config,
  configDir: string,
): { name: string; ok: boolean; detail: string; required: boolean } {
  const name = 'deadline';
  if (!config.model) return { name, ok: false, detail: 'no model.path in the config', required: false };
  let modelId: string;
  let size: number;
  const bundleDir = resolve(configDir, config.model.path);
  try {
    ({
      modelId,
      input: { size },
    } = readManifest(bundleDir));
  } catch (e) {
    return { name, ok: false, detail: (e as Error).message.split('\n')[0], required: true };
  }
  const cacheDir = resolveCacheDir(
    bundleDir,
    config.model.cacheDir ? resolve(configDir, config.model.cacheDir) : undefined,
  );
  const r = cacheDir ? readWarmUpRecord(cacheDir) : undefined;
  if (!r || r.modelId !== modelId) {
    return {
      name,
      ok: true,
      detail:
        'not measured yet for this model: `pinpoint run` measures it at start (and logs an error if it fails)',
      required: false,
    };
  }
  const cams = Object.entries(config.cameras).filter(([, c]) => c.enabled);
  // Tiled cameras whose frame size the config gives (synthetic): a frame is its tiles' batches in turn.
  const tiles = new Map<string, number>();
  for (const [camera, c] of cams) {
    const spec = configuredTiling(config, c);
    const frame = c.type === 'synthetic' ? { width: c.width, height: c.height } : null;
    const n = spec && tilesPerFrame({ camera, spec, frame }, size);
    if (n) tiles.set(camera, n);
  }
  const f = deadlineFeasibility({
    msByBatch: msMap(r),
    maxBatch: config.pipeline.batch.maxBatch,
    maxWaitMs: config.pipeline.batch.maxWaitMs,
    deadlineMs: config.verdict.deadlineMs,
    staticBatch: r.provider === 'tensorrt' ? config.pipeline.batch.maxBatch : undefined,
    framesPerSec: configuredFramesPerSec(
      cams.map(([id, c]) => ({ fps: 'fps' in c ? c.fps : undefined, tiles: tiles.get(id) })),
    ),
    tiled: [...tiles].map(([camera, n]) => ({ camera, tiles: n })),
    tilePostMs: r.tilePostMs,
  });
  return {
    name,
    ok: f.ok,
    detail: `${f.message} (measured on ${r.provider}, ${r.measuredAt})`,
    required: true,
  };
}
