// One login attempt: rate limit first, then scrypt (off the event loop, a few at a time so a login storm cannot
// take the CPU from inspection), then a new session. Logs name known users only: a password typed into the
// name field must not end up in the journal.
import type { Logger } from '../../util/log.js';
import { createLogThrottle, type LogThrottle } from '../../util/log-throttle.js';
import { decoyHash, verifyPassword, type PasswordHash } from './auth-password.js';
import type { LoginRateLimit } from './auth-rate-limit.js';
import type { Session, SessionStore } from './auth-sessions.js';
import type { Users } from './auth-users.js';

export type LoginOutcome =
  | { kind: 'ok'; id: string; session: Session }
  | { kind: 'wrong' }
  | { kind: 'limited'; retryAfterSec: number };

/** Verifications at once; libuv runs four by default, and inference needs the cores more than a login. */
const MAX_IN_FLIGHT = 2;

export class Login {
  private inFlight = 0;
  private readonly decoy: PasswordHash;
  private readonly throttle: LogThrottle;

  constructor(
    private readonly users: Users,
    private readonly limit: LoginRateLimit,
    private readonly sessions: SessionStore,
    private readonly log: Logger,
  ) {
    this.decoy = decoyHash(users.values().next().value?.hash);
    this.throttle = createLogThrottle(log);
  }

  async attempt(name: string, password: string, address: string): Promise<LoginOutcome> {
    const user = this.users.get(name.toLowerCase());
    const who = user ? user.name : '(unknown name)';
    const wait = this.limit.retryAfterSec(name, address);
    if (wait > 0) {
      this.throttle.warn('limited', { user: who, address }, 'console login refused: too many failures');
      return { kind: 'limited', retryAfterSec: wait };
    }
    if (this.inFlight >= MAX_IN_FLIGHT) return { kind: 'limited', retryAfterSec: 1 };
    this.inFlight++;
    let ok: boolean;
    try {
      ok = await verifyPassword(password, user?.hash ?? this.decoy);
    } finally {
      this.inFlight--;
    }
    if (!ok || !user) {
      this.limit.failed(name, address);
      this.throttle.warn('failed', { user: who, address }, 'console login failed');
      return { kind: 'wrong' };
    }
    this.limit.succeeded(name);
    this.sessions.sweep();
    const opened = this.sessions.create(user.name, user.role);
    this.log.info({ user: user.name, role: user.role, address }, 'console login');
    return { kind: 'ok', ...opened };
  }
}
