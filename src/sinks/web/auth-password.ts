// Console password hashes: scrypt (node:crypto) in a self-describing string, `scrypt$N$r$p$salt$hash` with
// salt and hash in base64. The parameters travel with the hash, so a stronger cost later needs no migration,
// and they are bounded on parse: a config file cannot make one login allocate gigabytes.
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

export interface PasswordHash {
  /** scrypt's CPU/memory cost, a power of two. */
  N: number;
  r: number;
  p: number;
  salt: Buffer;
  hash: Buffer;
}

/**
 * log2 N of new hashes: 2^15 with r = 8 takes 32 MiB and ~0.1 s per verification on a line PC. OWASP names
 * 2^17 as a minimum for a public site; a console on a plant network that rate-limits logins (auth-rate-limit.ts)
 * keeps memory for inference. `pinpoint web hash-password --cost 17` makes stronger ones.
 */
export const DEFAULT_COST = 15;
const MIN_COST = 14;
const MAX_COST = 20;
const SALT_BYTES = 16;
const HASH_BYTES = 32;
/** The most memory one verification may take (scrypt needs 128·N·r bytes). */
const MAX_MEMORY = 256 * 1024 * 1024;

const FORMAT = /^scrypt\$(\d{1,8})\$(\d{1,2})\$(\d{1,2})\$([A-Za-z0-9+/]+={0,2})\$([A-Za-z0-9+/]+={0,2})$/;

/** The parsed hash, or a sentence saying what is wrong with it (never quoting it: it is a secret). */
export function parsePasswordHash(text: string): PasswordHash | string {
  const m = FORMAT.exec(text);
  if (!m)
    return 'not a pinpoint password hash (scrypt$N$r$p$salt$hash): make one with `pinpoint web hash-password`';
  const [N, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const cost = Math.log2(N);
  if (!Number.isInteger(cost) || cost < MIN_COST || cost > MAX_COST)
    return `scrypt N must be a power of two from 2^${MIN_COST} to 2^${MAX_COST}`;
  if (r < 1 || r > 32 || p < 1 || p > 16) return 'scrypt r must be 1-32 and p 1-16';
  if (128 * N * r > MAX_MEMORY)
    return `scrypt N·r too large: one login would need over ${MAX_MEMORY >> 20} MiB`;
  const salt = Buffer.from(m[4], 'base64');
  const hash = Buffer.from(m[5], 'base64');
  if (salt.length < 8) return 'salt shorter than 8 bytes';
  if (hash.length < 16) return 'hash shorter than 16 bytes';
  return { N, r, p, salt, hash };
}

function derive(password: string, h: Omit<PasswordHash, 'hash'>, length: number): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(
      password.normalize('NFC'),
      h.salt,
      length,
      { N: h.N, r: h.r, p: h.p, maxmem: 2 * 128 * h.N * h.r + 1024 * 1024 },
      (err, key) => (err ? reject(err) : resolve(key)),
    ),
  );
}

/** A new hash of `password` with a random salt; `cost` is log2 N. */
export async function hashPassword(password: string, cost = DEFAULT_COST): Promise<string> {
  if (!Number.isInteger(cost) || cost < MIN_COST || cost > MAX_COST)
    throw new RangeError(`cost must be a whole number from ${MIN_COST} to ${MAX_COST}`);
  const params = { N: 2 ** cost, r: 8, p: 1, salt: randomBytes(SALT_BYTES) };
  const hash = await derive(password, params, HASH_BYTES);
  const b64 = (b: Buffer): string => b.toString('base64');
  return `scrypt$${params.N}$${params.r}$${params.p}$${b64(params.salt)}$${b64(hash)}`;
}

/** Whether `password` matches; constant time in the comparison, off the event loop in the derivation. */
export async function verifyPassword(password: string, h: PasswordHash): Promise<boolean> {
  const key = await derive(password, h, h.hash.length);
  return timingSafeEqual(key, h.hash);
}

/**
 * A hash no password matches (random salt and hash), checked when the user name is unknown so that a wrong
 * name takes as long as a wrong password (same parameters as `like`, a real user's) and does not tell which
 * names exist.
 */
export function decoyHash(like?: PasswordHash): PasswordHash {
  const { N, r, p } = like ?? { N: 2 ** DEFAULT_COST, r: 8, p: 1 };
  return { N, r, p, salt: randomBytes(SALT_BYTES), hash: randomBytes(HASH_BYTES) };
}
