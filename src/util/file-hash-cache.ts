// sha256 of large files (teacher weights, model graphs of hundreds of MB), computed once per change of
// the file instead of on every start. An entry is trusted only while the file's device, inode, size,
// mtime and ctime (nanoseconds) are all what they were when it was hashed: a replaced file (new inode),
// an edit (mtime, ctime) or a truncation (size) is hashed again. ctime cannot be set back by a user, so
// `touch -d` cannot make an edited file look unchanged. The cache file is replaced atomically and a
// corrupt or unreadable one is ignored (everything is hashed), so a crash can cost time, never a wrong
// hash. Nothing here trusts the file's content: callers still compare the hash with the manifest's.
import { createHash } from 'node:crypto';
import { readFileSync, statSync, type BigIntStats } from 'node:fs';
import { join, resolve } from 'node:path';
import { writeFileAtomic } from './atomic-file.js';

export const HASH_CACHE_FILE = 'file-hashes.json';

interface Entry {
  dev: string;
  ino: string;
  size: string;
  mtimeNs: string;
  ctimeNs: string;
  sha256: string;
}

export interface HashedFile {
  sha256: string;
  /** The bytes, when the file had to be read to hash it. */
  bytes?: Buffer;
  /** True when the hash came from the cache (the file was not read). */
  cached: boolean;
}

function identity(st: BigIntStats): Omit<Entry, 'sha256'> {
  return {
    dev: String(st.dev),
    ino: String(st.ino),
    size: String(st.size),
    mtimeNs: String(st.mtimeNs),
    ctimeNs: String(st.ctimeNs),
  };
}

function sameFile(a: Omit<Entry, 'sha256'>, b: Omit<Entry, 'sha256'>): boolean {
  return (
    a.dev === b.dev &&
    a.ino === b.ino &&
    a.size === b.size &&
    a.mtimeNs === b.mtimeNs &&
    a.ctimeNs === b.ctimeNs
  );
}

export class FileHashCache {
  private readonly file: string | undefined;
  private entries: Record<string, Entry> | undefined;

  /** `dir` undefined: no cache (every file is hashed). */
  constructor(dir: string | undefined) {
    this.file = dir ? join(dir, HASH_CACHE_FILE) : undefined;
  }

  /** The file's sha256: from the cache when the file is unchanged, else read and hashed (and remembered). */
  sha256(path: string): HashedFile {
    const abs = resolve(path);
    const before = identity(statSync(abs, { bigint: true }));
    const hit = this.load()[abs];
    if (hit && sameFile(hit, before)) return { sha256: hit.sha256, cached: true };
    const bytes = readFileSync(abs);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    // Written to while it was read: hash it next time again rather than remember a torn read.
    if (sameFile(identity(statSync(abs, { bigint: true })), before))
      this.remember(abs, { ...before, sha256 });
    return { sha256, bytes, cached: false };
  }

  /** Remembers the hash of a file this process has just written with these exact bytes. */
  record(path: string, sha256: string): void {
    const abs = resolve(path);
    this.remember(abs, { ...identity(statSync(abs, { bigint: true })), sha256 });
  }

  private load(): Record<string, Entry> {
    if (this.entries) return this.entries;
    this.entries = {};
    if (!this.file) return this.entries;
    try {
      const json = JSON.parse(readFileSync(this.file, 'utf8')) as unknown;
      if (json && typeof json === 'object' && !Array.isArray(json)) {
        for (const [k, v] of Object.entries(json as Record<string, Partial<Entry>>)) {
          if (typeof v?.sha256 === 'string' && /^[0-9a-f]{64}$/.test(v.sha256)) this.entries[k] = v as Entry;
        }
      }
    } catch {
      // absent, unreadable or corrupt: start empty
    }
    return this.entries;
  }

  private remember(abs: string, e: Entry): void {
    const entries = this.load();
    entries[abs] = e;
    if (!this.file) return;
    try {
      writeFileAtomic(this.file, JSON.stringify(entries, null, 1) + '\n');
    } catch {
      // a full or read-only disk only costs the next start a hash
    }
  }
}
