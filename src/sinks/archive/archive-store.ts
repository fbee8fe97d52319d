// The archive on disk: entry folders plus the SQLite index, kept in agreement and within `maxBytes`.
//
// Crash safety (kill -9 at any moment): an entry is written into staging/, renamed into parts/ in one step,
// and only then indexed; removal deletes the row first, then the folder. So a crash leaves at worst a staging
// folder or an unindexed entry folder (both removed on open) or, never, a row without its folder (pruned on open
// anyway, in case someone deleted files by hand).
import { mkdirSync, readdirSync, renameSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Logger } from '../../util/log.js';
import type { NewEntry } from './archive-index.js';
import { ArchiveIndex } from './archive-index.js';
import { INDEX_FILE, PARTS_DIR, STAGING_DIR, entryPath } from './layout.js';

export interface RecoveryReport {
  stagingRemoved: number;
  orphansRemoved: number;
  missingPruned: number;
}

export interface StagedEntry extends Omit<NewEntry, 'path' | 'bytes'> {
  files: Record<string, Uint8Array | string>;
}

export class ArchiveStore {
  readonly index: ArchiveIndex;
  private bytes: number;
  private warnedLabelled = false;

  constructor(
    readonly dir: string,
    private readonly maxBytes: number,
    private readonly log: Logger,
  ) {
    mkdirSync(join(dir, STAGING_DIR), { recursive: true });
    mkdirSync(join(dir, PARTS_DIR), { recursive: true });
    this.index = new ArchiveIndex(join(dir, INDEX_FILE));
    const r = this.recover();
    if (r.stagingRemoved + r.orphansRemoved + r.missingPruned > 0)
      log.info({ ...r }, 'archive: repaired after an unclean stop');
    this.bytes = this.index.totalBytes();
    // A lowered maxMegabytes applies from the start.
    const trimmed = this.trim();
    if (trimmed > 0) log.info({ entries: trimmed, maxBytes }, 'archive: trimmed to its size bound');
  }

  get totalBytes(): number {
    return this.bytes;
  }

  /** Writes an entry's files, moves them into place, indexes them, then trims the archive to its bound. */
  add(e: StagedEntry): number {
    const { files, ...meta } = e;
    const staging = join(this.dir, STAGING_DIR, e.key);
    const path = entryPath(e.cameraId, e.decideTime, e.key);
    let bytes = 0;
    try {
      mkdirSync(staging, { recursive: true });
      for (const [name, data] of Object.entries(files)) {
        writeFileSync(join(staging, name), data);
        bytes += typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength;
      }
      mkdirSync(dirname(join(this.dir, path)), { recursive: true });
      renameSync(staging, join(this.dir, path));
    } catch (err) {
      rmSync(staging, { recursive: true, force: true });
      throw err;
    }
    try {
      this.index.insert({ ...meta, path, bytes });
    } catch (err) {
      // A full disk fails SQLite too: the folder must not outlive its missing row.
      rmSync(join(this.dir, path), { recursive: true, force: true });
      throw err;
    }
    this.bytes += bytes;
    this.trim();
    return bytes;
  }

  /** Deletes the oldest entries until the archive fits: unlabelled first, labelled only when nothing else is left. */
  trim(): number {
    let removed = 0;
    while (this.bytes > this.maxBytes) {
      let batch = this.index.oldest(16, false);
      if (batch.length === 0) {
        batch = this.index.oldest(16, true);
        if (batch.length === 0) break;
        if (!this.warnedLabelled) {
          this.warnedLabelled = true;
          this.log.warn(
            { maxBytes: this.maxBytes },
            'archive: only labelled entries are left and the size bound is exceeded: deleting the oldest labelled ones',
          );
        }
      }
      for (const e of batch) {
        if (this.bytes <= this.maxBytes) break;
        this.index.delete(e.id);
        rmSync(join(this.dir, e.path), { recursive: true, force: true });
        this.bytes -= e.bytes;
        removed++;
      }
    }
    return removed;
  }

  close(): void {
    this.index.close();
  }

  /** Makes the index and the folders agree (see the header). */
  private recover(): RecoveryReport {
    const report: RecoveryReport = { stagingRemoved: 0, orphansRemoved: 0, missingPruned: 0 };
    const stagingDir = join(this.dir, STAGING_DIR);
    for (const name of readdirSync(stagingDir)) {
      rmSync(join(stagingDir, name), { recursive: true, force: true });
      report.stagingRemoved++;
    }
    const onDisk = new Set(this.entryFolders());
    const missing: number[] = [];
    for (const { id, path } of this.index.paths()) {
      if (!onDisk.delete(path)) missing.push(id);
    }
    this.index.deleteMany(missing);
    report.missingPruned = missing.length;
    for (const orphan of onDisk) {
      rmSync(join(this.dir, orphan), { recursive: true, force: true });
      report.orphansRemoved++;
    }
    this.removeEmptyFolders();
    return report;
  }

  /** parts/<day>/<camera>/<key> folders, relative to the archive dir. */
  private entryFolders(): string[] {
    const out: string[] = [];
    const parts = join(this.dir, PARTS_DIR);
    for (const day of readdirSync(parts)) {
      for (const cam of safeList(join(parts, day)))
        for (const key of safeList(join(parts, day, cam))) out.push(join(PARTS_DIR, day, cam, key));
    }
    return out;
  }

  private removeEmptyFolders(): void {
    const parts = join(this.dir, PARTS_DIR);
    for (const day of readdirSync(parts)) {
      for (const cam of safeList(join(parts, day))) tryRmdir(join(parts, day, cam));
      tryRmdir(join(parts, day));
    }
  }
}

function safeList(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function tryRmdir(dir: string): void {
  try {
    rmdirSync(dir);
  } catch {
    // not empty (or gone): fine
  }
}
