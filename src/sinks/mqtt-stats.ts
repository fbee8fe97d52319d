// `<prefix>/stats`: the daemon's counters as one retained JSON message every `mqtt.statsIntervalSec`, for
// SCADA dashboards that speak MQTT rather than Prometheus. Retained, so a dashboard that connects sees the
// latest at once.
import type { DaemonStatus } from './daemon-status.js';
import type { StatsPayload } from './mqtt-payloads.js';
import type { RetainedState } from './mqtt-retained.js';

interface MqttCounters {
  published: number;
  outboxSize: number;
  outboxDropped: number;
  reconnects: number;
  triggers: number;
  malformedTriggers: number;
}

/** The payload from the daemon's status and the MQTT sink's counters (pure). */
export function statsPayload(status: DaemonStatus, mqtt: MqttCounters, now: number): StatsPayload {
  const e = status.engine();
  const cameras: StatsPayload['cameras'] = {};
  for (const [id, c] of status.cameras()) {
    const s = e?.cameras[id];
    cameras[id] = { state: c.state, frames: s?.frames ?? 0, dropped: s?.dropped ?? 0 };
  }
  return {
    v: 1,
    time: now,
    uptimeSec: Math.max(0, (now - status.startTime) / 1000),
    modelId: status.modelId,
    parts: {
      published: e?.published ?? 0,
      timeouts: e?.timeouts ?? 0,
      noFrame: e?.noFrame ?? 0,
      errors: e?.errors ?? 0,
      late: e?.late ?? 0,
    },
    cameras,
    mqtt: {
      published: mqtt.published,
      outboxSize: mqtt.outboxSize,
      outboxDropped: mqtt.outboxDropped,
      reconnects: mqtt.reconnects,
      triggers: mqtt.triggers,
      malformedTriggers: mqtt.malformedTriggers,
    },
  };
}

export class StatsPublisher {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly retained: RetainedState,
    private readonly topic: string,
    private readonly intervalSec: number,
    private readonly status: DaemonStatus,
    private readonly counters: () => MqttCounters,
  ) {}

  start(): void {
    if (this.intervalSec <= 0 || this.timer) return;
    this.timer = setInterval(() => this.publishNow(), this.intervalSec * 1000);
    this.timer.unref();
  }

  publishNow(): void {
    if (this.intervalSec <= 0) return;
    this.retained.refreshCounters();
    void this.retained.publish(
      this.topic,
      JSON.stringify(statsPayload(this.status, this.counters(), Date.now())),
    );
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
