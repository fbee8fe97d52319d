// Dataset layouts for `pinpoint eval`: MVTec AD (with LOCO's mask folders), VisA's split file and a plain
// good/bad/masks folder are detected and listed; broken ones get errors naming the file and line.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { openDataset } from '../src/eval/open-dataset.js';
import { readMask } from '../src/eval/read-mask.js';
import { writeImage } from '../src/util/image-io.js';

function png(path: string, fill = 0, w = 8, h = 6): void {
  mkdirSync(dirname(path), { recursive: true });
  writeImage(path, { width: w, height: h, channels: 1, data: new Uint8Array(w * h).fill(fill) });
}

describe('eval dataset layouts', () => {
  const root = mkdtempSync(join(tmpdir(), 'pinpoint-layouts-'));
  test.after(() => rmSync(root, { recursive: true, force: true }));

  test('MVTec AD root and single category; LOCO mask folders are united', () => {
    const d = join(root, 'mvtec');
    png(join(d, 'cable/train/good/000.png'));
    png(join(d, 'cable/test/good/000.png'));
    png(join(d, 'cable/test/cut/000.png'));
    png(join(d, 'cable/ground_truth/cut/000_mask.png'), 255);
    png(join(d, 'loco/test/good/000.png'));
    png(join(d, 'loco/test/logical/000.png'));
    png(join(d, 'loco/ground_truth/logical/000/000.png'));
    mkdirSync(join(d, 'loco/ground_truth/logical/000'), { recursive: true });
    const m = new Uint8Array(48);
    m[5] = 255;
    writeImage(join(d, 'loco/ground_truth/logical/000/001.png'), {
      width: 8,
      height: 6,
      channels: 1,
      data: m,
    });
    const ds = openDataset(d);
    assert.equal(ds.layout, 'mvtec');
    assert.deepEqual(
      ds.categories.map((c) => c.name),
      ['cable', 'loco'],
    );
    const cable = ds.categories[0];
    assert.equal(cable.train!.length, 1);
    assert.deepEqual(
      cable.test.map((t) => [t.type, t.defective, t.mask?.length ?? 0]),
      [
        ['cut', true, 1],
        ['good', false, 0],
      ],
    );
    const loco = ds.categories[1];
    assert.equal(loco.train, null);
    const lm = readMask(loco.test.find((t) => t.defective)!.mask!);
    assert.equal(
      lm.data.reduce((a, b) => a + b, 0),
      1,
    );
    assert.equal(lm.data[5], 1);
    // One category folder given directly.
    assert.deepEqual(
      openDataset(join(d, 'cable')).categories.map((c) => c.name),
      ['cable'],
    );
    // A defect image without its mask.
    png(join(d, 'cable/test/cut/001.png'));
    assert.throws(
      () => openDataset(d, ['cable']),
      /cut\/001\.png: no ground-truth mask \(expected .*001_mask\.png\)/,
    );
  });

  test('VisA split file', () => {
    const d = join(root, 'visa');
    png(join(d, 'candle/Data/Images/Normal/0000.JPG'.replace('.JPG', '.png')));
    const rows = [
      'object,split,label,image,mask',
      'candle,train,normal,candle/Data/Images/Normal/0000.png,',
      'candle,test,normal,candle/Data/Images/Normal/0001.png,',
      'candle,test,anomaly,candle/Data/Images/Anomaly/000.png,candle/Data/Masks/Anomaly/000.png',
      'pcb1,test,anomaly,pcb1/Data/Images/Anomaly/000.png,pcb1/Data/Masks/Anomaly/000.png',
      'pcb1,test,normal,pcb1/Data/Images/Normal/000.png,',
    ];
    mkdirSync(join(d, 'split_csv'), { recursive: true });
    writeFileSync(join(d, 'split_csv/1cls.csv'), rows.join('\n') + '\n');
    const ds = openDataset(d);
    assert.equal(ds.layout, 'visa');
    assert.deepEqual(
      ds.categories.map((c) => c.name),
      ['candle', 'pcb1'],
    );
    const candle = ds.categories[0];
    assert.deepEqual(candle.train, [join(d, 'candle/Data/Images/Normal/0000.png')]);
    assert.deepEqual(candle.test[1], {
      path: join(d, 'candle/Data/Images/Anomaly/000.png'),
      type: 'anomaly',
      defective: true,
      mask: [join(d, 'candle/Data/Masks/Anomaly/000.png')],
    });
    assert.deepEqual(
      openDataset(d, ['pcb1']).categories.map((c) => c.name),
      ['pcb1'],
    );
    writeFileSync(
      join(d, 'split_csv/1cls.csv'),
      rows.slice(0, 3).join('\n') + '\ncandle,test,anomaly,x.png,\n',
    );
    assert.throws(() => openDataset(d), /1cls\.csv:4: an anomaly without a mask/);
    writeFileSync(join(d, 'split_csv/1cls.csv'), 'a,b\n');
    assert.throws(() => openDataset(d), /1cls\.csv:1: expected the header/);
  });

  test('plain folder: good/, bad/, masks/ by name, train/', () => {
    const d = join(root, 'parts');
    png(join(d, 'good/a.png'));
    png(join(d, 'bad/b.jpg'));
    png(join(d, 'masks/b.png'), 255);
    png(join(d, 'train/t.png'));
    const ds = openDataset(d);
    assert.equal(ds.layout, 'folder');
    assert.equal(ds.categories[0].name, 'parts');
    assert.deepEqual(ds.categories[0].train, [join(d, 'train/t.png')]);
    assert.deepEqual(ds.categories[0].test[1].mask, [join(d, 'masks/b.png')]);
    png(join(d, 'bad/c.png'));
    assert.throws(() => openDataset(d), /bad\/c\.png: no mask in .*masks \(expected c\.png\)/);
    // Without masks/: image metrics only (mask null).
    const e = join(root, 'nomasks');
    png(join(e, 'good/a.png'));
    png(join(e, 'bad/b.png'));
    assert.equal(openDataset(e).categories[0].test[1].mask, null);
  });

  test('no known layout, or not a folder: clear errors', () => {
    const d = join(root, 'random');
    png(join(d, 'x/y.png'));
    assert.throws(() => openDataset(d), /not a dataset layout pinpoint knows/);
    assert.throws(() => openDataset(join(root, 'missing')), /not a directory/);
  });

  test('a mask of another size than its image is an error naming both sizes', () => {
    png(join(root, 'm.png'), 255, 4, 4);
    assert.throws(() => readMask([join(root, 'm.png')], 8, 6), /m\.png is 4×4, its image 8×6/);
  });
});
