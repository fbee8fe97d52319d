// Loopback port helpers for the demo's broker and the tests' fixtures.
import { connect, createServer } from 'node:net';

/** A TCP port free on 127.0.0.1 right now (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Resolves once 127.0.0.1:port accepts a connection. `dead()` lets the caller give up early when the
 * process that should listen has exited (its message becomes the error).
 */
export async function waitForPort(
  port: number,
  timeoutMs: number,
  what: string,
  dead: () => string | null = () => null,
): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const why = dead();
    if (why) throw new Error(why);
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what} did not listen on 127.0.0.1:${port} within ${timeoutMs} ms`);
}
