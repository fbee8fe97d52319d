// STAND-IN for the console's users and roles (issue 12): only the no-auth case (loopback, the default), so the
// console runs while the real module (users, scrypt, sessions, rate limit) is built in parallel in this same
// file. The contract the console relies on, kept by both:
// - registerAuth(app, cfg, log) → { requireRole(role) }: a preHandler answering 403 below the role;
// - request.principal = { user, role } on every request;
// - GET /api/session → { user, role, csrfToken, authRequired };
// - every POST/PUT/PATCH/DELETE except POST /api/login needs header x-csrf-token = the session's token. Without
//   auth there is one random token per process: a cross-site form post to 127.0.0.1 cannot know it.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest, preHandlerHookHandler } from 'fastify';
import type { Config } from '../../config/schema.js';
import type { Logger } from '../../util/log.js';

export type Role = 'viewer' | 'engineer';
export type WebAuthConfig = NonNullable<Config['web']['auth']>;

export interface Principal {
  user: string;
  role: Role;
}

export interface AuthHooks {
  requireRole(role: Role): preHandlerHookHandler;
}

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal;
  }
}

const RANK: Record<Role, number> = { viewer: 0, engineer: 1 };
const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

function sameToken(presented: string | string[] | undefined, token: string): boolean {
  if (typeof presented !== 'string') return false;
  const a = Buffer.from(presented);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

export async function registerAuth(
  app: FastifyInstance,
  _cfg: WebAuthConfig | undefined,
  _log: Logger,
): Promise<AuthHooks> {
  // Loopback without users: whoever reaches the port is the local engineer (the schema refuses other hosts).
  const local: Principal = { user: 'local', role: 'engineer' };
  const csrfToken = randomBytes(24).toString('base64url');
  app.decorateRequest('principal', null as unknown as Principal);
  app.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
    req.principal = local;
    if (
      MUTATING.has(req.method) &&
      req.url !== '/api/login' &&
      !sameToken(req.headers['x-csrf-token'], csrfToken)
    )
      await reply.code(403).send({ error: 'missing or wrong x-csrf-token' });
  });
  app.get('/api/session', async (req) => ({ ...req.principal, csrfToken, authRequired: false }));
  return {
    requireRole(role) {
      return async (req, reply) => {
        if (RANK[req.principal.role] < RANK[role])
          await reply.code(403).send({ error: `needs the ${role} role` });
      };
    },
  };
}
