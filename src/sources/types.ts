// The one small interface every camera source implements: an Observable of frames, plus state reports.
// Adding a camera type = one new file exporting a SourcePlugin + one line in registry.ts.
import type { Observable } from 'rxjs';
import type { Logger } from 'pino';
import type { CameraConfig, CameraType } from '../config/schema.js';

/** Pixels as captured: HWC interleaved, RGB when channels = 3, grey when 1 (structurally pipeline's Image). */
export interface FramePixels {
  width: number;
  height: number;
  channels: 1 | 3;
  data: Uint8Array;
}

/** Known defect of a synthetic part, riding along for tests and the demo. */
export interface GroundTruth {
  /** H·W, 1 = defect pixel. */
  mask: Uint8Array;
  defect: { kind: string; box: { x: number; y: number; width: number; height: number }; size: number } | null;
}

/**
 * What the camera itself says about a frame (a GigE camera through gige-runner.py): the part ↔ frame
 * pairing rests on it instead of on arrival order (docs/cameras.md, "Part ↔ frame pairing").
 */
export interface FrameEvidence {
  /** The camera's frame (block) id. */
  frameId: number;
  /** The camera's own timestamp of the frame, µs on the camera's clock. */
  cameraTimestampUs: number;
  /** The software trigger this frame answers (the token the source was given), when it answers one. */
  trigger?: number;
}

/** Why a software trigger got no frame: its frame was lost on the way, or the camera could not take it. */
export type TriggerLossReason = 'frame-lost' | 'trigger-missed';

export interface Frame {
  cameraId: string;
  /** Per camera, increasing from the source (restarts of the source keep counting up). */
  seq: number;
  /** Capture time, ms since the epoch (Date.now clock). */
  captureTime: number;
  /** Set by the source (synthetic, files) or by a PLC trigger correlated to this frame. */
  partId?: string;
  image: FramePixels;
  truth?: GroundTruth;
  evidence?: FrameEvidence;
}

export type SourceState = 'connecting' | 'streaming' | 'stalled' | 'backoff' | 'stopped';

export interface SourceContext {
  /** Already bound to the camera (`camera` is in every line): a source does not add it again. */
  log: Logger;
  /** Directory of the config file: relative paths in a camera's config resolve against it. */
  configDir: string;
  /**
   * This start of the daemon (src/sources/part-id.ts): sources that name their parts put it in the id, so ids
   * never repeat across restarts. Absent (tests): ids without it.
   */
  runId?: string;
  /** Reports state changes (logged and published retained over MQTT by the app). */
  onState(state: SourceState, detail?: string): void;
  /**
   * Fires the camera's software trigger, one frame per event (a gige camera with `softwareTrigger`; other
   * sources ignore it). Each event is the trigger's token: the frame that answers it carries the token in
   * its evidence, or onTriggerLost names it. Events while the camera is not streaming are not queued: they
   * are reported lost (`trigger-missed`) at once.
   */
  softwareTrigger$?: Observable<number>;
  /** A software trigger that will get no frame, and why (see softwareTrigger$). */
  onTriggerLost?(token: number, reason: TriggerLossReason, detail: string): void;
}

export interface SourcePlugin<T extends CameraType = CameraType> {
  readonly type: T;
  /**
   * A cold Observable: subscribing starts the camera, unsubscribing stops it and frees everything.
   * It must never error for a recoverable camera fault (reconnect inside, report state); it completes
   * only when a finite source (files with loop: false, synthetic with count) is exhausted.
   */
  create(id: string, cfg: Extract<CameraConfig, { type: T }>, ctx: SourceContext): Observable<Frame>;
  /**
   * Problems that make the camera's config unusable from the start (a replay folder that does not exist): the
   * daemon refuses to start with this message (exit 2) rather than running without the camera.
   */
  check?(id: string, cfg: Extract<CameraConfig, { type: T }>, configDir: string): string | undefined;
}
