// The frame profile teach-in records, the checks against it, what one patch covers, and part ids per run.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { from, lastValueFrom, toArray } from 'rxjs';
import { pino } from 'pino';
import {
  colourModeOf,
  frameMismatch,
  frameProfileFrom,
  frameProfileOf,
  patchPixels,
} from '../src/model/frame-profile.js';
import { checkFrames } from '../src/sources/frame-check.js';
import { namePartsOf, partIdFor, runIdAt } from '../src/sources/part-id.js';
import type { Frame } from '../src/sources/types.js';

const rgb = (w: number, h: number, f: (i: number) => [number, number, number]) => {
  const data = new Uint8Array(w * h * 3);
  for (let i = 0; i < w * h; i++) data.set(f(i), i * 3);
  return { width: w, height: h, channels: 3 as const, data };
};

describe('frame profile', () => {
  test('colour mode: one channel or equal channels are grey; JPEG-like chroma noise too; real colour is colour', () => {
    assert.equal(colourModeOf({ width: 4, height: 4, channels: 1, data: new Uint8Array(16) }), 'grey');
    assert.equal(colourModeOf(rgb(64, 48, (i) => [i & 255, i & 255, i & 255])), 'grey');
    assert.equal(colourModeOf(rgb(64, 48, (i) => [(i & 255) + 0, (i & 255) ^ 3, (i & 255) ^ 5])), 'grey');
    // A grey background with a coloured part on 5 % of it.
    assert.equal(colourModeOf(rgb(100, 100, (i) => (i % 20 === 0 ? [200, 40, 40] : [90, 90, 90]))), 'colour');
  });

  test('profile of a teach-in: colour when most images are, median size; absent in older bundles', () => {
    const p = frameProfileOf([
      { width: 640, height: 480, colour: 'colour' },
      { width: 640, height: 480, colour: 'grey' },
      { width: 800, height: 600, colour: 'colour' },
    ]);
    assert.deepEqual(p, { colour: 'colour', width: 640, height: 480 });
    assert.deepEqual(frameProfileFrom({ trainedAt: 'x', frames: p }), p);
    assert.equal(frameProfileFrom({ trainedAt: 'x' }), undefined, 'bundles taught before it was recorded');
    assert.equal(frameProfileFrom(undefined), undefined, 'untrained bundles');
    assert.equal(frameProfileFrom({ trainedAt: 'x', frames: { colour: 'sepia' } }), undefined);
  });

  test('one patch in frame pixels; mismatches named, within 10 % of the size tolerated', () => {
    // The case: 4000×3000 at S = 224 → 16 patches across, 250 px each.
    assert.equal(patchPixels(4000, 3000, 224, 14), 250);
    assert.equal(patchPixels(480, 640, 1036, 14), (640 * 14) / 1036);
    const p = { colour: 'colour' as const, width: 640, height: 480 };
    assert.deepEqual(frameMismatch(p, { width: 650, height: 470, colour: 'colour' }), {});
    const m = frameMismatch(p, { width: 4000, height: 3000, colour: 'grey' });
    assert.match(m.colour ?? '', /grey frames on a model taught on colour images/);
    assert.match(m.size ?? '', /frames are 4000×3000, the model was taught on 640×480/);
    assert.deepEqual(frameMismatch(undefined, { width: 1, height: 1, colour: 'grey' }), {});
  });

  test('checkFrames: the geometry at the first frame, each mismatch warned once per camera', async () => {
    const logs: { msg: string; level: number }[] = [];
    const log = pino(
      { level: 'info' },
      new Writable({
        write(c: Buffer, _e, cb) {
          logs.push(JSON.parse(c.toString()) as { msg: string; level: number });
          cb();
        },
      }),
    );
    const frame = (seq: number, img: Frame['image']): Frame => ({
      cameraId: 'c',
      seq,
      captureTime: 0,
      image: img,
    });
    const grey = { width: 4000, height: 3000, channels: 1 as const, data: new Uint8Array(4000 * 3000) };
    const frames = [frame(1, grey), frame(2, grey), frame(3, grey)];
    const out = await lastValueFrom(
      from(frames).pipe(
        checkFrames({
          cameraId: 'c',
          size: 224,
          patch: 14,
          log,
          profile: { colour: 'colour', width: 640, height: 480 },
        }),
        toArray(),
      ),
    );
    assert.equal(out.length, 3, 'frames pass through');
    assert.deepEqual(
      logs.map((l) => [l.level, l.msg.replace(/:.*/, '')]),
      [
        [30, 'camera c'],
        [40, 'camera c'],
        [40, 'camera c'],
      ],
    );
    assert.match(logs[0].msg, /4000×3000 grey frames, one patch ≈ 250 px/);
    assert.match(logs[1].msg + logs[2].msg, /grey frames on a model taught on colour.*frames are 4000×3000/);
  });
});

describe('part ids', () => {
  test('a run id per start, between the camera and the frame number', async () => {
    const a = runIdAt(Date.UTC(2026, 11, 2, 0, 33));
    const b = runIdAt(Date.UTC(2026, 11, 2, 0, 33) + 1);
    assert.match(a, /^[0-9a-z]{8}$/);
    assert.notEqual(a, b, 'a millisecond apart is another run');
    assert.ok(a < b, 'later runs sort after earlier ones');
    assert.equal(partIdFor('top', 17, a), `top-${a}-17`);
    assert.equal(partIdFor('top', 17, a, 'img'), `top-${a}-17-img`);
    assert.equal(partIdFor('top', 17), 'top-17');
    // Frames a source left unnamed get one; named ones (a replay's, a trigger's) keep theirs.
    const named = await lastValueFrom(
      from([
        {
          cameraId: 'top',
          seq: 1,
          captureTime: 0,
          image: { width: 1, height: 1, channels: 1 as const, data: new Uint8Array(1) },
        },
        {
          cameraId: 'top',
          seq: 2,
          captureTime: 0,
          partId: 'kept',
          image: { width: 1, height: 1, channels: 1 as const, data: new Uint8Array(1) },
        },
      ]).pipe(namePartsOf('top', a), toArray()),
    );
    assert.deepEqual(
      named.map((f) => f.partId),
      [`top-${a}-1`, 'kept'],
    );
  });
});
