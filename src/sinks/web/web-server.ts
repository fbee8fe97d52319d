// The daemon's HTTP server (fastify): /metrics (Prometheus text), /healthz, /readyz, /api/status and the
// operator console (pages, its JSON API on the parts archive, the live WebSocket: see docs/console.md). Bound to
// `web.host`; with `web.auth`, /metrics and /api/* need `Authorization: Bearer <token>` (the probes stay open:
// they say nothing but ready or not). Never serves anything from the config: no secret can leak here.
import { timingSafeEqual, createHash } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Logger } from '../../util/log.js';
import type { DaemonStatus } from '../daemon-status.js';
import { readiness, statusJson } from '../health.js';
import type { PrometheusMetrics } from '../prometheus.js';
import type { WebAuthConfig } from './auth.js';
import { registerAuth } from './auth.js';
import { registerConsoleRoutes } from './console-routes.js';
import { consoleAssetsDir, registerConsoleStatic } from './console-static.js';
import { registerConsoleStatus } from './console-status.js';
import { LiveHub } from './live-hub.js';
import { registerLiveRoutes } from './live-routes.js';

export interface WebServerOptions {
  host: string;
  port: number;
  /** The bearer token /metrics and /api/* require; undefined: no auth (loopback only, checked by the schema). */
  token: string | undefined;
  status: DaemonStatus;
  metrics: PrometheusMetrics;
  log: Logger;
  /** The parts archive's directory when the archive runs (the console reads it). */
  archiveDir: string | undefined;
  liveFps: number;
  auth: WebAuthConfig | undefined;
}

export interface WebServer {
  app: FastifyInstance;
  /** The live view: the sink offers every decided part. */
  hub: LiveHub;
}

/** The event loop is called stuck when a 500 ms heartbeat is this late. */
const STUCK_MS = 5000;

/** Constant-time comparison of a presented token with the configured one. */
function tokenMatches(req: FastifyRequest, token: string): boolean {
  const h = req.headers.authorization ?? '';
  const m = /^Bearer (.+)$/.exec(h);
  if (!m) return false;
  const a = createHash('sha256').update(m[1]).digest();
  const b = createHash('sha256').update(token).digest();
  return timingSafeEqual(a, b);
}

export async function startWebServer(o: WebServerOptions): Promise<WebServer> {
  const { default: Fastify } = await import('fastify');
  const app = Fastify({ logger: false, forceCloseConnections: true });
  let beat = Date.now();
  const heart = setInterval(() => (beat = Date.now()), 500);
  heart.unref();
  app.addHook('onClose', async () => clearInterval(heart));
  app.addHook('onRequest', async (req, reply) => {
    const guarded = req.url === '/metrics' || req.url.startsWith('/api/');
    if (guarded && o.token !== undefined && !tokenMatches(req, o.token)) {
      await reply.code(401).header('www-authenticate', 'Bearer').send({ error: 'unauthorized' });
    }
  });
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
  const hub = await registerConsole(app, o);
  await app.listen({ host: o.host, port: o.port });
  o.log.info(
    { url: `http://${o.host.includes(':') ? `[${o.host}]` : o.host}:${o.port}` },
    'web server listening',
  );
  return { app, hub };
}

/** The operator console: session/CSRF, archive API, live WebSocket, status, pages. */
async function registerConsole(app: FastifyInstance, o: WebServerOptions): Promise<LiveHub> {
  const auth = await registerAuth(app, o.auth, o.log);
  const hub = new LiveHub(o.liveFps);
  const index = registerConsoleRoutes(app, { archiveDir: o.archiveDir, auth });
  app.addHook('onClose', async () => index?.close());
  registerConsoleStatus(app, { status: o.status, hub, index, liveFps: o.liveFps });
  await registerLiveRoutes(app, hub, o.status);
  const assets = consoleAssetsDir();
  if (assets) await registerConsoleStatic(app, assets);
  else o.log.warn('console pages not built (npm run build): only the API is served');
  return hub;
}
