// The log as an output: each decision at debug (one short line), and every `logging.statsIntervalSec` one info
// line of what an operator wants per camera (stats-window.ts): the message for people, the numbers in
// `interval` for log tools (a pretty terminal log leaves them out, util/log.ts). An idle daemon writes no stats lines; the last
// partial interval is logged at stop so no part goes uncounted.
import type { EngineStats } from '../pipeline/engine.js';
import type { InspectionResult } from '../pipeline/result.js';
import type { Logger } from '../util/log.js';
import type { Sink } from './types.js';
import { StatsWindow, formatStatsLine, idle } from './stats-window.js';

export interface StatsLogOptions {
  log: Logger;
  /** Seconds between stats lines; 0: none (decisions are still logged at debug). */
  intervalSec: number;
  /** The engine's cumulative counters (drops, frames without a trigger, frames per camera). */
  engineStats(): EngineStats;
  /** ms clock (Date.now). */
  now?: () => number;
}

export function createStatsLog(o: StatsLogOptions): Sink {
  const now = o.now ?? Date.now;
  let window: StatsWindow | undefined;
  let timer: NodeJS.Timeout | undefined;
  const flush = (): void => {
    if (!window) return;
    const s = window.take(o.engineStats().cameras, now());
    if (!idle(s)) o.log.info({ interval: s }, formatStatsLine(s));
  };
  return {
    name: 'stats-log',
    start() {
      window = new StatsWindow(o.engineStats().cameras, now());
      if (o.intervalSec > 0) {
        timer = setInterval(flush, o.intervalSec * 1000);
        timer.unref();
      }
      return Promise.resolve();
    },
    result(r: InspectionResult) {
      window?.add(r);
      if (!o.log.isLevelEnabled('debug')) return;
      o.log.debug(
        {
          camera: r.cameraId,
          part: r.partId,
          verdict: r.verdict,
          reason: r.reason,
          score: r.score === null ? null : Number(r.score.toPrecision(4)),
          latencyMs: Math.round(r.latencyMs),
          ...(r.detail ? { detail: r.detail } : {}),
        },
        'decision',
      );
    },
    cameraState() {},
    stop() {
      clearInterval(timer);
      if (o.intervalSec > 0) flush();
      window = undefined;
      return Promise.resolve();
    },
  };
}
