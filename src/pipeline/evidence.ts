// What a decided part was decided on, for outputs that keep or show pixels (the parts archive, the web console).
// Built only when an output asks for it, and then without copying the frame: it is the source's buffer (sources
// hand each frame a buffer of its own). A letterboxed frame's evidence is its g×g Δ grid (a copy, a few KB); a
// tiled frame's is every tile's Δ grid and the tile grid (n·g·g floats: 146 KB for 143 tiles at g = 16). The
// full anomaly map is recomputed from them off the hot path (postprocess and the stitch are deterministic: the
// same map the verdict saw).
import type { Polygon } from './anomaly-map.js';
import type { Image } from './image.js';
import type { Letterbox } from './letterbox.js';
import type { InspectionResult } from './result.js';
import type { TileGrid } from './tiling.js';

interface EvidenceCommon {
  image: Image;
  /** Side of the model's Δ grid (per frame, or per tile). */
  g: number;
  /** The camera's ignore zones (zeroed in the map before scoring). */
  ignore: readonly Polygon[];
  pixelThreshold: number;
  minBlobArea: number;
}

/** A letterboxed frame: one Δ grid. */
export interface FrameEvidence extends EvidenceCommon {
  kind?: undefined;
  /** The model's Δ grid for this frame, g×g row-major. */
  grid: Float32Array;
  letterbox: Letterbox;
}

/** A tiled frame (docs/pipeline.md, "Tiling"): every tile's Δ grid, stitched into the frame map as the engine did. */
export interface TiledEvidence extends EvidenceCommon {
  kind: 'tiled';
  /** Tile i's Δ grid at grids[i·g·g ..] (row-major over the tile grid). Owned by the evidence: not reused. */
  grids: Float32Array;
  tiles: TileGrid;
}

export type PartEvidence = FrameEvidence | TiledEvidence;

/** A verdict and, when asked for and the part had a usable frame, its evidence. */
export interface Decision {
  result: InspectionResult;
  evidence?: PartEvidence;
}
