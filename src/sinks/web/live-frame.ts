// One live-view update from a decided part: the frame shrunk to tile size and JPEG-encoded, and what the browser
// needs to draw the overlay itself: a grid of raw Δ values, where it lies on the frame, the pixel threshold and
// the blob boxes. A letterboxed frame's grid is the model's g×g grid over the letterbox square; a tiled frame's
// is its tiles' grids blended at patch resolution (pipeline/stitched-grid.ts) over the whole frame.
// The heatmap is drawn by the browser from the grid (a few thousand floats), so the server encodes one small JPEG
// per shown frame (in the thread pool) and never builds the full-size map on the event loop. No I/O.
import type { Image } from '../../pipeline/image.js';
import type { InspectionResult } from '../../pipeline/result.js';
import { stitchedGrid } from '../../pipeline/stitched-grid.js';
import { cv } from '../../util/cv.js';
import type { PartEvidence } from '../types.js';

/** The live tile's longest side, px: enough for a monitor tile, cheap to shrink (~1.4 ms) and encode (~2.7 ms). */
export const TILE_MAX = 480;
const JPEG_QUALITY = 75;

/**
 * Cells per side of a tiled frame's live grid, at most: 4 screen pixels a cell on a TILE_MAX tile, ≤ 58 KB of
 * floats. A 2448×2048 frame at scale 1 has 175 × 147 patches: pooled by 2 to 88 × 74.
 */
export const LIVE_GRID_MAX = 120;

/** The heatmap's inputs: a grid of raw Δ values and the rectangle (frame pixels) it is drawn over. */
export interface LiveOverlay {
  grid: Float32Array;
  cols: number;
  rows: number;
  /** A letterbox square reaches past the frame on two sides; a tiled frame's grid covers it (and a little more). */
  box: { x: number; y: number; width: number; height: number };
  pixelThreshold: number;
}

/** A copy of what the encoder needs, taken synchronously while the engine's buffers are valid. */
export interface LiveSnapshot {
  result: InspectionResult;
  /** Tile-sized: BGR, or grey (channels 1). */
  tile: { width: number; height: number; channels: 1 | 3; data: Uint8Array };
  overlay: LiveOverlay;
  /** The original frame's size (blob boxes are in its pixels). */
  frame: { width: number; height: number };
}

/**
 * Nearest-neighbour shrink to at most TILE_MAX per side, in OpenCV's channel order: a colour frame (RGB) as BGR,
 * a grey one as one channel (a grey JPEG).
 */
export function shrinkToTile(img: Image): LiveSnapshot['tile'] {
  const k = Math.min(1, TILE_MAX / Math.max(img.width, img.height));
  const w = Math.max(1, Math.round(img.width * k));
  const h = Math.max(1, Math.round(img.height * k));
  const c = img.channels;
  const out = new Uint8Array(w * h * c);
  const d = img.data;
  const col = Int32Array.from(
    { length: w },
    (_, x) => Math.min(img.width - 1, Math.floor((x + 0.5) / k)) * c,
  );
  for (let y = 0; y < h; y++) {
    const row = Math.min(img.height - 1, Math.floor((y + 0.5) / k)) * img.width * c;
    let o = y * w * c;
    if (c === 1) for (let x = 0; x < w; x++) out[o++] = d[row + col[x]];
    else
      for (let x = 0; x < w; x++) {
        const s = row + col[x];
        out[o++] = d[s + 2];
        out[o++] = d[s + 1];
        out[o++] = d[s];
      }
  }
  return { width: w, height: h, channels: c, data: out };
}

export function snapshot(r: InspectionResult, ev: PartEvidence): LiveSnapshot {
  return {
    result: r,
    tile: shrinkToTile(ev.image),
    overlay: liveOverlay(ev),
    frame: { width: ev.image.width, height: ev.image.height },
  };
}

/** The grid copied (a letterboxed frame's is the engine's buffer) or blended (a tiled frame's tiles). */
export function liveOverlay(ev: PartEvidence): LiveOverlay {
  if (ev.kind === 'tiled') {
    const s = stitchedGrid(ev.grids, ev.g, ev.tiles, LIVE_GRID_MAX);
    return {
      grid: s.values,
      cols: s.cols,
      rows: s.rows,
      box: { x: 0, y: 0, width: s.cols * s.cell, height: s.rows * s.cell },
      pixelThreshold: ev.pixelThreshold,
    };
  }
  const lb = ev.letterbox;
  return {
    grid: ev.grid.slice(),
    cols: ev.g,
    rows: ev.g,
    box: { x: -lb.left, y: -lb.top, width: lb.side, height: lb.side },
    pixelThreshold: ev.pixelThreshold,
  };
}

/** What every live `part` message says of its verdict, with or without an image. */
export function livePartFields(r: InspectionResult) {
  return {
    type: 'part',
    camera: r.cameraId,
    partId: r.partId,
    seq: r.seq,
    decideTime: r.decideTime,
    latencyMs: r.latencyMs,
    verdict: r.verdict,
    reason: r.reason,
    score: r.score,
    threshold: r.threshold,
  };
}

/**
 * The message every watching client gets for this part: built once, sent as the same string to all. The JPEG is
 * encoded by OpenCV (libjpeg-turbo) in libuv's thread pool (the event loop only copies the tile in and builds
 * the string), where jpeg-js took ~60 ms of the event loop per 480-px tile and halved the pipeline's throughput
 * while a console watched at 30 fps (bench/console.bench.ts).
 */
export async function encodeLiveMessage(s: LiveSnapshot): Promise<string> {
  const r = s.result;
  const c = cv();
  const t = s.tile;
  const mat = new c.Mat(
    Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength),
    t.height,
    t.width,
    t.channels === 1 ? c.CV_8UC1 : c.CV_8UC3,
  );
  const jpg = await c.imencodeAsync('.jpg', mat, [c.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]);
  const o = s.overlay;
  return JSON.stringify({
    ...livePartFields(r),
    blobs: r.blobs.map((b) => b.box),
    frame: s.frame,
    jpeg: jpg.toString('base64'),
    grid: Buffer.from(o.grid.buffer, o.grid.byteOffset, o.grid.byteLength).toString('base64'),
    gridCols: o.cols,
    gridRows: o.rows,
    gridBox: o.box,
    pixelThreshold: o.pixelThreshold,
  });
}
