// After warm-up, before READY: log the measured batch times, say at error level when the deadline cannot be
// met at the configured rates, and keep the numbers for `pinpoint doctor --config`.
import type { Logger } from '../util/log.js';
import { configuredFramesPerSec, deadlineFeasibility, type Feasibility } from './warm-up.js';
import { writeWarmUpRecord } from './warm-up-record.js';

export interface WarmUpContext {
  modelId: string;
  provider: string;
  precision: string;
  size: number;
  maxBatch: number;
  maxWaitMs: number;
  deadlineMs: number;
  staticBatch?: number;
  cameras: readonly { fps?: number }[];
  /** Where the record goes (the graph cache directory); none: not kept. */
  cacheDir?: string;
  log: Logger;
}

export function reportWarmUp(
  msByBatch: ReadonlyMap<number, number>,
  c: WarmUpContext,
  totalMs: number,
): Feasibility {
  const perBatch = Object.fromEntries([...msByBatch].map(([b, ms]) => [String(b), Math.round(ms)]));
  c.log.info({ provider: c.provider, ms: Math.round(totalMs), msByBatch: perBatch }, 'model warmed up');
  const f = deadlineFeasibility({
    msByBatch,
    maxBatch: c.maxBatch,
    maxWaitMs: c.maxWaitMs,
    deadlineMs: c.deadlineMs,
    staticBatch: c.staticBatch,
    framesPerSec: configuredFramesPerSec(c.cameras),
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
        measuredAt: new Date().toISOString(),
      });
    } catch (e) {
      c.log.debug({ err: (e as Error).message }, 'warm-up record not written');
    }
  }
  return f;
}
