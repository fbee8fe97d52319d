import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ImageHeaderError, readImageHeader } from '../src/util/image-header.js';
import {
  DEFAULT_MAX_IMAGE_PIXELS,
  ImageReadError,
  ImageTooLargeError,
  readImage,
  writeImage,
} from '../src/util/image-io.js';
import { writeBlackPng } from './helpers/png-bomb.js';

let dir = '';
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'pinpoint-image-header-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

const pixels = (w: number, h: number): Uint8Array => new Uint8Array(w * h * 3).map((_, i) => (i * 7) & 255);

describe('image headers', () => {
  test('the size of files written by OpenCV is read from their header, in every format we decode', () => {
    const formats: [string, string][] = [
      ['png', 'png'],
      ['jpg', 'jpeg'],
      ['bmp', 'bmp'],
      ['tif', 'tiff'],
      ['webp', 'webp'],
      ['ppm', 'pnm'],
      ['pgm', 'pnm'],
    ];
    for (const [ext, format] of formats) {
      const path = join(dir, `x.${ext}`);
      const channels = ext === 'pgm' ? 1 : 3;
      const data = channels === 1 ? new Uint8Array(37 * 23) : pixels(37, 23);
      writeImage(path, { width: 37, height: 23, channels, data });
      assert.deepEqual(readImageHeader(readFileSync(path)), { format, width: 37, height: 23 }, ext);
      const img = readImage(path);
      assert.deepEqual([img.width, img.height], [37, 23], ext);
    }
  });

  test('unknown formats and headers cut short are refused by name, not passed to the decoder', () => {
    assert.throws(() => readImageHeader(Buffer.from('GIF89a....')), ImageHeaderError);
    const png = readFileSync(join(dir, 'x.png'));
    assert.throws(() => readImageHeader(png.subarray(0, 20)), /PNG header cut short/);
    const jpg = readFileSync(join(dir, 'x.jpg'));
    assert.throws(() => readImageHeader(jpg.subarray(0, 30)), /JPEG/);
    const gif = join(dir, 'x.gif');
    writeFileSync(gif, 'GIF89a\x01\x00\x01\x00');
    assert.throws(
      () => readImage(gif),
      (e: unknown) => e instanceof ImageReadError && /not a PNG, JPEG/.test(e.message) && e.path === gif,
    );
  });

  test('the streamed black PNG helper makes valid PNGs (a small one decodes to zeros)', async () => {
    const path = join(dir, 'black.png');
    await writeBlackPng(path, 300, 200);
    const img = readImage(path);
    assert.deepEqual([img.width, img.height], [300, 200]);
    assert.ok(img.data.every((v) => v === 0));
  });

  test('a valid 20000×20000 PNG (1.2 GB decoded) is refused from its header, without decoding', async () => {
    const path = join(dir, 'bomb.png');
    await writeBlackPng(path, 20000, 20000);
    assert.ok(statSync(path).size < 10e6, 'the bomb is small on disk');
    const before = process.memoryUsage().rss;
    assert.throws(
      () => readImage(path),
      (e: unknown) =>
        e instanceof ImageTooLargeError &&
        e.path === path &&
        e.width === 20000 &&
        e.maxPixels === DEFAULT_MAX_IMAGE_PIXELS &&
        e.message.includes('20000×20000 pixels (400 MP) is above the limit of 64 MP'),
    );
    assert.ok(process.memoryUsage().rss - before < 200e6, 'nothing of its decoded size was allocated');
    // The limit is the caller's: below it the same reader decodes.
    const small = join(dir, 'black.png');
    assert.throws(() => readImage(small, { maxPixels: 300 * 200 - 1 }), ImageTooLargeError);
    assert.equal(readImage(small, { maxPixels: 300 * 200 }).width, 300);
  });
});
