// The retained state messages: `status` (online / stopped; the will says offline), `info` and each camera's
// `state`. Not queued: only the latest value matters, and all of it is published again on every connect; `info`
// also when a hot swap puts another model in force (a late subscriber must not read the old model id).
//
// A camera's state carries its frame and pairing-loss counters (issue 17: a PLC gateway sees lost frames and
// missed triggers where it already looks). They change with every frame, so the state is not republished per
// frame: refreshCounters() (on the stats interval) republishes the cameras whose counters changed, and a part
// decided without its frame (frame-lost, trigger-missed, no-frame) republishes its camera within 1 s, bursts
// coalesced into one message.
import { hostname } from 'node:os';
import { cameraIdSchema } from '../config/schema.js';
import type { InspectionResult } from '../pipeline/result.js';
import type { SourceState } from '../sources/types.js';
import type { LogThrottle } from '../util/log-throttle.js';
import type { DaemonStatus } from './daemon-status.js';
import type { MqttConnection } from './mqtt-connection.js';
import type { CameraCounters, InfoPayload, StatusPayload } from './mqtt-payloads.js';
import { cameraStatePayload } from './mqtt-payloads.js';
import type { MqttTopics } from './mqtt-topics.js';

/** How long a pairing loss waits before its camera's state is republished (losses in between join it). */
const LOSS_REFRESH_MS = 1000;
const LOSS_REASONS: ReadonlySet<string> = new Set(['no-frame', 'frame-lost', 'trigger-missed']);

interface CameraEntry {
  state: SourceState;
  detail?: string;
  time: number;
  /** The payload last built for it (what the broker holds once connected). */
  payload: string;
}

export class RetainedState {
  private readonly states = new Map<string, CameraEntry>();
  private readonly startTime = Date.now();
  private readonly lossTimers = new Map<string, NodeJS.Timeout>();

  constructor(
    private readonly conn: MqttConnection,
    private readonly topics: MqttTopics,
    private readonly cameras: readonly string[],
    /** Read on every connect, so a swapped model is announced with its own id. */
    private readonly modelId: () => string | null,
    private readonly throttle: LogThrottle,
    /** The engine's per-camera counters (absent: states without counters). */
    private readonly status?: DaemonStatus,
  ) {}

  /** Messages the retained state may have in flight at once (kept out of the results' window). */
  get reserved(): number {
    return 4 + this.states.size; // status, info, stats, reteach and the cameras
  }

  /** Retained QoS 1; resolves whether the broker acknowledged it. */
  publish(topic: string, payload: string): Promise<boolean> {
    return new Promise((resolve) => {
      if (!this.conn.connected) return resolve(false);
      this.conn.publish(topic, payload, { qos: 1, retain: true }, (err) => {
        if (err) this.throttle.warn('retained', { topic, err: err.message }, 'retained publish failed');
        resolve(!err);
      });
    });
  }

  /** On every connect: status online, info and the last state of every camera. */
  connected(): void {
    void this.publish(this.topics.status, 'online' satisfies StatusPayload);
    this.info();
    for (const [cam, e] of this.states) void this.publish(this.topics.state(cam), e.payload);
  }

  /** The retained info (model id, cameras, host): on connect, and again when a hot swap changes the model. */
  info(): void {
    if (!this.conn.connected) return; // the next connect publishes it
    const info: InfoPayload = {
      v: 1,
      modelId: this.modelId(),
      cameras: [...this.cameras],
      host: hostname(),
      pid: process.pid,
      startTime: this.startTime,
    };
    void this.publish(this.topics.info, JSON.stringify(info));
  }

  cameraState(cameraId: string, state: SourceState, detail?: string): void {
    if (!cameraIdSchema.safeParse(cameraId).success) {
      this.throttle.warn(
        'bad-camera-id',
        { cameraId },
        'camera state for an id that is not topic-safe ignored',
      );
      return;
    }
    const e: CameraEntry = { state, detail, time: Date.now(), payload: '' };
    e.payload = cameraStatePayload(state, detail, e.time, this.counters(cameraId));
    this.states.set(cameraId, e);
    if (this.conn.connected) void this.publish(this.topics.state(cameraId), e.payload);
  }

  /** Republishes the state of each camera (or of `only`) whose counters changed since its last message. */
  refreshCounters(only?: string): void {
    for (const [cam, e] of this.states) {
      if (only !== undefined && cam !== only) continue;
      const payload = cameraStatePayload(e.state, e.detail, e.time, this.counters(cam));
      if (payload === e.payload) continue;
      e.payload = payload;
      if (this.conn.connected) void this.publish(this.topics.state(cam), payload);
    }
  }

  /** A part decided without its frame: its camera's counters go out within LOSS_REFRESH_MS. */
  result(r: InspectionResult): void {
    if (!this.status || !LOSS_REASONS.has(r.reason) || this.lossTimers.has(r.cameraId)) return;
    const t = setTimeout(() => {
      this.lossTimers.delete(r.cameraId);
      this.refreshCounters(r.cameraId);
    }, LOSS_REFRESH_MS);
    t.unref();
    this.lossTimers.set(r.cameraId, t);
  }

  private counters(cameraId: string): CameraCounters | undefined {
    if (!this.status) return undefined;
    const c = this.status.engine()?.cameras[cameraId];
    return {
      frames: c?.frames ?? 0,
      dropped: c?.dropped ?? 0,
      unusable: c?.unusable ?? 0,
      untriggered: c?.untriggered ?? 0,
      noFrame: c?.noFrame ?? 0,
      frameLost: c?.frameLost ?? 0,
      triggerMissed: c?.triggerMissed ?? 0,
    };
  }

  /** `stopped` replaces the retained `online` (bounded: a dead broker must not hold up the shutdown). */
  async stopped(timeoutMs: number): Promise<boolean> {
    for (const t of this.lossTimers.values()) clearTimeout(t);
    this.lossTimers.clear();
    if (!this.conn.connected) return false;
    let t: NodeJS.Timeout | undefined;
    const said = await Promise.race([
      this.publish(this.topics.status, 'stopped' satisfies StatusPayload),
      new Promise<boolean>((r) => (t = setTimeout(() => r(false), timeoutMs))),
    ]);
    clearTimeout(t);
    return said;
  }
}
