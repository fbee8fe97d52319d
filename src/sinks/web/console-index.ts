// The console's view of the parts archive index (SQLite, written by the archive worker thread): recent parts per
// camera, search, neighbours for next/previous, operator labels, per-camera label counts and the what-if counts.
// Its own connection on the event loop: WAL lets it read while the worker writes (readers never wait for the
// writer), every list query has a LIMIT and runs on an index, so a call costs well under a millisecond on a
// full archive. Label writes are rare single-row inserts; the worker may hold the write lock (an insert, a trim
// on a slow disk), and better-sqlite3 waits synchronously, so a label never waits on the event loop for more than
// BUSY_MS: it is tried again a little later (off the event loop's back) until LABEL_WAIT_MS, then refused as busy.
// Opened lazily: the worker creates the file when it starts.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { ArchiveEntry, Label, LabelKind } from '../archive/archive-index.js';
import { ArchiveIndex, LABELS } from '../archive/archive-index.js';
import { INDEX_FILE } from '../archive/layout.js';

/** An entry as the console lists it: with its latest label (the operator's current word on it). */
export interface ConsoleEntry extends ArchiveEntry {
  label: LabelKind | null;
}

export interface LabelCounts {
  /** Rejects (score-based) in the archive. */
  rejects: number;
  /** Rejects an operator marked false reject. */
  falseRejects: number;
  /** Rejects an operator confirmed. */
  confirmedRejects: number;
  /** Passed parts an operator confirmed as defective: escapes. */
  escapes: number;
  /** falseRejects / (falseRejects + confirmedRejects); null before any review. */
  falseRejectRate: number | null;
}

export interface WhatIf {
  threshold: number;
  /** Scored entries considered (the camera's most recent `window`). */
  scored: number;
  /** Of those, rejected today and projected at `threshold` (score > threshold rejects, as the engine decides). */
  currentRejects: number;
  projectedRejects: number;
  /** Labelled parts whose verdict would change at `threshold`. */
  flips: {
    id: number;
    partId: string;
    score: number;
    label: LabelKind;
    verdict: string;
    projected: string;
  }[];
}

export interface ScorePoint {
  score: number;
  verdict: string;
  label: LabelKind | null;
}

/** Each camera in the archive once: one index seek per camera (a skip-scan), not a pass over every part. */
const CAMERAS = `WITH RECURSIVE c(camera) AS (
    SELECT MIN(camera) FROM parts
    UNION ALL SELECT (SELECT MIN(camera) FROM parts WHERE camera > c.camera) FROM c WHERE c.camera IS NOT NULL)
  SELECT camera FROM c WHERE camera IS NOT NULL`;

/** The most recent scored parts per camera the what-if looks at, unless asked otherwise. */
export const WHATIF_WINDOW = 5000;
export const MAX_LIST = 500;
/** The longest one statement may block the event loop waiting for the worker's write lock. */
const BUSY_MS = 20;
const RETRY_MS = 25;
/** How long a label is tried before the request is answered 503. */
const LABEL_WAIT_MS = 3000;

const LATEST_LABEL = `(SELECT l.label FROM labels l WHERE l.part = p.id AND l.label IS NOT NULL
  ORDER BY l.time DESC, l.id DESC LIMIT 1)`;
const COLUMNS = `p.id, p.key, p.part_id AS partId, p.camera AS cameraId, p.capture_time AS captureTime,
  p.decide_time AS decideTime, p.verdict, p.reason, p.score, p.path, p.bytes, p.frame_format AS frameFormat,
  p.map_format AS mapFormat, p.map_scale AS mapScale, ${LATEST_LABEL} AS label`;
const clampLimit = (n: number | undefined, dflt: number): number =>
  Math.max(1, Math.min(n ?? dflt, MAX_LIST));

export class ConsoleIndex {
  private index: ArchiveIndex | undefined;
  private db: Database.Database | undefined;

  constructor(readonly dir: string) {}

  /** Whether the archive exists yet (the worker creates it at start). */
  open(): boolean {
    if (this.db) return true;
    const file = join(this.dir, INDEX_FILE);
    if (!existsSync(file)) return false;
    this.index = new ArchiveIndex(file, { busyTimeoutMs: BUSY_MS });
    // A second connection for the console's own queries (ArchiveIndex keeps its connection private). WAL: reads
    // do not wait for the writer.
    this.db = new Database(file, { fileMustExist: true });
    this.db.pragma(`busy_timeout = ${BUSY_MS}`);
    return true;
  }

  private get q(): Database.Database {
    if (!this.open()) throw new ArchiveMissingError();
    return this.db!;
  }

  /** Newest first. */
  recent(cameraId: string, limit?: number): ConsoleEntry[] {
    return this.q
      .prepare(
        `SELECT ${COLUMNS} FROM parts p WHERE p.camera = ? ORDER BY p.decide_time DESC, p.id DESC LIMIT ?`,
      )
      .all(cameraId, clampLimit(limit, 50)) as ConsoleEntry[];
  }

  /** By part id and/or decide-time range [from, to), optionally one camera; newest first. */
  search(s: {
    partId?: string;
    cameraId?: string;
    from?: number;
    to?: number;
    limit?: number;
  }): ConsoleEntry[] {
    const where: string[] = [];
    const args: Record<string, unknown> = { limit: clampLimit(s.limit, 200) };
    const add = (cond: string, key: string, v: unknown): void => {
      if (v === undefined) return;
      where.push(cond);
      args[key] = v;
    };
    add('p.part_id = @partId', 'partId', s.partId);
    add('p.camera = @cameraId', 'cameraId', s.cameraId);
    add('p.decide_time >= @from', 'from', s.from);
    add('p.decide_time < @to', 'to', s.to);
    const cond = where.length ? `WHERE ${where.join(' AND ')}` : '';
    return this.q
      .prepare(`SELECT ${COLUMNS} FROM parts p ${cond} ORDER BY p.decide_time DESC, p.id DESC LIMIT @limit`)
      .all(args) as ConsoleEntry[];
  }

  get(id: number): ConsoleEntry | undefined {
    return this.q.prepare(`SELECT ${COLUMNS} FROM parts p WHERE p.id = ?`).get(id) as
      ConsoleEntry | undefined;
  }

  /** The same camera's entry decided just before / after this one (ids of ties break the order). */
  neighbours(e: ArchiveEntry): { previous: number | null; next: number | null } {
    const one = (cmp: string, dir: string): number | null => {
      const r = this.q
        .prepare(
          `SELECT id FROM parts WHERE camera = ? AND (decide_time, id) ${cmp} (?, ?)
           ORDER BY decide_time ${dir}, id ${dir} LIMIT 1`,
        )
        .get(e.cameraId, e.decideTime, e.id) as { id: number } | undefined;
      return r?.id ?? null;
    };
    return { previous: one('<', 'DESC'), next: one('>', 'ASC') };
  }

  labels(id: number): Label[] {
    if (!this.open()) throw new ArchiveMissingError();
    return this.index!.labels(id);
  }

  /** Stores a label; the archive worker's write lock is waited for in short steps (see the header). */
  async addLabel(id: number, l: Label): Promise<void> {
    if (!this.open()) throw new ArchiveMissingError();
    const until = Date.now() + LABEL_WAIT_MS;
    for (;;) {
      try {
        this.index!.addLabel(id, l);
        return;
      } catch (err) {
        if ((err as { code?: string }).code !== 'SQLITE_BUSY') throw err;
        if (Date.now() >= until) throw new ArchiveBusyError();
        await new Promise((r) => setTimeout(r, RETRY_MS));
      }
    }
  }

  /** Per camera: rejects, reviews and escapes by each part's latest label. */
  labelCounts(): Record<string, LabelCounts> {
    // Small indexed queries instead of one pass over every part (which took 0.5 s on the event loop at 200 000
    // entries, polled by every open status page): the archive's cameras by a skip-scan of the camera index,
    // score rejects per camera off a covering index, and the latest label of the labelled parts only (few).
    const out: Record<string, LabelCounts> = {};
    for (const { camera } of this.q.prepare(CAMERAS).all() as { camera: string }[])
      out[camera] = { rejects: 0, falseRejects: 0, confirmedRejects: 0, escapes: 0, falseRejectRate: null };
    const rejects = this.q
      .prepare(
        `SELECT camera, COUNT(*) AS n FROM parts WHERE verdict = 'reject' AND reason = 'score' GROUP BY camera`,
      )
      .all() as { camera: string; n: number }[];
    for (const r of rejects) out[r.camera].rejects = r.n;
    const labelled = this.q
      .prepare(
        `SELECT camera, verdict, reason, label, COUNT(*) AS n FROM
           (SELECT p.camera, p.verdict, p.reason, ${LATEST_LABEL} AS label FROM parts p
            WHERE p.id IN (SELECT part FROM labels WHERE label IS NOT NULL))
         GROUP BY camera, verdict, reason, label`,
      )
      .all() as { camera: string; verdict: string; reason: string; label: LabelKind | null; n: number }[];
    for (const r of labelled) {
      const c = out[r.camera];
      const scoreReject = r.verdict === 'reject' && r.reason === 'score';
      if (scoreReject && r.label === 'false-reject') c.falseRejects += r.n;
      if (scoreReject && r.label === 'confirmed-defect') c.confirmedRejects += r.n;
      if (r.verdict === 'ok' && r.label === 'confirmed-defect') c.escapes += r.n;
    }
    for (const c of Object.values(out)) {
      const reviewed = c.falseRejects + c.confirmedRejects;
      c.falseRejectRate = reviewed > 0 ? c.falseRejects / reviewed : null;
    }
    return out;
  }

  /** The camera's most recent scored parts (score, verdict, latest label), newest first. */
  scores(cameraId: string, window = WHATIF_WINDOW): ScorePoint[] {
    return this.q
      .prepare(
        `SELECT p.score, p.verdict, ${LATEST_LABEL} AS label FROM parts p
         WHERE p.camera = ? AND p.score IS NOT NULL ORDER BY p.decide_time DESC, p.id DESC LIMIT ?`,
      )
      .all(cameraId, window) as ScorePoint[];
  }

  /** Exact counts over the camera's most recent `window` scored parts at a reject threshold. */
  whatIf(cameraId: string, threshold: number, window = WHATIF_WINDOW): WhatIf {
    const recent = `SELECT p.id, p.part_id AS partId, p.score, p.verdict, ${LATEST_LABEL} AS label FROM parts p
      WHERE p.camera = @cam AND p.score IS NOT NULL ORDER BY p.decide_time DESC, p.id DESC LIMIT @window`;
    const args = { cam: cameraId, window, t: threshold };
    const c = this.q
      .prepare(
        `SELECT COUNT(*) AS scored, COALESCE(SUM(verdict = 'reject'), 0) AS cur, COALESCE(SUM(score > @t), 0) AS proj
         FROM (${recent})`,
      )
      .get(args) as { scored: number; cur: number; proj: number };
    const flips = (
      this.q
        .prepare(`SELECT * FROM (${recent}) WHERE label IS NOT NULL AND (score > @t) != (verdict = 'reject')`)
        .all(args) as { id: number; partId: string; score: number; label: LabelKind; verdict: string }[]
    ).map((f) => ({ ...f, projected: f.score > threshold ? 'reject' : 'ok' }));
    return { threshold, scored: c.scored, currentRejects: c.cur, projectedRejects: c.proj, flips };
  }

  close(): void {
    this.index?.close();
    this.db?.close();
    this.index = undefined;
    this.db = undefined;
  }
}

/** The archive stayed locked by its writer for LABEL_WAIT_MS (a very slow disk): the client may try again. */
export class ArchiveBusyError extends Error {
  constructor() {
    super('the archive is busy writing (slow disk): the label was not stored, try again');
  }
}

export class ArchiveMissingError extends Error {
  constructor() {
    super('the parts archive is not there (archive.enabled is false, or it has not started yet)');
  }
}

export { LABELS };
