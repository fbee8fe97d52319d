import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ImageFolderError, listImages, loadImages } from '../src/model/image-folder.js';
import { writeImage } from '../src/util/image-io.js';

let root = '';
before(() => {
  root = mkdtempSync(join(tmpdir(), 'pinpoint-folder-'));
});
after(() => rmSync(root, { recursive: true, force: true }));

/** A 4×3 image filled with one value, so each loaded file can be told apart. */
function save(path: string, value: number): void {
  writeImage(path, { width: 4, height: 3, channels: 3, data: new Uint8Array(36).fill(value) });
}

describe('image folders', () => {
  test('lists images recursively, any extension case, sorted; ignores other and hidden files', () => {
    const dir = join(root, 'train');
    mkdirSync(join(dir, 'b', 'deep'), { recursive: true });
    mkdirSync(join(dir, 'a'));
    mkdirSync(join(dir, '.cache'));
    save(join(dir, 'z.png'), 1);
    save(join(dir, 'a', 'one.PNG'), 2);
    save(join(dir, 'b', 'deep', 'two.JPeG'), 3);
    save(join(dir, 'b', 'three.bmp'), 4);
    save(join(dir, 'b', 'four.TIF'), 5);
    save(join(dir, '.cache', 'hidden.png'), 6);
    writeFileSync(join(dir, '._z.png'), 'macOS metadata');
    writeFileSync(join(dir, 'notes.txt'), 'not an image');
    writeFileSync(join(dir, 'png'), 'no extension');
    symlinkSync(join(dir, 'z.png'), join(dir, 'link.png'));
    assert.deepEqual(
      listImages(dir).map((p) => p.slice(dir.length + 1)),
      ['a/one.PNG', 'b/deep/two.JPeG', 'b/four.TIF', 'b/three.bmp', 'link.png', 'z.png'],
    );
  });

  test('loads readable images, reports and skips corrupt ones', () => {
    const dir = join(root, 'mixed');
    mkdirSync(join(dir, 'sub'), { recursive: true });
    save(join(dir, 'a.png'), 10);
    save(join(dir, 'sub', 'c.bmp'), 30);
    writeFileSync(join(dir, 'b.png'), 'corrupt bytes');
    writeFileSync(join(dir, 'empty.jpg'), '');
    const skipped: [string, string][] = [];
    const loaded = loadImages(dir, { onSkip: (p, reason) => skipped.push([p, reason]) });
    assert.deepEqual(
      loaded.map((l) => [l.path, l.image.width, l.image.height, l.image.data[0]]),
      [
        [join(dir, 'a.png'), 4, 3, 10],
        [join(dir, 'sub', 'c.bmp'), 4, 3, 30],
      ],
    );
    assert.deepEqual(
      skipped.map(([p]) => p),
      [join(dir, 'b.png'), join(dir, 'empty.jpg')],
    );
    assert.ok(skipped.every(([, reason]) => reason.length > 0));
    // Without a callback the bad files are still skipped, not fatal.
    assert.equal(loadImages(dir).length, 2);
  });

  test('missing, empty, non-directory and all-unreadable folders are clear errors naming the folder', () => {
    const empty = join(root, 'empty');
    mkdirSync(join(empty, 'nested'), { recursive: true });
    writeFileSync(join(empty, 'readme.md'), '# nothing');
    const bad = join(root, 'bad');
    mkdirSync(bad);
    writeFileSync(join(bad, 'x.png'), 'junk');
    const file = join(root, 'plain-file.png');
    save(file, 1);
    const missing = join(root, 'nope');
    const named = (dir: string, what: RegExp) => (e: unknown) =>
      e instanceof ImageFolderError && e.dir === dir && e.message.includes(dir) && what.test(e.message);
    assert.throws(() => listImages(missing), named(missing, /does not exist/));
    assert.throws(() => listImages(empty), named(empty, /no images/));
    assert.throws(() => listImages(file), named(file, /not a directory/));
    assert.throws(() => loadImages(empty), named(empty, /no images/));
    let skips = 0;
    assert.throws(() => loadImages(bad, { onSkip: () => skips++ }), named(bad, /could be read/));
    assert.equal(skips, 1);
  });
});
