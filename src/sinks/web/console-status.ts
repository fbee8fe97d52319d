// /api/console/status: everything the status page shows in one answer: /api/status's counters, the model (id,
// dev-teacher warning, thresholds per camera, teach-in date), event-loop delay, the live view's fan-out and the
// operator labels per camera, and parts / rejects / yield per camera over the last `web.shiftHours`. Like
// /api/status, nothing from the config: no secret can leak here.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { FastifyInstance } from 'fastify';
import type { DaemonStatus } from '../daemon-status.js';
import { statusJson } from '../health.js';
import type { ConsoleIndex } from './console-index.js';
import type { LiveHub } from './live-hub.js';
import type { ShiftCounters } from './shift-counters.js';

export function registerConsoleStatus(
  app: FastifyInstance,
  o: {
    status: DaemonStatus;
    hub: LiveHub;
    index: ConsoleIndex | undefined;
    liveFps: number;
    shift?: ShiftCounters;
  },
): void {
  const lag = monitorEventLoopDelay({ resolution: 20 });
  lag.enable();
  app.addHook('onClose', async () => lag.disable());
  app.get('/api/console/status', async () => {
    let labels: unknown = null;
    try {
      labels = o.index?.open() ? o.index.labelCounts() : null;
    } catch {
      labels = null; // the archive being repaired or gone: the rest of the page still answers
    }
    const body = {
      ...statusJson(o.status),
      model: o.status.model ?? null,
      eventLoopDelayMs: {
        mean: round(lag.mean / 1e6),
        p99: round(lag.percentile(99) / 1e6),
        max: round(lag.max / 1e6),
      },
      live: { liveFps: o.liveFps, ...o.hub.stats(), perClient: undefined },
      labels,
      shift: o.shift ? { hours: o.shift.hours, cameras: o.shift.window() } : null,
    };
    lag.reset();
    return body;
  });
}

const round = (v: number): number => (Number.isFinite(v) ? Math.round(v * 10) / 10 : 0);
