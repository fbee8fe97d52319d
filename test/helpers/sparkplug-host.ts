// A Sparkplug B host application for tests: subscribes to a group's namespace on a real broker and decodes
// every message with the independent Tahu decoder (`sparkplug-payload`, protobufjs 6), resolving the aliases
// of data messages through the births it saw, the way a SCADA host (Ignition's MQTT Engine) does.
import type { MqttClient } from 'mqtt';
import mqtt from 'mqtt';
import { createRequire } from 'node:module';
import sparkplugPayload from 'sparkplug-payload';
import type * as TahuProto from 'sparkplug-payload/lib/sparkplugPayloadProto.js';

const tahu = (() => {
  const t = sparkplugPayload.get('spBv1.0');
  if (!t) throw new Error('sparkplug-payload: no spBv1.0 codec');
  return t;
})();
// Tahu's generated protobufjs 6 module assigns module.exports at run time: only require() sees its names.
const ProtoRoot = createRequire(import.meta.url)(
  'sparkplug-payload/lib/sparkplugPayloadProto.js',
) as typeof TahuProto;
const RawPayload = ProtoRoot.org.eclipse.tahu.protobuf.Payload;

export interface HostMetric {
  name: string;
  type: string;
  value: unknown;
  timestamp?: number;
  historical: boolean;
}

export interface HostMessage {
  type: string;
  topic: string;
  deviceId?: string;
  seq?: number;
  timestamp: number;
  metrics: HostMetric[];
  /** The metric's value by name. */
  get(name: string): unknown;
}

export interface SparkplugHost {
  client: MqttClient;
  msgs: HostMessage[];
  of(type: string, deviceId?: string): HostMessage[];
  waitFor(pred: () => boolean, what: string, timeoutMs?: number): Promise<void>;
  /** Publishes a command (NCMD, or DCMD with a device) encoded by Tahu. */
  command(metrics: object[], deviceId?: string): Promise<void>;
  end(): Promise<void>;
}

const num = (v: unknown): number | undefined => (v === undefined || v === null ? undefined : Number(v));

/** A host watching one edge node (`groupId`/`edgeNodeId`) and its devices. */
export async function sparkplugHost(
  url: string,
  groupId: string,
  edgeNodeId: string,
): Promise<SparkplugHost> {
  const client = await mqtt.connectAsync(url, { reconnectPeriod: 100 });
  const msgs: HostMessage[] = [];
  // alias → datatype and name, per node or device, from the latest birth (as a host keeps them).
  const births = new Map<string, Map<number, { name: string; datatype: number }>>();
  client.on('message', (topic, payload) => {
    const [, , type, , deviceId] = topic.split('/');
    if (type.endsWith('CMD')) return; // our own commands
    const key = deviceId ?? '';
    const raw = RawPayload.decode(payload);
    if (type === 'NBIRTH' || type === 'DBIRTH') {
      const map = new Map<number, { name: string; datatype: number }>();
      for (const m of raw.metrics)
        map.set(Number(m.alias), { name: m.name ?? '', datatype: m.datatype ?? 0 });
      births.set(key, map);
      // A new NBIRTH makes every device's earlier birth void.
      if (type === 'NBIRTH') for (const k of [...births.keys()]) if (k !== '') births.delete(k);
    }
    const known = type.startsWith('N') ? births.get('') : births.get(key);
    // Data messages carry only aliases: give each metric its birth's datatype so Tahu can read its value.
    for (const m of raw.metrics) {
      const b = m.alias !== undefined && m.alias !== null ? known?.get(Number(m.alias)) : undefined;
      if (!m.datatype && b) m.datatype = b.datatype;
      if (!m.name && b) m.name = b.name;
    }
    const p = tahu.decodePayload(RawPayload.encode(raw).finish());
    const metrics: HostMetric[] = (p.metrics ?? []).map((m) => ({
      name: m.name ?? '',
      type: String(m.type),
      value: typeof m.value === 'object' && m.value !== null ? Number(m.value) : m.value,
      timestamp: num(m.timestamp),
      historical: m.isHistorical === true,
    }));
    msgs.push({
      type,
      topic,
      deviceId,
      seq: num(p.seq),
      timestamp: Number(p.timestamp),
      metrics,
      get: (name) => metrics.find((m) => m.name === name)?.value,
    });
  });
  await client.subscribeAsync(
    [`spBv1.0/${groupId}/+/${edgeNodeId}`, `spBv1.0/${groupId}/+/${edgeNodeId}/+`],
    {
      qos: 1,
    },
  );
  return {
    client,
    msgs,
    of: (type, deviceId) =>
      msgs.filter((m) => m.type === type && (deviceId === undefined || m.deviceId === deviceId)),
    async waitFor(pred, what, timeoutMs = 10000) {
      const until = Date.now() + timeoutMs;
      while (!pred()) {
        if (Date.now() > until) {
          const seen = msgs.map((m) => `${m.type} ${m.deviceId ?? ''} seq=${m.seq}`).join('\n  ');
          throw new Error(`timed out waiting for ${what}; seen:\n  ${seen}`);
        }
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    async command(metrics, deviceId) {
      const type = deviceId === undefined ? 'NCMD' : 'DCMD';
      const topic = `spBv1.0/${groupId}/${type}/${edgeNodeId}${deviceId === undefined ? '' : `/${deviceId}`}`;
      await client.publishAsync(
        topic,
        Buffer.from(tahu.encodePayload({ timestamp: Date.now(), metrics } as never)),
        {
          qos: 0,
        },
      );
    },
    end: () => client.endAsync(true),
  };
}
