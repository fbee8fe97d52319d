// Who may use the web server, and for what (docs/console-auth.md). Without `web.auth` (loopback only) every
// request is the person at the line PC, an engineer. With it: console users log in to a session cookie, and
// machines (Prometheus, scripts) send `Authorization: Bearer <token>` and read as viewers. Every mutation
// needs its session's CSRF token; what a route allows is `requireRole`.
import { resolve } from 'node:path';
import type { FastifyInstance, FastifyRequest, preHandlerHookHandler } from 'fastify';
import type { WebAuthConfig } from '../../config/schema.js';
import type { Logger } from '../../util/log.js';
import { SinkConfigError } from '../types.js';
import { AuthGate, type Identified, type Principal } from './auth-gate.js';
import { Login } from './auth-login.js';
import { LoginRateLimit } from './auth-rate-limit.js';
import { registerSessionRoutes } from './auth-routes.js';
import { readSessionFile, SessionFileWriter } from './auth-session-file.js';
import { SessionStore, randomToken, type Role } from './auth-sessions.js';
import { loadUsers, type Users } from './auth-users.js';

export type { Principal, Role };

declare module 'fastify' {
  interface FastifyRequest {
    /** Who sent the request; null when nobody logged in (auth configured). Set before any route runs. */
    principal: Principal | null;
  }
}

export interface AuthHooks {
  /** A preHandler: 401 when nobody is logged in, 403 when the role is too low (a viewer on an engineer route). */
  requireRole(role: Role): preHandlerHookHandler;
  /**
   * For a long-lived connection (the live WebSocket): whether the login it was opened with still holds. A
   * session's ends at logout, idle expiry or eviction; a bearer token's or the loopback engineer's does not.
   */
  stillValid(req: FastifyRequest): () => boolean;
}

export interface AuthOptions {
  /** The config file's folder: `usersFile` is relative to it (default: the working directory). */
  configDir?: string;
  /** Where `tokenEnv` is looked up (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Clock for session expiry and the login window (tests move it instead of sleeping). */
  now?: () => number;
}

const RANK: Record<Role, number> = { viewer: 0, engineer: 1 };

export async function registerAuth(
  app: FastifyInstance,
  cfg: WebAuthConfig | undefined,
  log: Logger,
  opts: AuthOptions = {},
): Promise<AuthHooks> {
  const now = opts.now ?? Date.now;
  const parts = cfg ? configuredParts(cfg, log, opts, now) : undefined;
  const gate = new AuthGate(parts && { sessions: parts.sessions, token: parts.token }, randomToken());
  const seen = new WeakMap<object, Identified>();
  app.decorateRequest('principal', null);
  app.addHook('onRequest', async (req, reply) => {
    const who = gate.identify(req);
    if (who) {
      req.principal = who.principal;
      seen.set(req, who);
    }
    if (await gate.refuse(req, reply, who)) return reply;
  });
  registerSessionRoutes(app, {
    gate,
    login: parts?.login,
    sessions: parts?.sessions,
    secure: (req) => cfg?.cookieSecure === 'always' || req.protocol === 'https',
    identified: (req) => seen.get(req),
    log,
  });
  if (parts?.sessionFile) {
    const file = parts.sessionFile;
    app.addHook('onClose', async () => file.flush());
  }
  log.info(
    { users: parts?.userCount ?? 0, bearer: parts?.token !== undefined, sessionsRestored: parts?.restored },
    cfg ? 'web auth: console users and sessions' : 'web auth: none (loopback only)',
  );
  const stillValid = (req: FastifyRequest): (() => boolean) => {
    const c = seen.get(req)?.credential;
    const sessions = parts?.sessions;
    if (c?.kind !== 'session' || !sessions) return () => true;
    return () => sessions.alive(c.id);
  };
  return { requireRole, stillValid };
}

/** The sessions, users, login and bearer token of a configured `web.auth`; throws naming the key or file. */
function configuredParts(cfg: WebAuthConfig, log: Logger, opts: AuthOptions, now: () => number) {
  let token: string | undefined;
  if (cfg.tokenEnv !== undefined) {
    token = (opts.env ?? process.env)[cfg.tokenEnv];
    if (!token)
      throw new SinkConfigError(
        `web.auth.tokenEnv: the environment variable ${cfg.tokenEnv} is not set or empty`,
      );
  }
  let users;
  try {
    users = loadUsers(cfg, opts.configDir ?? process.cwd());
  } catch (err) {
    throw new SinkConfigError((err as Error).message);
  }
  const sessions = new SessionStore(cfg.sessionIdleMinutes * 60_000, cfg.maxSessions, now);
  const { sessionFile, restored } = persistSessions(cfg, sessions, users, log, opts);
  const limit = new LoginRateLimit(
    { maxFailures: cfg.login.maxFailures, windowMs: cfg.login.windowSec * 1000 },
    now,
  );
  return {
    token,
    sessions,
    sessionFile,
    restored,
    userCount: users.size,
    login: new Login(users, limit, sessions, log),
  };
}

/**
 * With `sessionsFile`: the sessions saved by the last run are restored (those of users still configured with the
 * same role, not idle-expired) and every change is saved (auth-session-file.ts). A file that cannot be written or
 * read is a warning: the console works, with sessions in memory.
 */
function persistSessions(
  cfg: WebAuthConfig,
  sessions: SessionStore,
  users: Users,
  log: Logger,
  opts: AuthOptions,
): { sessionFile?: SessionFileWriter; restored?: number } {
  if (cfg.sessionsFile === null || users.size === 0) return {}; // bearer token only: no sessions
  const path = resolve(opts.configDir ?? process.cwd(), cfg.sessionsFile);
  const file = new SessionFileWriter(path, () => sessions.export(), log);
  if (!file.prepare()) return {};
  sessions.onChange = (urgent) => file.changed(urgent);
  let restored = 0;
  try {
    const sameUser = (name: string, role: Role): boolean => users.get(name.toLowerCase())?.role === role;
    restored = sessions.restore(readSessionFile(path), sameUser);
  } catch (err) {
    log.warn({ err: (err as Error).message }, 'console sessions file unreadable: nobody stays logged in');
    file.changed(true); // replaced by a good one
  }
  return { sessionFile: file, restored };
}

function requireRole(role: Role): preHandlerHookHandler {
  return async (req, reply) => {
    const p = req.principal;
    if (!p) return reply.code(401).send({ error: 'login required', authRequired: true });
    if (RANK[p.role] < RANK[role]) return reply.code(403).send({ error: `this needs the ${role} role` });
  };
}
