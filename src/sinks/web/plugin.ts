// The `web` section as a sink: the daemon's HTTP server with Prometheus metrics, health and the operator console
// (web-server.ts). fastify and prom-client are loaded only when the section is enabled. It asks for each part's
// evidence (frame and Δ grid) for the live view; the live hub looks at it only while a browser watches.
import { resolve } from 'node:path';
import type { PrometheusMetrics } from '../prometheus.js';
import { SinkConfigError } from '../types.js';
import type { Sink, SinkPlugin } from '../types.js';
import type { WebServer } from './web-server.js';
import { ShiftCounters } from './shift-counters.js';

export const webSink: SinkPlugin<'web'> = {
  section: 'web',
  create(cfg, ctx): Sink {
    const log = ctx.log.child({ sink: 'web' });
    let metrics: PrometheusMetrics | undefined;
    let server: WebServer | undefined;
    const shift = new ShiftCounters(cfg.shiftHours);
    return {
      name: 'web',
      wantsEvidence: true,
      async start() {
        const prom = await import('prom-client');
        const { PrometheusMetrics } = await import('../prometheus.js');
        const { startWebServer } = await import('./web-server.js');
        metrics = new PrometheusMetrics(prom, ctx.status, ctx.config.pipeline.batch.maxBatch);
        try {
          server = await startWebServer({
            host: cfg.host,
            port: cfg.port,
            auth: cfg.auth,
            configDir: ctx.configDir,
            status: ctx.status,
            metrics,
            log,
            archiveDir: ctx.config.archive.enabled
              ? resolve(ctx.configDir, ctx.config.archive.dir)
              : undefined,
            liveFps: cfg.liveFps,
            trustProxy: cfg.trustProxy,
            shift,
            control: ctx.control,
          });
        } catch (err) {
          metrics.close();
          if (err instanceof SinkConfigError) throw err;
          throw new SinkConfigError(
            `web: cannot listen on ${cfg.host}:${cfg.port}: ${(err as Error).message}`,
          );
        }
      },
      result(r, evidence) {
        metrics?.result(r);
        shift.record(r);
        server?.hub.offer(r, evidence);
      },
      cameraState: () => {},
      async stop() {
        await server?.app.close();
        metrics?.close();
      },
    };
  },
};
