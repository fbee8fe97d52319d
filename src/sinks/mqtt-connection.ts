// One MQTT client connection: options, last will, reconnect backoff and error reporting. The MQTT sink's parts
// (delivery, retained state, trigger inbox) and later Sparkplug B (its own NDEATH will) build on it; every
// publish goes through it.
import { hostname } from 'node:os';
import type {
  ErrorWithReasonCode,
  IClientOptions,
  IClientPublishOptions,
  IClientSubscribeOptions,
  MqttClient,
} from 'mqtt';
import mqtt from 'mqtt';
import type { Config } from '../config/schema.js';
import { redactUrl } from '../config/redact.js';
import type { Logger } from '../util/log.js';
import { backoffDelay } from './mqtt-backoff.js';
import { mqttClientOptions } from './mqtt-options.js';

/** A connection error as an operator reads it, with the config key to look at. */
export function describeError(err: Error): string {
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

export interface Will {
  topic: string;
  payload: string;
}

type ConnectHandler = () => void | Promise<void>;
/** What handlers read of a received PUBLISH (MQTT 5 properties: request/response). */
export interface MessagePacket {
  retain?: boolean;
  properties?: { responseTopic?: string; correlationData?: Buffer };
}
type MessageHandler = (topic: string, payload: Buffer, packet: MessagePacket) => void;

export class MqttConnection {
  /** Connected to the broker, and mqtt.js's replay of in-flight messages is done. */
  connected = false;
  /** The last connection error, cleared on connect (e.g. "Connection refused: Not authorized"). */
  lastError: string | undefined;
  /** Successful connections after the first. */
  reconnects = 0;
  readonly where: string;
  private client: MqttClient | undefined;
  private everConnected = false;
  private lastLoggedError: string | undefined;
  private attempt = 0;
  private closing = false;
  private readonly connectHandlers: ConnectHandler[] = [];
  private readonly closeHandlers: (() => void)[] = [];
  private readonly messageHandlers: MessageHandler[] = [];
  /** Set while start() waits: called once the first connect's handlers are done. */
  private ready: (() => void) | undefined;

  constructor(
    private readonly cfg: Config['mqtt'],
    private readonly will: Will,
    private readonly log: Logger,
  ) {
    this.where = redactUrl(cfg.url);
  }

  /** Runs on every (re)connect, in registration order; start() waits for the first round's promises. */
  onConnect(h: ConnectHandler): void {
    this.connectHandlers.push(h);
  }

  onClose(h: () => void): void {
    this.closeHandlers.push(h);
  }

  onMessage(h: MessageHandler): void {
    this.messageHandlers.push(h);
  }

  /** The broker's receive maximum (MQTT 5), when it announced one. */
  get receiveMaximum(): number | undefined {
    return this.client?.serverProperties?.receiveMaximum;
  }

  /**
   * Connects, and resolves once connected with every connect handler done (e.g. the trigger subscription in
   * place), or when the first attempt fails, or after `timeoutMs`: a broker that is away is retried in the
   * background.
   */
  async start(clientId: string | undefined, timeoutMs: number): Promise<void> {
    if (this.client) return;
    const options: IClientOptions = {
      ...mqttClientOptions(this.cfg),
      clientId: clientId ?? `pinpoint-${hostname()}-${process.pid}`,
      clean: true,
      // Handlers subscribe on every connect themselves (clean sessions), after status and state.
      resubscribe: false,
      reconnectPeriod: this.nextDelay(),
      // A refused connection (bad password, ACL) may be fixed on the broker side: keep trying, with backoff.
      reconnectOnConnackError: true,
      connectTimeout: 10_000,
      queueQoSZero: false,
      will: { topic: this.will.topic, payload: Buffer.from(this.will.payload), qos: 1, retain: true },
    };
    const c = mqtt.connect(this.cfg.url, options);
    this.client = c;
    c.on('connect', this.handleConnect);
    c.on('close', () => this.handleClose());
    c.on('error', (err) => this.handleError(err));
    c.on('message', (topic, payload, packet) => {
      for (const h of this.messageHandlers) h(topic, payload, packet);
    });
    await new Promise<void>((resolve) => {
      const finish = (): void => {
        clearTimeout(timer);
        this.ready = undefined;
        c.off('close', finish);
        resolve();
      };
      const timer = setTimeout(finish, timeoutMs);
      this.ready = finish;
      c.once('close', finish);
    });
  }

  publish(topic: string, payload: string, opts: IClientPublishOptions, cb?: (err?: Error) => void): void {
    if (!this.client) {
      cb?.(new Error('MQTT client not started'));
      return;
    }
    this.client.publish(topic, payload, opts, cb);
  }

  subscribe(topics: string[], opts: IClientSubscribeOptions, cb: (err: Error | null) => void): void {
    this.client?.subscribe(topics, opts, (err) => cb(err ?? null));
  }

  /** Ends the connection: a DISCONNECT when graceful (the broker discards the will), else a forced close. */
  async end(graceful: boolean): Promise<void> {
    const c = this.client;
    this.closing = true;
    if (!c) return;
    c.off('connect', this.handleConnect);
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

  private nextDelay(): number {
    return backoffDelay(this.attempt++, this.cfg.reconnect, Math.random());
  }

  private readonly handleConnect = (): void => {
    const c = this.client as MqttClient;
    this.connected = true;
    if (this.everConnected) this.reconnects++;
    this.everConnected = true;
    this.attempt = 0;
    c.options.reconnectPeriod = this.nextDelay();
    this.lastError = undefined;
    this.lastLoggedError = undefined;
    const pending: Promise<void>[] = [];
    for (const h of this.connectHandlers) {
      const p = h();
      if (p) pending.push(p);
    }
    const ready = this.ready;
    if (ready) void Promise.allSettled(pending).then(() => ready());
  };

  private handleClose(): void {
    const c = this.client as MqttClient;
    if (this.connected && !this.closing) {
      this.log.warn({ url: this.where }, 'MQTT connection lost; results wait in the outbox');
    }
    this.connected = false;
    for (const h of this.closeHandlers) h();
    // mqtt.js has already armed the next attempt with the current period; this one is for the attempt after.
    c.options.reconnectPeriod = this.nextDelay();
  }

  private handleError(err: Error): void {
    this.lastError = describeError(err);
    // Each distinct problem once at warn; the same one repeating every backoff at debug.
    if (this.lastError !== this.lastLoggedError) {
      this.lastLoggedError = this.lastError;
      this.log.warn(
        { url: this.where, err: this.lastError },
        'MQTT connection problem; retrying with backoff',
      );
    } else {
      this.log.debug({ url: this.where, err: this.lastError }, 'MQTT connection problem persists');
    }
  }
}
