// Per-frame decision: Δ grid → anomaly map (ignore zones zeroed) → score and blobs → ok / reject. Pure apart
// from the scratch map it reuses. Thresholds come from the bundle (calibrated at teach-in), overridden by the
// config's `verdict` section and then by the camera's own `verdict` section.
import type { Blob } from './blobs.js';
import { findBlobs } from './blobs.js';
import type { Polygon } from './anomaly-map.js';
import { postprocess } from './anomaly-map.js';
import type { Letterbox } from './letterbox.js';
import type { InspectionResult, Verdict, VerdictReason } from './result.js';
import { RESULT_VERSION } from './result.js';

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
  verdict: Verdict;
  reason: VerdictReason;
  blobs: Blob[];
}

/**
 * Inspects one frame's Δ grid (g×g). `scratch` (H·W floats) receives the map when given, so steady-state
 * frames of one size allocate nothing large.
 */
export function inspectGrid(
  grid: Float32Array,
  g: number,
  lb: Letterbox,
  s: VerdictSettings & { thresholds: Thresholds },
  scratch?: Float32Array,
): Inspection {
  const { map, score } = postprocess(grid, g, lb, scratch, { ignore: s.ignore });
  const blobs = findBlobs(
    { width: lb.width, height: lb.height, data: map },
    s.thresholds.pixel,
    s.minBlobArea,
  );
  if (blobs.length > MAX_BLOBS) blobs.length = MAX_BLOBS; // sorted by peak: the strongest stay
  return { score, threshold: s.thresholds.reject, ...decide(score, s.thresholds.reject), blobs };
}

/** What identifies a part in a verdict. */
export interface PartRef {
  cameraId: string;
  partId: string;
  /** null when the part never got a frame. */
  seq: number | null;
  captureTime: number;
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
  return {
    version: RESULT_VERSION,
    cameraId: part.cameraId,
    partId: part.partId,
    seq: part.seq,
    captureTime: part.captureTime,
    decideTime,
    latencyMs: decideTime - part.captureTime,
    score: null,
    threshold: null,
    verdict,
    reason,
    blobs: [],
    modelId,
    detail,
  };
}

export function inspectionResult(
  part: PartRef,
  i: Inspection,
  modelId: string,
  decideTime: number,
): InspectionResult {
  return {
    version: RESULT_VERSION,
    cameraId: part.cameraId,
    partId: part.partId,
    seq: part.seq,
    captureTime: part.captureTime,
    decideTime,
    latencyMs: decideTime - part.captureTime,
    score: i.score,
    threshold: i.threshold,
    verdict: i.verdict,
    reason: i.reason,
    blobs: i.blobs,
    modelId,
  };
}
