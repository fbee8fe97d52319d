// Every service a test file starts (broker, fake camera, RTSP server, a daemon) is killed when the file's
// process exits, whatever happened before: a failed assertion that skipped a test's own cleanup must not
// leave a child running into the next file (a fake camera left over holds 127.0.0.1:3956 for every later
// GigE test; a daemon left over loads the 2 cores). The runner ends a file once its tests are done
// (--test-force-exit in scripts/run-tests.mjs), and its 'exit' handlers run then.
import type { ChildProcess } from 'node:child_process';

const live = new Set<ChildProcess>();

process.once('exit', () => {
  for (const c of live) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

/** Tracks `child` until it exits; returns it. */
export function track<T extends ChildProcess>(child: T): T {
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}

/** Kills `child` at once (SIGKILL) unless it has already exited: the cleanup of a failed start. */
export function killNow(child: ChildProcess | undefined): void {
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

/** The child's exit code; one still running after `ms` is killed and fails the test (a hung shutdown). */
export async function exitCodeWithin(child: ChildProcess, ms: number): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  let t: NodeJS.Timeout | undefined;
  const code = await Promise.race([
    new Promise<number | null>((r) => child.once('exit', (c) => r(c))),
    new Promise<'timeout'>((r) => (t = setTimeout(() => r('timeout'), ms))),
  ]);
  clearTimeout(t);
  if (code === 'timeout') {
    child.kill('SIGKILL');
    throw new Error(`pid ${child.pid} did not exit within ${ms} ms`);
  }
  return code;
}
