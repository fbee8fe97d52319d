// Decisions to Sparkplug with nothing lost: an on-disk outbox (the JSON sink's Outbox, its own directory),
// handed out in windows. DDATA must be QoS 0, which no broker acknowledges, so each window is confirmed by a
// barrier sent after it (the sink's SUBSCRIBE, whose SUBACK means the broker took every PUBLISH before it on
// that connection); only then does it leave the outbox. When the connection drops, rewind() reopens the
// outbox, which hands the unconfirmed decisions out again, after the next births.
import type { InspectionResult } from '../../pipeline/result.js';
import type { Logger } from '../../util/log.js';
import { Outbox } from '../mqtt-outbox.js';

/** Decisions handed to MQTT before a confirmation is asked for. */
const WINDOW = 32;

export interface DeliveryLink {
  /** Whether decisions may be sent now (connected, births out). */
  ready(): boolean;
  /** Publishes one decision (QoS 0). */
  send(r: InspectionResult): void;
  /** Calls back with true once the broker has taken everything sent before; false when the connection went. */
  barrier(done: (ok: boolean) => void): void;
}

export interface DecisionOutboxOptions {
  dir: string;
  maxMessages: number;
  log: Logger;
}

export class DecisionOutbox {
  /** Decisions confirmed by the broker, since open. */
  published = 0;
  private outbox: Outbox<InspectionResult>;
  private unconfirmed: number[] = [];
  private confirming = false;
  /** Bumped by rewind(): a barrier of an earlier connection must not acknowledge anything. */
  private epoch = 0;

  constructor(private readonly o: DecisionOutboxOptions) {
    this.outbox = this.open();
  }

  /** Unconfirmed decisions (previous runs' included). */
  get size(): number {
    return this.outbox.size;
  }

  get dropped(): number {
    return this.outbox.dropped;
  }

  /** Stores a decision; returns how many of the oldest were dropped to stay within maxMessages. Throws on a disk error. */
  append(r: InspectionResult): number {
    return this.outbox.append(r);
  }

  /** Sends the next window when the link is ready, unless one is waiting for its confirmation. */
  pump(link: DeliveryLink): void {
    if (this.confirming || !link.ready()) return;
    const ob = this.outbox;
    for (let e = ob.next(); e; e = this.unconfirmed.length < WINDOW ? ob.next() : undefined) {
      link.send(e.item);
      this.unconfirmed.push(e.seq);
    }
    if (this.unconfirmed.length === 0) return;
    this.confirming = true;
    const epoch = this.epoch;
    link.barrier((ok) => {
      if (epoch !== this.epoch) return;
      this.confirming = false;
      if (!ok) return; // the connection is going: its end rewinds
      for (const seq of this.unconfirmed) ob.ack(seq);
      this.published += this.unconfirmed.length;
      this.unconfirmed = [];
      this.pump(link);
    });
  }

  /** The connection is gone: everything not confirmed will be handed out again, in order. */
  rewind(): void {
    this.epoch++;
    this.unconfirmed = [];
    this.confirming = false;
    this.outbox.close();
    this.outbox = this.open();
  }

  close(): void {
    this.outbox.close();
  }

  private open(): Outbox<InspectionResult> {
    return new Outbox<InspectionResult>({
      dir: this.o.dir,
      maxMessages: this.o.maxMessages,
      log: this.o.log,
    });
  }
}
