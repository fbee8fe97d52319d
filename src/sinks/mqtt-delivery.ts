// Results from the on-disk outbox to the broker: oldest first, only while connected, with a bounded window of
// messages in flight (the broker's receive maximum when it announces one). A result leaves the outbox when all
// its publishes completed (PUBACK for QoS 1, PUBCOMP for QoS 2, written for QoS 0).
import type { ErrorWithReasonCode } from 'mqtt';
import type { Config } from '../config/schema.js';
import type { InspectionResult } from '../pipeline/result.js';
import type { Logger } from '../util/log.js';
import type { LogThrottle } from '../util/log-throttle.js';
import type { MqttConnection } from './mqtt-connection.js';
import { Outbox } from './mqtt-outbox.js';
import { rejectPayload, resultPayload } from './mqtt-payloads.js';
import type { MqttTopics } from './mqtt-topics.js';

/** Messages per result: the reject signal, then the full result. */
const MESSAGES_PER_RESULT = 2;

interface Sending {
  left: number;
  qos: 0 | 1 | 2;
}

export interface DeliveryStats {
  published: number;
  outboxErrors: number;
  publishErrors: number;
}

export class OutboxDelivery {
  readonly st: DeliveryStats = { published: 0, outboxErrors: 0, publishErrors: 0 };
  private outbox: Outbox<InspectionResult> | undefined;
  private readonly sending = new Map<number, Sending>(); // outbox seq → publishes left
  private maxInFlight = 32; // messages in flight at most; the broker's receive maximum when it announces one
  private inflightMsgs = 0;
  private closed = false;

  constructor(
    private readonly conn: MqttConnection,
    private readonly cfg: Config['mqtt'],
    private readonly topics: MqttTopics,
    private readonly log: Logger,
    private readonly throttle: LogThrottle,
  ) {}

  /** Opens the outbox (recovering what a previous run left). */
  open(): void {
    this.outbox = new Outbox<InspectionResult>({
      dir: this.cfg.outbox.dir,
      maxMessages: this.cfg.outbox.maxMessages,
      log: this.log,
    });
  }

  get running(): boolean {
    return this.outbox !== undefined && !this.closed;
  }

  get outboxRef(): Outbox<InspectionResult> | undefined {
    return this.outbox;
  }

  /** Messages in flight at the MQTT level (0 before a graceful disconnect). */
  get messagesInFlight(): number {
    return this.inflightMsgs;
  }

  /** On (re)connect: sizes the window, leaving `reserved` messages to the retained state, and starts sending. */
  connected(reserved: number): void {
    const receiveMax = this.conn.receiveMaximum;
    const announced = receiveMax ? receiveMax - reserved : 32;
    this.maxInFlight = Math.max(MESSAGES_PER_RESULT, Math.min(64, announced));
    this.pump();
  }

  /** On connection loss: QoS 0 messages given to a dead socket are gone (at-most-once); do not wait for them. */
  disconnected(): void {
    for (const [seq, s] of this.sending) {
      if (s.qos === 0) {
        this.inflightMsgs -= s.left;
        this.done(seq);
      }
    }
  }

  /** Appends a result to the outbox and sends what the window allows. */
  result(r: InspectionResult): void {
    const outbox = this.outbox;
    if (!outbox || this.closed) {
      this.throttle.warn(
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
      this.st.outboxErrors++;
      this.throttle.warn('outbox-write', { err: (err as Error).message }, 'outbox write failed');
      // Delivering late and out of order beats losing a decision; without a connection it is lost.
      if (this.conn.connected) {
        this.conn.publish(this.topics.reject(r.cameraId), rejectPayload(r, this.cfg.rejectPayload), {
          qos: this.cfg.qos,
        });
        this.conn.publish(this.topics.result(r.cameraId), resultPayload(r, Date.now()), {
          qos: this.cfg.qos,
        });
      }
      return;
    }
    if (dropped > 0) {
      this.throttle.warn(
        'outbox-full',
        { dropped: outbox.dropped, maxMessages: this.cfg.outbox.maxMessages },
        'outbox full: dropped the oldest results',
      );
    }
    this.pump();
  }

  /** Waits (bounded) until the outbox is empty or the connection is gone. */
  async drain(deadline: number): Promise<void> {
    const ob = this.outbox;
    if (!ob) return;
    while (ob.size > 0 && this.conn.connected && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 10));
  }

  /** From now on, publishes mqtt.js gives up on stay in the outbox for the next start. */
  closing(): void {
    this.closed = true;
  }

  /** Closes the outbox; returns how many results stay in it. */
  close(): number {
    const left = this.outbox?.size ?? 0;
    this.outbox?.close();
    return left;
  }

  private done(seq: number): void {
    this.sending.delete(seq);
    this.outbox?.ack(seq);
    this.st.published++;
  }

  private onPublished(seq: number, err?: Error): void {
    const s = this.sending.get(seq);
    if (!s) return;
    this.inflightMsgs--;
    if (err) {
      if (this.closed) {
        // mqtt.js gave up on it because we are ending the client: it stays in the outbox for the next start.
        this.sending.delete(seq);
        return;
      }
      // A broker refusal (MQTT 5 reason code) or a client-side failure: retrying will not help, and an entry
      // stuck in flight would pin every later one on disk. Counted, logged, and let go.
      this.st.publishErrors++;
      const code = (err as ErrorWithReasonCode).code;
      this.throttle.warn('publish-failed', { err: err.message, code }, 'publish failed; not retried');
    }
    if (--s.left === 0) this.done(seq);
    this.pump();
  }

  private publishEntry(seq: number, r: InspectionResult): void {
    const qos = this.cfg.qos;
    this.sending.set(seq, { left: MESSAGES_PER_RESULT, qos });
    this.inflightMsgs += MESSAGES_PER_RESULT;
    // Reject first: it is what the line acts on.
    this.conn.publish(
      this.topics.reject(r.cameraId),
      rejectPayload(r, this.cfg.rejectPayload),
      { qos },
      (err) => this.onPublished(seq, err),
    );
    this.conn.publish(this.topics.result(r.cameraId), resultPayload(r, Date.now()), { qos }, (err) =>
      this.onPublished(seq, err),
    );
  }

  private pump(): void {
    const outbox = this.outbox;
    if (!this.conn.connected || !outbox || this.closed) return;
    while (this.inflightMsgs + MESSAGES_PER_RESULT <= this.maxInFlight) {
      const e = outbox.next();
      if (!e) break;
      this.publishEntry(e.seq, e.item);
    }
  }
}
