// Sparkplug commands from a host: NCMD (`Node Control/Rebirth`) and DCMD (a camera's `Trigger`) → actions,
// or the reason a write is refused. Pure: the sink logs refusals (rate-limited) and applies the rest.
// Metrics may name themselves or use the aliases of our births (hosts such as Ignition send aliases).
import { triggerPayloadSchema } from '../mqtt-payloads.js';
import type { DecodedPayload, SparkplugCodec } from './codec.js';
import type { HostState } from './host-state.js';
import { parseHostState } from './host-state.js';
import type { MetricCatalog, MetricDef } from './metrics.js';
import { REBIRTH, TRIGGER } from './metrics.js';

export type Command =
  | { kind: 'rebirth' }
  | { kind: 'trigger'; cameraId: string; partId: string }
  | { kind: 'refused'; reason: string };

type Metric = DecodedPayload['metrics'][number];

/** The metric's name, from its name or its alias among `defs`. */
function nameOf(m: Metric, defs: readonly MetricDef[]): string | undefined {
  if (m.name !== undefined && m.name !== '') return m.name;
  return defs.find((d) => d.alias === m.alias)?.name;
}

const label = (m: Metric): string => m.name || `alias ${m.alias ?? '?'}`;

export function nodeCommands(p: DecodedPayload, catalog: MetricCatalog): Command[] {
  return p.metrics.map((m): Command => {
    const name = nameOf(m, catalog.node);
    if (name !== REBIRTH) return { kind: 'refused', reason: `NCMD ${label(m)}: not writable` };
    if (m.value !== true) return { kind: 'refused', reason: `NCMD ${REBIRTH}: value must be true` };
    return { kind: 'rebirth' };
  });
}

export function deviceCommands(deviceId: string, p: DecodedPayload, catalog: MetricCatalog): Command[] {
  const defs = catalog.devices.get(deviceId);
  if (!defs) return [{ kind: 'refused', reason: `DCMD for unknown device ${deviceId}` }];
  return p.metrics.map((m): Command => {
    const name = nameOf(m, defs);
    if (name !== TRIGGER) return { kind: 'refused', reason: `DCMD ${deviceId} ${label(m)}: not writable` };
    if (!defs.some((d) => d.name === TRIGGER)) {
      return { kind: 'refused', reason: `DCMD ${deviceId} ${TRIGGER}: the camera has no softwareTrigger` };
    }
    // The same part id rules as the JSON trigger topic: 1-128 printable characters or a non-negative integer.
    const parsed = triggerPayloadSchema.shape.partId.safeParse(m.value);
    if (!parsed.success) {
      return { kind: 'refused', reason: `DCMD ${deviceId} ${TRIGGER}: ${parsed.error.issues[0].message}` };
    }
    return { kind: 'trigger', cameraId: deviceId, partId: String(parsed.data) };
  });
}

/** What a received message asks for: commands, or the primary host's new state. */
export type Inbound = Command | { kind: 'host'; state: HostState };

export interface InboundContext {
  codec: SparkplugCodec;
  catalog: MetricCatalog;
  /** Our NCMD topic; anything else subscribed besides STATE is a DCMD (`…/DCMD/<node>/<device>`). */
  ncmd: string;
  stateTopic?: string;
}

/** A message on one of our subscriptions → what to do about it (never throws). */
export function readInbound(
  topic: string,
  payload: Uint8Array,
  retained: boolean,
  ctx: InboundContext,
): Inbound[] {
  if (topic === ctx.stateTopic) {
    const state = parseHostState(payload);
    return [state ? { kind: 'host', state } : { kind: 'refused', reason: `${topic}: not a STATE payload` }];
  }
  // A retained command would be applied again on every reconnect.
  if (retained) return [{ kind: 'refused', reason: `retained command on ${topic} ignored` }];
  let decoded: DecodedPayload;
  try {
    decoded = ctx.codec.decode(payload);
  } catch {
    return [{ kind: 'refused', reason: `${topic}: not a Sparkplug B payload` }];
  }
  if (topic === ctx.ncmd) return nodeCommands(decoded, ctx.catalog);
  return deviceCommands(topic.split('/')[4] ?? '', decoded, ctx.catalog);
}
