// `infer`/`eval`'s tiled path (issue 15): inferImages with tiling gives the map and score of the shared tiled
// path (tiled-frame-map.ts, the engine's stitching), blobs in frame pixels, and refuses an image smaller than
// a tile as a failure of that image only.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inferImages, type ImageFailure, type ImageResult } from '../src/cli/infer-command.js';
import { tiledFrameMap } from '../src/pipeline/tiled-frame-map.js';
import { writeImage } from '../src/util/image-io.js';
import { Rng } from '../src/util/random.js';
import { tinyModel, type TinyModel } from './helpers/tiny-model.js';

const TILING = { scale: 1, overlap: 0.125 };

describe('inferImages with tiling', () => {
  let model: TinyModel;
  let dir: string;
  before(async () => {
    model = await tinyModel();
    dir = mkdtempSync(join(tmpdir(), 'pinpoint-tiled-infer-'));
  });
  after(async () => {
    await model.release();
    rmSync(dir, { recursive: true, force: true });
  });

  test('scores every image through the tiled path; a too-small image fails alone', async () => {
    const rng = new Rng(9);
    const image = { width: 150, height: 100, channels: 3 as const, data: new Uint8Array(150 * 100 * 3) };
    for (let i = 0; i < image.data.length; i++) image.data[i] = rng.int(0, 255);
    writeImage(join(dir, 'big.png'), image);
    writeImage(join(dir, 'small.png'), {
      width: 40,
      height: 40,
      channels: 3,
      data: new Uint8Array(40 * 40 * 3),
    });
    const maps = new Map<string, Float32Array>();
    const results: ImageResult[] = [];
    const failures: ImageFailure[] = [];
    await inferImages(
      model as never,
      [join(dir, 'big.png'), join(dir, 'small.png')],
      { tiling: TILING, minArea: 1, batch: 4, pixel: 0, onMap: (r, m) => maps.set(r.image, m.slice()) },
      (r) => results.push(r),
      (f) => failures.push(f),
    );
    assert.equal(results.length, 1);
    assert.equal(failures.length, 1);
    assert.match(failures[0].error, /frame 40×40 is smaller than one tile \(56×56/);
    const ref = await tiledFrameMap(model, image, TILING, 1);
    const got = maps.get(join(dir, 'big.png'))!;
    assert.equal(got.length, 150 * 100);
    let worst = 0;
    for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i] - ref.map[i]));
    assert.ok(worst <= 1e-5 * Math.max(...ref.map), `max map difference ${worst}`);
    assert.ok(Math.abs(results[0].score - ref.score) <= 1e-5 * ref.score);
    assert.equal(results[0].patchPx, 14, 'one patch is 14 frame pixels at scale 1');
    // pixel threshold 0: the whole frame is one blob, in frame pixels
    assert.deepEqual(
      results[0].blobs.map((b) => b.box),
      [{ x: 0, y: 0, width: 150, height: 100 }],
    );
  });
});
