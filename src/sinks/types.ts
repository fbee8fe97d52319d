// The one small interface every output implements (MQTT, archive, metrics, web preview).
// Adding an output = one new file exporting a Sink factory + one line in the app's sink registry.
import type { InspectionResult } from '../pipeline/result.js';
import type { SourceState } from '../sources/types.js';

export interface Sink {
  readonly name: string;
  start(): Promise<void>;
  /** Called once per part, in decision order per camera. Must not throw or block: queue internally. */
  result(r: InspectionResult): void;
  cameraState(cameraId: string, state: SourceState, detail?: string): void;
  /** Flushes what it can within its own bound, then releases everything. */
  stop(): Promise<void>;
}
