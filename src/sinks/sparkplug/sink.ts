// The Sparkplug B sink: pinpoint as one Sparkplug 3.0 edge node on its own MQTT connection (docs/sparkplug.md).
// The rules live in the pure EdgeNode (edge-node.ts); this file does the I/O around it:
// - the connection, with the NDEATH of the session's bdSeq as its will (QoS 1, not retained); the bdSeq goes
//   up by one per session and is persisted (bdseq.ts), the will is re-armed with it when a session ends;
// - births once subscribed to NCMD/DCMD (and, with primaryHostId, once that host's STATE says online; again
//   when it comes back), then the backlog of decisions from the outbox, then new ones;
// - decisions go through the on-disk DecisionOutbox (delivery.ts), confirmed per window by a SUBSCRIBE's
//   SUBACK (DDATA is QoS 0) and handed out again after the next births when a session ends;
// - NCMD Rebirth → births again; DCMD Trigger of a software-triggered camera → triggers$; other writes are
//   refused and logged; a clean stop publishes NDEATH before disconnecting.
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { IClientOptions, MqttClient } from 'mqtt';
import mqtt from 'mqtt';
import type { Observable } from 'rxjs';
import { Subject } from 'rxjs';
import type { Config } from '../../config/schema.js';
import { redactUrl } from '../../config/redact.js';
import type { InspectionResult } from '../../pipeline/result.js';
import type { SourceState } from '../../sources/types.js';
import type { Logger } from '../../util/log.js';
import { createLogThrottle } from '../../util/log-throttle.js';
import { backoffDelay } from '../mqtt-backoff.js';
import { mqttClientOptions } from '../mqtt-options.js';
import type { PartTrigger } from '../mqtt-trigger.js';
import type { Sink } from '../types.js';
import { BdSeqStore } from './bdseq.js';
import type { SparkplugCodec } from './codec.js';
import { loadCodec } from './codec.js';
import type { Inbound } from './commands.js';
import { readInbound } from './commands.js';
import type { DeliveryLink } from './delivery.js';
import { DecisionOutbox } from './delivery.js';
import { EdgeNode } from './edge-node.js';
import type { HostState } from './host-state.js';
import { isNewer } from './host-state.js';
import type { CatalogCamera } from './metrics.js';
import type { SpMessage } from './payload.js';
import { spTopic } from './payload.js';

export interface SparkplugSinkStats {
  /** Decisions published (DDATA, or NDATA for a camera whose device is dead) and confirmed by the broker. */
  published: number;
  /** Decisions in the outbox, not yet confirmed (previous runs' included). */
  outboxSize: number;
  outboxDropped: number;
  /** Node births sent (first, after reconnects, for rebirth commands and a returning primary host). */
  births: number;
  reconnects: number;
  triggers: number;
  /** Command metrics refused (not writable, bad value, camera without software trigger) or undecodable. */
  refusedCommands: number;
}

export interface SparkplugSink extends Sink {
  /** A hot swap put another model in force: the node's Model ID metric follows (NDATA now, later births). */
  modelChanged(modelId: string): void;
  /** Part triggers written by a host to a camera's `Trigger` metric (hot; completes on stop()). */
  readonly triggers$: Observable<PartTrigger>;
  /** Births sent in the current session: decisions are flowing. */
  readonly online: boolean;
  /** The bdSeq of the current (or next) session. */
  readonly bdSeq: number;
  stats(): SparkplugSinkStats;
}

export interface SparkplugSinkOptions {
  log: Logger;
  cameras: CatalogCamera[];
  modelId: string;
  /** stop(): how long to wait for the outbox to drain (default 2000 ms). */
  stopTimeoutMs?: number;
  /** start(): how long to wait for the births before resolving anyway (default 5000 ms). */
  startTimeoutMs?: number;
}

export function createSparkplugSink(cfg: Config['mqtt'], opts: SparkplugSinkOptions): SparkplugSink {
  const sp = cfg.sparkplug;
  if (!sp.groupId || !sp.edgeNodeId) throw new Error('mqtt.sparkplug needs groupId and edgeNodeId');
  const groupId = sp.groupId;
  const edgeNodeId = sp.edgeNodeId;
  const log = opts.log.child({ sink: 'sparkplug' });
  const throttle = createLogThrottle(log);
  const where = redactUrl(cfg.url);
  const node = new EdgeNode({ groupId, edgeNodeId, cameras: opts.cameras, modelId: opts.modelId });
  const bdSeqs = new BdSeqStore(join(sp.dir, 'bdseq'));
  const ncmd = spTopic(groupId, 'NCMD', edgeNodeId);
  const dcmd = `${spTopic(groupId, 'DCMD', edgeNodeId)}/+`;
  const stateTopic = sp.primaryHostId ? `spBv1.0/STATE/${sp.primaryHostId}` : undefined;
  const triggers = new Subject<PartTrigger>();
  const st = { births: 0, reconnects: 0, triggers: 0, refusedCommands: 0 };
  let codec: SparkplugCodec | undefined;
  let outbox: DecisionOutbox | undefined;
  let client: MqttClient | undefined;
  let bdSeq = 0;
  let connected = false;
  let everConnected = false;
  let subscribed = false;
  let host: HostState | undefined;
  let attempt = 0;
  let closed = false;
  let onBirth: (() => void) | undefined;
  let stopPromise: Promise<void> | undefined;

  const willOf = (seq: number): IClientOptions['will'] => ({
    topic: spTopic(groupId, 'NDEATH', edgeNodeId),
    payload: Buffer.from((codec as SparkplugCodec).encode(node.death(seq, Date.now()).payload)),
    qos: 1,
    retain: false,
  });

  function send(msgs: SpMessage[]): void {
    const c = client;
    if (!c || !codec) return;
    for (const m of msgs) {
      c.publish(m.topic, Buffer.from(codec.encode(m.payload)), { qos: 0, retain: false }, (err) => {
        if (err && !closed) throttle.warn('publish', { topic: m.topic, err: err.message }, 'publish failed');
      });
    }
  }

  function goOnline(): void {
    if (!connected || !subscribed || node.isOnline || closed) return;
    if (stateTopic && !host?.online) return;
    send(node.birth(bdSeq, Date.now()));
    st.births++;
    log.info({ bdSeq, devices: node.liveDevices, outbox: outbox?.size ?? 0 }, 'Sparkplug births sent');
    onBirth?.();
    pump();
  }

  const link: DeliveryLink = {
    ready: () => node.isOnline && !closed,
    send(r) {
      const msgs = node.decision(r);
      if (msgs.length === 0) throttle.warn('unknown-camera', { camera: r.cameraId }, 'decision dropped');
      send(msgs);
    },
    barrier(done) {
      const c = client as MqttClient;
      // Its own NCMD topic again: a no-op for the broker, and its SUBACK comes after every earlier PUBLISH.
      c.subscribe(ncmd, { qos: 1 }, (err) => done(!err && c === client && connected));
    },
  };

  /** Hands decisions to MQTT while the node is born. */
  function pump(): void {
    outbox?.pump(link);
  }

  function onConnect(): void {
    const c = client as MqttClient;
    connected = true;
    if (everConnected) st.reconnects++;
    everConnected = true;
    attempt = 0;
    c.options.reconnectPeriod = backoffDelay(attempt++, cfg.reconnect, Math.random());
    log.info({ url: where, bdSeq, reconnects: st.reconnects }, 'Sparkplug MQTT connected');
    // Sparkplug 3.0: subscribe to commands (and the primary host's state) before the births.
    const topics = [ncmd, dcmd, ...(stateTopic ? [stateTopic] : [])];
    c.subscribe(topics, { qos: 1 }, (err) => {
      if (c !== client || !connected) return;
      if (err) log.error({ err: err.message }, 'Sparkplug: could not subscribe to commands');
      subscribed = true;
      goOnline();
    });
  }

  function onClose(): void {
    const c = client as MqttClient;
    const wasConnected = connected;
    connected = false;
    subscribed = false;
    if (closed) return;
    c.options.reconnectPeriod = backoffDelay(attempt++, cfg.reconnect, Math.random());
    if (!wasConnected) return;
    node.offline();
    // Unconfirmed decisions are handed out again, after the next births.
    outbox?.rewind();
    // The session is over: the broker has published (or will publish) its will. The next one gets a new bdSeq.
    bdSeq = bdSeqs.next();
    c.options.will = willOf(bdSeq);
    log.warn(
      { url: where, nextBdSeq: bdSeq, outbox: outbox?.size ?? 0 },
      'Sparkplug connection lost; decisions wait',
    );
  }

  function onMessage(topic: string, payload: Buffer, packet: { retain?: boolean }): void {
    try {
      const ctx = { codec: codec as SparkplugCodec, catalog: node.catalog, ncmd, stateTopic };
      for (const a of readInbound(topic, payload, packet.retain === true, ctx)) apply(a);
    } catch (err) {
      // A subscriber's exception must not take the MQTT client down.
      log.error({ err }, 'Sparkplug command handling failed');
    }
  }

  function apply(a: Inbound): void {
    if (a.kind === 'refused') return refuse(a);
    if (a.kind === 'host') return onHostState(a.state);
    if (a.kind === 'rebirth') {
      log.info('Sparkplug rebirth requested');
      if (!node.isOnline) return;
      send(node.rebirth(Date.now()));
      st.births++;
      return;
    }
    st.triggers++;
    triggers.next({ cameraId: a.cameraId, partId: a.partId, time: Date.now() });
  }

  function refuse(cmd: { reason: string }): void {
    st.refusedCommands++;
    throttle.warn('command-refused', { reason: cmd.reason }, 'Sparkplug command refused');
  }

  function onHostState(s: HostState): void {
    if (!isNewer(s, host)) return;
    const was = host?.online ?? false;
    host = s;
    if (s.online && !was) {
      log.info({ host: sp.primaryHostId }, 'Sparkplug primary host online');
      goOnline();
    } else if (!s.online && was) {
      // Nothing is published while the host is away; the births go out again when it is back.
      log.warn({ host: sp.primaryHostId }, 'Sparkplug primary host offline; decisions wait');
      node.offline();
    }
  }

  async function start(): Promise<void> {
    if (client) return;
    codec = await loadCodec();
    outbox = new DecisionOutbox({ dir: join(sp.dir, 'outbox'), maxMessages: cfg.outbox.maxMessages, log });
    bdSeq = bdSeqs.next();
    const c = mqtt.connect(cfg.url, {
      ...mqttClientOptions(cfg),
      clientId: `${cfg.clientId ?? `pinpoint-${hostname()}-${process.pid}`}-spb`,
      clean: true,
      resubscribe: false,
      reconnectPeriod: backoffDelay(attempt++, cfg.reconnect, Math.random()),
      reconnectOnConnackError: true,
      connectTimeout: 10_000,
      queueQoSZero: false,
      will: willOf(bdSeq),
    });
    client = c;
    c.on('connect', onConnect);
    c.on('close', onClose);
    c.on('error', (err) =>
      throttle.warn('connect', { url: where, err: err.message }, 'Sparkplug MQTT problem'),
    );
    c.on('message', onMessage);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, opts.startTimeoutMs ?? 5000);
      function done(): void {
        clearTimeout(timer);
        onBirth = undefined;
        resolve();
      }
      onBirth = done;
    });
    if (!node.isOnline) log.warn({ url: where, primaryHost: sp.primaryHostId }, 'Sparkplug not online yet');
  }

  function result(r: InspectionResult): void {
    if (!outbox || closed)
      return throttle.warn('not-running', { partId: r.partId }, 'Sparkplug sink not running');
    try {
      if (outbox.append(r) > 0)
        throttle.warn('outbox-full', { dropped: outbox.dropped }, 'Sparkplug outbox full');
    } catch (err) {
      // Late beats lost: publish it directly when we can (it is then not replayed after a cut).
      throttle.warn('outbox-write', { err: (err as Error).message }, 'Sparkplug outbox write failed');
      send(node.decision(r));
      return;
    }
    pump();
  }

  function cameraState(cameraId: string, state: SourceState): void {
    send(node.cameraState(cameraId, state, Date.now()));
  }

  function modelChanged(modelId: string): void {
    if (closed) return;
    send(node.modelChanged(modelId, Date.now()));
    log.info({ modelId }, 'Sparkplug model id updated');
  }

  async function stop(): Promise<void> {
    stopPromise ??= (async () => {
      const c = client;
      const until = Date.now() + (opts.stopTimeoutMs ?? 2000);
      while (outbox && outbox.size > 0 && node.isOnline && Date.now() < until) await sleep(10);
      triggers.complete();
      closed = true;
      if (c && connected && codec) {
        // A clean stop says so itself; the DISCONNECT that follows makes the broker drop the will.
        const death = node.death(bdSeq, Date.now());
        await Promise.race([
          c
            .publishAsync(death.topic, Buffer.from(codec.encode(death.payload)), { qos: 1 })
            .catch(() => undefined),
          sleep(1000),
        ]);
      }
      if (c) await endClient(c);
      const left = outbox?.size ?? 0;
      outbox?.close();
      log.info({ published: outbox?.published ?? 0, leftInOutbox: left }, 'Sparkplug sink stopped');
    })();
    return stopPromise;
  }

  return {
    name: 'sparkplug',
    triggers$: triggers.asObservable(),
    get online() {
      return node.isOnline;
    },
    get bdSeq() {
      return bdSeq;
    },
    start,
    result,
    cameraState,
    modelChanged,
    stop,
    stats: () => ({
      ...st,
      published: outbox?.published ?? 0,
      outboxSize: outbox?.size ?? 0,
      outboxDropped: outbox?.dropped ?? 0,
    }),
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function endClient(c: MqttClient): Promise<void> {
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      c.stream?.destroy();
      resolve();
    }, 1000);
    c.end(false, {}, () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
