// The audit log of live changes: who changed what, when, through which door, and the value before and after.
// Every change is an info log line (always); with the archive enabled it is also a row in the archive's SQLite
// database (table `audit`, sinks/archive/audit-table.ts), where the console and `pinpoint archive export` read
// it. Without the archive the log line is the only record (the console then sees this run's changes only, from
// a bounded memory ring).
//
// The database is written through a connection of its own (WAL, like the archive worker's), on the main
// thread: a change is a human or PLC action, rare, and one small INSERT. The busy timeout is short so a long
// archive transaction can never hold the event loop; a row that meets a busy database waits in a bounded queue
// and is retried a second later.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { AuditQuery, AuditRow } from '../sinks/archive/audit-table.js';
import { AUDIT_SCHEMA, insertAudit, queryAudit } from '../sinks/archive/audit-table.js';
import { INDEX_FILE } from '../sinks/archive/layout.js';
import type { Logger } from '../util/log.js';
import type { ChangedBy } from '../config/change-source.js';

import type { AuditEntry } from '../sinks/control-plane.js';

export type { AuditQuery } from '../sinks/archive/audit-table.js';
export type { AuditEntry } from '../sinks/control-plane.js';

export interface AuditChange {
  what: string;
  camera?: string;
  old: unknown;
  new: unknown;
}

/** How long an INSERT may wait for the archive worker's write lock before it is queued and retried. */
const BUSY_TIMEOUT_MS = 50;
const RETRY_MS = 1000;
/** Rows waiting for a busy or failing database; beyond it the oldest is dropped (it is in the log anyway). */
const MAX_PENDING = 1000;
/** Changes kept in memory for the console when there is no database. */
const RING = 500;

export class AuditLog {
  private db: Database.Database | undefined;
  private readonly pending: Omit<AuditRow, 'id'>[] = [];
  private readonly ring: AuditEntry[] = [];
  private retry: NodeJS.Timeout | undefined;
  private warned = false;

  /** `archiveDir`: the archive's folder when the archive is enabled, else undefined (log only). */
  constructor(
    private readonly log: Logger,
    private readonly archiveDir: string | undefined,
  ) {}

  /** Whether changes are kept in the archive's database (else in the log only). */
  get persistent(): boolean {
    return this.archiveDir !== undefined;
  }

  /** Records one change: an info line now, a database row when the archive is enabled. Never throws. */
  record(by: ChangedBy, c: AuditChange): AuditEntry {
    const e: AuditEntry = {
      time: Date.now(),
      who: by.who,
      source: by.source,
      what: c.what,
      camera: c.camera ?? null,
      old: c.old,
      new: c.new,
    };
    this.log.info(
      {
        audit: true,
        who: e.who,
        source: e.source,
        what: e.what,
        camera: e.camera ?? undefined,
        old: e.old,
        new: e.new,
      },
      `changed ${e.what}${e.camera ? ` of camera ${e.camera}` : ''} (${e.source}, by ${e.who})`,
    );
    this.ring.push(e);
    if (this.ring.length > RING) this.ring.shift();
    if (this.archiveDir !== undefined) {
      this.pending.push({ ...e, old: json(e.old), new: json(e.new) });
      if (this.pending.length > MAX_PENDING) this.pending.shift();
      this.flush();
    }
    return e;
  }

  /** Changes in [from, to), oldest first, the newest `limit` (default 1000): the database's, else this run's. */
  query(q: AuditQuery = {}): AuditEntry[] {
    const db = this.archiveDir !== undefined ? this.open() : undefined;
    if (!db) {
      const from = q.from ?? 0;
      const to = q.to ?? Number.MAX_SAFE_INTEGER;
      const hits = this.ring.filter((e) => e.time >= from && e.time < to);
      return hits.slice(Math.max(0, hits.length - (q.limit ?? 1000)));
    }
    return queryAudit(db, q).map((r) => ({ ...r, old: parse(r.old), new: parse(r.new) }));
  }

  close(): void {
    clearTimeout(this.retry);
    this.retry = undefined;
    this.flush();
    this.db?.close();
    this.db = undefined;
  }

  /** Writes what is pending; on a busy or failing database, tries again later (bounded, see MAX_PENDING). */
  private flush(): void {
    const db = this.open();
    while (db && this.pending.length > 0) {
      try {
        insertAudit(db, this.pending[0]);
        this.pending.shift();
      } catch (err) {
        this.problem(err);
        break;
      }
    }
    if (this.pending.length > 0 && !this.retry) {
      this.retry = setTimeout(() => {
        this.retry = undefined;
        this.flush();
      }, RETRY_MS);
      this.retry.unref();
    }
  }

  private open(): Database.Database | undefined {
    if (this.db || this.archiveDir === undefined) return this.db;
    try {
      mkdirSync(this.archiveDir, { recursive: true });
      const db = new Database(join(this.archiveDir, INDEX_FILE));
      db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      db.exec(AUDIT_SCHEMA);
      this.db = db;
    } catch (err) {
      this.problem(err);
    }
    return this.db;
  }

  private problem(err: unknown): void {
    if (this.warned) return;
    this.warned = true;
    this.log.warn(
      { err: (err as Error).message, pending: this.pending.length },
      'audit log: the archive database cannot be written now; changes are logged and retried',
    );
  }
}

function json(v: unknown): string | null {
  return v === undefined || v === null ? null : JSON.stringify(v);
}

function parse(s: string | null): unknown {
  return s === null ? null : JSON.parse(s);
}
