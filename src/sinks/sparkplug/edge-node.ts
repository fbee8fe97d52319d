// The Sparkplug B 3.0 edge node as a pure state machine: events in (session up, camera state, decision,
// rebirth, session lost), Sparkplug messages out. No I/O and no clock: the sink (sink.ts) owns the MQTT
// connection, the outbox and time, so every rule below is unit-tested exactly (test/sparkplug-edge-node.test.ts).
//
// Rules (Sparkplug 3.0): NBIRTH has seq 0 and the bdSeq of the session's will (NDEATH); every later message of
// the node, device messages included, takes the next seq mod 256; NDEATH carries no seq. Each camera is a
// device: DBIRTH when it streams (after the NBIRTH), DDEATH when it stops, stalls or fails, DDATA per decision;
// a hot swap's new model id goes out as an NDATA of `Node Info/Model ID`.
// A decision for a camera whose device is dead (a part's fail-safe verdict while its camera is down) goes out
// at node level under `Cameras/<id>/`, since no DDATA may follow a DDEATH. Data messages carry aliases only.
import type { InspectionResult } from '../../pipeline/result.js';
import type { SourceState } from '../../sources/types.js';
import type { CatalogCamera, MetricCatalog, MetricDef } from './metrics.js';
import {
  BDSEQ,
  DECISION_METRICS,
  NODE_CAMERAS,
  NODE_MODEL_ID,
  REBIRTH,
  TRIGGER,
  birthMetric,
  cameraMetric,
  dataMetric,
  metricCatalog,
  metricDef,
} from './metrics.js';
import type { SpMessage, SpMessageType, SpMetric } from './payload.js';
import { spTopic } from './payload.js';

export interface EdgeNodeOptions {
  groupId: string;
  edgeNodeId: string;
  cameras: readonly CatalogCamera[];
  modelId: string;
}

export class EdgeNode {
  readonly catalog: MetricCatalog;
  private nextSeq = 0;
  private online = false;
  private bdSeq = 0;
  private birthTime = 0;
  private readonly states = new Map<string, SourceState>();
  private readonly born = new Set<string>();
  private readonly last = new Map<string, InspectionResult>();
  private modelId: string;

  constructor(private readonly o: EdgeNodeOptions) {
    this.catalog = metricCatalog(o.cameras);
    this.modelId = o.modelId;
  }

  /** Births sent and the session not lost since: messages may be published. */
  get isOnline(): boolean {
    return this.online;
  }

  /** Devices born in this session. */
  get liveDevices(): string[] {
    return [...this.born];
  }

  /** The NDEATH of a session with this bdSeq: registered as the MQTT will, and sent on a clean stop. */
  death(bdSeq: number, now: number): SpMessage {
    const d = metricDef(this.catalog.node, BDSEQ);
    return {
      type: 'NDEATH',
      topic: this.topic('NDEATH'),
      payload: {
        timestamp: now,
        metrics: [{ name: d.name, timestamp: now, datatype: d.datatype, value: bdSeq }],
      },
    };
  }

  /** Session up (or a rebirth): NBIRTH with seq 0 and this bdSeq, then a DBIRTH per streaming camera. */
  birth(bdSeq: number, now: number): SpMessage[] {
    this.bdSeq = bdSeq;
    this.birthTime = now;
    this.online = true;
    this.nextSeq = 0;
    this.born.clear();
    const out = [this.nbirth(now)];
    for (const c of this.o.cameras)
      if (this.states.get(c.id) === 'streaming') out.push(this.dbirth(c.id, now));
    return out;
  }

  /** NCMD Node Control/Rebirth: the births again, same session, same bdSeq. Nothing when offline. */
  rebirth(now: number): SpMessage[] {
    return this.online ? this.birth(this.bdSeq, now) : [];
  }

  /** Session lost (connection closed, or the primary host went offline): nothing is born any more. */
  offline(): void {
    this.online = false;
    this.born.clear();
  }

  /** A camera's source state: `Cameras/<id>/State` on the node, and the device's birth or death. */
  cameraState(cameraId: string, state: SourceState, now: number): SpMessage[] {
    if (!this.catalog.devices.has(cameraId) || this.states.get(cameraId) === state) return [];
    this.states.set(cameraId, state);
    if (!this.online) return [];
    const d = metricDef(this.catalog.node, cameraMetric(cameraId, 'State'));
    const out = [this.message('NDATA', now, [dataMetric(d, state, now, false)])];
    if (state === 'streaming' && !this.born.has(cameraId)) out.push(this.dbirth(cameraId, now));
    if (state !== 'streaming' && this.born.has(cameraId)) {
      this.born.delete(cameraId);
      out.push(this.message('DDEATH', now, [], cameraId));
    }
    return out;
  }

  /**
   * A hot swap put another model in force: `Node Info/Model ID` in an NDATA (a host keeps the value it was born
   * with until told), and in every later NBIRTH. Nothing while offline (the next births carry it) or unchanged.
   */
  modelChanged(modelId: string, now: number): SpMessage[] {
    if (modelId === this.modelId) return [];
    this.modelId = modelId;
    if (!this.online) return [];
    const d = metricDef(this.catalog.node, NODE_MODEL_ID);
    return [this.message('NDATA', now, [dataMetric(d, modelId, now, false)])];
  }

  /**
   * A decision: DDATA of its camera's device, or NDATA under `Cameras/<id>/` while the device is dead.
   * Timed at the decision; marked historical when decided before the current birth (sent from the backlog).
   * Nothing for an unknown camera or while offline (the sink keeps it in the outbox until births are out).
   */
  decision(r: InspectionResult): SpMessage[] {
    const defs = this.catalog.devices.get(r.cameraId);
    if (!defs || !this.online) return [];
    this.last.set(r.cameraId, r);
    const t = r.decideTime;
    const historical = t < this.birthTime;
    if (this.born.has(r.cameraId)) {
      const metrics = DECISION_METRICS.map((m) =>
        dataMetric(metricDef(defs, m.name), m.value(r), t, historical),
      );
      return [this.message('DDATA', t, metrics, r.cameraId)];
    }
    const metrics = DECISION_METRICS.map((m) =>
      dataMetric(metricDef(this.catalog.node, cameraMetric(r.cameraId, m.name)), m.value(r), t, historical),
    );
    return [this.message('NDATA', t, metrics)];
  }

  private nbirth(now: number): SpMessage {
    const node = this.catalog.node;
    const value = (d: MetricDef): SpMetric['value'] => {
      if (d.name === BDSEQ) return this.bdSeq;
      if (d.name === REBIRTH) return false;
      if (d.name === NODE_MODEL_ID) return this.modelId;
      if (d.name === NODE_CAMERAS) return this.o.cameras.map((c) => c.id).join(',');
      const state = /^Cameras\/(.+)\/State$/.exec(d.name);
      if (state) return this.states.get(state[1]) ?? 'connecting';
      return null; // a dead camera's decision: none yet in this session
    };
    return this.message(
      'NBIRTH',
      now,
      node.map((d) => birthMetric(d, value(d), now)),
    );
  }

  private dbirth(cameraId: string, now: number): SpMessage {
    this.born.add(cameraId);
    const defs = this.catalog.devices.get(cameraId) as MetricDef[];
    const last = this.last.get(cameraId);
    const metrics = defs.map((d) => {
      if (d.name === 'State') return birthMetric(d, 'streaming', now);
      if (d.name === TRIGGER) return birthMetric(d, '', now);
      const m = DECISION_METRICS.find((x) => x.name === d.name);
      return birthMetric(d, last && m ? m.value(last) : null, last?.decideTime ?? now);
    });
    return this.message('DBIRTH', now, metrics, cameraId);
  }

  private message(type: SpMessageType, timestamp: number, metrics: SpMetric[], deviceId?: string): SpMessage {
    const seq = this.nextSeq;
    this.nextSeq = (seq + 1) % 256;
    const m: SpMessage = { type, topic: this.topic(type, deviceId), payload: { timestamp, seq, metrics } };
    if (deviceId !== undefined) m.deviceId = deviceId;
    return m;
  }

  private topic(type: string, deviceId?: string): string {
    return spTopic(this.o.groupId, type, this.o.edgeNodeId, deviceId);
  }
}
