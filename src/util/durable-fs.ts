// Durable file-system steps for writes that must survive a power cut or kill -9 whole or not at all: data
// fsynced before the rename that publishes it, and the directory fsynced after, so the rename itself is on
// disk. rename(2) within one file system is atomic; without the fsyncs a crash can still publish a name whose
// data never reached the disk (ext4 delayed allocation, XFS).
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  copyFileSync,
  fsyncSync,
  linkSync,
  openSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** fsync a file or a directory by path. */
export function fsyncPath(path: string, directory = false): void {
  const fd = openSync(path, directory ? 'r' : 'r+');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Writes `data` to a new file `path` and fsyncs it (the caller publishes it with a rename). */
export function writeFileSynced(path: string, data: string | Uint8Array): void {
  const fd = openSync(path, 'wx');
  try {
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Replaces `path` with `data` durably: temporary file, fsync, rename, fsync of the directory. */
export function writeFileDurable(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    writeFileSynced(tmp, data);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  fsyncPath(dirname(path), true);
}

/**
 * `to` holds the bytes of `from`, on disk: a hard link when both are on one file system (large immutable
 * files such as a teacher copy cost nothing), else a copy that is fsynced.
 */
export function linkOrCopySynced(from: string, to: string): void {
  try {
    linkSync(from, to);
    return;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EXDEV' && code !== 'EPERM' && code !== 'ENOTSUP') throw e;
  }
  copySynced(from, to);
}

/** A copy of `from` at `to`, fsynced. */
export function copySynced(from: string, to: string): void {
  copyFileSync(from, to);
  fsyncPath(to);
}

/**
 * Points the symlink `link` at `target` atomically (a new symlink renamed over the old one), then fsyncs the
 * directory: a reader sees the old target or the new one, never no link.
 */
export function replaceSymlink(link: string, target: string): void {
  const tmp = join(dirname(link), `.${basename(link)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    symlinkSync(target, tmp);
    renameSync(tmp, link);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  fsyncPath(dirname(link), true);
}
