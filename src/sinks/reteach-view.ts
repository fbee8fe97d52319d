// What the outputs (MQTT `<prefix>/reteach`, the console) see of the daemon's re-teach: one state object the
// app's ReteachControl keeps, the handle the ControlPlane exposes, and the summary the retained MQTT message
// carries (the whole shadow report lists parts and histograms: the console reads it over HTTP instead).
import type { ChangedBy } from '../config/change-source.js';
import type { ReteachPhase, ReteachSetSummary } from '../teach/reteach-types.js';
import type { ShadowReport } from '../teach/shadow-report.js';
import type { ReteachPayload } from './mqtt-reteach-payload.js';

/** idle: never ran in this process; running; done (a candidate was published); failed; cancelled. */
export type ReteachJobState = 'idle' | 'running' | 'done' | 'failed' | 'cancelled';

export interface ReteachCandidate {
  /** The published version (not promoted by the re-teach itself). */
  version: string;
  modelId: string;
  parent: string;
  safeToPromote: boolean;
  reasons: string[];
  /** Set once it has been promoted (by a person, or automatically: `reteach.autoPromote`). */
  promoted: boolean;
}

export interface ReteachState {
  /** Why re-teach cannot run with this config (plain bundle, archive off); null when it can. */
  unavailable: string | null;
  state: ReteachJobState;
  job: string | null;
  /** Who asked for the last job (`source:who`). */
  by: string | null;
  startedAt: number | null;
  endedAt: number | null;
  /** The job's current step (running) or its last one. */
  progress: {
    phase: ReteachPhase;
    step: number;
    total: number;
    etaSeconds: number | null;
    elapsedSeconds: number;
  } | null;
  /** Why the last job failed (failed, cancelled). */
  error: string | null;
  set: ReteachSetSummary | null;
  candidate: ReteachCandidate | null;
  /** The last job's shadow evaluation (the console shows it side by side). */
  report: ShadowReport | null;
}

/** No job yet: the state a daemon starts in. */
export const IDLE_RETEACH: ReteachState = {
  unavailable: null,
  state: 'idle',
  job: null,
  by: null,
  startedAt: null,
  endedAt: null,
  progress: null,
  error: null,
  set: null,
  candidate: null,
  report: null,
};

/** The daemon's re-teach as the outputs may use it (ControlPlane.reteach). Errors carry a clear message. */
export interface ReteachHandle {
  status(): ReteachState;
  /** Starts a job; throws when one runs or re-teach is unavailable. Returns at once with the job id. */
  start(by: ChangedBy): { job: string };
  /** False when no job runs. */
  cancel(by: ChangedBy): boolean;
  /** Promotes the last candidate (hot swap, audited); throws when there is none or the swap is refused. */
  promote(by: ChangedBy): Promise<{ version: string; modelId: string }>;
  /** Calls `fn` on every change of the state (progress included: listeners rate-limit themselves). */
  onChange(fn: (s: ReteachState) => void): () => void;
}

/** The retained MQTT message: the state without the shadow report's part lists and histograms. */
export function reteachSummary(s: ReteachState): ReteachPayload {
  const r = s.report;
  return {
    v: 1,
    ...s,
    set: s.set && { ...s.set, skipped: s.set.skipped.length },
    report: r && {
      parts: r.parts,
      unseen: r.unseen,
      skipped: r.skipped,
      labelled: r.labelled,
      current: { modelId: r.current.modelId, rejectRate: r.current.rejectRate, rejects: r.current.rejects },
      candidate: {
        modelId: r.candidate.modelId,
        rejectRate: r.candidate.rejectRate,
        rejects: r.candidate.rejects,
      },
      falseRejectsPassing: r.falseRejectsPassing.length,
      falseRejectsStillRejected: r.falseRejectsStillRejected.length,
      defectsEscaping: r.defectsEscaping.length,
      defectsEscapingCurrent: r.defectsEscapingCurrent.length,
      safeToPromote: r.safeToPromote,
      reasons: r.reasons,
    },
  };
}
