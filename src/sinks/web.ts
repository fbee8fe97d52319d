// The `web` section as a sink: the daemon's HTTP server with Prometheus metrics and health (web-server.ts).
// fastify and prom-client are loaded only when the section is enabled.
import type { FastifyInstance } from 'fastify';
import type { PrometheusMetrics } from './prometheus.js';
import { SinkConfigError } from './types.js';
import type { Sink, SinkPlugin } from './types.js';

export const webSink: SinkPlugin<'web'> = {
  section: 'web',
  create(cfg, ctx): Sink {
    const log = ctx.log.child({ sink: 'web' });
    let metrics: PrometheusMetrics | undefined;
    let server: FastifyInstance | undefined;
    return {
      name: 'web',
      async start() {
        const prom = await import('prom-client');
        const { PrometheusMetrics } = await import('./prometheus.js');
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
          });
        } catch (err) {
          metrics.close();
          if (err instanceof SinkConfigError) throw err;
          throw new SinkConfigError(
            `web: cannot listen on ${cfg.host}:${cfg.port}: ${(err as Error).message}`,
          );
        }
      },
      result: (r) => metrics?.result(r),
      cameraState: () => {},
      async stop() {
        await server?.close();
        metrics?.close();
      },
    };
  },
};
