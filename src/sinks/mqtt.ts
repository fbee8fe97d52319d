// The MQTT sink: results and reject signals out, PLC part triggers in, daemon and camera state retained.
//
// Delivery (see docs/mqtt.md): every result is appended to the on-disk outbox first and handed to mqtt.js
// only while connected, oldest first, with a bounded window in flight; it leaves the outbox when all its
// publishes completed (PUBACK for QoS 1, PUBCOMP for QoS 2, written for QoS 0). Messages in flight when the
// connection drops stay in mqtt.js's outgoing store, which replays them first on reconnect (before `connect`
// is emitted); only then does the outbox continue, so nothing is sent twice by us and order is kept. A result
// is sent again only after a crash or restart with it in flight: at-least-once at the MQTT level, exactly one
// decision per part from pinpoint.
import { hostname } from 'node:os';
import type { ErrorWithReasonCode, IClientOptions, MqttClient } from 'mqtt';
import mqtt from 'mqtt';
import type { Observable } from 'rxjs';
import { Subject } from 'rxjs';
import { cameraIdSchema } from '../config/schema.js';
import type { Config } from '../config/schema.js';
import { redactUrl } from '../config/redact.js';
import type { InspectionResult } from '../pipeline/result.js';
import type { SourceState } from '../sources/types.js';
import type { Logger } from '../util/log.js';
import { createLogThrottle } from '../util/log-throttle.js';
import { backoffDelay } from './mqtt-backoff.js';
import { mqttClientOptions } from './mqtt-options.js';
import { Outbox } from './mqtt-outbox.js';
import type { InfoPayload, StatusPayload } from './mqtt-payloads.js';
import { cameraStatePayload, rejectPayload, resultPayload } from './mqtt-payloads.js';
import type { PartTrigger } from './mqtt-trigger.js';
import { parseTrigger, triggerTopics } from './mqtt-trigger.js';
import type { Sink } from './types.js';

export type { PartTrigger } from './mqtt-trigger.js';

export interface MqttSinkStats {
  /** Results whose reject and result messages all completed, since start. */
  published: number;
  /** Results waiting in the outbox to be handed to MQTT. */
  queued: number;
  /** Results handed to MQTT and not yet acknowledged. */
  inFlight: number;
  /** Unacknowledged results in the outbox: queued + in flight (previous runs' included). */
  outboxSize: number;
  /** Oldest results dropped because the outbox was full. */
  outboxDropped: number;
  /** Results the outbox could not store (disk errors); published directly when connected, else lost. */
  outboxErrors: number;
  /** Publishes that failed (a broker refusal with an MQTT 5 reason code, e.g. not authorised); not retried. */
  publishErrors: number;
  /** Successful connections after the first. */
  reconnects: number;
  /** Valid triggers emitted on triggers$. */
  triggers: number;
  /** Trigger messages ignored: not JSON, wrong fields, camera mismatch, retained. */
  malformedTriggers: number;
  /** Trigger messages ignored because they name a camera that is not configured. */
  unknownCameraTriggers: number;
}

export interface MqttSink extends Sink {
  /** Valid PLC part triggers (hot; completes on stop()). */
  readonly triggers$: Observable<PartTrigger>;
  /** Connected to the broker, and mqtt.js's replay of in-flight messages is done. */
  readonly connected: boolean;
  /** The last connection error, cleared on connect (e.g. "Connection refused: Not authorized"). */
  readonly lastError: string | undefined;
  stats(): MqttSinkStats;
}

export interface MqttSinkOptions {
  log: Logger;
  /** Configured camera ids: triggers for other cameras are ignored. */
  cameras: string[];
  /** Published retained in `<prefix>/info`. */
  modelId?: string;
  /** stop(): how long to wait for queued results to be published (default 2000 ms). */
  stopTimeoutMs?: number;
  /** start(): how long to wait for the first connection before resolving anyway (default 5000 ms). */
  startTimeoutMs?: number;
}

export interface MqttTopics {
  status: string;
  info: string;
  result(camera: string): string;
  reject(camera: string): string;
  state(camera: string): string;
  trigger(camera: string): string;
  /** Trigger topic for all cameras (the camera goes in the payload). */
  triggerAll: string;
}

export function mqttTopics(prefix: string): MqttTopics {
  return {
    status: `${prefix}/status`,
    info: `${prefix}/info`,
    result: (c) => `${prefix}/${c}/result`,
    reject: (c) => `${prefix}/${c}/reject`,
    state: (c) => `${prefix}/${c}/state`,
    trigger: (c) => `${prefix}/${c}/trigger`,
    triggerAll: `${prefix}/trigger`,
  };
}

/** Messages per result: the reject signal, then the full result. */
const MESSAGES_PER_RESULT = 2;

/** A connection error as an operator reads it, with the config key to look at. */
function describeError(err: Error): string {
  const code = (err as ErrorWithReasonCode).code;
  const msg = err.message;
  if (/bad user ?name or password/i.test(msg) || code === 134 || code === 4) {
    return `${msg} (check mqtt.username / mqtt.password)`;
  }
  if (/not authori[sz]ed/i.test(msg))
    return `${msg} (check mqtt.username / mqtt.password and the broker ACL)`;
  if (/certificate|self[- ]signed|SSL|TLS|alert/i.test(msg))
    return `${msg} (check mqtt.tls and the url scheme)`;
  return msg;
}

interface Sending {
  left: number;
  qos: 0 | 1 | 2;
}

export function createMqttSink(cfg: Config['mqtt'], opts: MqttSinkOptions): MqttSink {
  const log = opts.log.child({ sink: 'mqtt' });
  const throttle = createLogThrottle(log);
  const topics = mqttTopics(cfg.topicPrefix);
  const cameras = new Set(opts.cameras);
  const where = redactUrl(cfg.url);
  const stopTimeoutMs = opts.stopTimeoutMs ?? 2000;
  const startTime = Date.now();
  const triggers = new Subject<PartTrigger>();
  const states = new Map<string, string>(); // camera → last state payload
  const sending = new Map<number, Sending>(); // outbox seq → publishes left
  const st = {
    published: 0,
    outboxErrors: 0,
    publishErrors: 0,
    reconnects: 0,
    triggers: 0,
    malformedTriggers: 0,
    unknownCameraTriggers: 0,
  };
  let outbox: Outbox<InspectionResult> | undefined;
  let client: MqttClient | undefined;
  let connected = false;
  let everConnected = false;
  let lastError: string | undefined;
  let lastLoggedError: string | undefined;
  let attempt = 0;
  let maxInFlight = 32; // messages in flight at most; the broker's receive maximum when it announces one
  let inflightMsgs = 0;
  let closed = false;
  let stopPromise: Promise<void> | undefined;
  /** Set while start() waits: called once the first trigger subscription is acknowledged. */
  let ready: (() => void) | undefined;

  const random = (): number => Math.random();

  function done(seq: number): void {
    sending.delete(seq);
    outbox?.ack(seq);
    st.published++;
  }

  function onPublished(seq: number, err?: Error): void {
    const s = sending.get(seq);
    if (!s) return;
    inflightMsgs--;
    if (err) {
      if (closed) {
        // mqtt.js gave up on it because we are ending the client: it stays in the outbox for the next start.
        sending.delete(seq);
        return;
      }
      // A broker refusal (MQTT 5 reason code) or a client-side failure: retrying will not help, and an entry
      // stuck in flight would pin every later one on disk. Counted, logged, and let go.
      st.publishErrors++;
      const code = (err as ErrorWithReasonCode).code;
      throttle.warn('publish-failed', { err: err.message, code }, 'publish failed; not retried');
    }
    if (--s.left === 0) done(seq);
    pump();
  }

  function publishEntry(seq: number, r: InspectionResult): void {
    const c = client as MqttClient;
    const qos = cfg.qos;
    sending.set(seq, { left: MESSAGES_PER_RESULT, qos });
    inflightMsgs += MESSAGES_PER_RESULT;
    // Reject first: it is what the line acts on.
    c.publish(topics.reject(r.cameraId), rejectPayload(r, cfg.rejectPayload), { qos }, (err) =>
      onPublished(seq, err),
    );
    c.publish(topics.result(r.cameraId), resultPayload(r, Date.now()), { qos }, (err) =>
      onPublished(seq, err),
    );
  }

  function pump(): void {
    if (!connected || !outbox || closed) return;
    while (inflightMsgs + MESSAGES_PER_RESULT <= maxInFlight) {
      const e = outbox.next();
      if (!e) break;
      publishEntry(e.seq, e.item);
    }
  }

  /** Retained QoS 1 state messages; not queued: only the latest value matters and it is resent on connect. */
  function publishRetained(topic: string, payload: string): Promise<boolean> {
    return new Promise((resolve) => {
      if (!client || !connected) return resolve(false);
      client.publish(topic, payload, { qos: 1, retain: true }, (err) => {
        if (err) throttle.warn('retained', { topic, err: err.message }, 'retained publish failed');
        resolve(!err);
      });
    });
  }

  function onConnect(): void {
    const c = client as MqttClient;
    connected = true;
    if (everConnected) st.reconnects++;
    everConnected = true;
    attempt = 0;
    c.options.reconnectPeriod = backoffDelay(attempt++, cfg.reconnect, random());
    lastError = undefined;
    lastLoggedError = undefined;
    const receiveMax = c.serverProperties?.receiveMaximum;
    // Leave room for the retained state messages so we never exceed the broker's receive maximum.
    const announced = receiveMax ? receiveMax - 2 - states.size : 32;
    maxInFlight = Math.max(MESSAGES_PER_RESULT, Math.min(64, announced));
    log.info({ url: where, reconnects: st.reconnects, outbox: outbox?.size ?? 0 }, 'MQTT connected');
    void publishRetained(topics.status, 'online' satisfies StatusPayload);
    const info: InfoPayload = {
      v: 1,
      modelId: opts.modelId ?? null,
      cameras: [...cameras],
      host: hostname(),
      pid: process.pid,
      startTime,
    };
    void publishRetained(topics.info, JSON.stringify(info));
    for (const [cam, payload] of states) void publishRetained(topics.state(cam), payload);
    c.subscribe(triggerTopics(cfg.topicPrefix), { qos: 1 }, (err) => {
      if (err) log.error({ err: err.message }, 'MQTT: could not subscribe to trigger topics');
      ready?.();
    });
    pump();
  }

  function onClose(): void {
    const c = client as MqttClient;
    if (connected) {
      log.warn(
        { url: where, inFlight: outbox?.inFlight ?? 0 },
        'MQTT connection lost; results wait in the outbox',
      );
    }
    connected = false;
    // QoS 0 messages given to a dead socket are gone (at-most-once): do not wait for their callbacks.
    for (const [seq, s] of sending) {
      if (s.qos === 0) {
        inflightMsgs -= s.left;
        done(seq);
      }
    }
    // mqtt.js has already armed the next attempt with the current period; this one is for the attempt after.
    c.options.reconnectPeriod = backoffDelay(attempt++, cfg.reconnect, random());
  }

  function onError(err: Error): void {
    lastError = describeError(err);
    // Each distinct problem once at warn; the same one repeating every backoff at debug.
    if (lastError !== lastLoggedError) {
      lastLoggedError = lastError;
      log.warn({ url: where, err: lastError }, 'MQTT connection problem; retrying with backoff');
    } else {
      log.debug({ url: where, err: lastError }, 'MQTT connection problem persists');
    }
  }

  function onMessage(topic: string, payload: Buffer, packet: { retain?: boolean }): void {
    try {
      if (packet.retain) {
        // A retained trigger would re-fire on every resubscribe: it can only name a stale part.
        st.malformedTriggers++;
        throttle.warn('trigger-retained', { topic }, 'retained trigger ignored');
        return;
      }
      const p = parseTrigger(cfg.topicPrefix, topic, payload, cameras, Date.now());
      if (!p.ok) {
        if (p.kind === 'unknown-camera') st.unknownCameraTriggers++;
        else st.malformedTriggers++;
        throttle.warn(`trigger-${p.kind}`, { topic, reason: p.reason }, 'trigger ignored');
        return;
      }
      st.triggers++;
      triggers.next(p.trigger);
    } catch (err) {
      // A subscriber's exception must not take the MQTT client down.
      log.error({ err }, 'trigger handling failed');
    }
  }

  async function start(): Promise<void> {
    if (client) return;
    outbox = new Outbox<InspectionResult>({
      dir: cfg.outbox.dir,
      maxMessages: cfg.outbox.maxMessages,
      log,
    });
    const options: IClientOptions = {
      ...mqttClientOptions(cfg),
      clientId: cfg.clientId ?? `pinpoint-${hostname()}-${process.pid}`,
      clean: true,
      // We subscribe on every connect ourselves (clean sessions), after status and state.
      resubscribe: false,
      reconnectPeriod: backoffDelay(attempt++, cfg.reconnect, random()),
      // A refused connection (bad password, ACL) may be fixed on the broker side: keep trying, with backoff.
      reconnectOnConnackError: true,
      connectTimeout: 10_000,
      queueQoSZero: false,
      will: {
        topic: topics.status,
        payload: Buffer.from('offline' satisfies StatusPayload),
        qos: 1,
        retain: true,
      },
    };
    const c = mqtt.connect(cfg.url, options);
    client = c;
    c.on('connect', onConnect);
    c.on('close', onClose);
    c.on('error', onError);
    c.on('message', onMessage);
    const startTimeoutMs = opts.startTimeoutMs ?? 5000;
    await new Promise<void>((resolve) => {
      // Ready = connected with the trigger subscription in place (a trigger sent right after start() counts).
      const finish = (): void => {
        clearTimeout(timer);
        ready = undefined;
        c.off('close', finish);
        resolve();
      };
      const timer = setTimeout(finish, startTimeoutMs);
      ready = finish;
      c.once('close', finish);
    });
    if (!connected)
      log.warn({ url: where, err: lastError }, 'MQTT broker not reachable yet; results wait in the outbox');
  }

  function result(r: InspectionResult): void {
    if (!outbox || closed) {
      throttle.warn(
        'not-running',
        { partId: r.partId },
        'result while the MQTT sink is not running: not published',
      );
      return;
    }
    let dropped = 0;
    try {
      dropped = outbox.append(r);
    } catch (err) {
      st.outboxErrors++;
      throttle.warn('outbox-write', { err: (err as Error).message }, 'outbox write failed');
      // Delivering late and out of order beats losing a decision; without a connection it is lost.
      if (connected && client) {
        client.publish(topics.reject(r.cameraId), rejectPayload(r, cfg.rejectPayload), { qos: cfg.qos });
        client.publish(topics.result(r.cameraId), resultPayload(r, Date.now()), { qos: cfg.qos });
      }
      return;
    }
    if (dropped > 0) {
      throttle.warn(
        'outbox-full',
        { dropped: outbox.dropped, maxMessages: cfg.outbox.maxMessages },
        'outbox full: dropped the oldest results',
      );
    }
    pump();
  }

  function cameraState(cameraId: string, state: SourceState, detail?: string): void {
    if (!cameraIdSchema.safeParse(cameraId).success) {
      throttle.warn('bad-camera-id', { cameraId }, 'camera state for an id that is not topic-safe ignored');
      return;
    }
    const payload = cameraStatePayload(state, detail, Date.now());
    states.set(cameraId, payload);
    if (connected) void publishRetained(topics.state(cameraId), payload);
  }

  async function waitUntil(pred: () => boolean, deadline: number): Promise<void> {
    while (!pred() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  }

  async function endClient(c: MqttClient, graceful: boolean): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        c.stream?.destroy();
        resolve();
      }, 1000);
      c.end(!graceful, {}, () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  async function stop(): Promise<void> {
    stopPromise ??= (async () => {
      const ob = outbox;
      const c = client;
      // Without a connection there is nothing to wait for: what is left stays in the outbox for the next start.
      if (ob && c) await waitUntil(() => ob.size === 0 || !connected, Date.now() + stopTimeoutMs);
      triggers.complete();
      let said = false;
      // `stopped` replaces the retained `online`; a DISCONNECT then makes the broker discard the last will.
      if (c && connected)
        said = await Promise.race([
          publishRetained(topics.status, 'stopped' satisfies StatusPayload),
          new Promise<boolean>((r) => setTimeout(() => r(false), 1000)),
        ]);
      closed = true;
      if (c) {
        c.removeListener('connect', onConnect);
        await endClient(c, said && inflightMsgs === 0);
      }
      const left = ob?.size ?? 0;
      ob?.close();
      log.info({ published: st.published, leftInOutbox: left }, 'MQTT sink stopped');
    })();
    return stopPromise;
  }

  return {
    name: 'mqtt',
    triggers$: triggers.asObservable(),
    get connected() {
      return connected;
    },
    get lastError() {
      return lastError;
    },
    start,
    result,
    cameraState,
    stop,
    stats() {
      return {
        ...st,
        queued: outbox?.waiting ?? 0,
        inFlight: outbox?.inFlight ?? 0,
        outboxSize: outbox?.size ?? 0,
        outboxDropped: outbox?.dropped ?? 0,
      };
    },
  };
}
