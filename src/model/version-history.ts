// history.json of a models directory: the promotion stack that rollback walks back through, and the last
// events (publish, promote, rollback, recover) for `model versions`. The `current` symlink is the truth; the
// stack is reconciled to it on every read, so a crash between writing one and the other can never make
// rollback jump to a version that was not the previous one (see reconcileStack).
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { writeFileDurable } from '../util/durable-fs.js';

export const HISTORY_FILE = 'history.json';
const MAX_EVENTS = 200;
const MAX_STACK = 100;

export interface VersionEvent {
  /** ISO 8601. */
  at: string;
  action: 'publish' | 'promote' | 'rollback' | 'recover';
  version: string;
  from?: string | null;
  detail?: string;
}

export interface VersionHistory {
  /** Versions that were current, oldest first; the last is current. */
  stack: string[];
  events: VersionEvent[];
}

const schema = z.object({
  stack: z.array(z.string()),
  events: z.array(
    z.looseObject({
      at: z.string(),
      action: z.enum(['publish', 'promote', 'rollback', 'recover']),
      version: z.string(),
    }),
  ),
});

/** The history as stored (an unreadable file counts as empty: the symlink still says what is current). */
export function readHistory(modelsDir: string): VersionHistory {
  const file = join(resolve(modelsDir), HISTORY_FILE);
  if (!existsSync(file)) return { stack: [], events: [] };
  try {
    const r = schema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
    return r.success ? (r.data as VersionHistory) : { stack: [], events: [] };
  } catch {
    return { stack: [], events: [] };
  }
}

export function writeHistory(modelsDir: string, h: VersionHistory): void {
  const out: VersionHistory = { stack: h.stack.slice(-MAX_STACK), events: h.events.slice(-MAX_EVENTS) };
  writeFileDurable(join(resolve(modelsDir), HISTORY_FILE), JSON.stringify(out, null, 2) + '\n');
}

/**
 * The stack made to agree with what is current: cut after the last time `current` was on it (a promotion
 * written to the history whose symlink swap never happened), or `current` pushed when it is not on it (a
 * rollback recorded whose swap never happened, or a link changed by hand).
 */
export function reconcileStack(stack: readonly string[], current: string | null): string[] {
  if (current === null) return [...stack];
  const i = stack.lastIndexOf(current);
  return i >= 0 ? stack.slice(0, i + 1) : [...stack, current];
}

export function event(
  action: VersionEvent['action'],
  version: string,
  from?: string | null,
  detail?: string,
): VersionEvent {
  return {
    at: new Date().toISOString(),
    action,
    version,
    ...(from !== undefined ? { from } : {}),
    ...(detail ? { detail } : {}),
  };
}
