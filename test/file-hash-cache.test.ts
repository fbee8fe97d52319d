// The hash cache: an unchanged file is not read again; any change (same size with the old mtime put
// back, a replaced file, a truncation) is hashed again; a corrupt cache file costs a hash, not a wrong
// answer. And a bundle whose teacher changed after its hash was cached is still refused.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  mkdtempSync,
  readFileSync,
  renameSync,
  statSync,
  truncateSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { createBundle, loadBundle } from '../src/model/bundle.js';
import { writeDevTeacher } from '../src/model/dev-teacher.js';
import { FileHashCache, HASH_CACHE_FILE } from '../src/util/file-hash-cache.js';

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** Rewrites a file in place with other bytes of the same length and puts its old mtime back. */
function tamper(path: string): void {
  const st = statSync(path);
  const b = readFileSync(path);
  b[b.length >> 1] ^= 0xff;
  writeFileSync(path, b);
  utimesSync(path, st.atime, st.mtime);
}

describe('file hash cache', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pinpoint-hashes-'));
  const file = join(dir, 'weights.bin');
  writeFileSync(file, Buffer.alloc(4096, 7));

  test('hashed once, then served from the cache (also by a new instance: it is on disk)', () => {
    const first = new FileHashCache(dir).sha256(file);
    assert.equal(first.cached, false);
    assert.equal(first.sha256, sha(readFileSync(file)));
    assert.ok(first.bytes);
    const again = new FileHashCache(dir).sha256(file);
    assert.deepEqual(again, { sha256: first.sha256, cached: true });
  });

  test('a changed file is detected: same size, old mtime put back', () => {
    tamper(file);
    const h = new FileHashCache(dir).sha256(file);
    assert.equal(h.cached, false);
    assert.equal(h.sha256, sha(readFileSync(file)));
    assert.equal(new FileHashCache(dir).sha256(file).cached, true);
  });

  test('a replaced file (new inode) and a truncated one are hashed again', () => {
    const other = join(dir, 'new.bin');
    writeFileSync(other, readFileSync(file));
    renameSync(other, file);
    assert.equal(new FileHashCache(dir).sha256(file).cached, false);
    truncateSync(file, 100);
    const h = new FileHashCache(dir).sha256(file);
    assert.equal(h.cached, false);
    assert.equal(h.sha256, sha(readFileSync(file)));
  });

  test('a corrupt cache file is ignored', () => {
    writeFileSync(join(dir, HASH_CACHE_FILE), '{"truncated": ');
    const h = new FileHashCache(dir).sha256(file);
    assert.equal(h.cached, false);
    assert.equal(h.sha256, sha(readFileSync(file)));
    assert.equal(new FileHashCache(dir).sha256(file).cached, true);
  });

  test('no cache directory: remembered only by the instance', () => {
    const c = new FileHashCache(undefined);
    assert.equal(c.sha256(file).cached, false);
    assert.equal(c.sha256(file).cached, true);
    assert.equal(new FileHashCache(undefined).sha256(file).cached, false);
  });
});

describe('bundle load with the hash cache', () => {
  test('a teacher changed after its hash was cached is refused', () => {
    const root = mkdtempSync(join(tmpdir(), 'pinpoint-hash-bundle-'));
    const teacher = join(root, 'teacher.safetensors');
    writeDevTeacher(teacher, { depth: 3, dim: 32, heads: 2, posGrid: 6, seed: 3 });
    const out = join(root, 'bundle');
    createBundle({ teacherPath: teacher, outDir: out, size: 56, layers: [2, 3] });
    const first = loadBundle(out);
    assert.equal(first.teacher.arch.dim, 32);
    const cache = JSON.parse(readFileSync(join(out, '.cache', HASH_CACHE_FILE), 'utf8')) as Record<
      string,
      unknown
    >;
    assert.ok(teacher in cache, 'the teacher hash is cached');
    // Served from the cache: the teacher is read only when used, and then it is the verified one.
    assert.equal(loadBundle(out).teacher.posEmbed.length, first.teacher.posEmbed.length);
    tamper(teacher);
    assert.throws(() => loadBundle(out), /teacher weights differ from the ones the bundle/);
  });
});
