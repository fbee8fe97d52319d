// Acceptance (issue 15): tiling finds few-pixel defects that letterboxing loses.
//
// Scaled down to run on a 2-core CI machine in well under a minute when quiet, keeping the geometry that matters:
// frames of 1224×1024 with model input S = 112 are letterboxed 10.9× smaller, exactly as 2448×2048 frames
// are at S = 224, and tiled at scale 1 into 13 × 11 = 143 tiles, exactly as 2448×2048 is at S = 224; the
// defects keep their absolute size (8–24 px), so a tile sees them at native resolution in both cases. (At
// 2448×2048 one synthetic part takes ~12 s to render here, and its 143 tiles at S = 224 cost 4× the teacher
// FLOPs: the same test at full size is minutes.) Dev teacher of width 256 (4 heads, 6 blocks, layers 4 and 6)
// with patchGain 30 and the filter bank as patch embedding (src/model/dev-teacher.ts, patch-filter-bank.ts:
// colour-opponent and oriented-grating filters with the mean brightness weighed down, as a trained first layer;
// random filters leave a token mostly its patch's mean brightness, so light stains barely move it); tiled
// students train 12 epochs over the 429 tiles (1296 steps).
//
// Defects: spots, dents, missing chunks and scratches of 8, 12, 16, 20 and 24 px, rendered by the synthetic
// part generator on small parts and pasted (their exact mask pixels) onto good 1224×1024 parts at spaced
// positions on the plate. A defect is found when a blob of the calibrated pixel threshold overlaps its mask's
// box (grown by 4 px: the map is blurred). Printed side by side per defect: found or not, and the defect's map
// peak over the calibrated pixel threshold, tiled and letterboxed. Gated (spot/dent/missing ≥ 12 px): tiling
// finds at least 90 % of them (the issue's goal: 11 of 12), at least twice as many and at least 3 more than
// letterboxing, and raises the defect's peak/threshold above letterboxing's for ≥ 75 % of them. Measured:
// tiled 11 of 12 (92 %), letterboxed 1 of 12; the weakest found at 1.15× the threshold (a 24-px missing chunk),
// the light (cream) spots of 16 and 20 px at 1.28 and 1.40 (0.34 and 0.40 with random filters); missed: the
// 12-px missing chunk beside the knurled boss at 0.84. Teacher seed 1: the same 11, weakest 1.21×, missing
// 12 px at 0.90. With random filters (gain 10) 9 of 12 (docs/pipeline.md, "Tiling").
//
// Scratches (≤ 3 px wide whatever their length) are printed, not gated. Seam: the same defect, same
// surroundings, centred on a tile seam and inside each of the two tiles that meet there (the frame is cropped
// at three offsets so only the tile grid moves, by 42 px = 3 patches, so the defect keeps its phase to the
// patch grid): one blob on the seam at half the defect's peak, whose peak is within 5 % of the defect's peak
// inside one of the two tiles and within their two peaks ±5 %. Measured: 0.0824 on the seam, 0.0812 inside
// tile 0 (1.5 %), 0.0791 inside tile 1 (seed 1: 0.0789, 0.0781, 0.0752). The two tiles differ by up to 9 %
// without any seam: the defect's peak depends on what else its tile shows (the teacher's attention context;
// with random filters it was 1 %); a shift that changes the patch phase (45 px) moved the peak by 20 % (0.133
// vs 0.109, measured at patchGain 1) with or without a seam: the ViT's patch grid, not the stitching, is what
// is not shift-invariant.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBundle, loadBundle } from '../src/model/bundle.js';
import { writeDevTeacher } from '../src/model/dev-teacher.js';
import { makePart, type DefectKind } from '../src/synthetic/parts.js';
import { teachIn } from '../src/teach/teach-in.js';
import { openAnomalyModel, type AnomalyModel } from '../src/pipeline/inference.js';
import { tiledFrameMap } from '../src/pipeline/tiled-frame-map.js';
import { postprocess } from '../src/pipeline/anomaly-map.js';
import { computeLetterbox, letterbox } from '../src/pipeline/letterbox.js';
import { findBlobs, type Blob } from '../src/pipeline/blobs.js';
import { tileGrid } from '../src/pipeline/tiling.js';
import type { Image } from '../src/pipeline/image.js';

const W = 1224;
const H = 1024;
const S = 112;
const TILING = { scale: 1, overlap: 0.125 };
const SIZES = [8, 12, 16, 20, 24];
const KINDS: DefectKind[] = ['spot', 'dent', 'missing', 'scratch'];

interface Stamp {
  kind: DefectKind;
  size: number;
  w: number;
  h: number;
  /** RGB of the defect's mask pixels, 0 alpha elsewhere. */
  rgb: Uint8Array;
  mask: Uint8Array;
}

/** The defect of a small synthetic part: its box's mask and pixels. */
function stamp(kind: DefectKind, size: number, seed: number): Stamp {
  const p = makePart({ width: 640, height: 480, seed, defect: { kind, size } });
  const { x, y, width: w, height: h } = p.defect!.box;
  const rgb = new Uint8Array(w * h * 3);
  const mask = new Uint8Array(w * h);
  for (let j = 0; j < h; j++)
    for (let i = 0; i < w; i++) {
      const q = (y + j) * p.width + x + i;
      mask[j * w + i] = p.mask[q];
      for (let c = 0; c < 3; c++) rgb[(j * w + i) * 3 + c] = p.rgb[q * 3 + c];
    }
  return { kind, size, w, h, rgb, mask };
}

interface Placed {
  stamp: Stamp;
  box: { x: number; y: number; width: number; height: number };
}

/** Pastes the stamp's mask pixels with its box's top-left at (x, y). */
function paste(img: Image, s: Stamp, x: number, y: number): Placed {
  for (let j = 0; j < s.h; j++)
    for (let i = 0; i < s.w; i++) {
      if (!s.mask[j * s.w + i]) continue;
      const q = ((y + j) * img.width + x + i) * 3;
      for (let c = 0; c < 3; c++) img.data[q + c] = s.rgb[(j * s.w + i) * 3 + c];
    }
  return { stamp: s, box: { x, y, width: s.w, height: s.h } };
}

function goodPart(seed: number, width = W, height = H) {
  const p = makePart({ width, height, seed });
  return { image: { width, height, channels: 3 as const, data: p.rgb }, object: p.object };
}

/** Positions on a 150-px lattice whose 40×40 neighbourhood is all plate (so a defect lies on the part). */
function sites(object: Uint8Array, width: number, height: number): { x: number; y: number }[] {
  const out: { x: number; y: number }[] = [];
  for (let y = 60; y + 60 < height; y += 150)
    for (let x = 60; x + 60 < width; x += 150) {
      let all = true;
      for (let j = -20; j < 20 && all; j++)
        for (let i = -20; i < 20 && all; i++) all = object[(y + j) * width + x + i] === 1;
      if (all) out.push({ x, y });
    }
  return out;
}

const overlaps = (b: Blob, d: Placed['box'], grow = 4): boolean =>
  b.box.x < d.x + d.width + grow &&
  d.x - grow < b.box.x + b.box.width &&
  b.box.y < d.y + d.height + grow &&
  d.y - grow < b.box.y + b.box.height;

async function letterboxMap(model: AnomalyModel, img: Image): Promise<Float32Array> {
  const grid = await model.run(letterbox(img, S, undefined, model.resize), 1);
  return postprocess(grid, model.grid, computeLetterbox(img.width, img.height, S)).map;
}

test('tiling at scale 1 finds few-pixel defects that letterboxing to the same S loses; seams are invisible', async (t) => {
  const t0 = performance.now();
  const tmp = mkdtempSync(join(tmpdir(), 'pinpoint-tiling-'));
  t.after(() => rmSync(tmp, { recursive: true, force: true }));
  writeDevTeacher(join(tmp, 'teacher.safetensors'), {
    dim: 256,
    heads: 4,
    depth: 6,
    patchGain: 30,
    patchFilters: 'bank',
  });
  const bundleFor = (name: string) => {
    const dir = join(tmp, name);
    createBundle({ teacherPath: join(tmp, 'teacher.safetensors'), outDir: dir, size: S, layers: [4, 6] });
    return dir;
  };
  const good = [101, 102, 103, 104].map((s) => goodPart(s));
  const options = { device: 'cpu' as const, epochs: 3, holdout: 0.25, seed: 1 };
  const tiledDir = bundleFor('tiled');
  const tiledRun = await teachIn({
    bundleDir: tiledDir,
    images: good.map((g) => g.image),
    options: { ...options, epochs: 12, tiling: TILING },
  });
  const plainDir = bundleFor('plain');
  const plainRun = await teachIn({
    bundleDir: plainDir,
    images: good.map((g) => g.image),
    options: { ...options, epochs: 300 },
  });
  process.stderr.write(
    `tiling acceptance: training samples from ${tiledRun.images.train} good parts: tiled ${tiledRun.samples} ` +
      `(${tiledRun.samples / tiledRun.images.train} per part), letterboxed ${plainRun.samples}; teach-in ` +
      `${((performance.now() - t0) / 1000).toFixed(0)} s\n`,
  );
  const tiledBundle = loadBundle(tiledDir);
  assert.deepEqual(tiledBundle.manifest.input.tiling, TILING);
  assert.equal(loadBundle(plainDir).manifest.input.tiling, undefined);
  const tiled = await openAnomalyModel(tiledBundle, { device: 'cpu' });
  const plain = await openAnomalyModel(loadBundle(plainDir), { device: 'cpu' });
  t.after(async () => {
    await tiled.release();
    await plain.release();
  });
  const tiledPixel = tiledRun.thresholds!.pixel;
  const plainPixel = plainRun.thresholds!.pixel;

  // Test frames: good parts of new seeds with the defects pasted on the plate.
  const stamps = KINDS.flatMap((k, ki) => SIZES.map((s, si) => stamp(k, s, 1000 + ki * 10 + si)));
  const placed: { frame: number; d: Placed }[] = [];
  const frames: Image[] = [];
  let next = 0;
  for (let f = 0; next < stamps.length; f++) {
    const { image, object } = goodPart(200 + f);
    for (const site of sites(object, W, H)) {
      if (next >= stamps.length) break;
      const s = stamps[next++];
      placed.push({ frame: f, d: paste(image, s, site.x - (s.w >> 1), site.y - (s.h >> 1)) });
    }
    frames.push(image);
  }
  const found = { tiled: new Set<number>(), plain: new Set<number>() };
  const ratio = { tiled: new Map<number, number>(), plain: new Map<number, number>() };
  const peakIn = (m: Float32Array, b: Placed['box']): number => {
    let v = 0;
    for (let y = b.y; y < b.y + b.height; y++)
      for (let x = b.x; x < b.x + b.width; x++) v = Math.max(v, m[y * W + x]);
    return v;
  };
  for (let f = 0; f < frames.length; f++) {
    const tm = (await tiledFrameMap(tiled, frames[f], TILING, 8)).map;
    const pm = await letterboxMap(plain, frames[f]);
    const tb = findBlobs({ width: W, height: H, data: tm }, tiledPixel, 1);
    const pb = findBlobs({ width: W, height: H, data: pm }, plainPixel, 1);
    placed.forEach((p, i) => {
      if (p.frame !== f) return;
      ratio.tiled.set(i, peakIn(tm, p.d.box) / tiledPixel);
      ratio.plain.set(i, peakIn(pm, p.d.box) / plainPixel);
      if (tb.some((b) => overlaps(b, p.d.box))) found.tiled.add(i);
      if (pb.some((b) => overlaps(b, p.d.box))) found.plain.add(i);
    });
  }
  const rate = (set: Set<number>, pick: (s: Stamp) => boolean) => {
    const ids = placed.flatMap((p, i) => (pick(p.d.stamp) ? [i] : []));
    return { n: ids.length, rate: ids.filter((i) => set.has(i)).length / ids.length };
  };
  const lines = ['kind/size      tiled (peak/threshold)  letterboxed (peak/threshold)'];
  placed.forEach((p, i) => {
    const cell = (set: Set<number>, r: Map<number, number>) =>
      `${set.has(i) ? 'found' : '—    '} (${r.get(i)!.toFixed(2)})`;
    lines.push(
      `${`${p.d.stamp.kind} ${p.d.stamp.size} px`.padEnd(14)} ${cell(found.tiled, ratio.tiled).padEnd(23)} ${cell(found.plain, ratio.plain)}`,
    );
  });
  const gated = (x: Stamp) => x.kind !== 'scratch' && x.size >= 12;
  const tr = rate(found.tiled, gated);
  const pr = rate(found.plain, gated);
  const all = (x: Stamp) => x.kind !== 'scratch';
  lines.push(
    `spot/dent/missing ≥ 12 px (${tr.n}): tiled ${(100 * tr.rate).toFixed(0)} %, letterboxed ${(100 * pr.rate).toFixed(0)} %`,
    `spot/dent/missing 8–24 px: tiled ${(100 * rate(found.tiled, all).rate).toFixed(0)} %, letterboxed ${(100 * rate(found.plain, all).rate).toFixed(0)} %`,
  );
  process.stderr.write(lines.map((l) => `tiling acceptance: ${l}\n`).join(''));
  const nt = Math.round(tr.rate * tr.n);
  const np = Math.round(pr.rate * pr.n);
  assert.ok(nt >= 2 * np && nt >= np + 3, `tiling found ${nt}, letterboxing ${np} of ${tr.n}: gap too small`);
  assert.ok(nt >= 0.9 * tr.n, `tiling found ${nt} of ${tr.n} gated defects, fewer than 90 %`);
  const gatedIds = placed.flatMap((p, i) => (gated(p.d.stamp) ? [i] : []));
  const raised = gatedIds.filter((i) => ratio.tiled.get(i)! > ratio.plain.get(i)!).length;
  assert.ok(raised >= 0.75 * gatedIds.length, `tiling raised the peak for ${raised} of ${gatedIds.length}`);

  // Seam: one 20-px missing chunk, the frame cropped twice so the grid moves, not the defect.
  const cw = 560;
  const ch = 336;
  const grid = tileGrid(cw, ch, TILING, S); // columns at 0, 90, 179, ...: tile 0 and 1 overlap in [90, 112)
  const seamX = Math.round((grid.xs[1] + S) / 2);
  // inside tile 1's own part [112, 179), 3 patches (42 px) right of the seam, and inside tile 0's own part
  // [0, 90), 3 patches left of it: the defect keeps its phase to the patch grid of the tiles that see it,
  // so only the seam (and what else the tile shows: the teacher's attention context) differ
  const insideX = seamX + 42;
  const leftX = seamX - 42;
  const { image: base, object } = goodPart(300);
  const spot = stamps.find((s) => s.kind === 'missing' && s.size === 20)!;
  const site = sites(object, W, H).find((p) => p.x >= 300 && p.x + 500 <= W && p.y >= 200 && p.y + 200 <= H)!;
  const big = { ...base, data: base.data.slice() };
  const d = paste(big, spot, site.x - (spot.w >> 1), site.y - (spot.h >> 1)).box;
  const cx = d.x + d.width / 2;
  const mapAt = async (targetX: number) => {
    const x0 = Math.round(cx - targetX);
    const y0 = site.y - (ch >> 1);
    const crop = new Uint8Array(cw * ch * 3);
    for (let j = 0; j < ch; j++)
      crop.set(big.data.subarray(((y0 + j) * W + x0) * 3, ((y0 + j) * W + x0 + cw) * 3), j * cw * 3);
    const m = (await tiledFrameMap(tiled, { width: cw, height: ch, channels: 3, data: crop }, TILING, 8)).map;
    // the defect's neighbourhood (its box grown by 16 px), where its blob lies
    const g = 16;
    const bx = d.x - x0 - g;
    const by = d.y - y0 - g;
    const bw = d.width + 2 * g;
    const bh = d.height + 2 * g;
    const near = new Float32Array(bw * bh);
    for (let j = 0; j < bh; j++) near.set(m.subarray((by + j) * cw + bx, (by + j) * cw + bx + bw), j * bw);
    return { width: bw, height: bh, data: near };
  };
  const seam = await mapAt(seamX);
  const inside = await mapAt(insideX);
  const left = await mapAt(leftX);
  const peak = (m: { data: Float32Array }) => m.data.reduce((a, v) => Math.max(a, v), 0);
  // Blobs at half the defect's own peak: the seam property does not depend on whether this random teacher's
  // calibrated threshold happens to reach this defect here.
  const level = 0.5 * peak(inside);
  const seamBlobs = findBlobs(seam, level, 1);
  const insideBlobs = findBlobs(inside, level, 1);
  const leftBlobs = findBlobs(left, level, 1);
  process.stderr.write(
    `tiling acceptance: 20-px missing chunk centred on a seam: ${seamBlobs.length} blob(s), peak ` +
      `${peak(seam).toFixed(4)}; inside tile 1: ${insideBlobs.length} blob(s), peak ${peak(inside).toFixed(4)}; ` +
      `inside tile 0: ${leftBlobs.length} blob(s), peak ${peak(left).toFixed(4)} ` +
      `(calibrated pixel threshold ${tiledPixel.toFixed(4)}); ${((performance.now() - t0) / 1000).toFixed(0)} s in all\n`,
  );
  assert.equal(seamBlobs.length, 1, 'one blob across the seam');
  assert.equal(insideBlobs.length, 1);
  assert.equal(leftBlobs.length, 1);
  // The seam blends tile 0's and tile 1's views of the defect: its peak is that of the defect inside one of
  // them (±5 %), and neither doubled nor cut against both.
  const insides = [peak(left), peak(inside)];
  const nearest = Math.min(...insides.map((p) => Math.abs(peak(seam) - p) / p));
  assert.ok(
    nearest <= 0.05,
    `seam peak ${peak(seam)} not within 5 % of a tile's own peak (${insides.join(', ')})`,
  );
  assert.ok(
    peak(seam) >= 0.95 * Math.min(...insides) && peak(seam) <= 1.05 * Math.max(...insides),
    "seam peak outside the two tiles' own peaks ±5 %",
  );
});
