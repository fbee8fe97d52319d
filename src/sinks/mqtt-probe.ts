// One-shot broker reachability check for `pinpoint doctor`.
import mqtt from 'mqtt';
import type { Config } from '../config/schema.js';
import { redactUrl } from '../config/redact.js';
import { mqttClientOptions } from './mqtt-options.js';

export async function probeBroker(
  cfg: Config['mqtt'],
  timeoutMs: number,
): Promise<{ ok: boolean; detail: string }> {
  const where = redactUrl(cfg.url);
  const client = mqtt.connect(cfg.url, {
    ...mqttClientOptions(cfg),
    clientId: `pinpoint-doctor-${process.pid}`,
    reconnectPeriod: 0,
    connectTimeout: timeoutMs,
  });
  try {
    return await new Promise((resolve) => {
      const timer = setTimeout(
        () => resolve({ ok: false, detail: `${where}: no answer within ${timeoutMs} ms` }),
        timeoutMs,
      );
      client.once('connect', () => {
        clearTimeout(timer);
        resolve({ ok: true, detail: `${where}: connected` });
      });
      client.once('error', (err) => {
        clearTimeout(timer);
        resolve({ ok: false, detail: `${where}: ${err.message}` });
      });
      client.once('close', () => {
        clearTimeout(timer);
        resolve({ ok: false, detail: `${where}: connection closed` });
      });
    });
  } finally {
    client.end(true);
  }
}
