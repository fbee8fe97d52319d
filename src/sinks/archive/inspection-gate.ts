// The archive worker's manners: it works freely while no part is in the pipeline and, while parts are, uses at
// most a set share of a core. Between two steps of its work (encode the frame, the map, the heatmap, write)
// it sleeps in proportion to the step it just did; it wakes when the pipeline empties (pipeline-load.ts
// notifies) and goes on freely once it has stayed empty for QUIET_MS. Why not only the lowest thread priority
// (thread-priority.ts): measured on a 2-vCPU VM, a SCHED_IDLE deflate loop on the spare vCPU still cost the
// pipeline 6 % of its throughput and 20 % on p99 latency (shared physical core, caches, memory bandwidth); work
// the kernel cannot see as competing still competes. The sleep is in this worker thread only (Atomics.wait);
// the event loop never waits on it.

/** What the gate needs from the clock and the load cell; tests give a fake (no real sleeping in the maths). */
export interface GateIo {
  /** ms, monotonic. */
  now(): number;
  /** Parts in the pipeline now. */
  parts(): number;
  /** Sleeps up to `ms` or until the pipeline empties, whichever is first. */
  sleepWhileBusy(ms: number): void;
  /** Sleeps `ms` while the pipeline stays empty (may return early when it is not). */
  sleepWhileEmpty(ms: number): void;
}

export class InspectionGate {
  /** ms of sleep owed for work done while the pipeline was busy. */
  private owed = 0;
  /** ms slept so far (for the worker's stats). */
  sleptMs = 0;
  /** Parts were seen in the pipeline since it was last found quiet. */
  private wasBusy = false;

  /** `share`: of one core, 0–1, while parts are in the pipeline (1: no limit). */
  constructor(
    private readonly share: number,
    private readonly io: GateIo,
  ) {}

  /** Runs one step of archive work, then sleeps what the share asks for while inspection is busy. */
  step<T>(work: () => T): T {
    if (this.share < 1) this.waitForShare();
    const t0 = this.io.now();
    const out = work();
    if (this.share < 1 && this.io.parts() > 0) {
      if (this.share > 0) this.owed += (this.io.now() - t0) * (1 / this.share - 1); // share 0: waits for quiet
      this.wasBusy = true;
    }
    return out;
  }

  /** Before a step: pays what is owed while busy; share 0 waits for the pipeline to empty. */
  private waitForShare(): void {
    for (;;) {
      if (this.io.parts() === 0) {
        if (this.wasBusy && !this.quietFor(QUIET_MS)) continue;
        this.wasBusy = false;
        this.owed = 0; // nothing to yield to
        return;
      }
      this.wasBusy = true;
      if (this.share > 0 && this.owed <= 0) return;
      const ms = this.share > 0 ? this.owed : MAX_IDLE_WAIT_MS;
      const t0 = this.io.now();
      this.io.sleepWhileBusy(ms);
      const slept = this.io.now() - t0;
      this.sleptMs += slept;
      this.owed -= slept;
    }
  }

  /** Whether the pipeline stayed empty for `ms` (the sleep counts as yielded). */
  private quietFor(ms: number): boolean {
    const t0 = this.io.now();
    this.io.sleepWhileEmpty(ms);
    const slept = this.io.now() - t0;
    this.sleptMs += slept;
    return this.io.parts() === 0 && slept >= ms - 1; // a timer may wake a fraction early
  }
}

/**
 * An empty pipeline counts as idle only once it has stayed empty this long: between two parts of a saturated line
 * it is empty for a moment too (the event loop is busy taking in the next frame: the synthetic camera renders it
 * there), and work started in that moment would slow the next part.
 */
const QUIET_MS = 10;

/** With share 0 the wait for an empty pipeline is re-checked this often (a missed wake-up cannot hang it). */
const MAX_IDLE_WAIT_MS = 1000;

/** The real io: performance.now and the shared load cell (PipelineLoad.buffer). */
export function sharedLoadIo(buffer: SharedArrayBuffer): GateIo {
  const cell = new Int32Array(buffer);
  return {
    now: () => performance.now(),
    parts: () => Atomics.load(cell, 0),
    sleepWhileBusy(ms) {
      const parts = Atomics.load(cell, 0);
      // Wakes on notify (the count fell to 0), on timeout, or at once if the count already changed.
      if (parts > 0) Atomics.wait(cell, 0, parts, ms);
    },
    // Nothing notifies when parts arrive, so this sleeps the whole `ms` (or returns at once if one is there);
    // the caller then looks again.
    sleepWhileEmpty(ms) {
      Atomics.wait(cell, 0, 0, ms);
    },
  };
}
