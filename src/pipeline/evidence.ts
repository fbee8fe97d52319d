// What a decided part was decided on, for outputs that keep or show pixels (the parts archive, later the web
// console). Built only when an output asks for it, and then without copying the frame: it is the source's
// buffer (sources hand each frame a buffer of its own). The Δ grid is a g×g copy (a few KB); the full anomaly
// map is recomputed from it off the hot path (postprocess is deterministic: the same map the verdict saw).
import type { Polygon } from './anomaly-map.js';
import type { Image } from './image.js';
import type { Letterbox } from './letterbox.js';
import type { InspectionResult } from './result.js';

export interface PartEvidence {
  image: Image;
  /** The model's Δ grid for this frame, g×g row-major. */
  grid: Float32Array;
  g: number;
  letterbox: Letterbox;
  /** The camera's ignore zones (zeroed in the map before scoring). */
  ignore: readonly Polygon[];
  pixelThreshold: number;
  minBlobArea: number;
}

/** A verdict and, when asked for and the part had a usable frame, its evidence. */
export interface Decision {
  result: InspectionResult;
  evidence?: PartEvidence;
}
