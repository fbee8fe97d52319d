// The archive's own baseline JPEG encoder (src/util/jpeg-encode.ts), checked by two decoders it shares no code
// with: OpenCV's libjpeg-turbo (what most viewers and browsers use) and jpeg-js's pure-JS decoder.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import jpeg from 'jpeg-js';
import { cv } from '../src/util/cv.js';
import { encodeJpeg, fdct8x8 } from '../src/util/jpeg-encode.js';
import type { JpegImage } from '../src/util/jpeg-encode.js';
import { computeLetterbox } from '../src/pipeline/letterbox.js';
import type { InspectionResult } from '../src/pipeline/result.js';
import { encodeEntry } from '../src/sinks/archive/encode-entry.js';
import { FILES } from '../src/sinks/archive/layout.js';
import { THUMB_MAX } from '../src/sinks/archive/thumbnail.js';

/** A textured test image: smooth waves, fine ramps, and a bright disc (a "defect"). */
function scene(width: number, height: number, channels: 1 | 3): JpegImage {
  const data = new Uint8Array(width * height * channels);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++)
      for (let c = 0; c < channels; c++) {
        const disc = (x - width / 3) ** 2 + (y - height / 3) ** 2 < 100 ? 70 : 0;
        const v = 120 + 60 * Math.sin(x / 9 + 2 * c) * Math.cos(y / 13) + ((x * 7 + y * 13) % 9) - 4 + disc;
        data[(y * width + x) * channels + c] = Math.max(0, Math.min(255, Math.round(v)));
      }
  return { width, height, channels, data };
}

/** Decoded by OpenCV (BGR or grey, as stored). */
function opencvDecode(bytes: Uint8Array): {
  width: number;
  height: number;
  channels: number;
  rgb: Uint8Array;
} {
  const c = cv();
  const mat = c.imdecode(Buffer.from(bytes), c.IMREAD_UNCHANGED);
  const channels = mat.channels;
  const raw = new Uint8Array(mat.getData());
  const rgb = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i += channels)
    for (let k = 0; k < channels; k++) rgb[i + k] = raw[i + (channels === 3 ? 2 - k : k)];
  return { width: mat.cols, height: mat.rows, channels, rgb };
}

function psnr(a: Uint8Array, b: Uint8Array): number {
  assert.equal(a.length, b.length);
  let se = 0;
  for (let i = 0; i < a.length; i++) se += (a[i] - b[i]) ** 2;
  return 10 * Math.log10((255 * 255 * a.length) / Math.max(se, 1e-9));
}

describe('baseline JPEG encoder', () => {
  test('colour and grey frames decode in libjpeg-turbo and jpeg-js: size, components, ≥ 38 dB at quality 90', () => {
    for (const channels of [3, 1] as const) {
      const img = scene(203, 157, channels); // not a multiple of 8 either way: edge blocks
      const bytes = encodeJpeg(img, { quality: 90 });
      assert.deepEqual([...bytes.subarray(0, 2)], [0xff, 0xd8], 'SOI');
      assert.deepEqual([...bytes.subarray(-2)], [0xff, 0xd9], 'EOI');
      const o = opencvDecode(bytes);
      assert.deepEqual([o.width, o.height, o.channels], [203, 157, channels], 'grey stays one component');
      const p = psnr(img.data, o.rgb);
      assert.ok(p >= 38, `libjpeg-turbo: ${p.toFixed(1)} dB`);
      const j = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: false });
      assert.deepEqual([j.width, j.height], [203, 157]);
      const jc = j.data.length / (203 * 157);
      const mine = new Uint8Array(img.width * img.height * channels);
      for (let i = 0; i < img.width * img.height; i++)
        for (let k = 0; k < channels; k++) mine[i * channels + k] = j.data[i * jc + k];
      assert.ok(psnr(img.data, mine) >= 38, `jpeg-js: ${psnr(img.data, mine).toFixed(1)} dB`);
    }
  });

  test('the bright disc survives: its mean stays within 3 levels', () => {
    const img = scene(160, 120, 3);
    const o = opencvDecode(encodeJpeg(img, { quality: 90 }));
    const mean = (d: Uint8Array) => {
      let s = 0;
      let n = 0;
      for (let y = 36; y < 44; y++)
        for (let x = 50; x < 57; x++) {
          s += d[(y * 160 + x) * 3];
          n++;
        }
      return s / n;
    };
    assert.ok(Math.abs(mean(img.data) - mean(o.rgb)) < 3, `${mean(img.data)} vs ${mean(o.rgb)}`);
  });

  test('quality trades size for fidelity; flat images come back exact', () => {
    const img = scene(128, 96, 3);
    const lo = encodeJpeg(img, { quality: 40 });
    const hi = encodeJpeg(img, { quality: 98 });
    assert.ok(lo.length < hi.length, `${lo.length} < ${hi.length}`);
    assert.ok(psnr(img.data, opencvDecode(lo).rgb) < psnr(img.data, opencvDecode(hi).rgb));
    for (const v of [0, 77, 255]) {
      const flat: JpegImage = { width: 13, height: 11, channels: 1, data: new Uint8Array(143).fill(v) };
      const d = opencvDecode(encodeJpeg(flat, { quality: 75 }));
      assert.ok(
        d.rgb.every((x) => Math.abs(x - v) <= 1),
        `flat ${v}`,
      );
    }
    const one = opencvDecode(
      encodeJpeg({ width: 1, height: 1, channels: 3, data: Uint8Array.from([200, 30, 90]) }),
    );
    assert.deepEqual([one.width, one.height], [1, 1]);
  });

  test('bands: the bytes do not depend on how the work is split; the step runs once per band', () => {
    const img = scene(100, 70, 3); // 9 block rows
    const whole = encodeJpeg(img, { bandSamples: 1e9 });
    let steps = 0;
    const banded = encodeJpeg(img, {
      bandSamples: 1,
      step: (work) => {
        steps++;
        return work();
      },
    });
    assert.equal(steps, 9, 'one block row per band');
    assert.deepEqual(banded, whole);
  });

  test('the forward DCT: a flat block is all DC, a cosine of frequency 1 lands in coefficient 1', () => {
    const flat = new Float32Array(64).fill(10);
    fdct8x8(flat);
    assert.ok(Math.abs(flat[0] - 640) < 1e-3, `DC ${flat[0]}`); // unscaled AAN: 64 × the value
    assert.ok(flat.slice(1).every((v) => Math.abs(v) < 1e-3));
    const wave = new Float32Array(64);
    for (let i = 0; i < 64; i++) wave[i] = Math.cos(((2 * (i & 7) + 1) * Math.PI) / 16);
    fdct8x8(wave);
    const big = [...wave].map((v, i) => [Math.abs(v), i]).sort((a, b) => b[0] - a[0]);
    assert.equal(big[0][1], 1, 'horizontal frequency 1');
    assert.ok(big[1][0] < 1e-3, 'nothing else');
  });

  test('sizes outside JPEG and short buffers are refused with the reason', () => {
    assert.throws(
      () => encodeJpeg({ width: 70000, height: 2, channels: 1, data: new Uint8Array(140000) }),
      /70000×2 is outside 1–65535/,
    );
    assert.throws(
      () => encodeJpeg({ width: 4, height: 4, channels: 3, data: new Uint8Array(10) }),
      /10 bytes/,
    );
  });
});

describe('archive entries with image.format jpeg', () => {
  const entry = (img: JpegImage) => {
    const g = 8;
    const job = {
      result: { partId: 'p-1' } as unknown as InspectionResult,
      evidence: {
        image: img,
        grid: new Float32Array(g * g).fill(0.5),
        g,
        letterbox: computeLetterbox(img.width, img.height, 112),
        ignore: [],
        pixelThreshold: 1,
      },
    };
    let steps = 0;
    const enc = encodeEntry(
      job,
      { imageFormat: 'jpeg', jpegQuality: 90, mapFormat: 'npy' },
      undefined,
      (w) => {
        steps++;
        return w();
      },
    );
    return { enc, steps };
  };

  test('frame.jpg and thumb.jpg decode; a Mono8 frame stays grey; the frame is encoded in many short steps', () => {
    for (const channels of [1, 3] as const) {
      const img = scene(1000, 700, channels);
      const { enc, steps } = entry(img);
      assert.equal(enc.frameFormat, 'jpeg');
      const frame = opencvDecode(enc.files[FILES.frameJpeg] as Uint8Array);
      assert.deepEqual([frame.width, frame.height, frame.channels], [1000, 700, channels]);
      assert.ok(psnr(img.data, frame.rgb) >= 38);
      const thumb = opencvDecode(enc.files[FILES.thumb] as Uint8Array);
      assert.equal(thumb.channels, channels);
      assert.ok(Math.max(thumb.width, thumb.height) <= THUMB_MAX, `${thumb.width}×${thumb.height}`);
      // 88 block rows at 64 Ki samples a band: the JPEG alone is 11 bands grey (8 rows each), 44 colour (2).
      assert.ok(steps >= (channels === 1 ? 11 : 44), `${steps} steps`);
    }
  });
});
