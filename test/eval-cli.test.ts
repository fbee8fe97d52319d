// Acceptance (issue 14): `pinpoint eval --train` on a synthetic MVTec-layout dataset the test builds (dev
// teacher, two categories, defects with exact masks) prints every metric for every category, writes eval.json
// and report.html; the report renders in headless Chromium with its curves and the worst-case grid; an
// existing bundle is evaluated without --train (--json); a folder of no known layout is a clear error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { createBundle } from '../src/model/bundle.js';
import { writeDevTeacher } from '../src/model/dev-teacher.js';
import { makeDataset, type DefectKind } from '../src/synthetic/parts.js';
import { cv } from '../src/util/cv.js';
import { writeImage } from '../src/util/image-io.js';
import { runCli } from './helpers/cli.js';

const W = 112;
const H = 84;

/** <root>/<name>/{train/good, test/good, test/<kind>, ground_truth/<kind>/<n>_mask.png}. */
function writeCategory(root: string, name: string, seed: number): void {
  const dir = join(root, name);
  const put = (sub: string, file: string, data: Uint8Array, channels: 1 | 3): void => {
    mkdirSync(join(dir, sub), { recursive: true });
    writeImage(join(dir, sub, file), { width: W, height: H, channels, data });
  };
  makeDataset({ good: 6, defective: 0, seed, width: W, height: H }).forEach((p, i) =>
    put('train/good', `${String(i).padStart(3, '0')}.png`, p.rgb, 3),
  );
  makeDataset({ good: 4, defective: 0, seed: seed + 100, width: W, height: H }).forEach((p, i) =>
    put('test/good', `${String(i).padStart(3, '0')}.png`, p.rgb, 3),
  );
  for (const kind of ['spot', 'missing'] as DefectKind[]) {
    const parts = makeDataset({
      good: 0,
      defective: 3,
      seed: seed + 200,
      width: W,
      height: H,
      kinds: [kind],
      sizes: [10, 20, 30],
    });
    parts.forEach((p, i) => {
      const n = String(i).padStart(3, '0');
      put(`test/${kind}`, `${n}.png`, p.rgb, 3);
      put(
        `ground_truth/${kind}`,
        `${n}_mask.png`,
        p.mask.map((v) => v * 255),
        1,
      );
    });
  }
}

/** Pixels of a PNG screenshot within `tol` of an RGB colour. */
function countColour(png: Buffer, rgb: [number, number, number], tol = 40): number {
  const m = cv().imdecode(png); // BGR
  const d = m.getData();
  let n = 0;
  for (let i = 0; i < d.length; i += m.channels) {
    if (Math.abs(d[i + 2] - rgb[0]) + Math.abs(d[i + 1] - rgb[1]) + Math.abs(d[i] - rgb[2]) <= tol) n++;
  }
  m.release();
  return n;
}

/** Share of strongly coloured pixels (max − min channel > 100): heatmaps are, photos of grey metal are not. */
function saturatedShare(png: Buffer): number {
  const m = cv().imdecode(png);
  const d = m.getData();
  let n = 0;
  for (let i = 0; i < d.length; i += m.channels) {
    if (Math.max(d[i], d[i + 1], d[i + 2]) - Math.min(d[i], d[i + 1], d[i + 2]) > 100) n++;
  }
  const share = n / (m.rows * m.cols);
  m.release();
  return share;
}

test('pinpoint eval --train on a synthetic MVTec-layout set: table, eval.json, report.html in Chromium', async (t) => {
  const tmp = mkdtempSync(join(tmpdir(), 'pinpoint-eval-'));
  t.after(() => rmSync(tmp, { recursive: true, force: true }));
  writeDevTeacher(join(tmp, 'teacher.safetensors'));
  const base = join(tmp, 'base');
  createBundle({ teacherPath: join(tmp, 'teacher.safetensors'), outDir: base, size: 112 });
  const data = join(tmp, 'mvtec');
  writeCategory(data, 'plate', 1);
  writeCategory(data, 'bracket', 7);
  const out = join(tmp, 'out');

  const r = await runCli(
    [
      'eval',
      '--model',
      base,
      '--data',
      data,
      '--train',
      '--epochs',
      '3',
      '--out',
      out,
      '--device',
      'cpu',
      '--save-maps',
      '--worst',
      '2',
    ],
    { timeoutMs: 300_000 },
  );
  assert.equal(r.code, 0, r.stderr);
  t.diagnostic(r.stdout);
  // Every metric for every category, and the mean.
  for (const h of [
    'I-AUROC',
    'P-AUROC',
    'PRO@30%',
    'PRO@10%',
    'PRO@5%',
    'PRO@1%',
    'I-F1max',
    'P-F1max',
    'ms/frame',
  ]) {
    assert.ok(r.stdout.includes(h), `column ${h}`);
  }
  for (const name of ['bracket', 'plate', 'mean']) {
    const row = r.stdout.split('\n').find((l) => l.startsWith(name))!;
    assert.ok(row, `row ${name}`);
    const nums = row.trim().split(/\s+/).slice(1, 10).map(Number);
    assert.equal(nums.length, 9);
    assert.ok(
      nums.slice(0, 8).every((v) => v >= 0 && v <= 1),
      `${name}: metrics in [0, 1]: ${row}`,
    );
    assert.ok(nums[8] > 0, `${name}: ms/frame`);
  }
  assert.match(r.stdout, /AUPRO by defect size/);
  assert.equal((r.stdout.match(/^\s*(bracket|plate|mean)?\s+(30|10|5|1)%(\s+[\d.]+){4}/gm) ?? []).length, 12);

  const json = JSON.parse(readFileSync(join(out, 'eval.json'), 'utf8')) as {
    trained: boolean;
    categories: {
      name: string;
      imageAuroc: number;
      pixelAuroc: number;
      aupro: Record<string, number>;
      auproBySize: Record<string, number>[];
      images: unknown[];
      threshold: number | null;
      sizeQuartiles: number[];
    }[];
    mean: { imageAuroc: number };
  };
  assert.equal(json.trained, true);
  assert.deepEqual(
    json.categories.map((c) => c.name),
    ['bracket', 'plate'],
  );
  for (const c of json.categories) {
    assert.equal(c.images.length, 10);
    assert.ok(c.threshold !== null && c.threshold > 0, 'calibrated threshold from the teach-in');
    assert.equal(c.sizeQuartiles.length, 3);
    assert.equal(c.auproBySize.length, 4);
    for (const v of [c.imageAuroc, c.pixelAuroc, ...Object.values(c.aupro)]) assert.ok(v >= 0 && v <= 1);
    // A tiny random teacher and 3 epochs rank defect pixels well above chance (0.75–0.83 measured); a map
    // misaligned with its mask (flipped, shifted by the letterbox) would sit near 0.5.
    assert.ok(c.pixelAuroc > 0.65, `${c.name} pixel AUROC ${c.pixelAuroc}`);
    assert.ok(existsSync(join(out, c.name, 'bundle', 'manifest.json')));
    assert.equal(readdirSync(join(out, c.name, 'maps', 'spot')).length, 3);
  }

  // The report in a real browser: curves drawn, histogram with its threshold, worst-case images loaded.
  const profile = mkdtempSync(join(tmpdir(), 'pinpoint-chromium-'));
  t.after(() => rmSync(profile, { recursive: true, force: true }));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  try {
    const page = await ctx.newPage();
    const outside: string[] = [];
    page.on('request', (req) => {
      if (!req.url().startsWith('file:') && !req.url().startsWith('data:')) outside.push(req.url());
    });
    await page.goto(`file://${join(out, 'report.html')}`);
    const roc = await page.locator('#roc-plate').screenshot();
    assert.ok(countColour(roc, [214, 39, 40]) > 100, 'image ROC curve (red) drawn');
    assert.ok(countColour(roc, [31, 119, 180]) > 100, 'pixel ROC curve (blue) drawn');
    const pro = await page.locator('#pro-bracket').screenshot();
    assert.ok(countColour(pro, [44, 160, 44]) > 100, 'PRO curve (green) drawn');
    const hist = await page.locator('#hist-plate').screenshot();
    assert.ok(countColour(hist, [0, 0, 0], 30) > 60, 'threshold line drawn');
    assert.match((await page.locator('#hist-plate').textContent()) ?? '', /threshold/);
    // Worst cases: 2 good + 2 defective rows, 4 pictures each, all decoded by the browser.
    const grid = page.locator('#worst-plate');
    assert.equal(await grid.locator('tr').count(), 5);
    const sizes = await grid
      .locator('img')
      .evaluateAll((imgs) => imgs.map((i) => (i as unknown as { naturalWidth: number }).naturalWidth));
    assert.equal(sizes.length, 2 * 3 + 2 * 4); // good rows have no mask picture
    assert.ok(sizes.every((w) => w > 0));
    const heat = await grid.locator('img[alt="heatmap"]').first().screenshot();
    assert.ok(saturatedShare(heat) > 0.9, 'heatmap in jet colours');
    const mask = await grid.locator('img[alt="mask"]').first().screenshot();
    assert.ok(countColour(mask, [255, 255, 255], 10) > 0, 'defect drawn in the mask');
    assert.deepEqual(outside, [], 'no external requests');
  } finally {
    await ctx.close();
  }

  // An existing bundle without --train, as JSON on stdout.
  const j = await runCli(
    [
      'eval',
      '--model',
      join(out, 'plate', 'bundle'),
      '--data',
      data,
      '--category',
      'plate',
      '--out',
      join(tmp, 'out2'),
      '--device',
      'cpu',
      '--json',
    ],
    { timeoutMs: 120_000 },
  );
  assert.equal(j.code, 0, j.stderr);
  const again = JSON.parse(j.stdout) as {
    trained: boolean;
    categories: { name: string; imageAuroc: number }[];
  };
  assert.equal(again.trained, false);
  assert.deepEqual(
    again.categories.map((c) => c.name),
    ['plate'],
  );
  assert.equal(again.categories[0].imageAuroc, json.categories[1].imageAuroc, 'same bundle, same scores');

  // Clear errors: teach-in options without --train, unknown category, unknown layout.
  const usage = await runCli(['eval', '--model', base, '--data', data, '--epochs', '3']);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /only apply with --train/);
  const bad = await runCli([
    'eval',
    '--model',
    base,
    '--data',
    data,
    '--category',
    'nope',
    '--out',
    join(tmp, 'o3'),
  ]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /no category "nope" \(found: bracket, plate\)/);
  const none = await runCli(['eval', '--model', base, '--data', join(tmp, 'base'), '--out', join(tmp, 'o4')]);
  assert.equal(none.code, 1);
  assert.match(
    none.stderr,
    /not a dataset layout pinpoint knows[\s\S]*MVTec AD[\s\S]*VisA[\s\S]*good\/ and bad\//,
  );
});
