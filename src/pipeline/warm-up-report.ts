// After warm-up, before READY: log the measured batch times, say at error level when the deadline cannot be
// met at the configured rates (a tiled camera's frame is its tiles' batches in turn), and keep the numbers for
// `pinpoint doctor --config`.
import type { Logger } from '../util/log.js';
import { configuredFramesPerSec, deadlineFeasibility, type Feasibility } from './warm-up.js';
import { writeWarmUpRecord } from './warm-up-record.js';
import type { WarmUpTimes } from './warm-up-run.js';

export interface WarmUpContext {
  modelId: string;
  provider: string;
  precision: string;
  size: number;
  maxBatch: number;
  maxWaitMs: number;
  deadlineMs: number;
  staticBatch?: number;
  cameras: readonly { id?: string; fps?: number }[];
  /** Where the record goes (the graph cache directory); none: not kept. */
  cacheDir?: string;
  log: Logger;
}

export function reportWarmUp(times: WarmUpTimes, c: WarmUpContext, totalMs: number): Feasibility {
  const { msByBatch, tilePostMs } = times;
  const perBatch = Object.fromEntries([...msByBatch].map(([b, ms]) => [String(b), Math.round(ms)]));
  const tiles = new Map(times.tiled.map((t) => [t.camera, t.tiles]));
  const tiled = times.tiled.flatMap((t) => (t.tiles === null ? [] : [{ camera: t.camera, tiles: t.tiles }]));
  c.log.info(
    {
      provider: c.provider,
      ms: Math.round(totalMs),
      msByBatch: perBatch,
      ...(times.tiled.length > 0 && { tiles: Object.fromEntries(tiles), tilePostMs: round2(tilePostMs) }),
    },
    'model warmed up',
  );
  const f = deadlineFeasibility({
    msByBatch,
    maxBatch: c.maxBatch,
    maxWaitMs: c.maxWaitMs,
    deadlineMs: c.deadlineMs,
    staticBatch: c.staticBatch,
    framesPerSec: configuredFramesPerSec(
      c.cameras.map((k) => ({ fps: k.fps, tiles: (k.id === undefined ? null : tiles.get(k.id)) ?? 1 })),
    ),
    tiled,
    tilePostMs,
  });
  if (!f.ok) c.log.error(f.message);
  else if (f.loadedMs > c.deadlineMs) c.log.warn(f.message);
  else c.log.debug(f.message);
  if (c.cacheDir) {
    try {
      writeWarmUpRecord(c.cacheDir, {
        modelId: c.modelId,
        provider: c.provider,
        precision: c.precision,
        size: c.size,
        msByBatch: perBatch,
        ...(tilePostMs !== undefined && { tilePostMs: round2(tilePostMs) }),
        measuredAt: new Date().toISOString(),
      });
    } catch (e) {
      c.log.debug({ err: (e as Error).message }, 'warm-up record not written');
    }
  }
  return f;
}

const round2 = (v: number | undefined): number | undefined =>
  v === undefined ? undefined : Math.round(v * 100) / 100;
