// Login rate limit: failed logins are counted per user name and per remote address in a fixed window that
// opens at the first failure. At `maxFailures` for a name (4× that for an address, which several people on
// one line PC share) every login for it is refused with 429 until the window ends, even with the right
// password: a guesser learns nothing from a refused try. Memory is bounded: past `maxKeys` counters the least
// recently failed one is forgotten (the address counter still stops a flood of made-up names).

export interface LoginLimits {
  maxFailures: number;
  windowMs: number;
}

interface Counter {
  failures: number;
  windowEnd: number;
}

/** A line PC shared by a shift's operators fails more often than one person does. */
const ADDRESS_FACTOR = 4;
const DEFAULT_MAX_KEYS = 10000;

export class LoginRateLimit {
  private readonly counters = new Map<string, Counter>();

  constructor(
    private readonly limits: LoginLimits,
    private readonly now: () => number,
    private readonly maxKeys = DEFAULT_MAX_KEYS,
  ) {}

  /** Seconds until a login for this user from this address may be tried, or 0 when it may now. */
  retryAfterSec(user: string, address: string): number {
    const t = this.now();
    const waits = [
      this.blockedUntil(userKey(user), this.limits.maxFailures, t),
      this.blockedUntil(addressKey(address), this.limits.maxFailures * ADDRESS_FACTOR, t),
    ];
    const until = Math.max(...waits);
    return until > t ? Math.ceil((until - t) / 1000) : 0;
  }

  failed(user: string, address: string): void {
    this.count(userKey(user));
    this.count(addressKey(address));
  }

  /** A right password clears the name's failures (not the address's: a known account must not reset it). */
  succeeded(user: string): void {
    this.counters.delete(userKey(user));
  }

  get size(): number {
    return this.counters.size;
  }

  private blockedUntil(key: string, limit: number, t: number): number {
    const c = this.counters.get(key);
    if (!c) return 0;
    if (t >= c.windowEnd) {
      this.counters.delete(key);
      return 0;
    }
    return c.failures >= limit ? c.windowEnd : 0;
  }

  private count(key: string): void {
    const t = this.now();
    const c = this.counters.get(key);
    this.counters.delete(key);
    const live = c && t < c.windowEnd ? c : { failures: 0, windowEnd: t + this.limits.windowMs };
    live.failures++;
    this.counters.set(key, live);
    while (this.counters.size > this.maxKeys) {
      const oldest = this.counters.keys().next();
      if (oldest.done) break;
      this.counters.delete(oldest.value);
    }
  }
}

const userKey = (user: string): string => `u:${user.toLowerCase()}`;
const addressKey = (address: string): string => `a:${address}`;
