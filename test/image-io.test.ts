import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cv } from '../src/util/cv.js';
import { ImageReadError, readImage, readNpy, writeImage, writeNpy } from '../src/util/image-io.js';

let dir = '';
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'pinpoint-image-io-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** A small RGB image whose channels all differ, so a channel swap cannot go unnoticed. */
function pattern(width: number, height: number): Uint8Array {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 3;
      data[o] = (x * 37 + y * 11) & 255;
      data[o + 1] = (x * 5 + y * 71 + 13) & 255;
      data[o + 2] = (x * y * 3 + 200) & 255;
    }
  }
  return data;
}

describe('image files', () => {
  test('png round-trips RGB exactly, and is stored as a real RGB file (BGR in OpenCV)', () => {
    const path = join(dir, 'rgb.png');
    const data = pattern(13, 7);
    writeImage(path, { width: 13, height: 7, channels: 3, data });
    const back = readImage(path);
    assert.equal(back.width, 13);
    assert.equal(back.height, 7);
    assert.equal(back.channels, 3);
    assert.deepEqual(back.data, data);
    // OpenCV's own reader returns BGR: the first pixel's blue is our third byte.
    const raw = cv().imread(path);
    const bgr = raw.getData();
    assert.deepEqual([bgr[0], bgr[1], bgr[2]], [data[2], data[1], data[0]]);
    raw.release();
  });

  test('grey images are written as one channel and read as three equal channels', () => {
    const path = join(dir, 'grey.png');
    const grey = new Uint8Array(6 * 4).map((_, i) => i * 10);
    writeImage(path, { width: 6, height: 4, channels: 1, data: grey });
    const raw = cv().imread(path, cv().IMREAD_UNCHANGED);
    assert.equal(raw.channels, 1);
    raw.release();
    const back = readImage(path);
    for (let i = 0; i < grey.length; i++) {
      assert.deepEqual([...back.data.subarray(3 * i, 3 * i + 3)], [grey[i], grey[i], grey[i]]);
    }
  });

  test('16-bit images are scaled to 8 bits, not truncated', () => {
    const c = cv();
    const greyPath = join(dir, 'grey16.png');
    const values = [0, 257 * 10, 257 * 128, 65535];
    c.imwrite(greyPath, new c.Mat([values.slice(0, 2), values.slice(2)], c.CV_16UC1));
    const grey = readImage(greyPath);
    assert.deepEqual(
      [...grey.data].filter((_, i) => i % 3 === 0),
      [0, 10, 128, 255],
    );

    const colourPath = join(dir, 'colour16.png');
    // OpenCV stores BGR: blue 257·200, green 257·100, red 257·50.
    c.imwrite(colourPath, new c.Mat(1, 1, c.CV_16UC3, [257 * 200, 257 * 100, 257 * 50]));
    assert.deepEqual([...readImage(colourPath).data], [50, 100, 200]);
  });

  test('alpha is dropped', () => {
    const c = cv();
    const path = join(dir, 'alpha.png');
    c.imwrite(path, new c.Mat(2, 2, c.CV_8UC4, [30, 20, 10, 0]));
    const img = readImage(path);
    assert.equal(img.data.length, 2 * 2 * 3);
    assert.deepEqual([...img.data.subarray(0, 3)], [10, 20, 30]);
  });

  test('jpg and bmp follow the extension', () => {
    const data = pattern(32, 24);
    const bmp = join(dir, 'x.bmp');
    writeImage(bmp, { width: 32, height: 24, channels: 3, data });
    assert.equal(readFileSync(bmp).toString('latin1', 0, 2), 'BM');
    assert.deepEqual(readImage(bmp).data, data);
    const jpg = join(dir, 'x.jpg');
    const smooth = new Uint8Array(32 * 24 * 3).map((_, i) => 60 + ((i / 3) % 32) * 3);
    writeImage(jpg, { width: 32, height: 24, channels: 3, data: smooth });
    assert.deepEqual([...readFileSync(jpg).subarray(0, 2)], [0xff, 0xd8]);
    const back = readImage(jpg).data;
    let err = 0;
    for (let i = 0; i < back.length; i++) err += Math.abs(back[i] - smooth[i]);
    assert.ok(err / back.length < 3, `jpeg mean error ${err / back.length}`);
    assert.throws(
      () => writeImage(join(dir, 'x.qqq'), { width: 32, height: 24, channels: 3, data }),
      /x\.qqq/,
    );
    assert.throws(
      () => writeImage(join(dir, 'short.png'), { width: 4, height: 4, channels: 3, data }),
      RangeError,
    );
  });

  test('unreadable files fail with an error naming the file', () => {
    const corrupt = join(dir, 'corrupt.png');
    writeFileSync(corrupt, 'this is not a png');
    const truncated = join(dir, 'truncated.png');
    writeFileSync(truncated, readFileSync(join(dir, 'rgb.png')).subarray(0, 40));
    const empty = join(dir, 'empty.png');
    writeFileSync(empty, '');
    const missing = join(dir, 'missing.png');
    for (const path of [corrupt, truncated, empty, missing]) {
      assert.throws(
        () => readImage(path),
        (e: unknown) => e instanceof ImageReadError && e.path === path && e.message.includes(path),
      );
    }
  });
});

describe('npy', () => {
  test('header bytes are exactly what NumPy writes for shape (2, 3)', () => {
    const path = join(dir, 'a.npy');
    writeNpy(path, new Float32Array([1, 2, 3, 4, 5, 6]), [2, 3]);
    const bytes = readFileSync(path);
    const dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
    // numpy.save (2.x) output: 128-byte header (10-byte preamble + dict + space padding + '\n').
    const expected = Buffer.concat([
      Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, 118, 0]),
      Buffer.from(dict + ' '.repeat(118 - dict.length - 1) + '\n', 'latin1'),
    ]);
    assert.equal(expected.length, 128);
    assert.deepEqual(bytes.subarray(0, 128), expected);
    assert.equal(bytes.length, 128 + 6 * 4);
    assert.equal(bytes.readFloatLE(128 + 5 * 4), 6);
  });

  test('round-trips data and shape, including 1-D and 0-D', () => {
    for (const shape of [[2, 3], [7], [], [1, 74, 74]]) {
      const n = shape.reduce((a, b) => a * b, 1);
      const data = new Float32Array(n).map((_, i) => Math.sin(i) * 1e3);
      const path = join(dir, `rt-${shape.length}.npy`);
      writeNpy(path, data, shape);
      const back = readNpy(path);
      assert.deepEqual(back.shape, shape);
      assert.deepEqual(back.data, data);
      assert.equal((readFileSync(path).readUInt16LE(8) + 10) % 64, 0, 'header padded to 64 bytes');
    }
    assert.throws(() => writeNpy(join(dir, 'bad.npy'), new Float32Array(5), [2, 3]), RangeError);
  });

  test('rejects other dtypes, Fortran order and bad magic', () => {
    const make = (dict: string): Buffer => {
      const text = dict.padEnd(117, ' ') + '\n';
      return Buffer.concat([
        Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, 118, 0]),
        Buffer.from(text),
        Buffer.alloc(24),
      ]);
    };
    const f8 = join(dir, 'f8.npy');
    writeFileSync(f8, make("{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }"));
    assert.throws(() => readNpy(f8), /dtype <f8/);
    const fortran = join(dir, 'fortran.npy');
    writeFileSync(fortran, make("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }"));
    assert.throws(() => readNpy(fortran), /Fortran/);
    const magic = join(dir, 'magic.npy');
    writeFileSync(magic, Buffer.from('PK\x03\x04 not npy at all'));
    assert.throws(() => readNpy(magic), /magic/);
  });
});
