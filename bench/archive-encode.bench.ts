// The archive worker's PNG cost per kept part: our node:zlib encoder (src/util/png-encode.ts) vs fast-png
// (pure-JS deflate, what the archive used before), side by side on the same images: a 640×480 synthetic frame,
// its heatmap and its 16-bit anomaly map. CPU time (process.cpuUsage, less sensitive to a loaded machine than
// wall time) and file size; the ratio is what matters. Then the JPEG frame (`image.format: jpeg`) and the thumbnail
// of a large frame: our encoder (src/util/jpeg-encode.ts) vs jpeg-js (what the archive used before), colour and
// grey, at 2448×2048 (5 MP) and 160×134.
import { encode as fastPng } from 'fast-png';
import jpeg from 'jpeg-js';
import { computeLetterbox } from '../src/pipeline/letterbox.js';
import { postprocess } from '../src/pipeline/anomaly-map.js';
import { heatmapOverlay, toUint16 } from '../src/sinks/archive/encode-entry.js';
import { makePart } from '../src/synthetic/parts.js';
import { encodeJpeg } from '../src/util/jpeg-encode.js';
import type { JpegImage } from '../src/util/jpeg-encode.js';
import { encodePng } from '../src/util/png-encode.js';
import type { PngImage } from '../src/util/png-encode.js';

const REPEATS = 4;

function cpuMs(f: () => Uint8Array): { ms: number; bytes: number } {
  f();
  const c0 = process.cpuUsage();
  let bytes = 0;
  for (let i = 0; i < REPEATS; i++) bytes = f().length;
  const c = process.cpuUsage(c0);
  return { ms: (c.user + c.system) / 1000 / REPEATS, bytes };
}

export async function run(): Promise<void> {
  const part = makePart({ width: 640, height: 480, seed: 7, defect: { kind: 'scratch', size: 24 } });
  const rgb = { width: 640, height: 480, channels: 3 as const, data: part.rgb };
  const frame: PngImage = { ...rgb, depth: 8 };
  const lb = computeLetterbox(640, 480, 56);
  const grid = new Float32Array(16).map((_, i) => 1 + (i % 5) * 0.7);
  const map = postprocess(grid, 4, lb).map;
  const heat: PngImage = { ...frame, data: heatmapOverlay(map, rgb, 2.13) };
  const map16: PngImage = { width: 640, height: 480, channels: 1, depth: 16, data: toUint16(map).pixels };
  let ours = 0;
  let theirs = 0;
  for (const [name, img] of Object.entries({ frame, heat, map16 })) {
    const a = cpuMs(() => encodePng(img));
    const b = cpuMs(() => fastPng(img));
    ours += a.ms;
    theirs += b.ms;
    const kib = (n: number): string => `${(n / 1024).toFixed(0)} KiB`;
    console.log(
      `${name.padEnd(6)}: node:zlib ${a.ms.toFixed(1)} ms ${kib(a.bytes)} | fast-png ${b.ms.toFixed(1)} ms ${kib(b.bytes)}`,
    );
  }
  console.log(
    `per part (3 PNGs): ${ours.toFixed(0)} ms vs ${theirs.toFixed(0)} ms CPU, ratio ${(ours / theirs).toFixed(3)}`,
  );
  jpegArms();
}

/** A textured frame of the given size (waves, a fine ramp, a cross-term), grey or colour. */
function texture(width: number, height: number, channels: 1 | 3): JpegImage {
  const data = new Uint8Array(width * height * channels);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++)
      for (let c = 0; c < channels; c++) {
        const v =
          120 +
          60 * Math.sin(x / 29 + c) * Math.cos(y / 37) +
          ((x * 7 + y * 13) % 9) +
          8 * Math.sin((x * y) / 5000);
        data[(y * width + x) * channels + c] = Math.max(0, Math.min(255, Math.round(v)));
      }
  return { width, height, channels, data };
}

/** jpeg-js takes RGBA. */
function rgba(img: JpegImage): Buffer {
  const out = Buffer.alloc(img.width * img.height * 4, 255);
  for (let i = 0; i < img.width * img.height; i++)
    for (let c = 0; c < 3; c++) out[i * 4 + c] = img.data[i * img.channels + (img.channels === 3 ? c : 0)];
  return out;
}

function jpegArms(): void {
  let sum = 0;
  let sumRef = 0;
  for (const [w, h] of [
    [2448, 2048],
    [160, 134],
  ])
    for (const channels of [3, 1] as const) {
      const img = texture(w, h, channels);
      const four = rgba(img);
      const a = cpuMs(() => encodeJpeg(img, { quality: 90 }));
      const b = cpuMs(() => jpeg.encode({ width: w, height: h, data: four }, 90).data);
      sum += a.ms;
      sumRef += b.ms;
      const kib = (n: number): string => `${(n / 1024).toFixed(0)} KiB`;
      console.log(
        `JPEG ${w}×${h} ${channels === 3 ? 'colour' : 'grey  '}: ours ${a.ms.toFixed(1)} ms ${kib(a.bytes)} | ` +
          `jpeg-js ${b.ms.toFixed(1)} ms ${kib(b.bytes)} | ratio ${(a.ms / b.ms).toFixed(3)}`,
      );
    }
  console.log(
    `JPEG, the four together: ${sum.toFixed(0)} ms vs ${sumRef.toFixed(0)} ms CPU, ratio ${(sum / sumRef).toFixed(3)}`,
  );
}
