// The MQTT topic layout under `mqtt.topicPrefix` (docs/mqtt.md): one place that spells every topic.
export interface MqttTopics {
  status: string;
  info: string;
  /** Retained daemon counters, every `mqtt.statsIntervalSec`. */
  stats: string;
  result(camera: string): string;
  reject(camera: string): string;
  state(camera: string): string;
  trigger(camera: string): string;
  /** Trigger topic for all cameras (the camera goes in the payload). */
  triggerAll: string;
  /** Retained re-teach state (phase, progress, candidate, shadow summary). */
  reteach: string;
}

export function mqttTopics(prefix: string): MqttTopics {
  return {
    status: `${prefix}/status`,
    info: `${prefix}/info`,
    stats: `${prefix}/stats`,
    result: (c) => `${prefix}/${c}/result`,
    reject: (c) => `${prefix}/${c}/reject`,
    state: (c) => `${prefix}/${c}/state`,
    trigger: (c) => `${prefix}/${c}/trigger`,
    triggerAll: `${prefix}/trigger`,
    reteach: `${prefix}/reteach`,
  };
}
