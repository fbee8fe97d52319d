// Stitching per-tile anomaly maps into one frame map (issue 15). Each tile's map is weighted by a separable
// window w(x)·w(y) and the weights are normalised to sum to 1 at every frame pixel:
//   frame(x, y) = Σ_tiles wx_c(x) · wy_r(y) · tile_rc(x − xs[c], y − ys[r]),  Σ_c wx_c(x) = Σ_r wy_r(y) = 1.
// The raw window of a tile is 1 in its interior and a raised-cosine ramp sin²(π/2 · (u + ½) / L) over each
// side it shares with a neighbour (L = that overlap), none on a side at the frame's edge. Where exactly two
// tiles overlap the two ramps are sin² and cos² of the same angle, so they already sum to 1; the
// normalisation only matters where three tiles overlap along an axis (small frames). Why a ramp: a tile's
// map fades towards its own border (the blur pads with zeros, the teacher sees less context there), so the
// neighbour whose interior a pixel is in gets nearly all of the weight. Consequences, tested exactly: a
// constant map stays constant, a map that every tile sees alike (translation-equivariant model) comes back
// unchanged, so a defect on a seam is neither doubled (weights sum to 1) nor cut (both tiles see it whole).
import type { TileGrid } from './tiling.js';

/** Normalised 1-D windows of the tiles along one axis: weights[k][u], u < tile, Σ_k over a pixel = 1. */
export function axisWeights(positions: readonly number[], tile: number, length: number): Float32Array[] {
  const raw = positions.map((p, k) => {
    const w = new Float64Array(tile).fill(1);
    const left = k > 0 ? positions[k - 1] + tile - p : 0;
    const right = k < positions.length - 1 ? p + tile - positions[k + 1] : 0;
    for (let u = 0; u < left; u++) w[u] *= Math.sin(((Math.PI / 2) * (u + 0.5)) / left) ** 2;
    for (let u = 0; u < right; u++) w[tile - 1 - u] *= Math.sin(((Math.PI / 2) * (u + 0.5)) / right) ** 2;
    return w;
  });
  const sum = new Float64Array(length);
  positions.forEach((p, k) => raw[k].forEach((v, u) => (sum[p + u] += v)));
  for (let x = 0; x < length; x++)
    if (!(sum[x] > 0)) throw new Error(`stitch: pixel ${x} is covered by no tile (positions ${positions})`);
  return positions.map((p, k) => Float32Array.from(raw[k], (v, u) => v / sum[p + u]));
}

/** The windows of a grid, computed once per frame size. */
export interface StitchPlan {
  grid: TileGrid;
  wx: Float32Array[];
  wy: Float32Array[];
}

export function stitchPlan(grid: TileGrid): StitchPlan {
  return {
    grid,
    wx: axisWeights(grid.xs, grid.tile, grid.frameWidth),
    wy: axisWeights(grid.ys, grid.tile, grid.frameHeight),
  };
}

/**
 * Blends tile maps (T×T each, row-major, tile i = row-major over the grid: tileOrigin) into the W×H frame
 * map. `out` (W·H floats) is filled when given (its old content is overwritten).
 */
export function stitchMaps(
  plan: StitchPlan,
  tileMap: (i: number) => Float32Array,
  out?: Float32Array,
): Float32Array {
  const { grid, wx, wy } = plan;
  const { frameWidth: W, frameHeight: H, tile: T, xs, ys } = grid;
  if (out && out.length !== W * H)
    throw new Error(`stitch: output holds ${out.length} floats, needs ${W * H}`);
  const map = out ?? new Float32Array(W * H);
  map.fill(0);
  for (let r = 0; r < ys.length; r++) {
    for (let c = 0; c < xs.length; c++) {
      const m = tileMap(r * xs.length + c);
      if (m.length !== T * T) throw new Error(`stitch: tile map holds ${m.length} floats, needs ${T * T}`);
      addTile(map, W, m, T, xs[c], ys[r], wx[c], wy[r]);
    }
  }
  return map;
}

/** map[y0 + v, x0 + u] += wy[v] · wx[u] · m[v, u] over the tile. */
function addTile(
  map: Float32Array,
  W: number,
  m: Float32Array,
  T: number,
  x0: number,
  y0: number,
  wx: Float32Array,
  wy: Float32Array,
): void {
  for (let v = 0; v < T; v++) {
    const a = wy[v];
    const row = (y0 + v) * W + x0;
    const src = v * T;
    for (let u = 0; u < T; u++) map[row + u] += a * wx[u] * m[src + u];
  }
}
