// The retained state messages: `status` (online / stopped; the will says offline), `info` and each camera's
// `state`. Not queued: only the latest value matters, and all of it is published again on every connect.
import { hostname } from 'node:os';
import { cameraIdSchema } from '../config/schema.js';
import type { SourceState } from '../sources/types.js';
import type { LogThrottle } from '../util/log-throttle.js';
import type { MqttConnection } from './mqtt-connection.js';
import type { InfoPayload, StatusPayload } from './mqtt-payloads.js';
import { cameraStatePayload } from './mqtt-payloads.js';
import type { MqttTopics } from './mqtt-topics.js';

export class RetainedState {
  private readonly states = new Map<string, string>(); // camera → last state payload
  private readonly startTime = Date.now();

  constructor(
    private readonly conn: MqttConnection,
    private readonly topics: MqttTopics,
    private readonly cameras: readonly string[],
    /** Read on every connect, so a swapped model is announced with its own id. */
    private readonly modelId: () => string | null,
    private readonly throttle: LogThrottle,
  ) {}

  /** Messages the retained state may have in flight at once (kept out of the results' window). */
  get reserved(): number {
    return 3 + this.states.size; // status, info, stats and the cameras
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
    const info: InfoPayload = {
      v: 1,
      modelId: this.modelId(),
      cameras: [...this.cameras],
      host: hostname(),
      pid: process.pid,
      startTime: this.startTime,
    };
    void this.publish(this.topics.info, JSON.stringify(info));
    for (const [cam, payload] of this.states) void this.publish(this.topics.state(cam), payload);
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
    const payload = cameraStatePayload(state, detail, Date.now());
    this.states.set(cameraId, payload);
    if (this.conn.connected) void this.publish(this.topics.state(cameraId), payload);
  }

  /** `stopped` replaces the retained `online` (bounded: a dead broker must not hold up the shutdown). */
  async stopped(timeoutMs: number): Promise<boolean> {
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
