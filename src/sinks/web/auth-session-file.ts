// Console sessions on disk (`web.auth.sessionsFile`), so that a daemon restart (an update, a crash, a changed
// config) does not log every operator out mid-shift. The file holds what the in-memory store holds: the SHA-256
// digest of each session id (never the cookie itself, so the file does not let anyone in), its user, role, CSRF
// token and last request time. Written whole, atomically (temporary file, then rename: a kill -9 leaves the
// old file or the new one), mode 0600, asynchronously and one write at a time: a login or logout is written
// within a moment, the idle clocks of busy sessions at most once a minute (a crash can end a session up to a
// minute early, never late). On start, sessions whose user is gone or has another role, or that went idle
// while the daemon was down, are not restored.
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { writeFileAtomicAsync } from '../../util/atomic-file.js';
import type { Role } from './auth-sessions.js';

export interface StoredSession {
  digest: string;
  user: string;
  role: Role;
  csrfToken: string;
  lastSeen: number;
}

interface Warn {
  warn(fields: Record<string, unknown>, msg: string): void;
}

const VERSION = 1;
/** How long the idle clocks of busy sessions may wait to be written. */
export const TOUCH_WRITE_MS = 60_000;

/** The sessions in the file; [] when there is none yet. Throws (with the path) when it cannot be read or parsed. */
export function readSessionFile(path: string): StoredSession[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new Error(`${path}: ${(err as Error).message}`);
  }
  let doc: { version?: unknown; sessions?: unknown };
  try {
    doc = JSON.parse(text) as typeof doc;
  } catch (err) {
    throw new Error(`${path}: not JSON (${(err as Error).message})`);
  }
  if (doc.version !== VERSION || !Array.isArray(doc.sessions))
    throw new Error(`${path}: not a version ${VERSION} session file`);
  return doc.sessions.filter(isStoredSession);
}

function isStoredSession(s: unknown): s is StoredSession {
  const o = s as Partial<StoredSession> | null;
  return (
    typeof o === 'object' &&
    o !== null &&
    typeof o.digest === 'string' &&
    typeof o.user === 'string' &&
    (o.role === 'viewer' || o.role === 'engineer') &&
    typeof o.csrfToken === 'string' &&
    typeof o.lastSeen === 'number'
  );
}

/** Writes snapshots of the sessions, coalesced, off the event loop's critical path. */
export class SessionFileWriter {
  private writing: Promise<void> | null = null;
  private dirty = false;
  private timer: NodeJS.Timeout | undefined;
  private failed = false;

  constructor(
    private readonly path: string,
    private readonly snapshot: () => StoredSession[],
    private readonly log: Warn,
  ) {}

  /** Creates the file's folder; false (with a warning) when it cannot. */
  prepare(): boolean {
    try {
      mkdirSync(dirname(this.path), { recursive: true });
      return true;
    } catch (err) {
      this.warnOnce(err);
      return false;
    }
  }

  /** A change to write: soon when `urgent` (a login, a logout), else within TOUCH_WRITE_MS. */
  changed(urgent: boolean): void {
    this.dirty = true;
    if (this.writing) return; // written again when the current write ends
    if (urgent) {
      clearTimeout(this.timer);
      this.timer = undefined;
      this.writing = this.writeLoop();
    } else this.timer ??= setTimeout(() => this.changed(true), TOUCH_WRITE_MS).unref();
  }

  /** Writes what is pending and waits for it (at shutdown). */
  async flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.dirty && !this.writing) this.writing = this.writeLoop();
    await this.writing;
  }

  private async writeLoop(): Promise<void> {
    while (this.dirty) {
      this.dirty = false;
      const text = `${JSON.stringify({ version: VERSION, sessions: this.snapshot() })}\n`;
      try {
        await writeFileAtomicAsync(this.path, text, 0o600);
        this.failed = false;
      } catch (err) {
        this.warnOnce(err);
      }
    }
    this.writing = null;
  }

  private warnOnce(err: unknown): void {
    if (this.failed) return;
    this.failed = true;
    this.log.warn(
      { file: this.path, err: (err as Error).message },
      'console sessions cannot be saved: a restart will log everyone out (web.auth.sessionsFile)',
    );
  }
}
