// Who changed a running setting, and through which door: every live change carries one, so the audit log can
// say who, and the log line can say how. Shared by the live settings, the config reload and the MQTT commands.

/** `sighup`: the config file re-read; `mqtt`: a command on `<prefix>/cmd/…`; `console`: the web console. */
export type ChangeSource = 'sighup' | 'mqtt' | 'console';

export interface ChangedBy {
  /** A user name (console), the command's `who` (MQTT, self-declared), or `config-file` (SIGHUP). */
  who: string;
  source: ChangeSource;
}
