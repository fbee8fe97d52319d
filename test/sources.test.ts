import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { firstValueFrom, lastValueFrom, take, toArray } from 'rxjs';
import { pino } from 'pino';
import { configSchema } from '../src/config/schema.js';
import type { CameraConfig } from '../src/config/schema.js';
import { filesSource, globToRegExp, listReplay } from '../src/sources/files.js';
import { sourcePlugin } from '../src/sources/registry.js';
import { syntheticParts, syntheticSource } from '../src/sources/synthetic.js';
import type { SourceContext, SourceState } from '../src/sources/types.js';
import { writeImage } from '../src/util/image-io.js';

function camera<T extends CameraConfig['type']>(
  raw: Record<string, unknown>,
): Extract<CameraConfig, { type: T }> {
  return configSchema.parse({ cameras: { c: raw } }).cameras.c as Extract<CameraConfig, { type: T }>;
}

function context(dir = '/'): SourceContext & { states: [SourceState, string | undefined][]; logs: string[] } {
  const logs: string[] = [];
  const states: [SourceState, string | undefined][] = [];
  const stream = new Writable({
    write(chunk: Buffer, _e, cb) {
      logs.push(chunk.toString());
      cb();
    },
  });
  return {
    log: pino({ level: 'info' }, stream),
    configDir: dir,
    onState: (s, d) => states.push([s, d]),
    states,
    logs,
  };
}

describe('synthetic source', () => {
  test('count parts at the rate, ground truth along, reproducible from the seed', async () => {
    const cfg = camera<'synthetic'>({
      type: 'synthetic',
      width: 64,
      height: 48,
      fps: 200,
      count: 6,
      defectRate: 0.5,
      seed: 7,
      defectSizes: [10],
    });
    const ctx = context();
    const t0 = Date.now();
    const frames = await lastValueFrom(syntheticSource.create('cam', cfg, ctx).pipe(toArray()));
    assert.ok(Date.now() - t0 >= 5 * 5 - 2, 'paced at fps');
    assert.deepEqual(
      frames.map((f) => [f.seq, f.partId]),
      [1, 2, 3, 4, 5, 6].map((i) => [i, `cam-${i}`]),
    );
    for (const f of frames) {
      assert.equal(f.image.data.length, 64 * 48 * 3);
      assert.ok(f.truth);
      const marked = f.truth.mask.reduce((s, v) => s + v, 0);
      assert.equal(marked > 0, f.truth.defect !== null);
    }
    const defective = frames.filter((f) => f.truth!.defect).length;
    assert.ok(defective > 0 && defective < 6, `${defective} defective of 6`);
    assert.deepEqual(ctx.states.at(0), ['streaming', undefined]);
    assert.equal(ctx.states.at(-1)![0], 'stopped');
    // Same seed, new source: the same parts.
    const again = await lastValueFrom(syntheticSource.create('cam', cfg, context()).pipe(toArray()));
    assert.deepEqual(again[3].image.data, frames[3].image.data);
  });

  test('syntheticParts yields the parts the source shows, in order (ground truth without the frames)', async () => {
    const cfg = camera<'synthetic'>({
      type: 'synthetic',
      width: 48,
      height: 40,
      fps: 500,
      count: 4,
      seed: 3,
    });
    const frames = await lastValueFrom(syntheticSource.create('cam', cfg, context()).pipe(toArray()));
    const it = syntheticParts(cfg);
    for (const f of frames) {
      const p = it.next().value!;
      assert.deepEqual(p.rgb, f.image.data);
      assert.deepEqual(p.defect, f.truth!.defect);
    }
  });

  test('a restarted source carries on with new parts and higher sequence numbers', async () => {
    const cfg = camera<'synthetic'>({ type: 'synthetic', width: 32, height: 32, fps: 500 });
    const src = syntheticSource.create('cam', cfg, context());
    const a = await firstValueFrom(src.pipe(take(2), toArray()));
    const b = await firstValueFrom(src.pipe(take(2), toArray()));
    assert.deepEqual(
      [...a, ...b].map((f) => f.seq),
      [1, 2, 3, 4],
    );
    assert.notDeepEqual(a[0].image.data, b[0].image.data);
  });
});

describe('files source', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pinpoint-files-'));
  mkdirSync(join(dir, 'sub'));
  const img = (v: number) => ({
    width: 8,
    height: 6,
    channels: 3 as const,
    data: new Uint8Array(144).fill(v),
  });
  writeImage(join(dir, 'a.png'), img(10));
  writeImage(join(dir, 'sub', 'b.png'), img(20));
  writeImage(join(dir, 'c.jpg'), img(30));
  writeFileSync(join(dir, 'broken.png'), 'not a png');

  test('globToRegExp', () => {
    assert.ok(globToRegExp('/x/*.png').test('/x/a.png'));
    assert.ok(!globToRegExp('/x/*.png').test('/x/y/a.png'));
    assert.ok(globToRegExp('/x/**/*.png').test('/x/a.png'));
    assert.ok(globToRegExp('/x/**/*.png').test('/x/y/z/a.png'));
    assert.ok(globToRegExp('/x/?.[pj]*').test('/x/a.jpg'));
    assert.ok(!globToRegExp('/x/a.png').test('/x/aXpng'));
  });

  test('lists a folder recursively, or a glob; missing paths are empty', () => {
    assert.deepEqual(
      listReplay(dir),
      ['a.png', 'broken.png', 'c.jpg', 'sub/b.png'].map((f) => join(dir, f)),
    );
    assert.deepEqual(
      listReplay(join(dir, '*.png')),
      ['a.png', 'broken.png'].map((f) => join(dir, f)),
    );
    assert.deepEqual(listReplay(join(dir, '**', 'b.png')), [join(dir, 'sub', 'b.png')]);
    assert.deepEqual(listReplay(join(dir, 'nope')), []);
  });

  test('replays once in order, skipping and logging an unreadable file', async () => {
    const cfg = camera<'files'>({ type: 'files', path: dir, fps: 200, loop: false });
    const ctx = context();
    const frames = await lastValueFrom(filesSource.create('f', cfg, ctx).pipe(toArray()));
    assert.deepEqual(
      frames.map((f) => [f.seq, f.image.data[0], f.partId]),
      [
        [1, 10, 'f-1-a'],
        [2, 30, 'f-2-c'],
        [3, 20, 'f-3-b'],
      ],
    );
    assert.equal(ctx.logs.filter((l) => l.includes('unreadable image skipped')).length, 1);
    assert.deepEqual(
      ctx.states.map((s) => s[0]),
      ['connecting', 'streaming', 'stopped'],
    );
  });

  test('loops with a relative glob resolved against the config directory; warns once per bad file', async () => {
    const cfg = camera<'files'>({ type: 'files', path: '*.png', fps: 500, loop: true });
    const ctx = context(dir);
    const frames = await lastValueFrom(filesSource.create('f', cfg, ctx).pipe(take(4), toArray()));
    assert.deepEqual(
      frames.map((f) => f.image.data[0]),
      [10, 10, 10, 10],
    );
    assert.equal(ctx.logs.filter((l) => l.includes('unreadable')).length, 1);
    assert.equal(ctx.states.at(-1)![0], 'stopped');
  });

  test('an empty folder, once: stalled, then complete', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'pinpoint-empty-'));
    const ctx = context();
    const frames = await lastValueFrom(
      filesSource
        .create('f', camera<'files'>({ type: 'files', path: empty, loop: false }), ctx)
        .pipe(toArray()),
    );
    assert.equal(frames.length, 0);
    assert.deepEqual(
      ctx.states.map((s) => s[0]),
      ['connecting', 'stalled', 'stopped'],
    );
  });

  test('registry', () => {
    assert.equal(sourcePlugin('files'), filesSource);
    assert.equal(sourcePlugin('synthetic'), syntheticSource);
  });
});
