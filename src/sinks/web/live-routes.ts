// The live view's WebSocket (/api/live) and the once-a-second camera message (state, fps, drops). A client may
// send {"watch": ["a", "b"]} (or null for all, the default on connect); anything else it sends is ignored.
import type { FastifyInstance } from 'fastify';
import type { DaemonStatus } from '../daemon-status.js';
import type { AuthHooks } from './auth.js';
import type { LiveHub } from './live-hub.js';

/** fps over this many one-second ticks. */
const FPS_WINDOW = 5;

export async function registerLiveRoutes(
  app: FastifyInstance,
  hub: LiveHub,
  status: DaemonStatus,
  auth: AuthHooks,
): Promise<void> {
  const { default: websocket } = await import('@fastify/websocket');
  // Clients send tiny watch lists only.
  await app.register(websocket, { options: { maxPayload: 64 * 1024 } });
  app.get('/api/live', { websocket: true }, (socket, req) => {
    // The cameras first: the latest parts that add() sends go to their tiles.
    socket.send(camerasMessage(status, new Map()));
    const client = hub.add(socket, auth.stillValid(req));
    socket.on('message', (data: Buffer) => {
      try {
        const m = JSON.parse(data.toString()) as { watch?: unknown };
        if (m.watch === null) client.watch(null);
        else if (Array.isArray(m.watch))
          client.watch(m.watch.filter((c): c is string => typeof c === 'string'));
      } catch {
        // not JSON: ignored
      }
    });
    socket.on('close', () => client.remove());
    socket.on('error', () => client.remove());
  });
  app.get('/api/live/stats', async () => hub.stats());

  const history = new Map<string, number[]>();
  const tick = setInterval(() => {
    hub.closeEnded();
    if (hub.stats().clients > 0) hub.broadcast(camerasMessage(status, history));
    else sampleFrames(status, history);
  }, 1000);
  tick.unref();
  app.addHook('onClose', async () => clearInterval(tick));
  // Before the server waits for its connections: a client that stopped reading would never finish a close.
  app.addHook('preClose', async () => hub.closeAll());
}

function sampleFrames(status: DaemonStatus, history: Map<string, number[]>): void {
  const e = status.engine();
  for (const id of status.cameraIds) {
    const h = history.get(id) ?? [];
    h.push(e?.cameras[id]?.frames ?? 0);
    if (h.length > FPS_WINDOW + 1) h.shift();
    history.set(id, h);
  }
}

/** Every camera's state, detail, fps (frames that became parts, over the last few seconds) and drops. */
function camerasMessage(status: DaemonStatus, history: Map<string, number[]>): string {
  sampleFrames(status, history);
  const e = status.engine();
  const cameras: Record<string, unknown> = {};
  for (const [id, c] of status.cameras()) {
    const h = history.get(id) ?? [];
    const fps = h.length > 1 ? (h[h.length - 1] - h[0]) / (h.length - 1) : null;
    cameras[id] = {
      state: c.state,
      detail: c.detail ?? null,
      frames: e?.cameras[id]?.frames ?? 0,
      dropped: e?.cameras[id]?.dropped ?? 0,
      fps,
    };
  }
  return JSON.stringify({ type: 'cameras', cameras });
}
