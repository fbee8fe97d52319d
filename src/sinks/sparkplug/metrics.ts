// The metrics pinpoint publishes as a Sparkplug B edge node: their names, data types and aliases, and the
// values of a decision. Pure. Aliases are unique across the whole edge node (node and every device, as the
// specification requires) and fixed by the camera list, so a host that caches them across births stays right.
import type { InspectionResult } from '../../pipeline/result.js';
import type { MetricValue, SpMetric } from './payload.js';
import { DataType } from './payload.js';

export const BDSEQ = 'bdSeq';
export const REBIRTH = 'Node Control/Rebirth';
export const TRIGGER = 'Trigger';

/** One metric of the decision of a part: name, type, and how it is read off the result. */
interface DecisionMetric {
  name: string;
  datatype: DataType;
  value(r: InspectionResult): MetricValue;
}

const largestBlob = (r: InspectionResult): number => r.blobs.reduce((m, b) => Math.max(m, b.area), 0);

/** The decision metrics, in the order they are published (a device's, or a dead camera's on the node). */
export const DECISION_METRICS: readonly DecisionMetric[] = [
  { name: 'Part ID', datatype: DataType.String, value: (r) => r.partId },
  { name: 'Verdict', datatype: DataType.String, value: (r) => r.verdict },
  // What the line acts on: true for `reject` and for `error` (a part that could not be judged is not passed).
  { name: 'Reject', datatype: DataType.Boolean, value: (r) => r.verdict !== 'ok' },
  { name: 'Reason', datatype: DataType.String, value: (r) => r.reason },
  { name: 'Score', datatype: DataType.Double, value: (r) => r.score },
  { name: 'Threshold', datatype: DataType.Double, value: (r) => r.threshold },
  { name: 'Blob Count', datatype: DataType.Int32, value: (r) => r.blobs.length },
  { name: 'Largest Blob Area', datatype: DataType.Int32, value: largestBlob },
  { name: 'Latency ms', datatype: DataType.Double, value: (r) => r.latencyMs },
  { name: 'Model ID', datatype: DataType.String, value: (r) => r.modelId },
];

export interface MetricDef {
  name: string;
  alias: number;
  datatype: DataType;
}

/** Every metric of the node and its devices with its alias. */
export interface MetricCatalog {
  /** bdSeq, Node Control/Rebirth, Node Info/*, and per camera `Cameras/<id>/State` and its decision metrics. */
  node: MetricDef[];
  /** Per camera: State, the decision metrics, and Trigger when the camera takes software triggers. */
  devices: Map<string, MetricDef[]>;
}

export interface CatalogCamera {
  id: string;
  softwareTrigger: boolean;
}

export const NODE_MODEL_ID = 'Node Info/Model ID';
export const NODE_CAMERAS = 'Node Info/Cameras';

/** Node-level name of a camera's metric: its state, or a decision made while its device is dead. */
export const cameraMetric = (cameraId: string, name: string): string => `Cameras/${cameraId}/${name}`;

export function metricCatalog(cameras: readonly CatalogCamera[]): MetricCatalog {
  let alias = 0;
  const def = (name: string, datatype: DataType): MetricDef => ({ name, alias: alias++, datatype });
  const node = [
    def(BDSEQ, DataType.Int64),
    def(REBIRTH, DataType.Boolean),
    def(NODE_MODEL_ID, DataType.String),
    def(NODE_CAMERAS, DataType.String),
  ];
  for (const c of cameras) {
    node.push(def(cameraMetric(c.id, 'State'), DataType.String));
    for (const m of DECISION_METRICS) node.push(def(cameraMetric(c.id, m.name), m.datatype));
  }
  const devices = new Map<string, MetricDef[]>();
  for (const c of cameras) {
    const defs = [def('State', DataType.String), ...DECISION_METRICS.map((m) => def(m.name, m.datatype))];
    if (c.softwareTrigger) defs.push(def(TRIGGER, DataType.String));
    devices.set(c.id, defs);
  }
  return { node, devices };
}

/** Looks a metric up by name in a list of definitions; throws on a name that is not there (a bug here). */
export function metricDef(defs: readonly MetricDef[], name: string): MetricDef {
  const d = defs.find((m) => m.name === name);
  if (!d) throw new Error(`no Sparkplug metric ${name}`);
  return d;
}

/** Birth form: name, alias, datatype, value, timestamp. */
export function birthMetric(d: MetricDef, value: MetricValue, timestamp: number): SpMetric {
  return { name: d.name, alias: d.alias, timestamp, datatype: d.datatype, value };
}

/** Data form: alias only (Sparkplug 3.0: aliases after birth); the datatype stays off the wire. */
export function dataMetric(
  d: MetricDef,
  value: MetricValue,
  timestamp: number,
  historical: boolean,
): SpMetric {
  const m: SpMetric = { alias: d.alias, timestamp, datatype: d.datatype, value };
  if (historical) m.isHistorical = true;
  return m;
}
