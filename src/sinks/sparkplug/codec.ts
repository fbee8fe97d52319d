// Sparkplug B payload bytes ⇄ plain objects, through protobufjs and the Tahu schema (payload-schema.ts).
// Loaded lazily (`loadCodec()`): a daemon without Sparkplug never loads protobufjs.
import type { Type } from 'protobufjs';
import type { MetricValue, SpMetric, SpPayload } from './payload.js';
import { DataType } from './payload.js';

export interface SparkplugCodec {
  encode(p: SpPayload): Uint8Array;
  /** Throws on bytes that are not a Sparkplug B payload. */
  decode(bytes: Uint8Array): DecodedPayload;
}

/** A received payload (commands): what a host may send, values as JS numbers/strings/booleans. */
export interface DecodedPayload {
  timestamp?: number;
  seq?: number;
  metrics: { name?: string; alias?: number; datatype?: number; value: MetricValue }[];
}

/** The protobuf value field for a datatype (spec 6.4.16: which oneof member carries which type). */
function valueField(t: DataType): string {
  switch (t) {
    case DataType.Int8:
    case DataType.Int16:
    case DataType.Int32:
    case DataType.UInt8:
    case DataType.UInt16:
    case DataType.UInt32:
      return 'intValue';
    case DataType.Int64:
    case DataType.UInt64:
    case DataType.DateTime:
      return 'longValue';
    case DataType.Float:
      return 'floatValue';
    case DataType.Double:
      return 'doubleValue';
    case DataType.Boolean:
      return 'booleanValue';
    default:
      return 'stringValue';
  }
}

function toProtoMetric(m: SpMetric): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  if (m.name !== undefined) o.name = m.name;
  if (m.alias !== undefined) o.alias = m.alias;
  if (m.timestamp !== undefined) o.timestamp = m.timestamp;
  // Sparkplug 3.0: the datatype goes with the metric's definition (birth, death), not with data by alias.
  if (m.name !== undefined) o.datatype = m.datatype;
  if (m.isHistorical) o.isHistorical = true;
  if (m.value === null) o.isNull = true;
  else o[valueField(m.datatype)] = m.value;
  return o;
}

/** protobufjs gives uint64 as Long (when the `long` package is present) or number. */
const num = (v: unknown): number | undefined =>
  v === undefined || v === null ? undefined : typeof v === 'number' ? v : Number(String(v));

/** A decoded field that was on the wire: absent proto2 fields show their default through the prototype. */
const sent = (o: Record<string, unknown>, k: string): unknown => (Object.hasOwn(o, k) ? o[k] : undefined);

function fromProtoMetric(m: Record<string, unknown>): DecodedPayload['metrics'][number] {
  const field = m.value as string | undefined; // the oneof's virtual field names the member set
  let value: MetricValue = null;
  if (sent(m, 'isNull') !== true && field !== undefined) {
    const v = m[field];
    value = typeof v === 'string' || typeof v === 'boolean' ? v : (num(v) ?? null);
  }
  const name = sent(m, 'name');
  return {
    name: typeof name === 'string' ? name : undefined,
    alias: num(sent(m, 'alias')),
    datatype: num(sent(m, 'datatype')),
    value,
  };
}

export async function loadCodec(): Promise<SparkplugCodec> {
  const { default: protobuf } = await import('protobufjs');
  const { sparkplugDescriptor } = await import('./payload-schema.js');
  const Payload: Type = protobuf.Root.fromJSON(sparkplugDescriptor).lookupType(
    'org.eclipse.tahu.protobuf.Payload',
  );
  return {
    encode(p) {
      const msg: Record<string, unknown> = { timestamp: p.timestamp, metrics: p.metrics.map(toProtoMetric) };
      if (p.seq !== undefined) msg.seq = p.seq;
      return Payload.encode(Payload.fromObject(msg)).finish();
    },
    decode(bytes) {
      const msg = Payload.decode(bytes) as unknown as Record<string, unknown>;
      const metrics = (msg.metrics as Record<string, unknown>[] | undefined) ?? [];
      return {
        timestamp: num(sent(msg, 'timestamp')),
        seq: num(sent(msg, 'seq')),
        metrics: metrics.map(fromProtoMetric),
      };
    },
  };
}
