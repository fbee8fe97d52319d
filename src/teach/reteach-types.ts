// What a re-teach is asked, what it reports while it runs and what it hands back: plain data, structured-clone
// and JSON friendly, shared by the runner (daemon or CLI side), the job process and the shadow evaluation.
import type { Polygon } from '../pipeline/anomaly-map.js';
import type { AutoSchedule } from './teach-in.js';
import type { ShadowReport } from './shadow-report.js';
import type { PrioritySummary } from './reteach-priority.js';

/**
 * Defaults a careful engineer picks for a line: one core, a day of parts, a bounded evaluation (on one CPU core a
 * ViT-B frame at S = 1036 takes tens of seconds: 500 parts are hours; the labelled ones come first).
 */
export const RETEACH_DEFAULTS = {
  recentGood: 0,
  maxArchiveImages: 200,
  threads: 1,
  shadowHours: 24,
  shadowMaxParts: 500,
} as const;

export interface ReteachRequest {
  /** The bundle in force (its teacher, its teach-in set, its thresholds). */
  modelDir: string;
  /** The parts archive (index.sqlite and parts/). */
  archiveDir: string;
  /** Where the complete candidate bundle is written; must not exist or be empty. Removed on failure. */
  outDir: string;
  /** Good images for a bundle that does not record its teach-in set (taught before it was recorded). */
  teachInImages?: string;
  /** Archived good parts (verdict ok, unlabelled) of the shadow window added to the set, evenly spaced (0). */
  recentGood?: number;
  /** Archived frames added at most (false rejects newest first, then recent good parts). */
  maxArchiveImages?: number;
  /** onnxruntime intra-op threads of the job (1: one core at most, whatever the machine). */
  threads?: number;
  /** Hours of archived parts the shadow evaluation scores (labelled parts are scored whatever their age). */
  shadowHours?: number;
  /** Parts the shadow evaluation scores at most (labelled ones first). */
  shadowMaxParts?: number;
  /**
   * What the daemon applies to the model in force, so its side of the shadow evaluation is the line's: the reject
   * threshold when the config overrides the bundle's, and the ignore zones per camera.
   */
  shadow?: { currentReject?: number; ignore?: Record<string, Polygon[]> };
  /** Teach-in settings (tests and the CLI shorten the schedule; the daemon keeps the defaults). */
  teach?: { epochs?: number; seed?: number; schedule?: Partial<AutoSchedule> };
  /** "Now" in ms since the epoch (the shadow window ends here); default the job's start. */
  now?: number;
}

export type ReteachPhase = 'collect' | 'images' | 'features' | 'train' | 'calibrate' | 'shadow';

export interface ReteachProgress {
  phase: ReteachPhase;
  step: number;
  /** 0 when unknown (the auto schedule stops when the loss levels off). */
  total: number;
  loss?: number;
  etaSeconds?: number;
  elapsedSeconds: number;
}

export interface ReteachSetSummary {
  teachIn: number;
  falseRejects: number;
  recentGood: number;
  /** Files of the recorded set that are gone or changed (path: why): left out. */
  skipped: { path: string; why: string }[];
}

export interface ReteachResult {
  candidateDir: string;
  candidateModelId: string;
  parentModelId: string;
  set: ReteachSetSummary;
  training: { steps: number; finalLoss: number; stoppedBy: string; seconds: number };
  thresholds: { reject: number; pixel: number } | null;
  shadow: ShadowReport;
  priority: PrioritySummary;
  seconds: number;
}

/** Messages of the job process to its runner. */
export type FromReteachJob =
  /** The process is up (its priority wrapper let it start). */
  | { type: 'ready' }
  | { type: 'progress'; progress: ReteachProgress }
  /** A JSON log line of the job's relaying logger (util/log-relay.ts). */
  | { type: 'log'; line: string }
  | { type: 'done'; result: ReteachResult }
  | { type: 'failed'; error: string; cancelled: boolean };

/** Messages of the runner to its job process. */
export type ToReteachJob = { type: 'start'; request: ReteachRequest; logLevel: string } | { type: 'cancel' };
