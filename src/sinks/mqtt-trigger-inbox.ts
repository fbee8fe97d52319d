// PLC part triggers in: subscribes on every connect, parses and counts each message, and emits the valid ones
// on triggers$. Retained triggers are ignored: they can only name a stale part. On MQTT 5 the subscription asks
// for Retain-As-Published, so a trigger the PLC published with the retain flag is recognised even when it is
// delivered live (the broker clears the flag on live delivery otherwise); on 3.1.1 only the ones replayed on
// subscribe carry it.
import type { Observable } from 'rxjs';
import { Subject } from 'rxjs';
import type { Config } from '../config/schema.js';
import type { Logger } from '../util/log.js';
import type { LogThrottle } from '../util/log-throttle.js';
import type { MqttConnection } from './mqtt-connection.js';
import type { PartTrigger } from './mqtt-trigger.js';
import { isCommandTopic } from './mqtt-commands.js';
import { parseTrigger, triggerTopics } from './mqtt-trigger.js';

export interface TriggerStats {
  /** Valid triggers emitted on triggers$. */
  triggers: number;
  /** Trigger messages ignored: not JSON, wrong fields, camera mismatch, retained. */
  malformedTriggers: number;
  /** Trigger messages ignored because they name a camera that is not configured. */
  unknownCameraTriggers: number;
}

export class TriggerInbox {
  readonly st: TriggerStats = { triggers: 0, malformedTriggers: 0, unknownCameraTriggers: 0 };
  private readonly subject = new Subject<PartTrigger>();
  readonly triggers$: Observable<PartTrigger> = this.subject.asObservable();

  constructor(
    private readonly conn: MqttConnection,
    private readonly cfg: Config['mqtt'],
    /** The cameras running now (a config reload may add or remove some). */
    private readonly cameras: { has(id: string): boolean },
    private readonly log: Logger,
    private readonly throttle: LogThrottle,
  ) {
    conn.onMessage((topic, payload, packet) => this.message(topic, payload, packet));
  }

  /** Subscribes (clean sessions: on every connect); resolves once the broker acknowledged. */
  connected(): Promise<void> {
    const rap = this.cfg.protocolVersion === 5;
    return new Promise((resolve) => {
      this.conn.subscribe(triggerTopics(this.cfg.topicPrefix), { qos: 1, rap }, (err) => {
        if (err) this.log.error({ err: err.message }, 'MQTT: could not subscribe to trigger topics');
        resolve();
      });
    });
  }

  complete(): void {
    this.subject.complete();
  }

  private message(topic: string, payload: Buffer, packet: { retain?: boolean }): void {
    if (isCommandTopic(this.cfg.topicPrefix, topic)) return; // mqtt-commands.ts answers those
    try {
      if (packet.retain) {
        // A retained trigger would re-fire on every resubscribe: it can only name a stale part.
        this.st.malformedTriggers++;
        this.throttle.warn('trigger-retained', { topic }, 'retained trigger ignored');
        return;
      }
      const p = parseTrigger(this.cfg.topicPrefix, topic, payload, this.cameras, Date.now());
      if (!p.ok) {
        if (p.kind === 'unknown-camera') this.st.unknownCameraTriggers++;
        else this.st.malformedTriggers++;
        this.throttle.warn(`trigger-${p.kind}`, { topic, reason: p.reason }, 'trigger ignored');
        return;
      }
      this.st.triggers++;
      this.subject.next(p.trigger);
    } catch (err) {
      // A subscriber's exception must not take the MQTT client down.
      this.log.error({ err }, 'trigger handling failed');
    }
  }
}
