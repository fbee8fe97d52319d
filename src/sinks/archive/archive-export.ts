// Packs a range of the archive into one tar for audits and teach-in elsewhere: each entry's folder as it is on
// disk (result.json, frame, map, heatmap) plus manifest.json with every entry's index row and its operator
// labels. Reads through a read-only index, so it runs while the daemon archives (SQLite WAL); an entry the
// daemon trims away meanwhile is listed under `missing`, not an error. The manifest also carries the audit log's
// rows of the same time range (live changes: who changed which threshold when), so an audit sees both.
import { createWriteStream, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { pack } from 'tar-stream';
import type { ArchiveEntry, ArchiveQuery, Label } from './archive-index.js';
import { ArchiveIndex } from './archive-index.js';
import type { AuditRow } from './audit-table.js';
import { INDEX_FILE } from './layout.js';

export interface ExportSummary {
  entries: number;
  missing: number;
  bytes: number;
}

/** Entries exported at most in one tar (an audit range, not a backup). */
const MAX_EXPORT = 1_000_000;

export async function exportArchive(dir: string, q: ArchiveQuery, out: string): Promise<ExportSummary> {
  const index = new ArchiveIndex(join(dir, INDEX_FILE), { readonly: true });
  let entries: (ArchiveEntry & { labels: Label[] })[];
  let audit: AuditRow[];
  try {
    entries = index.query({ ...q, limit: MAX_EXPORT }).map((e) => ({ ...e, labels: index.labels(e.id) }));
    audit = index.audit({ from: q.from, to: q.to, limit: MAX_EXPORT });
  } finally {
    index.close();
  }
  const tar = pack();
  const tmp = `${out}.partial`;
  const written = pipeline(tar, createWriteStream(tmp));
  const missing: string[] = [];
  let bytes = 0;
  try {
    for (const e of entries) {
      const files = readEntry(join(dir, e.path));
      if (!files) {
        missing.push(e.path);
        continue;
      }
      for (const [name, data] of files) {
        tar.entry({ name: `${e.path}/${name}`, size: data.length, mtime: new Date(e.decideTime) }, data);
        bytes += data.length;
      }
    }
    const manifest = JSON.stringify(
      { version: 1, exportedAt: Date.now(), query: q, entries, missing, audit },
      null,
      2,
    );
    tar.entry({ name: 'manifest.json' }, manifest);
    tar.finalize();
    await written;
    renameSync(tmp, out);
  } catch (err) {
    tar.destroy();
    rmSync(tmp, { force: true });
    throw err;
  }
  return { entries: entries.length - missing.length, missing: missing.length, bytes };
}

/** An entry folder's files, or null when it is gone. */
function readEntry(folder: string): [string, Buffer][] | null {
  try {
    return readdirSync(folder)
      .sort()
      .map((n) => [n, readFileSync(join(folder, n))]);
  } catch {
    return null;
  }
}
