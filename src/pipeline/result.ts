// What the pipeline decides per part; sinks publish it. Versioned: PLC gateways parse it.
import type { Blob } from './blobs.js';
import type { TilingRecord } from './tiling.js';
import type { PairingEvidence } from './triggers.js';

export const RESULT_VERSION = 1;

export type Verdict = 'ok' | 'reject' | 'error';

/**
 * Why: `score` (above the reject threshold), `pass` (below it), `timeout` (no verdict within the deadline:
 * fail-safe), `no-frame` (a triggered part got no frame within its window: fail-safe), `frame-lost` (the
 * camera took its picture but it was lost on the way: fail-safe), `trigger-missed` (the camera took no
 * picture for its trigger, e.g. still busy with the previous one: fail-safe), `error` (the frame could not
 * be processed: fail-safe).
 */
export type VerdictReason =
  'pass' | 'score' | 'timeout' | 'no-frame' | 'frame-lost' | 'trigger-missed' | 'error';

export interface InspectionResult {
  version: typeof RESULT_VERSION;
  cameraId: string;
  partId: string;
  /** Frame sequence number; null when no frame belongs to the part (no-frame). */
  seq: number | null;
  /** ms since the epoch. */
  captureTime: number;
  /** ms since the epoch, set when the verdict is decided (fail-safe ones included). */
  decideTime: number;
  latencyMs: number;
  /** Frame score (mean of the top 0.1 % of the map); null when there is none (fail-safe). */
  score: number | null;
  threshold: number | null;
  /**
   * Map value above which a pixel counted towards a blob, for parts decided on a frame (absent on fail-safe
   * verdicts). With `threshold` it says which settings decided the part: both can change while running.
   */
  pixelThreshold?: number;
  verdict: Verdict;
  reason: VerdictReason;
  /** In original-frame pixel coordinates. */
  blobs: Blob[];
  modelId: string;
  /** Human-readable detail for error/fail-safe verdicts. */
  detail?: string;
  /** Triggered cameras: how the part was paired with its frame, and the camera's evidence. */
  pairing?: PairingEvidence;
  /** Tiled cameras: the tile grid the frame was inspected with (docs/pipeline.md, "Tiling"). */
  tiling?: TilingRecord;
}
