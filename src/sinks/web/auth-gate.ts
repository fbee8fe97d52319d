// Every request's first stop: who sends it (session cookie, bearer token, or the loopback stand-in), whether
// it may reach the path at all, and whether a mutation carries its session's CSRF token. What each route
// then allows is `requireRole` (auth.ts).
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { sessionIdFrom } from './auth-cookie.js';
import { crossSiteWebSocket, loopbackHostProblem } from './auth-origin.js';
import type { Role, SessionStore } from './auth-sessions.js';

export interface Principal {
  user: string;
  role: Role;
}

/** How a request proved who it is: the CSRF rule depends on it. */
export type Credential =
  | { kind: 'none' }
  | { kind: 'local'; csrfToken: string }
  | { kind: 'session'; id: string; csrfToken: string }
  | { kind: 'bearer' };

export interface Identified {
  principal: Principal | null;
  credential: Credential;
}

/** The user a bearer token stands for: machines read, they do not label or change thresholds. */
export const BEARER_PRINCIPAL: Principal = { user: 'token', role: 'viewer' };
/** Who a request is on the loopback server without auth: the person at the line PC. */
export const LOCAL_PRINCIPAL: Principal = { user: 'local', role: 'engineer' };

export const CSRF_HEADER = 'x-csrf-token';
/** Paths open without a login: the login itself and what the page asks before it. */
const OPEN_PATHS = new Set(['/api/session', '/api/login', '/api/logout']);
const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** Constant-time string comparison (digests first, so unequal lengths take the same time). */
export function sameSecret(a: string, b: string): boolean {
  const da = createHash('sha256').update(a).digest();
  const db = createHash('sha256').update(b).digest();
  return timingSafeEqual(da, db);
}

export class AuthGate {
  constructor(
    /** undefined: no auth (loopback); otherwise the sessions and the bearer token (if any). */
    private readonly auth: { sessions: SessionStore; token: string | undefined } | undefined,
    /** The loopback server's one CSRF token for this process. */
    private readonly localCsrf: string,
  ) {}

  get authRequired(): boolean {
    return this.auth !== undefined;
  }

  /** Who sent the request; `false` when it carried a bearer token that is wrong (401 at once). */
  identify(req: FastifyRequest): Identified | false {
    if (!this.auth)
      return { principal: LOCAL_PRINCIPAL, credential: { kind: 'local', csrfToken: this.localCsrf } };
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
    if (bearer) {
      if (this.auth.token === undefined || !sameSecret(bearer[1], this.auth.token)) return false;
      return { principal: BEARER_PRINCIPAL, credential: { kind: 'bearer' } };
    }
    const id = sessionIdFrom(req.headers.cookie);
    const s = id === undefined ? undefined : this.auth.sessions.touch(id);
    if (!s || id === undefined) return { principal: null, credential: { kind: 'none' } };
    return {
      principal: { user: s.user, role: s.role },
      credential: { kind: 'session', id, csrfToken: s.csrfToken },
    };
  }

  /** Refuses the request (and says why) when it may not go on; returns whether it was refused. */
  async refuse(req: FastifyRequest, reply: FastifyReply, who: Identified | false): Promise<boolean> {
    const refusal = this.refusal(req, who);
    if (!refusal) return false;
    if (refusal.code === 401 && this.auth?.token !== undefined)
      void reply.header('www-authenticate', 'Bearer');
    // A WebSocket handshake's socket has left the HTTP server: refused here (before @fastify/websocket's own
    // hooks run), nobody else would close it, and a server with it open never finishes closing.
    if (req.headers.upgrade !== undefined) {
      void reply.header('connection', 'close');
      reply.raw.once('finish', () => req.raw.socket.end());
    }
    await reply.code(refusal.code).send(refusal.body);
    return true;
  }

  private refusal(req: FastifyRequest, who: Identified | false): { code: number; body: object } | undefined {
    const path = req.url.split('?', 1)[0];
    const origin = (this.auth ? undefined : loopbackHostProblem(req)) ?? crossSiteWebSocket(req);
    if (origin) return { code: 403, body: { error: origin } };
    if (who === false) return { code: 401, body: { error: 'wrong bearer token', authRequired: true } };
    const guarded = path === '/metrics' || (path.startsWith('/api/') && !OPEN_PATHS.has(path));
    if (guarded && !who.principal)
      return { code: 401, body: { error: 'login required', authRequired: true } };
    if (MUTATING.has(req.method) && path !== '/api/login' && !csrfOk(req, who.credential))
      return { code: 403, body: { error: `missing or wrong ${CSRF_HEADER} header` } };
    return undefined;
  }
}

/**
 * A browser sends cookies (and reaches 127.0.0.1) on its own, so a session or loopback mutation must prove it
 * comes from our page by the token only our page can read. A bearer token is never sent by a browser on its
 * own: it needs none. A logout without a session has nothing to protect.
 */
function csrfOk(req: FastifyRequest, c: Credential): boolean {
  if (c.kind === 'bearer') return true;
  if (c.kind === 'none') return req.url.split('?', 1)[0] === '/api/logout';
  const sent = req.headers[CSRF_HEADER];
  return typeof sent === 'string' && sameSecret(sent, c.csrfToken);
}
