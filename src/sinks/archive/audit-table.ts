// The audit table in the archive's SQLite database: one row per live change (thresholds, ignore zones, config
// reloads, model promotions), who made it, when, and the value before and after (JSON). The archive index
// creates the table with its own schema (archive-index.ts); the daemon writes it through its own small WAL
// connection (app/audit-log.ts), and `pinpoint archive export` reads it.
import type Database from 'better-sqlite3';

export const AUDIT_SCHEMA = `
CREATE TABLE IF NOT EXISTS audit (
  id INTEGER PRIMARY KEY,
  time INTEGER NOT NULL,
  who TEXT NOT NULL,
  source TEXT NOT NULL,
  what TEXT NOT NULL,
  camera TEXT,
  old TEXT,
  new TEXT
);
CREATE INDEX IF NOT EXISTS audit_time ON audit(time);
`;

/** One change as stored; `old` and `new` are JSON text (null: there was none / it was removed). */
export interface AuditRow {
  id: number;
  /** ms since the epoch. */
  time: number;
  who: string;
  source: string;
  /** What changed, e.g. `thresholds`, `ignore`, `camera added`, `config reload`. */
  what: string;
  camera: string | null;
  old: string | null;
  new: string | null;
}

export interface AuditQuery {
  /** ms since the epoch, inclusive. */
  from?: number;
  /** ms since the epoch, exclusive. */
  to?: number;
  /** Newest rows first when limited; default 1000. */
  limit?: number;
}

export function insertAudit(db: Database.Database, r: Omit<AuditRow, 'id'>): number {
  const res = db
    .prepare(
      'INSERT INTO audit (time, who, source, what, camera, old, new) VALUES (@time, @who, @source, @what, @camera, @old, @new)',
    )
    .run(r);
  return Number(res.lastInsertRowid);
}

/** The newest `limit` rows in the range, returned oldest first. An index without the table (older) has none. */
export function queryAudit(db: Database.Database, q: AuditQuery = {}): AuditRow[] {
  const has = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'audit'").get();
  if (!has) return [];
  const rows = db
    .prepare(
      `SELECT id, time, who, source, what, camera, old, new FROM audit
       WHERE time >= @from AND time < @to ORDER BY time DESC, id DESC LIMIT @limit`,
    )
    .all({ from: q.from ?? 0, to: q.to ?? Number.MAX_SAFE_INTEGER, limit: q.limit ?? 1000 }) as AuditRow[];
  return rows.reverse();
}
