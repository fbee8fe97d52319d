// Tile grid for high-resolution frames (issue 15): instead of letterboxing a 5–20 MP frame down to one S×S
// input (where a 10-px defect is averaged away), the frame is cut into overlapping square tiles, each one
// model input. Conventions:
// - `scale` is model pixels per frame pixel: a tile covers T = round(S / scale) frame pixels and is resized
//   T → S (at scale 1: T = S, the tile is the frame's own pixels, no resampling). The grid lives in frame
//   pixel coordinates, so blobs and ignore zones need no conversion; the effective scale is S / T, within
//   0.5 / T of `scale`.
// - Along each axis n = ⌈(L − T) / (T − O)⌉ + 1 tiles, O = ⌈overlap · T⌉, spread evenly from flush-left to
//   flush-right (positions round(i · (L − T) / (n − 1))): edge tiles are shifted inwards, never padded, so no
//   tile sees padding, and neighbours share at least O pixels (consecutive steps are ⌊ ⌋ or ⌈ ⌉ of a value
//   ≤ T − O, an integer).
// - A frame smaller than one tile in a dimension cannot be tiled without padding: tileGrid throws a
//   TilingError saying so (the engine gives that part the error verdict; teach-in and infer refuse the image).
//   Letterboxing it instead would score it on a scale the thresholds were not calibrated for.

/** `pipeline.tiling` as configured: the frame resize factor and the minimum share of S neighbours overlap. */
export interface TilingSpec {
  scale: number;
  overlap: number;
}

/** One frame size's tiles: T×T frame squares at every (xs[c], ys[r]), c < xs.length, r < ys.length. */
export interface TileGrid {
  frameWidth: number;
  frameHeight: number;
  /** Model input side S. */
  size: number;
  /** Frame pixels per tile side, round(S / scale). */
  tile: number;
  /** Left edges of the tile columns, frame pixels, ascending, first 0, last frameWidth − tile. */
  xs: number[];
  /** Top edges of the tile rows. */
  ys: number[];
}

export class TilingError extends Error {}

/** Largest accepted scale: beyond it a tile covers under 1/4 of S frame pixels (upsampling, no gain). */
export const MAX_SCALE = 4;
/** overlap < 0.5: more would make every pixel lie in three tiles along an axis for no benefit. */
export const MAX_OVERLAP = 0.5;

export function checkTilingSpec(spec: TilingSpec): void {
  if (!(spec.scale > 0 && spec.scale <= MAX_SCALE))
    throw new TilingError(`tiling: scale must be in (0, ${MAX_SCALE}], got ${spec.scale}`);
  if (!(spec.overlap >= 0 && spec.overlap < MAX_OVERLAP))
    throw new TilingError(`tiling: overlap must be in [0, ${MAX_OVERLAP}), got ${spec.overlap}`);
}

/** Frame pixels per tile side for model input S. */
export function tileSide(spec: TilingSpec, size: number): number {
  return Math.max(1, Math.round(size / spec.scale));
}

/** Positions of the tiles along one axis of `length` pixels (see the header). */
export function tilePositions(length: number, tile: number, minOverlap: number): number[] {
  if (length < tile) throw new TilingError(`tiling: ${length} px is less than one tile (${tile} px)`);
  if (length === tile) return [0];
  const step = tile - minOverlap;
  if (step < 1) throw new TilingError(`tiling: overlap ${minOverlap} px leaves no step for ${tile}-px tiles`);
  const n = Math.ceil((length - tile) / step) + 1;
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(Math.round((i * (length - tile)) / (n - 1)));
  return out;
}

/** The tile grid of a W×H frame for model input S. Throws a TilingError for a frame smaller than a tile. */
export function tileGrid(frameWidth: number, frameHeight: number, spec: TilingSpec, size: number): TileGrid {
  checkTilingSpec(spec);
  const tile = tileSide(spec, size);
  if (frameWidth < tile || frameHeight < tile) {
    throw new TilingError(
      `frame ${frameWidth}×${frameHeight} is smaller than one tile (${tile}×${tile} px: input ${size} at scale ` +
        `${spec.scale}); tiling never pads: raise the scale, or set tiling: off for this camera`,
    );
  }
  const minOverlap = Math.ceil(spec.overlap * tile);
  return {
    frameWidth,
    frameHeight,
    size,
    tile,
    xs: tilePositions(frameWidth, tile, minOverlap),
    ys: tilePositions(frameHeight, tile, minOverlap),
  };
}

/** Number of tiles (model inputs) of a grid. */
export function tileCount(grid: TileGrid): number {
  return grid.xs.length * grid.ys.length;
}

/** Tile i in row-major order (row = ⌊i / columns⌋): its top-left corner in frame pixels. */
export function tileOrigin(grid: TileGrid, i: number): { x: number; y: number } {
  const cols = grid.xs.length;
  return { x: grid.xs[i % cols], y: grid.ys[Math.floor(i / cols)] };
}

/** What a result records of the grid (docs/mqtt.md, `tiling`). */
export interface TilingRecord {
  /** Model input side S and frame pixels per tile side T. */
  size: number;
  tile: number;
  columns: number;
  rows: number;
  xs: number[];
  ys: number[];
}

export function tilingRecord(grid: TileGrid): TilingRecord {
  return {
    size: grid.size,
    tile: grid.tile,
    columns: grid.xs.length,
    rows: grid.ys.length,
    xs: grid.xs,
    ys: grid.ys,
  };
}

/** Equal specs (a bundle taught with one and a config asking for another are a mismatch). */
export function sameTiling(a: TilingSpec | null, b: TilingSpec | null): boolean {
  if (a === null || b === null) return a === b;
  return a.scale === b.scale && a.overlap === b.overlap;
}

/** A config value (`off` or { scale, overlap }) as a spec; null: off. */
export function tilingSetting(v: 'off' | TilingSpec | undefined | null): TilingSpec | null {
  return v === undefined || v === null || v === 'off' ? null : { scale: v.scale, overlap: v.overlap };
}

/**
 * Why a bundle taught with `taught` should not serve `wanted` (its thresholds were calibrated on maps of
 * another kind), or null when they agree.
 */
export function tilingMismatch(taught: TilingSpec | null, wanted: TilingSpec | null): string | null {
  if (sameTiling(taught, wanted)) return null;
  return (
    `the bundle was taught with tiling ${describeTiling(taught)}, this asks for ${describeTiling(wanted)}: ` +
    'its thresholds were calibrated on maps of the taught tiling'
  );
}

export function describeTiling(t: TilingSpec | null): string {
  return t === null ? 'off' : `scale ${t.scale}, overlap ${t.overlap}`;
}
