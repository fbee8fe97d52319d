// The archive worker's CPU priority: the lowest there is, for the calling thread only, so that on a small line
// PC the archive takes only CPU time the inspection does not need (the event loop, the inference thread).
//
// Linux: the thread's kernel id comes from /proc/thread-self; nice 19 is set at once (setpriority applies to
// that one thread), then `chrt --idle -p 0 <tid>` moves it to SCHED_IDLE, which runs only when no normal thread
// wants the core (a nice-19 thread still gets ~1.5 % against each busy one, and is not always preempted at once
// when the inference thread wakes). chrt runs through execFile: no shell, one numeric argument. Without chrt
// (or not permitted) the thread stays at nice 19; elsewhere (not Linux) at normal priority.
import { execFile } from 'node:child_process';
import { readFileSync, readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { statFields } from '../../util/proc-stat.js';

/** What the thread got: SCHED_IDLE, nice 19, or nothing could be changed. */
export type ThreadPriority = 'idle' | 'nice19' | 'normal';

/** SCHED_IDLE in the policy field of /proc/<tid>/stat (field 41; sched.h). */
const SCHED_IDLE = 5;

interface DebugLog {
  debug(fields: Record<string, unknown>, msg: string): void;
}

/** Lowers the calling thread's priority as far as it can (see the header); never throws. */
export async function lowerThreadPriority(log: DebugLog): Promise<ThreadPriority> {
  const tid = threadId();
  if (tid === null) return 'normal';
  try {
    setPriority(tid, 19);
  } catch (err) {
    log.debug({ err: (err as Error).message }, 'archive worker: nice 19 not permitted');
    return 'normal';
  }
  const err = await chrtIdle(tid);
  if (err === null && policyOf(tid) === SCHED_IDLE) return 'idle';
  log.debug({ tid, err }, 'archive worker: SCHED_IDLE not set (chrt missing or refused): runs at nice 19');
  return 'nice19';
}

/** This thread's kernel thread id (Linux), else null. */
function threadId(): number | null {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    return Number.isInteger(tid) && tid > 0 ? tid : null;
  } catch {
    return null;
  }
}

function chrtIdle(tid: number): Promise<string | null> {
  return new Promise((resolve) => {
    execFile('chrt', ['--idle', '-p', '0', String(tid)], { timeout: 5000 }, (err, _out, stderr) =>
      resolve(err ? stderr.trim() || err.message : null),
    );
  });
}

/** The scheduling policy of a thread of this process, from /proc (null when unreadable). */
export function policyOf(tid: number): number | null {
  try {
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    return Number(statFields(stat)[41 - 3]);
  } catch {
    return null;
  }
}
