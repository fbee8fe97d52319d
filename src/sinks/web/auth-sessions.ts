// Console sessions: a random 256-bit id per login (the cookie), its user, role and CSRF token.
// A session ends after `idleMs` without a request, at logout, or when `max` are open and it is the least
// recently used. Ids are kept only as SHA-256 digests, so the map itself holds no usable cookie. With a
// sessions file the store reports each change (auth-session-file.ts writes it) and is restored from it at start.
import { createHash, randomBytes } from 'node:crypto';
import type { StoredSession } from './auth-session-file.js';

export type Role = 'viewer' | 'engineer';

export interface Session {
  user: string;
  role: Role;
  csrfToken: string;
}

interface Entry extends Session {
  lastSeen: number;
}

/** A random 256-bit token, base64url (cookie- and header-safe). */
export function randomToken(): string {
  return randomBytes(32).toString('base64url');
}

const digest = (id: string): string => createHash('sha256').update(id).digest('base64');

export class SessionStore {
  /** By digest of the id, in order of last use (a Map keeps insertion order: touched entries move to the end). */
  private readonly byDigest = new Map<string, Entry>();
  /** Told of every change: `urgent` for a session opened or ended, not for an idle clock restarted. */
  onChange: (urgent: boolean) => void = () => undefined;

  constructor(
    private readonly idleMs: number,
    private readonly max: number,
    private readonly now: () => number,
  ) {}

  /** Restores saved sessions that are still live and that `keep` accepts (user and role unchanged); the count. */
  restore(saved: readonly StoredSession[], keep: (user: string, role: Role) => boolean): number {
    const t = this.now();
    const live = saved
      .filter((s) => t - s.lastSeen <= this.idleMs && keep(s.user, s.role))
      .sort((a, b) => a.lastSeen - b.lastSeen)
      .slice(-this.max);
    for (const s of live)
      this.byDigest.set(s.digest, {
        user: s.user,
        role: s.role,
        csrfToken: s.csrfToken,
        lastSeen: s.lastSeen,
      });
    if (live.length !== saved.length) this.onChange(true);
    return live.length;
  }

  /** What a sessions file keeps (digests, never ids), least recently used first. */
  export(): StoredSession[] {
    return [...this.byDigest].map(([digest, e]) => ({ digest, ...e }));
  }

  /** Opens a session; `id` is for the cookie only (never log it). */
  create(user: string, role: Role): { id: string; session: Session } {
    const id = randomToken();
    while (this.byDigest.size >= this.max) this.evictOldest();
    const session = { user, role, csrfToken: randomToken() };
    this.byDigest.set(digest(id), { ...session, lastSeen: this.now() });
    this.onChange(true);
    return { id, session };
  }

  /** The live session with this id (its idle clock restarted), or undefined when unknown or expired. */
  touch(id: string): Session | undefined {
    const key = digest(id);
    const e = this.byDigest.get(key);
    if (!e) return undefined;
    this.byDigest.delete(key);
    const t = this.now();
    if (t - e.lastSeen > this.idleMs) {
      this.onChange(true);
      return undefined;
    }
    e.lastSeen = t;
    this.byDigest.set(key, e);
    this.onChange(false);
    return { user: e.user, role: e.role, csrfToken: e.csrfToken };
  }

  /** Whether the session is open and not idle-expired; unlike touch() it does not restart the idle clock. */
  alive(id: string): boolean {
    const e = this.byDigest.get(digest(id));
    return e !== undefined && this.now() - e.lastSeen <= this.idleMs;
  }

  end(id: string): void {
    if (this.byDigest.delete(digest(id))) this.onChange(true);
  }

  /** Drops expired sessions; the least recently used come first, so the scan stops at the first live one. */
  sweep(): void {
    const t = this.now();
    for (const [k, e] of this.byDigest) {
      if (t - e.lastSeen <= this.idleMs) break;
      this.byDigest.delete(k);
      this.onChange(true);
    }
  }

  get size(): number {
    return this.byDigest.size;
  }

  private evictOldest(): void {
    const first = this.byDigest.keys().next();
    if (first.done) return;
    this.byDigest.delete(first.value);
    this.onChange(true);
  }
}
