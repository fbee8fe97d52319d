// MQTT test helpers: a recording subscriber, inspection results to publish, a log that can be read back.
import { Writable } from 'node:stream';
import type { IClientOptions, MqttClient } from 'mqtt';
import mqtt from 'mqtt';
import type { InspectionResult } from '../../src/pipeline/result.js';
import { createLogger, type Logger } from '../../src/util/log.js';

export interface Received {
  topic: string;
  text: string;
  retain: boolean;
  /** Set by the broker on a QoS 1/2 redelivery (e.g. an unacknowledged message resent on session resume). */
  dup: boolean;
}

export interface Recorder {
  client: MqttClient;
  msgs: Received[];
  on(topic: string): Received[];
  /** Waits until pred() holds; fails with `what` and the messages seen after timeoutMs. */
  waitFor(pred: () => boolean, what: string, timeoutMs?: number): Promise<void>;
  end(): Promise<void>;
}

export async function record(
  url: string,
  filters: string[],
  options: IClientOptions = {},
): Promise<Recorder> {
  const client = await mqtt.connectAsync(url, { reconnectPeriod: 100, ...options });
  const msgs: Received[] = [];
  client.on('message', (topic, payload, packet) =>
    msgs.push({ topic, text: payload.toString(), retain: packet.retain, dup: packet.dup }),
  );
  if (filters.length > 0) await client.subscribeAsync(filters, { qos: 1 });
  return {
    client,
    msgs,
    on: (topic) => msgs.filter((m) => m.topic === topic),
    async waitFor(pred, what, timeoutMs = 5000) {
      const until = Date.now() + timeoutMs;
      while (!pred()) {
        if (Date.now() > until) {
          const seen = msgs.map((m) => `${m.topic} ${m.text.slice(0, 80)}`).join('\n  ');
          throw new Error(`timed out waiting for ${what}; seen:\n  ${seen}`);
        }
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    end: () => client.endAsync(true),
  };
}

/** Part n of a camera: ok for even n, rejected with one blob for odd n. */
export function makeResult(cameraId: string, n: number, decideTime = Date.now()): InspectionResult {
  const captureTime = decideTime - 12;
  const reject = n % 2 === 1;
  return {
    version: 1,
    cameraId,
    partId: `${cameraId}-part-${n}`,
    seq: n,
    captureTime,
    decideTime,
    latencyMs: 12,
    score: reject ? 0.9 : 0.1,
    threshold: 0.5,
    verdict: reject ? 'reject' : 'ok',
    reason: reject ? 'score' : 'pass',
    blobs: reject
      ? [
          {
            box: { x: 10, y: 20, width: 5, height: 4 },
            area: 17,
            centroid: { x: 12.5, y: 22 },
            peak: 1.25,
            mean: 0.8,
          },
        ]
      : [],
    modelId: 'model-test',
  };
}

export interface CapturedLog {
  log: Logger;
  lines(): Record<string, unknown>[];
}

export function captureLog(): CapturedLog {
  const chunks: string[] = [];
  const dest = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString());
      cb();
    },
  });
  return {
    log: createLogger({ level: 'debug', pretty: 'never', destination: dest }),
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter(Boolean)
        .map((s) => JSON.parse(s) as Record<string, unknown>),
  };
}
