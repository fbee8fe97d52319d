// What the pipeline decides per part; sinks publish it. Versioned: PLC gateways parse it.
import type { Blob } from './blobs.js';

export const RESULT_VERSION = 1;

export type Verdict = 'ok' | 'reject' | 'error';

/**
 * Why: `score` (above the reject threshold), `pass` (below it), `timeout` (no verdict within the deadline:
 * fail-safe), `no-frame` (a triggered part never got a frame: fail-safe), `error` (the frame could not be
 * processed: fail-safe).
 */
export type VerdictReason = 'pass' | 'score' | 'timeout' | 'no-frame' | 'error';

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
  verdict: Verdict;
  reason: VerdictReason;
  /** In original-frame pixel coordinates. */
  blobs: Blob[];
  modelId: string;
  /** Human-readable detail for error/fail-safe verdicts. */
  detail?: string;
}
