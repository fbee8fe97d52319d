// The MQTT sink: results and reject signals out, PLC part triggers in, daemon and camera state retained.
// This file only connects its parts, each the owner of its own state:
//   MqttConnection (client, will, backoff, errors) · OutboxDelivery (outbox → in-flight window) ·
//   RetainedState (status, info, camera states) · TriggerInbox (parse, count, triggers$) · StatsPublisher ·
//   CommandInbox (`<prefix>/cmd/…`, answered on `<prefix>/cmd/response`).
//
// Delivery (see docs/mqtt.md): every result is appended to the on-disk outbox first and handed to mqtt.js
// only while connected, oldest first, with a bounded window in flight; it leaves the outbox when all its
// publishes completed. Messages in flight when the connection drops stay in mqtt.js's outgoing store, which
// replays them first on reconnect (before `connect` is emitted); only then does the outbox continue, so nothing
// is sent twice by us and order is kept. A result is sent again only after a crash or restart with it in
// flight: at-least-once at the MQTT level, exactly one decision per part from pinpoint.
import { resolve } from 'node:path';
import type { Observable } from 'rxjs';
import type { Config } from '../config/schema.js';
import type { InspectionResult } from '../pipeline/result.js';
import type { SourceState } from '../sources/types.js';
import type { Logger } from '../util/log.js';
import { createLogThrottle } from '../util/log-throttle.js';
import { MqttConnection } from './mqtt-connection.js';
import { OutboxDelivery } from './mqtt-delivery.js';
import type { StatusPayload } from './mqtt-payloads.js';
import { RetainedState } from './mqtt-retained.js';
import { ReteachPublisher } from './mqtt-reteach.js';
import type { ReteachHandle } from './reteach-view.js';
import { StatsPublisher } from './mqtt-stats.js';
import type { PartTrigger } from './mqtt-trigger.js';
import { TriggerInbox } from './mqtt-trigger-inbox.js';
import { CommandInbox } from './mqtt-commands.js';
import type { CommandRegistry } from './command-registry.js';
import { mqttTopics } from './mqtt-topics.js';
import type { DaemonStatus } from './daemon-status.js';
import type { Sink, SinkPlugin } from './types.js';

export type { PartTrigger } from './mqtt-trigger.js';
export { mqttTopics } from './mqtt-topics.js';
export type { MqttTopics } from './mqtt-topics.js';

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
  /** Commands run and answered ok (mqtt-commands.ts). */
  commands: number;
  /** Commands refused or failed, each answered with ok: false. */
  refusedCommands: number;
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
  /** The daemon's shared state: its model id wins over `modelId`, and it feeds `<prefix>/stats`. */
  status?: DaemonStatus;
  /** stop(): how long to wait for queued results to be published (default 2000 ms). */
  stopTimeoutMs?: number;
  /** start(): how long to wait for the first connection before resolving anyway (default 5000 ms). */
  startTimeoutMs?: number;
  /** Handlers of `<prefix>/cmd/…` (mqtt.commands); absent: every command is answered as unknown. */
  commands?: CommandRegistry;
  /** The daemon's re-teach (read at start()): its state is retained on `<prefix>/reteach`. */
  reteach?: () => ReteachHandle | undefined;
}

export function createMqttSink(cfg: Config['mqtt'], opts: MqttSinkOptions): MqttSink {
  const log = opts.log.child({ sink: 'mqtt' });
  const throttle = createLogThrottle(log);
  const topics = mqttTopics(cfg.topicPrefix);
  const conn = new MqttConnection(
    cfg,
    { topic: topics.status, payload: 'offline' satisfies StatusPayload },
    log,
  );
  const delivery = new OutboxDelivery(conn, cfg, topics, log, throttle);
  const modelId = (): string | null => opts.status?.modelId ?? opts.modelId ?? null;
  const retained = new RetainedState(conn, topics, opts.cameras, modelId, throttle, opts.status);
  const offModel = opts.status?.onModelChange(() => retained.info());
  const fixed = new Set(opts.cameras);
  const running = opts.status ? { has: (id: string) => opts.status!.hasCamera(id) } : fixed;
  const inbox = new TriggerInbox(conn, cfg, running, log, throttle);
  const commands = new CommandInbox(conn, cfg, opts.commands, log, throttle);
  const stats = (): MqttSinkStats => {
    const ob = delivery.outboxRef;
    return {
      ...delivery.st,
      reconnects: conn.reconnects,
      ...inbox.st,
      ...commands.st,
      queued: ob?.waiting ?? 0,
      inFlight: ob?.inFlight ?? 0,
      outboxSize: ob?.size ?? 0,
      outboxDropped: ob?.dropped ?? 0,
    };
  };
  const periodic = opts.status
    ? new StatsPublisher(retained, topics.stats, cfg.statsIntervalSec, opts.status, stats)
    : undefined;
  if (opts.status)
    opts.status.mqtt = () => {
      const s = stats();
      return {
        connected: conn.connected,
        published: s.published,
        outboxSize: s.outboxSize,
        outboxDropped: s.outboxDropped,
        outboxErrors: s.outboxErrors,
        publishErrors: s.publishErrors,
        reconnects: s.reconnects,
        triggers: s.triggers,
        malformedTriggers: s.malformedTriggers,
        unknownCameraTriggers: s.unknownCameraTriggers,
      };
    };
  conn.onConnect(() =>
    log.info(
      { url: conn.where, reconnects: conn.reconnects, outbox: delivery.outboxRef?.size ?? 0 },
      'MQTT connected',
    ),
  );
  conn.onConnect(() => retained.connected());
  let reteach: ReteachPublisher | undefined;
  conn.onConnect(() => reteach?.publishNow());
  conn.onConnect(() => periodic?.publishNow());
  conn.onConnect(() => inbox.connected());
  conn.onConnect(() => commands.connected());
  conn.onConnect(() => delivery.connected(retained.reserved));
  conn.onClose(() => delivery.disconnected());

  let started = false;
  let stopPromise: Promise<void> | undefined;
  const stopTimeoutMs = opts.stopTimeoutMs ?? 2000;

  async function start(): Promise<void> {
    if (started) return;
    started = true;
    delivery.open();
    await conn.start(cfg.clientId, opts.startTimeoutMs ?? 5000);
    periodic?.start();
    const handle = opts.reteach?.();
    if (handle) {
      reteach = new ReteachPublisher(
        handle,
        topics.reteach,
        (t, p) => retained.publish(t, p),
        () => conn.connected,
      );
      reteach.start();
      if (conn.connected) reteach.publishNow();
    }
    if (!conn.connected)
      log.warn(
        { url: conn.where, err: conn.lastError },
        'MQTT broker not reachable yet; results wait in the outbox',
      );
  }

  async function stop(): Promise<void> {
    stopPromise ??= (async () => {
      periodic?.stop();
      reteach?.stop();
      offModel?.();
      // Without a connection there is nothing to wait for: what is left stays in the outbox for the next start.
      if (started) await delivery.drain(Date.now() + stopTimeoutMs);
      inbox.complete();
      // `stopped` replaces the retained `online`; a DISCONNECT then makes the broker discard the last will.
      const said = started ? await retained.stopped(1000) : false;
      delivery.closing();
      await conn.end(said && delivery.messagesInFlight === 0);
      const left = delivery.close();
      log.info({ published: delivery.st.published, leftInOutbox: left }, 'MQTT sink stopped');
    })();
    return stopPromise;
  }

  return {
    name: 'mqtt',
    triggers$: inbox.triggers$,
    get connected() {
      return conn.connected;
    },
    get lastError() {
      return conn.lastError;
    },
    start,
    result: (r: InspectionResult) => {
      delivery.result(r);
      retained.result(r);
    },
    cameraState: (id: string, state: SourceState, detail?: string) => retained.cameraState(id, state, detail),
    stop,
    stats,
  };
}

/** The `mqtt` config section as a sink plug-in: relative outbox paths resolve against the config's folder. */
export const mqttSink: SinkPlugin<'mqtt'> = {
  section: 'mqtt',
  // mqtt.json: false leaves the broker to the Sparkplug B edge node alone.
  enabled: (cfg) => cfg.enabled && cfg.json,
  create(cfg, ctx) {
    const outbox = { ...cfg.outbox, dir: resolve(ctx.configDir, cfg.outbox.dir) };
    return createMqttSink(
      { ...cfg, outbox },
      {
        log: ctx.log,
        cameras: ctx.status.cameraIds,
        status: ctx.status,
        commands: ctx.commands,
        reteach: () => ctx.control?.reteach,
      },
    );
  },
};
