// The archive's index in SQLite (better-sqlite3, WAL): one row per kept part, the operator labels, and the
// queries the console and `pinpoint archive export` ask: by part id, time range, camera, verdict/reason, label.
// WAL lets a reader (the console, an export) run while the daemon writes; a row is inserted only after its
// files are in place and deleted before its files go, so a crash leaves at worst files without a row, which
// the store removes on open.
import Database from 'better-sqlite3';
import type { Verdict, VerdictReason } from '../../pipeline/result.js';
import type { AuditQuery, AuditRow } from './audit-table.js';
import { AUDIT_SCHEMA, queryAudit } from './audit-table.js';

export const LABELS = ['false-reject', 'confirmed-defect'] as const;
export type LabelKind = (typeof LABELS)[number];

export interface ArchiveEntry {
  id: number;
  /** Generated, file-system safe (layout.ts). */
  key: string;
  partId: string;
  cameraId: string;
  captureTime: number;
  decideTime: number;
  verdict: Verdict;
  reason: VerdictReason;
  score: number | null;
  /** Relative to the archive dir. */
  path: string;
  bytes: number;
  frameFormat: 'png' | 'jpeg' | null;
  mapFormat: 'npy' | 'png16' | null;
  /** png16 maps: map value = pixel · mapScale. */
  mapScale: number | null;
}

export type NewEntry = Omit<ArchiveEntry, 'id'>;

export interface Label {
  /** null: a note only. */
  label: LabelKind | null;
  note: string | null;
  who: string;
  time: number;
}

export interface ArchiveQuery {
  partId?: string;
  cameraId?: string;
  /** Decide time, ms since the epoch, inclusive. */
  from?: number;
  /** Decide time, ms since the epoch, exclusive. */
  to?: number;
  verdict?: Verdict;
  reason?: VerdictReason;
  label?: LabelKind;
  /** Default 1000. */
  limit?: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS parts (
  id INTEGER PRIMARY KEY,
  key TEXT NOT NULL UNIQUE,
  part_id TEXT NOT NULL,
  camera TEXT NOT NULL,
  capture_time INTEGER NOT NULL,
  decide_time INTEGER NOT NULL,
  verdict TEXT NOT NULL,
  reason TEXT NOT NULL,
  score REAL,
  path TEXT NOT NULL,
  bytes INTEGER NOT NULL,
  frame_format TEXT,
  map_format TEXT,
  map_scale REAL
);
CREATE INDEX IF NOT EXISTS parts_part ON parts(part_id);
CREATE INDEX IF NOT EXISTS parts_time ON parts(decide_time);
CREATE INDEX IF NOT EXISTS parts_camera_time ON parts(camera, decide_time);
CREATE INDEX IF NOT EXISTS parts_verdict ON parts(verdict, reason, decide_time);
-- The console's per-camera reject counts, read off the index alone.
CREATE INDEX IF NOT EXISTS parts_verdict_camera ON parts(verdict, reason, camera);
CREATE TABLE IF NOT EXISTS labels (
  id INTEGER PRIMARY KEY,
  part INTEGER NOT NULL REFERENCES parts(id) ON DELETE CASCADE,
  label TEXT CHECK (label IS NULL OR label IN ('false-reject', 'confirmed-defect')),
  note TEXT,
  who TEXT NOT NULL,
  time INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS labels_part ON labels(part);
CREATE INDEX IF NOT EXISTS labels_label ON labels(label);
${AUDIT_SCHEMA}`;

const COLUMNS = `p.id, p.key, p.part_id AS partId, p.camera AS cameraId, p.capture_time AS captureTime,
  p.decide_time AS decideTime, p.verdict, p.reason, p.score, p.path, p.bytes, p.frame_format AS frameFormat,
  p.map_format AS mapFormat, p.map_scale AS mapScale`;

export class ArchiveIndex {
  private readonly db: Database.Database;

  /** `busyTimeoutMs`: how long a statement waits for another connection's write lock (default 2 s: the worker). */
  constructor(file: string, opts: { readonly?: boolean; busyTimeoutMs?: number } = {}) {
    this.db = new Database(file, { readonly: opts.readonly === true, fileMustExist: opts.readonly === true });
    if (!opts.readonly) {
      this.db.pragma('journal_mode = WAL');
      // NORMAL in WAL: a process crash loses nothing committed; a power cut may lose the last transactions.
      this.db.pragma('synchronous = NORMAL');
      this.db.exec(SCHEMA);
    }
    this.db.pragma('foreign_keys = ON');
    this.db.pragma(`busy_timeout = ${opts.busyTimeoutMs ?? 2000}`);
  }

  insert(e: NewEntry): number {
    const r = this.db
      .prepare(
        `INSERT INTO parts (key, part_id, camera, capture_time, decide_time, verdict, reason, score, path, bytes,
           frame_format, map_format, map_scale)
         VALUES (@key, @partId, @cameraId, @captureTime, @decideTime, @verdict, @reason, @score, @path, @bytes,
           @frameFormat, @mapFormat, @mapScale)`,
      )
      .run(e);
    return Number(r.lastInsertRowid);
  }

  query(q: ArchiveQuery = {}): ArchiveEntry[] {
    const where: string[] = [];
    const args: Record<string, unknown> = { limit: q.limit ?? 1000 };
    const add = (cond: string, key: string, v: unknown): void => {
      if (v === undefined) return;
      where.push(cond);
      args[key] = v;
    };
    add('p.part_id = @partId', 'partId', q.partId);
    add('p.camera = @cameraId', 'cameraId', q.cameraId);
    add('p.decide_time >= @from', 'from', q.from);
    add('p.decide_time < @to', 'to', q.to);
    add('p.verdict = @verdict', 'verdict', q.verdict);
    add('p.reason = @reason', 'reason', q.reason);
    add('EXISTS (SELECT 1 FROM labels l WHERE l.part = p.id AND l.label = @label)', 'label', q.label);
    const sql = `SELECT ${COLUMNS} FROM parts p ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
      ORDER BY p.decide_time, p.id LIMIT @limit`;
    return this.db.prepare(sql).all(args) as ArchiveEntry[];
  }

  get(id: number): ArchiveEntry | undefined {
    return this.db.prepare(`SELECT ${COLUMNS} FROM parts p WHERE p.id = ?`).get(id) as
      ArchiveEntry | undefined;
  }

  /** An operator's label or note on an entry (the console writes these). */
  addLabel(entryId: number, l: Label): void {
    if (l.label !== null && !(LABELS as readonly string[]).includes(l.label))
      throw new Error(`label must be one of ${LABELS.join(', ')}`);
    this.db
      .prepare('INSERT INTO labels (part, label, note, who, time) VALUES (?, ?, ?, ?, ?)')
      .run(entryId, l.label, l.note, l.who, l.time);
  }

  labels(entryId: number): Label[] {
    return this.db
      .prepare('SELECT label, note, who, time FROM labels WHERE part = ? ORDER BY time, id')
      .all(entryId) as Label[];
  }

  /** Live changes (audit-table.ts), for the export. */
  audit(q: AuditQuery = {}): AuditRow[] {
    return queryAudit(this.db, q);
  }

  totalBytes(): number {
    return (this.db.prepare('SELECT COALESCE(SUM(bytes), 0) AS b FROM parts').get() as { b: number }).b;
  }

  count(): number {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM parts').get() as { n: number }).n;
  }

  /** The oldest entries, unlabelled ones only unless `labelled`. */
  oldest(n: number, labelled: boolean): ArchiveEntry[] {
    const cond = labelled ? '' : 'WHERE NOT EXISTS (SELECT 1 FROM labels l WHERE l.part = p.id)';
    return this.db
      .prepare(`SELECT ${COLUMNS} FROM parts p ${cond} ORDER BY p.decide_time, p.id LIMIT ?`)
      .all(n) as ArchiveEntry[];
  }

  /** Every entry's path and id (recovery compares them with the files). */
  paths(): { id: number; path: string }[] {
    return this.db.prepare('SELECT id, path FROM parts').all() as { id: number; path: string }[];
  }

  delete(id: number): void {
    this.db.prepare('DELETE FROM parts WHERE id = ?').run(id);
  }

  deleteMany(ids: number[]): void {
    const del = this.db.prepare('DELETE FROM parts WHERE id = ?');
    this.db.transaction((xs: number[]) => {
      for (const id of xs) del.run(id);
    })(ids);
  }

  close(): void {
    this.db.close();
  }
}
