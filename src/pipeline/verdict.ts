// Per-frame decision: Δ grid → anomaly map (ignore zones zeroed) → score and blobs → ok / reject. Pure apart
// from the scratch map it reuses. Thresholds come from the bundle (calibrated at teach-in), overridden by the
// config's `verdict` section and then by the camera's own `verdict` section.
import type { Blob } from './blobs.js';
import { findBlobs } from './blobs.js';
import type { Polygon } from './anomaly-map.js';
import type { FloatMap } from './image.js';
import type { Box } from './letterbox.js';
import { postprocessLazy } from './anomaly-map.js';
import type { Letterbox } from './letterbox.js';
import type { InspectionResult, Verdict, VerdictReason } from './result.js';
import { RESULT_VERSION } from './result.js';
import type { PairingEvidence } from './triggers.js';
import type { TilingRecord } from './tiling.js';

export interface Thresholds {
  /** Frame score above which a part is rejected. */
  reject: number;
  /** Map value above which a pixel belongs to a blob. */
  pixel: number;
}

export interface VerdictSettings {
  /** null: no calibrated threshold anywhere, so every frame gets the error verdict (fail-safe). */
  thresholds: Thresholds | null;
  minBlobArea: number;
  ignore: readonly Polygon[];
}

/** A reject with thousands of noise blobs must not become a megabyte MQTT message: the strongest are kept. */
export const MAX_BLOBS = 32;

interface VerdictOverrides {
  rejectThreshold?: number;
  pixelThreshold?: number;
  minBlobArea?: number;
}

/**
 * Camera overrides win over the global section, which wins over the bundle. Returns null thresholds (and says
 * which is missing) when neither the bundle nor the config gives both.
 */
export function resolveVerdictSettings(
  bundle: { reject: number; pixel: number } | undefined,
  global: VerdictOverrides & { minBlobArea: number },
  camera: VerdictOverrides & { ignore?: readonly Polygon[] },
): VerdictSettings & { missing: string[] } {
  const reject = camera.rejectThreshold ?? global.rejectThreshold ?? bundle?.reject;
  const pixel = camera.pixelThreshold ?? global.pixelThreshold ?? bundle?.pixel;
  const missing: string[] = [];
  if (reject === undefined) missing.push('reject threshold');
  if (pixel === undefined) missing.push('pixel threshold');
  return {
    thresholds: reject !== undefined && pixel !== undefined ? { reject, pixel } : null,
    minBlobArea: camera.minBlobArea ?? global.minBlobArea,
    ignore: camera.ignore ?? [],
    missing,
  };
}

export function decide(score: number, reject: number): { verdict: Verdict; reason: VerdictReason } {
  // NaN (a broken model) is not below the threshold: it rejects.
  return score <= reject ? { verdict: 'ok', reason: 'pass' } : { verdict: 'reject', reason: 'score' };
}

export interface Inspection {
  score: number;
  threshold: number;
  pixelThreshold: number;
  verdict: Verdict;
  reason: VerdictReason;
  blobs: Blob[];
  /** A tiled frame's tile grid (tile-jobs.ts); absent for a letterboxed frame. */
  tiling?: TilingRecord;
}

/**
 * Inspects one frame's Δ grid (g×g). `scratch` (H·W floats) receives the map when given, so steady-state
 * frames of one size allocate nothing large. Only the parts of the map that decide the score and the blobs are
 * computed (postprocessLazy): equal results to the full map's, at a fraction of the cost for good parts.
 */
export function inspectGrid(
  grid: Float32Array,
  g: number,
  lb: Letterbox,
  s: VerdictSettings & { thresholds: Thresholds },
  scratch?: Float32Array,
): Inspection {
  const { map, score, above, complete } = postprocessLazy(grid, g, lb, s.thresholds.pixel, scratch, {
    ignore: s.ignore,
  });
  const full = { width: lb.width, height: lb.height, data: map };
  let blobs: Blob[] = [];
  if (above && above.width * above.height > ROI_MAX_SHARE * lb.width * lb.height) {
    complete();
    blobs = findBlobs(full, s.thresholds.pixel, s.minBlobArea);
  } else if (above) {
    blobs = findBlobsInBox(full, above, s.thresholds.pixel, s.minBlobArea);
  }
  if (blobs.length > MAX_BLOBS) blobs.length = MAX_BLOBS; // sorted by peak: the strongest stay
  const { reject, pixel } = s.thresholds;
  return { score, threshold: reject, pixelThreshold: pixel, ...decide(score, reject), blobs };
}

/** The smallest rectangle holding every pixel > threshold, or null when there is none. */
export function aboveThresholdBox(map: FloatMap, threshold: number): Box | null {
  const { width: W, height: H, data } = map;
  let x0 = W;
  let x1 = -1;
  let y0 = -1;
  let y1 = -1;
  for (let y = 0; y < H; y++) {
    const row = y * W;
    let first = -1;
    for (let x = 0; x < W; x++) {
      if (data[row + x] > threshold) {
        first = x;
        break;
      }
    }
    if (first < 0) continue;
    // Only columns right of what is already known can widen the box.
    let last = first;
    for (let x = W - 1; x > Math.max(first, x1); x--) {
      if (data[row + x] > threshold) {
        last = x;
        break;
      }
    }
    if (y0 < 0) y0 = y;
    y1 = y;
    if (first < x0) x0 = first;
    if (last > x1) x1 = last;
  }
  return y0 < 0 ? null : { x: x0, y: y0, width: x1 - x0 + 1, height: y1 - y0 + 1 };
}

/** Above this share of the frame the ROI copy costs more than it saves. */
const ROI_MAX_SHARE = 0.5;

/**
 * findBlobs on the rectangle that holds every pixel above the threshold: identical blobs (every component
 * lies inside it, and 8-connectivity inside it is the frame's), but OpenCV labels a defect-sized region
 * instead of the whole frame, and a map with nothing above the threshold costs one scan. For a whole map (a
 * heatmap, or the oracle the lazy path is tested against); inspectGrid gets its box from postprocessLazy.
 */
export function findBlobsInRoi(map: FloatMap, threshold: number, minArea: number): Blob[] {
  const roi = aboveThresholdBox(map, threshold);
  if (!roi) return [];
  if (roi.width * roi.height > ROI_MAX_SHARE * map.width * map.height)
    return findBlobs(map, threshold, minArea);
  return findBlobsInBox(map, roi, threshold, minArea);
}

/** findBlobs on a rectangle that holds every pixel above the threshold (only the rectangle is read). */
function findBlobsInBox(map: FloatMap, roi: Box, threshold: number, minArea: number): Blob[] {
  const { width: W, data } = map;
  const sub = new Float32Array(roi.width * roi.height);
  for (let y = 0; y < roi.height; y++) {
    const from = (roi.y + y) * W + roi.x;
    sub.set(data.subarray(from, from + roi.width), y * roi.width);
  }
  const blobs = findBlobs({ width: roi.width, height: roi.height, data: sub }, threshold, minArea);
  for (const b of blobs) {
    b.box.x += roi.x;
    b.box.y += roi.y;
    b.centroid.x += roi.x;
    b.centroid.y += roi.y;
  }
  return blobs;
}

/** What identifies a part in a verdict. */
export interface PartRef {
  cameraId: string;
  partId: string;
  /** null when the part never got a frame. */
  seq: number | null;
  captureTime: number;
  /** Triggered cameras: how the part was paired with its frame (see triggers.ts). */
  pairing?: PairingEvidence;
}

/** The part, timing and model fields every result carries around its decision (`body`), in payload order. */
function result(
  part: PartRef,
  body: Pick<InspectionResult, 'score' | 'threshold' | 'pixelThreshold' | 'verdict' | 'reason' | 'blobs'>,
  modelId: string,
  decideTime: number,
  detail?: string,
): InspectionResult {
  return {
    version: RESULT_VERSION,
    cameraId: part.cameraId,
    partId: part.partId,
    seq: part.seq,
    captureTime: part.captureTime,
    decideTime,
    latencyMs: decideTime - part.captureTime,
    ...body,
    modelId,
    ...(detail === undefined ? {} : { detail }),
    ...(part.pairing === undefined ? {} : { pairing: part.pairing }),
  };
}

/** A verdict reached without a usable frame result: timeout, no-frame, or an error. */
export function failSafeResult(
  part: PartRef,
  verdict: Verdict,
  reason: VerdictReason,
  modelId: string,
  decideTime: number,
  detail: string,
): InspectionResult {
  return result(
    part,
    { score: null, threshold: null, verdict, reason, blobs: [] },
    modelId,
    decideTime,
    detail,
  );
}

export function inspectionResult(
  part: PartRef,
  i: Inspection,
  modelId: string,
  decideTime: number,
): InspectionResult {
  const { score, threshold, pixelThreshold, verdict, reason, blobs } = i;
  const r = result(part, { score, threshold, pixelThreshold, verdict, reason, blobs }, modelId, decideTime);
  return i.tiling === undefined ? r : { ...r, tiling: i.tiling };
}
