// Rate-limited warnings: a flood of bad input (a PLC spamming malformed triggers) must not flood the journal.
// The first occurrence of a kind is logged at once; later ones at most once per interval, with the count
// suppressed in between.
import type { Logger } from './log.js';

export interface LogThrottle {
  warn(kind: string, fields: Record<string, unknown>, msg: string): void;
}

export function createLogThrottle(
  log: Logger,
  intervalMs = 10_000,
  now: () => number = Date.now,
): LogThrottle {
  const kinds = new Map<string, { last: number; suppressed: number }>();
  return {
    warn(kind, fields, msg) {
      const t = now();
      const k = kinds.get(kind);
      if (k && t - k.last < intervalMs) {
        k.suppressed++;
        return;
      }
      const suppressed = k?.suppressed ?? 0;
      kinds.set(kind, { last: t, suppressed: 0 });
      log.warn(suppressed > 0 ? { ...fields, suppressed } : fields, msg);
    },
  };
}
