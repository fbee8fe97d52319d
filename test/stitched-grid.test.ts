// The live view's grid of a tiled frame (src/pipeline/stitched-grid.ts): the tiles' raw Δ grids blended at
// patch resolution with the stitch weights, max-pooled past a size. Checked exactly on hand-made grids.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { stitchedGrid } from '../src/pipeline/stitched-grid.js';
import { tileCount, tileGrid, type TileGrid } from '../src/pipeline/tiling.js';

const g = 4;
/** 140×98 frame pixels in 56-px tiles at 42-px steps: patches of 14 px, every tile edge on a patch edge. */
const aligned: TileGrid = {
  frameWidth: 140,
  frameHeight: 98,
  size: 56,
  tile: 56,
  xs: [0, 42, 84],
  ys: [0, 42],
};

/** Every tile's grid read from one frame-wide function of the patch (column, row), as a shift-invariant model. */
function gridsOf(t: TileGrid, f: (col: number, row: number) => number): Float32Array {
  const p = t.tile / g;
  const out = new Float32Array(tileCount(t) * g * g);
  t.ys.forEach((y, r) =>
    t.xs.forEach((x, c) => {
      const base = (r * t.xs.length + c) * g * g;
      for (let v = 0; v < g; v++) for (let u = 0; u < g; u++) out[base + v * g + u] = f(x / p + u, y / p + v);
    }),
  );
  return out;
}

const F = (col: number, row: number) => 1 + col + 100 * row;

test('tiles that agree come back as the frame-wide values: nothing doubled on the overlaps', () => {
  const s = stitchedGrid(gridsOf(aligned, F), g, aligned, 100);
  assert.deepEqual([s.cols, s.rows, s.cell], [10, 7, 14]);
  for (let row = 0; row < 7; row++)
    for (let col = 0; col < 10; col++)
      assert.ok(Math.abs(s.values[row * 10 + col] - F(col, row)) < 1e-3, `(${col}, ${row})`);
});

test('a value only one tile sees is weighted on the overlap and whole in its own interior', () => {
  const grids = new Float32Array(tileCount(aligned) * g * g);
  // Tile 0 (left, top): its last column (frame x 42–56) is shared with tile 1; its column 1 is its own.
  grids[1 * g + 3] = 8; // row 1, column 3 → patch (3, 1), on the overlap
  grids[1 * g + 1] = 8; // row 1, column 1 → patch (1, 1), inside tile 0 only
  const s = stitchedGrid(grids, g, aligned, 100);
  assert.equal(s.values[1 * 10 + 1], 8);
  const seam = s.values[1 * 10 + 3];
  assert.ok(seam > 0 && seam < 8, `seam ${seam}: tile 1 saw nothing there, so it is blended down`);
});

test('past maxCells per side the grid is max-pooled by a whole factor', () => {
  const s = stitchedGrid(gridsOf(aligned, F), g, aligned, 4);
  // 10 × 7 patches, factor ⌈10 / 4⌉ = 3 → 4 × 3 cells of 42 px; F grows along both axes, so a block's
  // maximum is its last patch (the narrower last blocks included).
  assert.deepEqual([s.cols, s.rows, s.cell], [4, 3, 42]);
  for (let r = 0; r < 3; r++)
    for (let c = 0; c < 4; c++) {
      const want = F(Math.min(3 * c + 2, 9), Math.min(3 * r + 2, 6));
      assert.ok(Math.abs(s.values[r * 4 + c] - want) < 1e-3, `cell (${c}, ${r})`);
    }
});

test('any frame size: a constant map stays constant and the cells cover the frame', () => {
  for (const [w, h] of [
    [300, 250],
    [2448, 2048],
  ]) {
    const t = tileGrid(w, h, { scale: 1, overlap: 0.125 }, 224);
    const s = stitchedGrid(new Float32Array(tileCount(t) * 16 * 16).fill(0.25), 16, t, 120);
    for (const v of s.values) assert.ok(Math.abs(v - 0.25) < 1e-5, `${w}×${h}: ${v}`);
    assert.ok(s.cols * s.cell >= w && (s.cols - 1) * s.cell < w, `${w}×${h} columns`);
    assert.ok(s.rows * s.cell >= h && (s.rows - 1) * s.cell < h, `${w}×${h} rows`);
    assert.ok(Math.max(s.cols, s.rows) <= 120);
  }
});

test('grids that do not match the tile grid are refused', () => {
  assert.throws(() => stitchedGrid(new Float32Array(5), g, aligned, 100), /are not 3×2 tiles of 4×4/);
});
