// Log lines of a worker thread written through the main thread's logger: one format, one destination and one
// redaction for the whole process. A worker's own pino would write JSON to its piped stdout even when the main
// thread pretty-prints on a terminal, and would bypass a logger that a test or the CLI handed in.
import { Writable } from 'node:stream';
import type { LevelWithSilent } from 'pino';
import { createLogger, type Logger } from './log.js';

type LogLevel = Exclude<LevelWithSilent, 'silent'>;
const LEVELS: ReadonlySet<string> = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace']);

/** Worker side: a logger whose JSON lines go to `send` (e.g. a postMessage to the main thread). */
export function relayingLogger(level: LevelWithSilent, send: (line: string) => void): Logger {
  const dest = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n')) if (line) send(line);
      cb();
    },
  });
  return createLogger({ level, pretty: 'never', destination: dest });
}

/**
 * Main-thread side: one JSON line of a relaying logger, logged again on `log` with its level, message and
 * fields (its own time, pid and host are the main thread's). A line that is not a pino record is logged as text.
 */
export function relayLogLine(log: Logger, line: string): void {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(line) as Record<string, unknown>;
  } catch {
    log.info({ line }, 'unparsed worker log line');
    return;
  }
  const { level, msg, time: _time, pid: _pid, hostname: _host, ...fields } = rec;
  const lvl: LogLevel = typeof level === 'string' && LEVELS.has(level) ? (level as LogLevel) : 'info';
  log[lvl](fields, typeof msg === 'string' ? msg : '');
}
