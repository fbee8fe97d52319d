// MQTT commands for PLC/SCADA gateways and scripts (docs/mqtt.md, "Commands"): subscribes `<prefix>/cmd/+` and
// `<prefix>/cmd/model/+` on every connect, checks each message (mqtt-command-payload.ts), runs the registered
// handler, and answers on `<prefix>/cmd/response`, or on the MQTT 5 response topic with the correlation data
// when the sender set them. Every message gets exactly one answer; a refused one (commands disabled, malformed,
// unknown command, retained, too many at once) changes nothing. Refusals are logged rate-limited: a
// misbehaving client cannot flood the journal.
import type { IClientPublishOptions } from 'mqtt';
import type { Config } from '../config/schema.js';
import type { Logger } from '../util/log.js';
import type { LogThrottle } from '../util/log-throttle.js';
import type { CommandRegistry } from './command-registry.js';
import { CommandError } from './command-registry.js';
import type { MqttConnection, MessagePacket } from './mqtt-connection.js';
import type { CommandResponse } from './mqtt-command-payload.js';
import {
  checkArgs,
  commandTopics,
  parseCommand,
  responseTopic,
  usableResponseTopic,
} from './mqtt-command-payload.js';

export interface CommandStats {
  /** Commands run and answered ok. */
  commands: number;
  /** Commands refused or failed (each answered with ok: false). */
  refusedCommands: number;
}

/** Commands running at once; more are refused (`busy`) rather than queued behind a slow one. */
const MAX_RUNNING = 4;

export class CommandInbox {
  readonly st: CommandStats = { commands: 0, refusedCommands: 0 };
  private running = 0;
  private readonly prefix: string;

  constructor(
    private readonly conn: MqttConnection,
    private readonly cfg: Config['mqtt'],
    private readonly registry: CommandRegistry | undefined,
    private readonly log: Logger,
    private readonly throttle: LogThrottle,
  ) {
    this.prefix = cfg.topicPrefix;
    conn.onMessage((topic, payload, packet) => {
      if (!isCommandTopic(this.prefix, topic)) return;
      void this.message(topic, payload, packet).catch((err: unknown) =>
        this.log.error({ err }, 'MQTT command handling failed'),
      );
    });
  }

  /**
   * Subscribes (clean sessions: on every connect). Even with commands disabled, so a sender is told so instead
   * of waiting for an answer that never comes. No Local (MQTT 5): our own answers never come back to us.
   */
  connected(): Promise<void> {
    const v5 = this.cfg.protocolVersion === 5;
    return new Promise((resolve) => {
      this.conn.subscribe(commandTopics(this.prefix), { qos: 1, rap: v5, nl: v5 }, (err) => {
        if (err) {
          const msg = 'MQTT: could not subscribe to the command topics (check the broker ACL)';
          if (this.cfg.commands) this.log.error({ err: err.message }, msg);
          else this.log.debug({ err: err.message }, msg);
        }
        resolve();
      });
    });
  }

  private async message(topic: string, payload: Buffer, packet: MessagePacket): Promise<void> {
    const p = parseCommand(this.prefix, topic, payload);
    if (!p.ok && p.kind === 'not-a-command') return;
    const to = {
      topic: usableResponseTopic(packet.properties?.responseTopic),
      data: packet.properties?.correlationData,
    };
    const name = p.ok ? p.command.name : p.name;
    const correlationId = p.ok ? p.command.correlationId : p.correlationId;
    const refuse = (kind: string, error: string): void => {
      this.st.refusedCommands++;
      this.throttle.warn(
        `cmd-${kind}`,
        { topic, command: name, correlationId, error },
        'MQTT command refused',
      );
      this.respond(to, { correlationId, command: name, ok: false, error });
    };
    if (!this.cfg.commands)
      return refuse('disabled', 'commands are disabled on this daemon (mqtt.commands: false)');
    if (packet.retain)
      return refuse('retained', 'retained command ignored: publish commands with retain false');
    if (!p.ok) return refuse('malformed', p.reason);
    const cmd = this.registry?.get(p.command.name);
    if (!cmd)
      return refuse(
        'unknown',
        `unknown command ${p.command.name} (known: ${this.registry?.names.join(', ') ?? 'none'})`,
      );
    const args = checkArgs(cmd.args, p.command.args);
    if (!args.ok) return refuse('malformed', args.reason);
    if (this.running >= MAX_RUNNING) return refuse('busy', `busy: ${MAX_RUNNING} commands already running`);
    this.running++;
    const by = { who: `mqtt:${p.command.who ?? 'anonymous'}`, source: 'mqtt' as const };
    try {
      const result = await cmd.handler(args.args, { correlationId: p.command.correlationId, by });
      this.st.commands++;
      this.log.info({ command: name, correlationId, who: by.who }, 'MQTT command done');
      this.respond(to, {
        correlationId,
        command: name,
        ok: true,
        ...(result === undefined ? {} : { result }),
      });
    } catch (err) {
      if (!(err instanceof CommandError) && (err as Error).name !== 'LiveSettingsError')
        this.log.error({ err, command: name, correlationId }, 'MQTT command failed');
      refuse('failed', (err as Error).message);
    } finally {
      this.running--;
    }
  }

  private respond(to: { topic?: string; data?: Buffer }, r: CommandResponse): void {
    const opts: IClientPublishOptions = { qos: 1, retain: false };
    if (to.data) opts.properties = { correlationData: to.data };
    const topic = to.topic ?? responseTopic(this.prefix);
    this.conn.publish(topic, JSON.stringify(r), opts, (err) => {
      if (err)
        this.throttle.warn('cmd-response', { topic, err: err.message }, 'MQTT command response not sent');
    });
  }
}

/** Topics under `<prefix>/cmd/` (commands and their responses): the trigger inbox leaves them alone. */
export function isCommandTopic(prefix: string, topic: string): boolean {
  return topic.startsWith(`${prefix}/cmd/`);
}
