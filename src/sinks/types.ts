// The one small interface every output implements (MQTT, archive, metrics, health, later web and Sparkplug B),
// and the plug-in that makes one from its config section. Adding an output = one new file exporting a
// SinkPlugin + one line in registry.ts.
import type { Observable } from 'rxjs';
import type { Config } from '../config/schema.js';
import type { PartEvidence } from '../pipeline/evidence.js';
import type { InspectionResult } from '../pipeline/result.js';
import type { PartTrigger } from '../pipeline/triggers.js';
import type { SourceState } from '../sources/types.js';
import type { Logger } from '../util/log.js';
import type { CommandRegistry } from './command-registry.js';
import type { ControlPlane } from './control-plane.js';
import type { DaemonStatus } from './daemon-status.js';

export type { PartEvidence } from '../pipeline/evidence.js';

export interface Sink {
  readonly name: string;
  start(): Promise<void>;
  /**
   * Called once per part, in decision order per camera. Must not throw or block: queue internally. `evidence`
   * is there for parts decided on a frame, when some sink wants it.
   */
  result(r: InspectionResult, evidence?: PartEvidence): void;
  cameraState(cameraId: string, state: SourceState, detail?: string): void;
  /** Flushes what it can within its own bound, then releases everything. */
  stop(): Promise<void>;
  /** PLC part triggers this sink receives (MQTT today); merged by SinkSet. */
  readonly triggers$?: Observable<PartTrigger>;
  /** The sink uses PartEvidence: the engine keeps the frame and Δ grid of every part for it. */
  readonly wantsEvidence?: boolean;
}

/** A sink that cannot start as configured (a port in use, a missing token): the daemon exits with it (exit 2). */
export class SinkConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SinkConfigError';
  }
}

/** Everything a sink may use besides its own config section. */
export interface SinkContext {
  log: Logger;
  /** Relative paths in the config resolve against this. */
  configDir: string;
  /** Model id, camera states and counters: written by the app, read by sinks. */
  status: DaemonStatus;
  /** The whole config (read-only): a sink that needs another section's value (e.g. the MQTT prefix). */
  config: Config;
  /** Commands from outside (MQTT `cmd/…`), registered by the app (command-registry.ts). */
  commands?: CommandRegistry;
  /** Live settings, config reload and the audit log, for the console (control-plane.ts). */
  control?: ControlPlane;
}

/** Config sections that configure a sink: each has `enabled`. */
export type SinkSection = 'mqtt' | 'archive' | 'web';

export interface SinkPlugin<S extends SinkSection = SinkSection> {
  readonly section: S;
  /** Whether the section asks for this sink; default its `enabled` (one section may feed two sinks). */
  enabled?(cfg: Config[S]): boolean;
  create(cfg: Config[S], ctx: SinkContext): Sink;
}
