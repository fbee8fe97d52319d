// Sparkplug B payloads as plain objects (what the edge-node state machine produces and the tests compare),
// and the data types of the specification's table (Sparkplug 3.0, section 6.4.16).

/** Sparkplug B metric data types (the `datatype` field). */
export const DataType = {
  Int8: 1,
  Int16: 2,
  Int32: 3,
  Int64: 4,
  UInt8: 5,
  UInt16: 6,
  UInt32: 7,
  UInt64: 8,
  Float: 9,
  Double: 10,
  Boolean: 11,
  String: 12,
  DateTime: 13,
  Text: 14,
} as const;
export type DataType = (typeof DataType)[keyof typeof DataType];

export type MetricValue = string | number | boolean | null;

export interface SpMetric {
  /** In births (and commands that name it); data messages carry the alias only. */
  name?: string;
  alias?: number;
  /** ms since the epoch. */
  timestamp?: number;
  /** Picks the protobuf value field; on the wire only with the name (births): data refers to the birth. */
  datatype: DataType;
  /** Sent after a reconnect for decisions made before the current birth (Sparkplug store and forward). */
  isHistorical?: boolean;
  /** null is sent as is_null with no value. */
  value: MetricValue;
}

export interface SpPayload {
  /** ms since the epoch. */
  timestamp: number;
  /** 0-255; absent in NDEATH. */
  seq?: number;
  metrics: SpMetric[];
}

export type SpMessageType = 'NBIRTH' | 'NDEATH' | 'NDATA' | 'DBIRTH' | 'DDEATH' | 'DDATA';

export interface SpMessage {
  type: SpMessageType;
  topic: string;
  /** Present for device messages. */
  deviceId?: string;
  payload: SpPayload;
}

/** Sparkplug topic of a message type for this node (and device). */
export function spTopic(groupId: string, type: string, edgeNodeId: string, deviceId?: string): string {
  return `spBv1.0/${groupId}/${type}/${edgeNodeId}${deviceId === undefined ? '' : `/${deviceId}`}`;
}
