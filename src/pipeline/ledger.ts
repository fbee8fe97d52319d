// The part ledger: exactly one verdict per part, on time. Every part gets a timer when it enters the pipeline;
// if no real verdict has been reached `deadlineMs` after capture, the fail-safe verdict is published by the
// timer itself (never by waiting on inference). A real result that comes after that is logged and counted,
// not published. Entries live only while their frame is in the pipeline (bounded by the queues and the two
// batches in flight); a bounded memory of recently decided parts catches a part id seen twice.
import { asyncScheduler } from 'rxjs';
import type { SchedulerLike, Subscription } from 'rxjs';
import type { Logger } from '../util/log.js';
import type { PartEvidence } from './evidence.js';
import type { InspectionResult } from './result.js';
import type { Inspection, PartRef } from './verdict.js';
import { failSafeResult, inspectionResult } from './verdict.js';
import type { NoFrameReason } from './triggers.js';
import type { PipelineLoad } from './pipeline-load.js';

export interface LedgerOptions {
  deadlineMs: number;
  /** The verdict published when pinpoint cannot decide (timeout, no frame; errors say `error` when reject). */
  failSafe: 'reject' | 'ok';
  /** The model in force (read per verdict: a hot swap changes it); decide() and fail() may name the batch's. */
  modelId: string | (() => string);
  publish(r: InspectionResult, evidence?: PartEvidence): void;
  log: Logger;
  /** Its clock is the capture-time clock (Date.now for the async scheduler). */
  scheduler?: SchedulerLike;
  /** How many decided part ids are remembered to refuse duplicates. */
  remember?: number;
  /** Kept equal to the parts in the pipeline, for threads that yield to inspection (the archive). */
  load?: PipelineLoad;
}

export interface LedgerStats {
  /** Verdicts published, fail-safe ones included. */
  published: number;
  /** Fail-safe verdicts because the deadline passed. */
  timeouts: number;
  /** Real results that came after their part's fail-safe verdict (not published). */
  late: number;
  /** Fail-safe verdicts for triggered parts that never got a frame (all reasons below included). */
  noFrame: number;
  /** ... of which the camera's frame was lost on the way (incomplete, or a frame-id gap). */
  frameLost: number;
  /** ... of which the camera took no picture for the trigger (busy, merged with the one before). */
  triggerMissed: number;
  /** Error verdicts (frame dropped, unreadable, inference failed, no thresholds). */
  errors: number;
  /** Frames or triggers refused because their part id was already known. */
  duplicates: number;
}

interface Entry {
  ref: PartRef;
  timer: Subscription | null;
  /** True once a verdict went out (the timer fired); the frame is still in the pipeline. */
  decided: boolean;
}

const key = (cameraId: string, partId: string): string => `${cameraId}\u0000${partId}`;

/** All counters at zero (a ledger's start, and the engine's before its first run). */
export function emptyLedgerStats(): LedgerStats {
  return {
    published: 0,
    timeouts: 0,
    late: 0,
    noFrame: 0,
    frameLost: 0,
    triggerMissed: 0,
    errors: 0,
    duplicates: 0,
  };
}

export class PartLedger {
  readonly stats: LedgerStats = emptyLedgerStats();
  private readonly open = new Map<string, Entry>();
  /** Insertion-ordered set of decided keys, trimmed to `remember`. */
  private readonly recent = new Set<string>();
  private readonly sched: SchedulerLike;
  private readonly remember: number;

  constructor(private readonly o: LedgerOptions) {
    this.sched = o.scheduler ?? asyncScheduler;
    this.remember = o.remember ?? 4096;
  }

  private modelId(): string {
    const m = this.o.modelId;
    return typeof m === 'string' ? m : m();
  }

  /** Parts whose frame is still in the pipeline. */
  get pending(): number {
    return this.open.size;
  }

  now(): number {
    return this.sched.now();
  }

  /** Whether this part id is in the pipeline or was decided recently. */
  has(cameraId: string, partId: string): boolean {
    const k = key(cameraId, partId);
    return this.open.has(k) || this.recent.has(k);
  }

  /** Whether an admitted part still in the pipeline was already decided (by its deadline). */
  decidedEarly(ref: PartRef): boolean {
    return this.open.get(key(ref.cameraId, ref.partId))?.decided ?? false;
  }

  /** A frame enters the pipeline: starts its deadline. False (and logged) for a part id already known. */
  admit(ref: PartRef): boolean {
    const k = key(ref.cameraId, ref.partId);
    if (this.open.has(k) || this.recent.has(k)) {
      this.stats.duplicates++;
      this.o.log.warn(
        { camera: ref.cameraId, part: ref.partId, seq: ref.seq },
        'a second frame for a part that already has one: ignored',
      );
      return false;
    }
    const entry: Entry = { ref, timer: null, decided: false };
    this.open.set(k, entry);
    this.o.load?.set(this.open.size);
    const delay = Math.max(0, ref.captureTime + this.o.deadlineMs - this.sched.now());
    entry.timer = this.sched.schedule(() => {
      entry.timer = null;
      this.stats.timeouts++;
      this.o.log.warn(
        { camera: ref.cameraId, part: ref.partId, seq: ref.seq, deadlineMs: this.o.deadlineMs },
        `no verdict within the deadline: fail-safe ${this.o.failSafe}`,
      );
      this.emit(
        entry,
        failSafeResult(
          ref,
          this.o.failSafe,
          'timeout',
          this.modelId(),
          this.sched.now(),
          `no verdict within ${this.o.deadlineMs} ms of capture`,
        ),
      );
    }, delay);
    return true;
  }

  /**
   * The real result of an admitted frame: published unless the deadline already decided the part. `modelId`:
   * the model that inspected it (its batch's), default the one in force.
   */
  decide(ref: PartRef, inspection: Inspection, evidence?: PartEvidence, modelId?: string): boolean {
    const entry = this.take(ref);
    if (!entry) return false;
    if (entry.decided) {
      this.stats.late++;
      const lateMs = this.sched.now() - ref.captureTime - this.o.deadlineMs;
      this.o.log.warn(
        { camera: ref.cameraId, part: ref.partId, seq: ref.seq, verdict: inspection.verdict, lateMs },
        'result came after the fail-safe verdict: not published',
      );
      return false;
    }
    this.emit(
      entry,
      inspectionResult(ref, inspection, modelId ?? this.modelId(), this.sched.now()),
      evidence,
    );
    return true;
  }

  /**
   * An admitted frame leaves without a result (dropped by its queue, unreadable, inference failed, no
   * thresholds): the error verdict now, unless the deadline already decided the part.
   */
  fail(ref: PartRef, detail: string, modelId?: string): void {
    const entry = this.take(ref);
    if (!entry || entry.decided) return;
    this.stats.errors++;
    // `error` diverts the part like a reject; with failSafe ok an undecidable part passes, so it says ok.
    const verdict = this.o.failSafe === 'ok' ? 'ok' : 'error';
    this.emit(
      entry,
      failSafeResult(ref, verdict, 'error', modelId ?? this.modelId(), this.sched.now(), detail),
    );
  }

  /** A triggered part that never got a frame (never admitted), and why. */
  noFrame(ref: PartRef, detail: string, reason: NoFrameReason = 'no-frame'): void {
    const k = key(ref.cameraId, ref.partId);
    if (this.open.has(k) || this.recent.has(k)) return;
    this.stats.noFrame++;
    if (reason === 'frame-lost') this.stats.frameLost++;
    if (reason === 'trigger-missed') this.stats.triggerMissed++;
    this.o.log.warn({ camera: ref.cameraId, part: ref.partId }, `${detail}: fail-safe ${this.o.failSafe}`);
    this.remembered(k);
    this.stats.published++;
    this.o.publish(failSafeResult(ref, this.o.failSafe, reason, this.modelId(), this.sched.now(), detail));
  }

  /** Cancels every pending deadline (the engine is torn down). */
  close(): void {
    for (const e of this.open.values()) e.timer?.unsubscribe();
    this.open.clear();
    this.o.load?.set(0);
  }

  private take(ref: PartRef): Entry | undefined {
    const k = key(ref.cameraId, ref.partId);
    const entry = this.open.get(k);
    if (!entry || entry.ref !== ref) return undefined;
    this.open.delete(k);
    this.o.load?.set(this.open.size);
    entry.timer?.unsubscribe();
    entry.timer = null;
    return entry;
  }

  private emit(entry: Entry, r: InspectionResult, evidence?: PartEvidence): void {
    entry.decided = true;
    this.remembered(key(r.cameraId, r.partId));
    this.stats.published++;
    this.o.publish(r, evidence);
  }

  private remembered(k: string): void {
    this.recent.add(k);
    if (this.recent.size > this.remember) this.recent.delete(this.recent.values().next().value as string);
  }
}
