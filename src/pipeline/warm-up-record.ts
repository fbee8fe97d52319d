// The last warm-up's measurements, kept next to the graph cache so `pinpoint doctor --config` can say whether
// the deadline holds without loading the model (a ViT-B frame takes seconds on a CPU).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../util/atomic-file.js';

export const WARM_UP_FILE = 'warm-up.json';

export interface WarmUpRecord {
  modelId: string;
  provider: string;
  precision: string;
  size: number;
  /** ms per batch size, as measured. */
  msByBatch: Record<string, number>;
  /** Post-processing ms per tile of a tiled frame (tiled-warm-up.ts), when a camera was tiled. */
  tilePostMs?: number;
  measuredAt: string;
}

export function writeWarmUpRecord(cacheDir: string, r: WarmUpRecord): void {
  writeFileAtomic(join(cacheDir, WARM_UP_FILE), JSON.stringify(r, null, 2));
}

/** The record, or undefined when none was written (or it is unreadable: doctor then says so). */
export function readWarmUpRecord(cacheDir: string): WarmUpRecord | undefined {
  try {
    const r = JSON.parse(readFileSync(join(cacheDir, WARM_UP_FILE), 'utf8')) as WarmUpRecord;
    return typeof r.modelId === 'string' && r.msByBatch && typeof r.msByBatch === 'object' ? r : undefined;
  } catch {
    return undefined;
  }
}

export function msMap(r: WarmUpRecord): Map<number, number> {
  return new Map(Object.entries(r.msByBatch).map(([k, v]) => [Number(k), v]));
}
