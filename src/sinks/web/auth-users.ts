// The console's users: from `web.auth.users` or from `web.auth.usersFile` (YAML or JSON, the same list,
// relative to the config's folder), read once at start. A bad file stops the start with a message naming the
// file and the entry; a password hash is never quoted.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse } from 'yaml';
import { issueMessage } from '../../config/issue-message.js';
import { webUsersSchema, type WebAuthConfig } from '../../config/schema.js';
import { parsePasswordHash, type PasswordHash } from './auth-password.js';
import type { Role } from './auth-sessions.js';

export interface User {
  name: string;
  role: Role;
  hash: PasswordHash;
}

/** Users by lower-case name (a login finds `Alice` as `alice`). */
export type Users = ReadonlyMap<string, User>;

/** Reads and checks the configured users; throws an Error whose message names the file or key. */
export function loadUsers(cfg: WebAuthConfig, configDir: string): Users {
  let list = cfg.users ?? [];
  if (cfg.usersFile !== undefined) {
    try {
      list = readUsersFile(resolve(configDir, cfg.usersFile));
    } catch (err) {
      throw new Error(`web.auth.usersFile ${(err as Error).message}`);
    }
  }
  const users = new Map<string, User>();
  for (const u of list) {
    // The schema already parsed each hash; parse again for the Buffers it does not keep.
    const hash = parsePasswordHash(u.passwordHash);
    if (typeof hash === 'string') throw new Error(`web.auth.users: ${u.name}: passwordHash: ${hash}`);
    users.set(u.name.toLowerCase(), { name: u.name, role: u.role, hash });
  }
  return users;
}

/** The problem with the configured users file (its path first), for `config check`; undefined when fine or unused. */
export function usersFileProblem(cfg: WebAuthConfig | undefined, configDir: string): string | undefined {
  if (cfg?.usersFile === undefined) return undefined;
  try {
    readUsersFile(resolve(configDir, cfg.usersFile));
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

function readUsersFile(file: string): ReturnType<typeof webUsersSchema.parse> {
  let data: unknown;
  try {
    data = parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`${file}: cannot read: ${(err as Error).message.split('\n')[0]}`);
  }
  const result = webUsersSchema.safeParse(data ?? [], { reportInput: true });
  if (result.success) return result.data;
  const problems = result.error.issues.map((i) => {
    const where = i.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('');
    return `${where || '(document)'}: ${issueMessage(i)}`;
  });
  throw new Error(`${file}: ${problems.join('; ')}`);
}
