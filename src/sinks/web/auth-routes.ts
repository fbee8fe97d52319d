// The session endpoints the console page uses: GET /api/session (who am I, my CSRF token), POST /api/login,
// POST /api/logout. Their answers never carry a session id or a hash; the id travels only in the cookie.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from '../../util/log.js';
import { clearedCookie, sessionCookie, sessionIdFrom } from './auth-cookie.js';
import type { AuthGate, Identified } from './auth-gate.js';
import type { Login } from './auth-login.js';
import type { SessionStore } from './auth-sessions.js';

export interface SessionRoutes {
  gate: AuthGate;
  /** undefined without auth: the loopback server has no login. */
  login: Login | undefined;
  sessions: SessionStore | undefined;
  /** Whether the session cookie gets the Secure flag on this request. */
  secure: (req: FastifyRequest) => boolean;
  /** What the gate found for a request (auth.ts keeps it per request). */
  identified: (req: FastifyRequest) => Identified | undefined;
  log: Logger;
}

const loginBody = {
  type: 'object',
  required: ['user', 'password'],
  additionalProperties: false,
  properties: {
    user: { type: 'string', minLength: 1, maxLength: 64 },
    password: { type: 'string', minLength: 1, maxLength: 1024 },
  },
} as const;

export function registerSessionRoutes(app: FastifyInstance, r: SessionRoutes): void {
  app.get('/api/session', async (req, reply) => {
    const who = r.identified(req);
    if (!who?.principal) return reply.code(401).send({ error: 'login required', authRequired: true });
    const c = who.credential;
    const csrfToken = c.kind === 'session' || c.kind === 'local' ? c.csrfToken : '';
    return { ...who.principal, csrfToken, authRequired: r.gate.authRequired };
  });

  app.post('/api/login', { schema: { body: loginBody } }, async (req, reply) => {
    if (!r.login || !r.sessions)
      return reply.code(404).send({ error: 'no login: this console runs without web.auth' });
    return login(req, reply, r);
  });

  app.post('/api/logout', async (req, reply) => {
    const who = r.identified(req);
    if (who?.credential.kind === 'session') {
      r.sessions?.end(who.credential.id);
      r.log.info({ user: who.principal?.user }, 'console logout');
    }
    return reply.header('set-cookie', clearedCookie(r.secure(req))).send({ ok: true });
  });
}

async function login(req: FastifyRequest, reply: FastifyReply, r: SessionRoutes): Promise<FastifyReply> {
  const { user, password } = req.body as { user: string; password: string };
  const outcome = await r.login!.attempt(user, password, req.ip);
  if (outcome.kind === 'limited')
    return reply
      .code(429)
      .header('retry-after', String(outcome.retryAfterSec))
      .send({ error: 'too many failed logins: try again later', retryAfterSec: outcome.retryAfterSec });
  if (outcome.kind === 'wrong')
    return reply.code(401).send({ error: 'wrong user name or password', authRequired: true });
  // A new id at every login (no session fixation); the session the browser had before ends.
  const old = sessionIdFrom(req.headers.cookie);
  if (old !== undefined) r.sessions!.end(old);
  return reply
    .header('set-cookie', sessionCookie(outcome.id, r.secure(req)))
    .send({ ...outcome.session, authRequired: true });
}
