// A real pino logger (createLogger) whose lines are kept in memory, for tests that assert what an operator reads.
import { Writable } from 'node:stream';
import { createLogger, type LogOptions, type Logger } from '../../src/util/log.js';

export interface CapturedLog {
  log: Logger;
  /** Raw lines as written (JSON, or pretty text with `pretty: 'always'`). */
  text(): string[];
  /** JSON lines parsed (only for `pretty: 'never'`). */
  records(): Record<string, unknown>[];
}

export function captureLog(o: Omit<LogOptions, 'destination'> = {}): CapturedLog {
  const chunks: string[] = [];
  const dest = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString());
      cb();
    },
  });
  const log = createLogger({ level: 'debug', pretty: 'never', ...o, destination: dest });
  const text = (): string[] => chunks.join('').split('\n').filter(Boolean);
  return {
    log,
    text,
    records: () => text().map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}
