// The daemon's HTTP server (fastify): /metrics (Prometheus text), /healthz, /readyz, /api/status and the
// operator console (pages, its JSON API on the parts archive, the live WebSocket: see docs/console.md). Bound to
// `web.host`; with `web.auth`, /metrics and /api/* need a login or `Authorization: Bearer <token>` (auth.ts,
// docs/console-auth.md; the probes stay open: they say nothing but ready or not). Never serves anything from
// the config: no secret can leak here.
import type { FastifyInstance } from 'fastify';
import type { Logger } from '../../util/log.js';
import type { DaemonStatus } from '../daemon-status.js';
import { readiness, statusJson } from '../health.js';
import type { PrometheusMetrics } from '../prometheus.js';
import type { WebAuthConfig } from '../../config/schema.js';
import type { AuthHooks } from './auth.js';
import { registerAuth } from './auth.js';
import { registerConsoleRoutes } from './console-routes.js';
import { registerControlRoutes } from './control-routes.js';
import type { ControlPlane } from '../control-plane.js';
import { consoleAssetsDir, registerConsoleStatic } from './console-static.js';
import { registerConsoleStatus } from './console-status.js';
import { LiveHub } from './live-hub.js';
import type { ShiftCounters } from './shift-counters.js';
import { registerLiveRoutes } from './live-routes.js';

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
  /** The parts archive's directory when the archive runs (the console reads it). */
  archiveDir: string | undefined;
  liveFps: number;
  /** Reverse proxies whose X-Forwarded-* headers are believed (web.trustProxy); none by default. */
  trustProxy?: string[];
  /** Per-camera counts over the last hours, for the status page. */
  shift?: ShiftCounters;
  /** Live settings, audit log and re-teach (absent: those routes are not served). */
  control?: ControlPlane;
}

export interface WebServer {
  app: FastifyInstance;
  /** The live view: the sink offers every decided part. */
  hub: LiveHub;
}

/** The event loop is called stuck when a 500 ms heartbeat is this late. */
const STUCK_MS = 5000;

export async function startWebServer(o: WebServerOptions): Promise<WebServer> {
  const { default: Fastify } = await import('fastify');
  const app = Fastify({
    logger: false,
    forceCloseConnections: true,
    trustProxy: o.trustProxy?.length ? o.trustProxy : false,
  });
  // Before any route: its hooks (who is asking, CSRF, Host/Origin checks) guard everything registered after.
  const auth = await registerAuth(app, o.auth, o.log, { configDir: o.configDir });
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
  const hub = await registerConsole(app, o, auth);
  await app.listen({ host: o.host, port: o.port });
  o.log.info(
    { url: `http://${o.host.includes(':') ? `[${o.host}]` : o.host}:${o.port}` },
    'web server listening',
  );
  return { app, hub };
}

/** The operator console: session/CSRF, archive API, live WebSocket, status, pages. */
async function registerConsole(app: FastifyInstance, o: WebServerOptions, auth: AuthHooks): Promise<LiveHub> {
  // A camera removed by a config reload is not shown to clients that join later.
  const hub = new LiveHub(o.liveFps, (camera) => o.status.cameraIds.includes(camera));
  const index = registerConsoleRoutes(app, { archiveDir: o.archiveDir, auth });
  app.addHook('onClose', async () => index?.close());
  if (o.control) registerControlRoutes(app, { control: o.control, auth });
  registerConsoleStatus(app, { status: o.status, hub, index, liveFps: o.liveFps, shift: o.shift });
  await registerLiveRoutes(app, hub, o.status, auth);
  const assets = consoleAssetsDir();
  if (assets) await registerConsoleStatic(app, assets);
  else o.log.warn('console pages not built (npm run build): only the API is served');
  return hub;
}
