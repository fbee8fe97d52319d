// The archive's PNG encoder (src/util/png-encode.ts) checked against two independent decoders: fast-png's decode
// (pure JS) and OpenCV's imdecode (libpng). Every pixel must come back exactly, for each format the archive
// writes (8-bit RGB frames and heatmaps, 8-bit grey frames, 16-bit grey maps) and each filter, on odd sizes and
// on data that uses the full sample range (so byte order, wrap-around in the filters and row strides show).
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { decode } from 'fast-png';
import { cv } from '../src/util/cv.js';
import { inflateSync, deflateSync } from 'node:zlib';
import { adler32, encodePng } from '../src/util/png-encode.js';
import type { PngFilter, PngImage } from '../src/util/png-encode.js';
import { Rng } from '../src/util/random.js';

/** Noise over the whole range plus a smooth ramp, so both filters' wrap-around and long matches occur. */
function image(width: number, height: number, channels: 1 | 3, depth: 8 | 16, seed: number): PngImage {
  const rng = new Rng(seed);
  const n = width * height * channels;
  const max = depth === 8 ? 255 : 65535;
  const data = depth === 8 ? new Uint8Array(n) : new Uint16Array(n);
  for (let i = 0; i < n; i++)
    data[i] = i % 7 === 0 ? Math.floor(rng.next() * (max + 1)) : (i * 97) % (max + 1);
  return { width, height, channels, depth, data };
}

const CASES: { name: string; channels: 1 | 3; depth: 8 | 16 }[] = [
  { name: '8-bit RGB', channels: 3, depth: 8 },
  { name: '8-bit grey', channels: 1, depth: 8 },
  { name: '16-bit grey', channels: 1, depth: 16 },
];
const FILTERS: PngFilter[] = ['none', 'sub', 'up'];

describe('encodePng', () => {
  for (const c of CASES) {
    for (const filter of FILTERS) {
      test(`${c.name}, filter ${filter}: fast-png decodes every sample exactly`, () => {
        const img = image(37, 23, c.channels, c.depth, 11);
        const d = decode(encodePng(img, { filter, level: 2 }));
        assert.equal(d.width, img.width);
        assert.equal(d.height, img.height);
        assert.equal(d.channels, c.channels);
        assert.equal(d.depth, c.depth);
        assert.deepEqual(Array.from(d.data), Array.from(img.data));
      });
    }

    test(`${c.name}: OpenCV (libpng) decodes every sample exactly`, () => {
      const img = image(64, 31, c.channels, c.depth, 5);
      const mat = cv().imdecode(encodePng(img), cv().IMREAD_UNCHANGED);
      assert.equal(mat.cols, img.width);
      assert.equal(mat.rows, img.height);
      assert.equal(mat.channels, c.channels);
      const raw = mat.getData();
      const got =
        c.depth === 16
          ? new Uint16Array(raw.buffer, raw.byteOffset, raw.byteLength / 2)
          : new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength);
      const want = Array.from(img.data);
      if (c.channels === 3) {
        // OpenCV keeps BGR: swap back to compare with the RGB we wrote
        for (let i = 0; i < want.length; i += 3) [want[i], want[i + 2]] = [want[i + 2], want[i]];
      }
      assert.deepEqual(Array.from(got), want);
    });
  }

  test('in bands of rows (one step each): both decoders read every sample, zlib checks the joined stream', () => {
    for (const c of CASES) {
      const img = image(53, 41, c.channels, c.depth, 3);
      let steps = 0;
      // ~5 rows a band, the last one short: many bands joined
      const bandBytes = 5 * (53 * c.channels * (c.depth / 8) + 1);
      const png = encodePng(img, { bandBytes, step: (w) => (steps++, w()) });
      assert.ok(steps >= 9, `${c.name}: ${steps} steps`);
      assert.deepEqual(Array.from(decode(png).data), Array.from(img.data), `${c.name}: fast-png`);
      const mat = cv().imdecode(png, cv().IMREAD_UNCHANGED);
      assert.equal(mat.rows * mat.cols * mat.channels, img.data.length, `${c.name}: libpng`);
      // inflateSync verifies the Adler-32 at the stream's end: a wrong checksum throws
      const idat = png.subarray(33 + 8, png.length - 12 - 4);
      assert.equal(inflateSync(idat).length, img.height * (bandBytes / 5));
    }
  });

  test('adler32, continued over pieces, equals the checksum zlib writes', () => {
    const data = new Uint8Array(100_000).map((_, i) => (i * 131 + (i >> 7)) & 0xff);
    const z = deflateSync(data);
    const want = z.readUInt32BE(z.length - 4);
    assert.equal(adler32(1, data), want);
    assert.equal(adler32(adler32(1, data.subarray(0, 33_333)), data.subarray(33_333)), want);
  });

  test('a 1×1 image and a level-0 (stored) stream decode too', () => {
    const img: PngImage = { width: 1, height: 1, channels: 3, depth: 8, data: new Uint8Array([1, 2, 3]) };
    assert.deepEqual(Array.from(decode(encodePng(img, { level: 0 })).data), [1, 2, 3]);
  });

  test('size, depth and data that do not match are refused with a clear error', () => {
    const ok: PngImage = { width: 2, height: 2, channels: 1, depth: 8, data: new Uint8Array(4) };
    assert.throws(() => encodePng({ ...ok, data: new Uint8Array(3) }), /3 samples is not 2×2×1/);
    assert.throws(() => encodePng({ ...ok, width: 0 }), /bad size 0×2/);
    assert.throws(() => encodePng({ ...ok, depth: 16 }), /depth 16 needs a Uint16Array/);
  });
});
