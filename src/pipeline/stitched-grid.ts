// A tiled frame's Δ grids blended into one coarse frame grid, for a quick look: the live view's heatmap. The
// verdict's map (tiled-inspection.ts) upsamples and blurs every tile to T×T frame pixels and stitches those:
// millions of values on a 5–20 MP frame, too much to send per shown frame. Here the same stitch weights
// (stitch.ts: Σ over tiles = 1 at every pixel) blend the raw Δ values at the model's own resolution, one sample
// per patch (T/g frame pixels), so a defect on a seam is neither doubled nor cut here either. A frame with more
// than `maxCells` patches along a side is max-pooled by a whole factor: a one-patch defect still shows.
// Pure: no I/O.
import { axisWeights } from './stitch.js';
import type { TileGrid } from './tiling.js';

export interface StitchedGrid {
  /** cols × rows, row-major. */
  values: Float32Array;
  cols: number;
  rows: number;
  /** Frame pixels per cell side (cell (c, r) covers x ∈ [c·cell, (c+1)·cell)); the last ones reach past the frame. */
  cell: number;
}

/** One patch sample along an axis: the tiles that cover it, each with its stitch weight and its grid index. */
type AxisSample = { tile: number; weight: number; index: number }[];

/** Samples at the centres of the patches along an axis of `length` frame pixels (patch = tile / g). */
function axisSamples(positions: readonly number[], tile: number, length: number, g: number): AxisSample[] {
  const weights = axisWeights(positions, tile, length);
  const patch = tile / g;
  const n = Math.ceil(length / patch);
  return Array.from({ length: n }, (_, j) => {
    const x = Math.min(length - 1, Math.floor((j + 0.5) * patch));
    const covering: AxisSample = [];
    positions.forEach((p, k) => {
      const u = x - p;
      if (u < 0 || u >= tile || weights[k][u] === 0) return;
      covering.push({ tile: k, weight: weights[k][u], index: Math.min(g - 1, Math.floor(u / patch)) });
    });
    return covering;
  });
}

/**
 * The stitched raw Δ of a tiled frame at patch resolution, max-pooled to at most `maxCells` per side.
 * grids: tile i's g×g grid at grids[i·g·g ..], tiles row-major over the grid (as the engine hands them out).
 */
export function stitchedGrid(
  grids: Float32Array,
  g: number,
  tiles: TileGrid,
  maxCells: number,
): StitchedGrid {
  const cells = g * g;
  const ncols = tiles.xs.length;
  if (grids.length !== ncols * tiles.ys.length * cells)
    throw new Error(
      `stitched grid: ${grids.length} values are not ${ncols}×${tiles.ys.length} tiles of ${g}×${g}`,
    );
  const sx = axisSamples(tiles.xs, tiles.tile, tiles.frameWidth, g);
  const sy = axisSamples(tiles.ys, tiles.tile, tiles.frameHeight, g);
  const pool = Math.max(1, Math.ceil(Math.max(sx.length, sy.length) / maxCells));
  const cols = Math.ceil(sx.length / pool);
  const rows = Math.ceil(sy.length / pool);
  const values = new Float32Array(cols * rows).fill(-Infinity);
  for (let j = 0; j < sy.length; j++) {
    const out = Math.floor(j / pool) * cols;
    for (let i = 0; i < sx.length; i++) {
      let v = 0;
      for (const r of sy[j])
        for (const c of sx[i])
          v += r.weight * c.weight * grids[(r.tile * ncols + c.tile) * cells + r.index * g + c.index];
      const o = out + Math.floor(i / pool);
      if (v > values[o]) values[o] = v;
    }
  }
  return { values, cols, rows, cell: (tiles.tile / g) * pool };
}
