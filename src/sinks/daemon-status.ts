// The daemon's shared state, with one owner: the app writes it (model, camera states, the engine's counters and
// batch timings), sinks read it or listen (MQTT's retained state, /metrics, /readyz, /api/status). A hot model
// swap or a camera going down is then seen the same way by every output.
import { readFileSync } from 'node:fs';
import type { EngineStats } from '../pipeline/engine.js';
import { PipelineLoad } from '../pipeline/pipeline-load.js';
import type { SourceState } from '../sources/types.js';

export interface CameraStatus {
  state: SourceState;
  detail?: string;
  /** ms since the epoch of the last state change. */
  since: number;
}

/** One inference batch as the engine ran it. */
export interface BatchObservation {
  size: number;
  /** Letterboxing the frames into the batch buffer. */
  prepareSeconds: number;
  inferSeconds: number;
  /** Anomaly maps, blobs and verdicts of the batch's frames. */
  postprocessSeconds: number;
}

export interface ArchiveCounters {
  queued: number;
  written: number;
  dropped: number;
  failed: number;
  bytes: number;
  /** CPU seconds the archive's worker used (Linux; 0 elsewhere). */
  cpuSeconds: number;
  /** Seconds the worker waited for inspection to leave it CPU (inspection-gate.ts). */
  yieldedSeconds: number;
}

export interface MqttCounters {
  connected: boolean;
  published: number;
  outboxSize: number;
  outboxDropped: number;
  outboxErrors: number;
  publishErrors: number;
  reconnects: number;
  triggers: number;
  malformedTriggers: number;
  unknownCameraTriggers: number;
}

/** What the operator console shows about the model (set by the app once the model is open). */
export interface ModelInfo {
  /** Random dev weights: not a real backbone (the console warns). */
  devTeacher: boolean;
  /** When the students were taught in (ISO 8601), if they were. */
  trainedAt: string | null;
  /** Per camera: the thresholds in force, null when there are none (every part fails safe). */
  thresholds: Record<string, { reject: number; pixel: number } | null>;
}

type Listener<T> = (v: T) => void;

/** The package version, read once (the daemon reports it; a missing package.json is not fatal). */
function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version?: string;
    };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

export class DaemonStatus {
  readonly version = packageVersion();
  readonly startTime = Date.now();
  /** Model loaded and its warm-up run done. */
  modelReady = false;
  /** The archive's counters, when an archive runs (set by its sink). */
  archive: (() => ArchiveCounters) | undefined;
  /** The MQTT connection and outbox, when MQTT runs (set by its sink). */
  mqtt: (() => MqttCounters) | undefined;
  model: ModelInfo | undefined;
  /** Parts in the pipeline, in shared memory: the engine's ledger writes it, background workers yield to it. */
  readonly pipelineLoad = new PipelineLoad();
  private readonly cams = new Map<string, CameraStatus>();
  private engineStats: () => EngineStats | undefined = () => undefined;
  private engineInFlight: () => number = () => 0;
  private readonly batchListeners: Listener<BatchObservation>[] = [];
  private readonly modelListeners: Listener<string | null>[] = [];
  private inForce: string | null;

  constructor(modelId: string | null, cameraIds: readonly string[]) {
    this.inForce = modelId;
    for (const id of cameraIds) this.cams.set(id, { state: 'connecting', since: this.startTime });
  }

  /** The model in force. Set by a hot swap: the outputs that announce it once (retained info, births) listen. */
  get modelId(): string | null {
    return this.inForce;
  }

  set modelId(id: string | null) {
    if (id === this.inForce) return;
    this.inForce = id;
    for (const l of [...this.modelListeners]) {
      try {
        l(id);
      } catch {
        // Each listener logs its own failures; one of them must not stop the others, nor the swap that set it.
      }
    }
  }

  /** Called with the new model id after each change; returns the unsubscribe. */
  onModelChange(l: Listener<string | null>): () => void {
    return addListener(this.modelListeners, l);
  }

  get cameraIds(): string[] {
    return [...this.cams.keys()];
  }

  cameras(): ReadonlyMap<string, CameraStatus> {
    return this.cams;
  }

  setCameraState(id: string, state: SourceState, detail?: string): void {
    this.cams.set(id, { state, detail, since: Date.now() });
  }

  hasCamera(id: string): boolean {
    return this.cams.has(id);
  }

  /** A camera removed by a config reload: no longer listed (nor counted by readiness). */
  removeCamera(id: string): void {
    this.cams.delete(id);
  }

  /** The engine's counters, once it runs (undefined before). */
  engine(): EngineStats | undefined {
    return this.engineStats();
  }

  attachEngine(stats: () => EngineStats, inFlight: () => number): void {
    this.engineStats = stats;
    this.engineInFlight = inFlight;
  }

  /** Parts admitted and not yet decided. */
  inFlight(): number {
    return this.engineInFlight();
  }

  batch(b: BatchObservation): void {
    for (const l of this.batchListeners) l(b);
  }

  onBatch(l: Listener<BatchObservation>): () => void {
    return addListener(this.batchListeners, l);
  }
}

function addListener<T>(list: Listener<T>[], l: Listener<T>): () => void {
  list.push(l);
  return () => {
    const i = list.indexOf(l);
    if (i >= 0) list.splice(i, 1);
  };
}
