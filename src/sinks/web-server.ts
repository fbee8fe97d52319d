// The daemon's HTTP server (fastify): /metrics (Prometheus text), /healthz, /readyz, /api/status. Bound to
// `web.host`; with `web.auth`, /metrics and /api/* need a login or `Authorization: Bearer <token>`
// (web/auth.ts; the probes stay open: they say nothing but ready or not). Never serves anything from the
// config: no secret can leak here.
import type { FastifyInstance } from 'fastify';
import type { WebAuthConfig } from '../config/schema.js';
import type { Logger } from '../util/log.js';
import type { DaemonStatus } from './daemon-status.js';
import { readiness, statusJson } from './health.js';
import type { PrometheusMetrics } from './prometheus.js';

export interface WebServerOptions {
  host: string;
  port: number;
  /** Users, sessions and bearer token; undefined: no auth (loopback only, checked by the schema). */
  auth: WebAuthConfig | undefined;
  /** The config's folder (`web.auth.usersFile` is relative to it). */
  configDir: string;
  status: DaemonStatus;
  metrics: PrometheusMetrics;
  log: Logger;
}

/** The event loop is called stuck when a 500 ms heartbeat is this late. */
const STUCK_MS = 5000;

export async function startWebServer(o: WebServerOptions): Promise<FastifyInstance> {
  const { default: Fastify } = await import('fastify');
  const app = Fastify({ logger: false });
  const { registerAuth } = await import('./web/auth.js');
  await registerAuth(app, o.auth, o.log, { configDir: o.configDir });
  let beat = Date.now();
  const heart = setInterval(() => (beat = Date.now()), 500);
  heart.unref();
  app.addHook('onClose', async () => clearInterval(heart));
  app.get('/healthz', async (_req, reply) => {
    const lagMs = Date.now() - beat;
    const ok = lagMs < STUCK_MS;
    await reply.code(ok ? 200 : 503).send({ status: ok ? 'ok' : 'event loop stuck', lagMs });
  });
  app.get('/readyz', async (_req, reply) => {
    const r = readiness(o.status);
    await reply.code(r.ready ? 200 : 503).send(r);
  });
  app.get('/api/status', async () => statusJson(o.status));
  app.get('/metrics', async (_req, reply) => {
    const text = await o.metrics.registry.metrics();
    await reply.header('content-type', o.metrics.registry.contentType).send(text);
  });
  await app.listen({ host: o.host, port: o.port });
  o.log.info(
    { url: `http://${o.host.includes(':') ? `[${o.host}]` : o.host}:${o.port}` },
    'web server listening',
  );
  return app;
}
