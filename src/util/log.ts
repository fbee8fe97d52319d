// pino logger: JSON lines on stdout for journald, human-readable on a terminal.
import { pino, type Logger, type LevelWithSilent } from 'pino';
import pretty from 'pino-pretty';

export type { Logger };

export interface LogOptions {
  level?: LevelWithSilent;
  pretty?: 'auto' | 'always' | 'never';
  /** Defaults to stdout; tests pass a stream to capture lines. */
  destination?: NodeJS.WritableStream;
}

const LEVELS = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

/** PINPOINT_LOG_LEVEL wins over the config, so one can debug a unit without editing its file. */
export function levelFromEnv(fallback: LevelWithSilent): LevelWithSilent {
  const env = process.env.PINPOINT_LOG_LEVEL?.toLowerCase();
  return env && LEVELS.has(env) ? (env as LevelWithSilent) : fallback;
}

export function createLogger(opts: LogOptions = {}): Logger {
  const level = levelFromEnv(opts.level ?? 'info');
  const dest = opts.destination ?? process.stdout;
  const wantPretty =
    opts.pretty === 'always' ||
    ((opts.pretty ?? 'auto') === 'auto' && (dest as { isTTY?: boolean }).isTTY === true);
  const stream = wantPretty
    ? pretty({
        destination: dest,
        colorize: true,
        translateTime: 'SYS:HH:MM:ss.l',
        // `interval`: the periodic stats line's numbers, which its message already says (sinks/stats-log.ts).
        ignore: 'pid,hostname,interval',
        // One line per record: a person at a terminal scans lines; a field per line tripled the output.
        singleLine: true,
        sync: true,
      })
    : dest;
  return pino(
    {
      level,
      base: { pid: process.pid },
      // journald adds the host; syslog-style level names are easier to grep than numbers.
      formatters: { level: (label) => ({ level: label }) },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: ['*.password', '*.*.password', 'password'], censor: '***' },
    },
    stream,
  );
}
