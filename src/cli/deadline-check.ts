// `pinpoint doctor --config`: whether verdict.deadlineMs holds, from the times the daemon's last warm-up
// measured for this model on this host (loading the model here would take as long as a start).
import { resolve } from 'node:path';
import type { Config } from '../config/schema.js';
import { readManifest } from '../model/bundle.js';
import { resolveCacheDir } from '../util/cache-dir.js';
import { configuredFramesPerSec, deadlineFeasibility } from '../pipeline/warm-up.js';
import { msMap, readWarmUpRecord } from '../pipeline/warm-up-record.js';

export function deadlineCheck(
  config: Config,
  configDir: string,
): { name: string; ok: boolean; detail: string; required: boolean } {
  const name = 'deadline';
  if (!config.model) return { name, ok: false, detail: 'no model.path in the config', required: false };
  let modelId: string;
  const bundleDir = resolve(configDir, config.model.path);
  try {
    modelId = readManifest(bundleDir).modelId;
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
  const cams = Object.values(config.cameras).filter((c) => c.enabled);
  const f = deadlineFeasibility({
    msByBatch: msMap(r),
    maxBatch: config.pipeline.batch.maxBatch,
    maxWaitMs: config.pipeline.batch.maxWaitMs,
    deadlineMs: config.verdict.deadlineMs,
    staticBatch: r.provider === 'tensorrt' ? config.pipeline.batch.maxBatch : undefined,
    framesPerSec: configuredFramesPerSec(cams.map((c) => ({ fps: 'fps' in c ? c.fps : undefined }))),
  });
  return {
    name,
    ok: f.ok,
    detail: `${f.message} (measured on ${r.provider}, ${r.measuredAt})`,
    required: true,
  };
}
