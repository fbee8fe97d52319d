// The anomaly map an archive entry keeps, from a part's evidence, in the archive worker: a letterboxed frame's
// map recomputed from its Δ grid (postprocess), a tiled frame's stitched from its tiles' Δ grids with the
// engine's own code (tiledMap: the map the verdict saw, bit for bit), ignore zones zeroed in frame pixels.
//
// Size bound: a 20 MP frame's float map is 80 MB, and its heatmap PNG as many pixels. A map of more than
// MAP_MAX_PIXELS is max-pooled by the smallest integer factor f that brings it within the bound (2448×2048:
// f = 2, 1224×1024; 5472×3648: f = 4, 1368×912): map pixel (x, y) holds the maximum over frame pixels
// [f·x, f·x + f) × [f·y, f·y + f). The maximum, not the mean, so a defect a few pixels wide keeps its peak and
// re-thresholding the kept map finds every blob the verdict found: each published blob's box lies within the
// f-scaled box of a blob of the pooled map (exact at f = 1). The factor and both sizes go into map.json.
import { applyIgnoreMask, postprocess } from '../../pipeline/anomaly-map.js';
import type { Polygon } from '../../pipeline/anomaly-map.js';
import type { PartEvidence } from '../../pipeline/evidence.js';
import type { Image } from '../../pipeline/image.js';
import type { Letterbox } from '../../pipeline/letterbox.js';
import { stitchPlan } from '../../pipeline/stitch.js';
import { tiledMap } from '../../pipeline/tiled-inspection.js';
import type { TileGrid } from '../../pipeline/tiling.js';

/** The most map (and heatmap) pixels an entry keeps: ~2 MP, 8 MB as float32 .npy. */
export const MAP_MAX_PIXELS = 2_000_000;

interface EvidenceCommon {
  image: Image;
  g: number;
  ignore: readonly Polygon[];
  pixelThreshold: number;
}

/**
 * What the sink sends the worker of a part's evidence (structured-clone friendly). A tiled frame's `grid` is
 * every tile's Δ grid, tile i at [i·g·g ..]: one name for both kinds, so the writer copies and moves either.
 */
export type ArchiveEvidence =
  | (EvidenceCommon & { kind?: undefined; grid: Float32Array; letterbox: Letterbox })
  | (EvidenceCommon & { kind: 'tiled'; grid: Float32Array; tiles: TileGrid });

/** The fields of a part's evidence the worker needs (the writer copies the frame and the grid(s) it moves). */
export function archiveEvidence(e: PartEvidence): ArchiveEvidence {
  const common = { image: e.image, g: e.g, ignore: e.ignore, pixelThreshold: e.pixelThreshold };
  if (e.kind === 'tiled') return { ...common, kind: 'tiled', grid: e.grids, tiles: e.tiles };
  return { ...common, grid: e.grid, letterbox: e.letterbox };
}

/** map.json: how the kept map relates to the frame (written when it is tiled or pooled). */
export interface MapInfo {
  width: number;
  height: number;
  frameWidth: number;
  frameHeight: number;
  /** Frame pixels per map pixel along each axis (1: the map is in frame pixels). */
  downsample: number;
  /** How a map pixel sums up its f×f frame pixels. */
  pooling: 'max';
  /** Whether the frame was tiled (its tile grid is result.json's `tiling`). */
  tiled: boolean;
}

/** Buffers reused from part to part (see EncodeScratch). */
export interface MapScratch {
  map(n: number): Float32Array;
  pooled(n: number): Float32Array;
  frame(n: number): Uint8Array;
}

export interface EntryMap {
  map: Float32Array;
  info: MapInfo;
  /** The frame at the map's size (the frame itself at f = 1), for the heatmap overlay. */
  image: Image;
}

/** The smallest integer factor f with ⌈W/f⌉·⌈H/f⌉ ≤ maxPixels. */
export function mapDownsample(W: number, H: number, maxPixels = MAP_MAX_PIXELS): number {
  let f = Math.max(1, Math.floor(Math.sqrt((W * H) / maxPixels)));
  while (Math.ceil(W / f) * Math.ceil(H / f) > maxPixels) f++;
  return f;
}

/** Max over f×f blocks (the last row and column of blocks may be narrower). */
export function maxPool(
  map: Float32Array,
  W: number,
  H: number,
  f: number,
  out?: Float32Array,
): Float32Array {
  const w = Math.ceil(W / f);
  const h = Math.ceil(H / f);
  const o = out ?? new Float32Array(w * h);
  o.fill(-Infinity);
  for (let y = 0; y < H; y++) {
    const row = Math.floor(y / f) * w;
    for (let x = 0, i = y * W; x < W; x++, i++) {
      const v = map[i];
      const k = row + Math.floor(x / f);
      if (v > o[k]) o[k] = v;
    }
  }
  return o;
}

/** Mean over f×f blocks of the frame (for the heatmap under a pooled map). */
export function shrinkImage(img: Image, f: number, out?: Uint8Array): Image {
  const { width: W, height: H, channels: c } = img;
  const w = Math.ceil(W / f);
  const h = Math.ceil(H / f);
  const data = out ?? new Uint8Array(w * h * c);
  const sum = new Float64Array(w * c);
  for (let by = 0; by < h; by++) {
    sum.fill(0);
    const y1 = Math.min(H, (by + 1) * f);
    for (let y = by * f; y < y1; y++)
      for (let x = 0; x < W; x++) {
        const s = (y * W + x) * c;
        const d = Math.floor(x / f) * c;
        for (let k = 0; k < c; k++) sum[d + k] += img.data[s + k];
      }
    for (let bx = 0; bx < w; bx++) {
      const n = (y1 - by * f) * (Math.min(W, (bx + 1) * f) - bx * f);
      for (let k = 0; k < c; k++) data[(by * w + bx) * c + k] = Math.round(sum[bx * c + k] / n);
    }
  }
  return { width: w, height: h, channels: c, data };
}

/** The entry's map (pooled when over `maxPixels`), how it relates to the frame, and the frame at its size. */
export function entryMap(ev: ArchiveEvidence, scratch: MapScratch, maxPixels = MAP_MAX_PIXELS): EntryMap {
  const { W, H, full } = fullMap(ev, scratch);
  const f = mapDownsample(W, H, maxPixels);
  const info: MapInfo = {
    width: Math.ceil(W / f),
    height: Math.ceil(H / f),
    frameWidth: W,
    frameHeight: H,
    downsample: f,
    pooling: 'max',
    tiled: ev.kind === 'tiled',
  };
  if (f === 1) return { map: full, info, image: ev.image };
  const n = info.width * info.height;
  return {
    map: maxPool(full, W, H, f, scratch.pooled(n)),
    info,
    image: shrinkImage(ev.image, f, scratch.frame(n * ev.image.channels)),
  };
}

/** The map in frame pixels, ignore zones zeroed, in the scratch buffer. */
function fullMap(ev: ArchiveEvidence, scratch: MapScratch): { W: number; H: number; full: Float32Array } {
  if (ev.kind !== 'tiled') {
    const { width: W, height: H } = ev.letterbox;
    const full = postprocess(ev.grid, ev.g, ev.letterbox, scratch.map(W * H), { ignore: ev.ignore }).map;
    return { W, H, full };
  }
  const { frameWidth: W, frameHeight: H } = ev.tiles;
  const full = tiledMap(ev.grid, ev.g, stitchPlan(ev.tiles), scratch.map(W * H));
  if (ev.ignore.length > 0) applyIgnoreMask({ width: W, height: H, data: full }, ev.ignore);
  return { W, H, full };
}
