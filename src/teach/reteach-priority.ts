// How the re-teach process is kept off the line's CPU: it is started through `chrt --idle 0` (SCHED_IDLE: it
// runs only when no normal task wants the core), else `nice -n 19`, else plainly and renices its own threads.
// Started through the wrapper, every thread the process ever makes (V8's, libuv's, onnxruntime's pool) inherits
// the policy from birth, with no window at normal priority. What is actually in force is read back from
// /proc/<pid>/task/<tid>/stat, for the job's report and the tests.
import { readdirSync, readFileSync } from 'node:fs';
import { setPriority } from 'node:os';

/** idle: chrt --idle; nice: nice -n 19; self: the process renices itself; normal: not lowered (benchmarks). */
export type PriorityWrapper = 'idle' | 'nice' | 'self' | 'normal';

/** The argv prefix that starts a command at low priority (no shell: arguments are passed as they are). */
export function wrapperArgv(w: PriorityWrapper): string[] {
  if (w === 'idle') return ['chrt', '--idle', '0'];
  if (w === 'nice') return ['nice', '-n', '19'];
  return [];
}

/** Wrappers to try in order, best first (Linux has both; elsewhere neither SCHED_IDLE nor /proc exist). */
export function wrapperOrder(platform = process.platform): PriorityWrapper[] {
  return platform === 'linux' ? ['idle', 'nice', 'self'] : ['nice', 'self'];
}

/** Scheduling policies by number (sched.h). */
const POLICIES: Record<number, string> = {
  0: 'other',
  1: 'fifo',
  2: 'rr',
  3: 'batch',
  5: 'idle',
  6: 'deadline',
};

export interface ThreadPriority {
  tid: number;
  /** Thread name (comm). */
  name: string;
  nice: number;
  policy: string;
}

/**
 * Fields of /proc/.../stat after the command name (which may hold spaces and parentheses, so it is cut at the
 * last ')'): nice is field 19 and policy field 41, counted from 1 over the whole line (proc(5)).
 */
export function parseStat(tid: number, text: string): ThreadPriority {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open)
    throw new Error(`unexpected /proc stat line for ${tid}: ${text.slice(0, 80)}`);
  const rest = text
    .slice(close + 2)
    .trim()
    .split(/\s+/);
  // rest[0] is field 3 (state).
  const nice = Number(rest[19 - 3]);
  const policy = Number(rest[41 - 3]);
  return { tid, name: text.slice(open + 1, close), nice, policy: POLICIES[policy] ?? `policy-${policy}` };
}

/** Every thread of a process with its nice value and policy; [] where /proc is not there. */
export function threadPriorities(pid: number | 'self' = 'self'): ThreadPriority[] {
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return [];
  }
  const out: ThreadPriority[] = [];
  for (const t of tids) {
    try {
      out.push(parseStat(Number(t), readFileSync(`/proc/${pid}/task/${t}/stat`, 'utf8')));
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return out;
}

/** Summary for logs and the report: the weakest priority any thread has (the one that could crowd the line). */
export interface PrioritySummary {
  wrapper: PriorityWrapper;
  threads: number;
  /** Policies seen, e.g. ['idle']. */
  policies: string[];
  /** Smallest nice value among the threads (the most favoured one). */
  minNice: number;
}

export function summarise(wrapper: PriorityWrapper, ts: readonly ThreadPriority[]): PrioritySummary {
  return {
    wrapper,
    threads: ts.length,
    policies: [...new Set(ts.map((t) => t.policy))].sort(),
    minNice: ts.length ? Math.min(...ts.map((t) => t.nice)) : NaN,
  };
}

/**
 * Without a wrapper the process lowers itself: nice 19 on every thread it has now (Linux: setpriority on a
 * thread id renices that thread only); threads made later inherit it from their creator. Best effort.
 */
export function reniceSelf(): void {
  for (const t of threadPriorities('self')) {
    try {
      setPriority(t.tid, 19);
    } catch {
      // A thread that ended meanwhile.
    }
  }
  try {
    setPriority(0, 19);
  } catch {
    // Not permitted: the report says what is in force.
  }
}
