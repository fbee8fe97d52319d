// The console's routes that change the running daemon, over the ControlPlane the app hands the sinks: live
// thresholds (the what-if page's Apply), the audit log, and re-teach (start, cancel, promote, status with the
// shadow report). Every mutation is engineer-only (requireRole; CSRF is checked by the auth layer for every
// POST) and is recorded with the logged-in user as `who` and `console` as the door. A refusal (no candidate,
// a job already running, re-teach unavailable with this config, a bad threshold) is a 409/400 with its reason.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { ChangedBy, ControlPlane } from '../control-plane.js';
import type { ReteachHandle } from '../reteach-view.js';
import type { AuthHooks } from './auth.js';

const thresholdBody = z
  .strictObject({ reject: z.number().positive().optional(), pixel: z.number().positive().optional() })
  .refine((b) => b.reject !== undefined || b.pixel !== undefined, 'give reject, pixel or both');
const cameraParams = z.strictObject({ camera: z.string().min(1).max(64) });
const auditQuery = z.strictObject({
  from: z.coerce.number().int().nonnegative().optional(),
  to: z.coerce.number().int().nonnegative().optional(),
  limit: z.coerce.number().int().min(1).max(10_000).optional(),
});

/** A refusal the client can act on: answered with its status code and message (the error handler's rule). */
class Refused extends Error {
  constructor(
    message: string,
    readonly statusCode: number,
  ) {
    super(message);
  }
}

function parse<T>(schema: z.ZodType<T>, v: unknown, what: string): T {
  const r = schema.safeParse(v);
  if (r.success) return r.data;
  const i = r.error.issues[0];
  throw new Refused(`${what}: ${i.path.join('.') || '(value)'}: ${i.message}`, 400);
}

/** Runs a control-plane call; its error (a refusal with a clear message) becomes a 409. */
async function refusedAs409<T>(f: () => T | Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    throw new Refused((e as Error).message, 409);
  }
}

export function registerControlRoutes(
  app: FastifyInstance,
  o: { control: ControlPlane; auth: AuthHooks },
): void {
  const engineer = { preHandler: o.auth.requireRole('engineer') };
  // requireRole ran first: a principal is there.
  const by = (req: { principal: { user: string } | null }): ChangedBy => ({
    who: req.principal!.user,
    source: 'console',
  });

  app.post('/api/cameras/:camera/thresholds', engineer, async (req) => {
    const { camera } = parse(cameraParams, req.params, 'path');
    const b = parse(thresholdBody, req.body, 'body');
    if (!o.control.settings(camera)) throw new Refused(`no running camera ${camera}`, 404);
    const thresholds = await refusedAs409(() => o.control.setThresholds(camera, b, by(req)));
    return { camera, thresholds };
  });

  app.get('/api/audit', engineer, async (req) => {
    const q = parse(auditQuery, req.query, 'query');
    return { persistent: o.control.auditPersistent, entries: o.control.auditLog(q) };
  });

  const reteach = (): ReteachHandle => {
    const h = o.control.reteach;
    if (!h) throw new Refused('re-teach is not available in this daemon', 404);
    return h;
  };
  app.get('/api/reteach', async () => reteach().status());
  app.post('/api/reteach', engineer, async (req) => refusedAs409(() => reteach().start(by(req))));
  app.post('/api/reteach/cancel', engineer, async (req) => ({ cancelled: reteach().cancel(by(req)) }));
  app.post('/api/reteach/promote', engineer, async (req) => refusedAs409(() => reteach().promote(by(req))));
}
