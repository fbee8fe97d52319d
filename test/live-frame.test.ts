// The live view's frame: shrunk to the tile size in OpenCV's channel order and JPEG-encoded by OpenCV in the
// thread pool. Decoded again here (jpeg-js): the size, the colours where they were, a grey frame grey.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import jpeg from 'jpeg-js';
import type { Image } from '../src/pipeline/image.js';
import type { InspectionResult } from '../src/pipeline/result.js';
import { TILE_MAX, encodeLiveMessage, shrinkToTile } from '../src/sinks/web/live-frame.js';
import type { LiveSnapshot } from '../src/sinks/web/live-frame.js';

const result = { cameraId: 'a', partId: 'P-1', blobs: [], verdict: 'ok' } as unknown as InspectionResult;

/** The JPEG of a live message for `img`, decoded to RGBA. */
async function shown(img: Image) {
  const s: LiveSnapshot = {
    result,
    tile: shrinkToTile(img),
    frame: { width: img.width, height: img.height },
    overlay: {
      grid: new Float32Array(1),
      cols: 1,
      rows: 1,
      box: { x: 0, y: 0, width: 1, height: 1 },
      pixelThreshold: 1,
    },
  };
  const msg = JSON.parse(await encodeLiveMessage(s)) as { jpeg: string; frame: object };
  assert.deepEqual(msg.frame, { width: img.width, height: img.height });
  return jpeg.decode(Buffer.from(msg.jpeg, 'base64'), { useTArray: true });
}

test('a 1600×1200 RGB frame: 480×360, red left, blue right, as in the frame', async () => {
  const [w, h] = [1600, 1200];
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) data.set(x < w / 2 ? [220, 30, 30] : [30, 30, 220], (y * w + x) * 3);
  const d = await shown({ width: w, height: h, channels: 3, data });
  assert.deepEqual([d.width, d.height], [TILE_MAX, 360]);
  const at = (x: number, y: number) => [...d.data.subarray((y * d.width + x) * 4, (y * d.width + x) * 4 + 3)];
  for (const [x, want] of [
    [60, [220, 30, 30]],
    [420, [30, 30, 220]],
  ] as const)
    at(x, 180).forEach((v, k) =>
      assert.ok(Math.abs(v - want[k]) <= 12, `(${x}, 180): ${at(x, 180)} vs ${want}`),
    );
});

test('a grey frame within the tile size keeps its size and stays grey', async () => {
  const [w, h] = [320, 240];
  const data = Uint8Array.from({ length: w * h }, (_, i) => (i % w) % 256);
  const d = await shown({ width: w, height: h, channels: 1, data });
  assert.deepEqual([d.width, d.height], [w, h]);
  for (const x of [10, 100, 250]) {
    const o = (120 * w + x) * 4;
    assert.ok(d.data[o] === d.data[o + 1] && d.data[o + 1] === d.data[o + 2], 'grey');
    assert.ok(Math.abs(d.data[o] - x) <= 6, `x ${x}: ${d.data[o]}`);
  }
});
