// The running outputs as one: every event goes to each sink, and one sink that throws (a bug: sinks must
// queue internally and never throw) is logged and never stops the others or the engine. PLC triggers from any
// sink that receives them are merged, so the app never asks for a sink by name.
import type { Observable } from 'rxjs';
import { NEVER, merge } from 'rxjs';
import type { InspectionResult } from '../pipeline/result.js';
import type { PartTrigger } from '../pipeline/triggers.js';
import type { SourceState } from '../sources/types.js';
import type { Logger } from '../util/log.js';
import type { PartEvidence, Sink } from './types.js';

export class SinkSet {
  constructor(
    readonly sinks: readonly Sink[],
    private readonly log: Logger,
  ) {}

  /** Whether any sink wants the frame and Δ grid of each part (else the engine keeps none). */
  get wantsEvidence(): boolean {
    return this.sinks.some((s) => s.wantsEvidence === true);
  }

  /** PLC part triggers from every sink that receives them. */
  get triggers$(): Observable<PartTrigger> {
    const all = this.sinks.flatMap((s) => (s.triggers$ ? [s.triggers$] : []));
    return all.length ? merge(...all) : NEVER;
  }

  /**
   * Starts all; a sink that fails to start fails the start (a misconfigured output is an error), after the
   * others are stopped again so nothing keeps the process alive.
   */
  async start(): Promise<void> {
    const started = await Promise.allSettled(this.sinks.map((s) => s.start()));
    const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (!failed) return;
    await this.stop();
    throw failed.reason;
  }

  result(r: InspectionResult, evidence?: PartEvidence): void {
    this.each('result', (s) => s.result(r, evidence));
  }

  cameraState(cameraId: string, state: SourceState, detail?: string): void {
    this.each('cameraState', (s) => s.cameraState(cameraId, state, detail));
  }

  /** Stops all, each within its own bound; a failing stop is logged, the others still stop. */
  async stop(): Promise<void> {
    await Promise.all(
      this.sinks.map((s) =>
        s.stop().catch((err: unknown) => this.log.error({ sink: s.name, err }, 'sink stop failed')),
      ),
    );
  }

  private each(what: string, f: (s: Sink) => void): void {
    for (const s of this.sinks) {
      try {
        f(s);
      } catch (err) {
        this.log.error({ sink: s.name, err }, `sink failed in ${what}`);
      }
    }
  }
}
