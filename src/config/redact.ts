// Secrets must never reach a log line, `config check` output or an MQTT status message.
import { SECRET_KEYS } from './schema.js';

export const REDACTED = '***';

/** Replaces `user:password@` in a URL with `***@`, leaving everything else readable. */
export function redactUrl(url: string): string {
  return url.replace(
    /^([a-z][a-z0-9+.-]*:\/\/)([^/@\s]*)@/i,
    (_all, scheme: string) => `${scheme}${REDACTED}@`,
  );
}

/** A deep copy of a config-like value with secret keys and URL credentials redacted. */
export function redactSecrets<T>(value: T): T {
  const walk = (v: unknown, key: string | undefined): unknown => {
    if (key !== undefined && SECRET_KEYS.has(key.toLowerCase()) && v !== undefined && v !== null)
      return REDACTED;
    if (typeof v === 'string') return v.includes('://') ? redactUrl(v) : v;
    if (Array.isArray(v)) return v.map((x) => walk(x, undefined));
    if (v !== null && typeof v === 'object')
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x, k)]));
    return v;
  };
  return walk(value, undefined) as T;
}
