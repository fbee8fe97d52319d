// Starts a real Mosquitto broker on a free loopback port for a test, and stops it afterwards.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Broker {
  port: number;
  url: string;
  process: ChildProcess;
  stop(): Promise<void>;
  /** Starts the broker again on the same port (after stop()). */
  restart(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
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
  throw new Error(`mosquitto did not listen on 127.0.0.1:${port} within ${timeoutMs} ms`);
}

export async function startMosquitto(extraConfig = ''): Promise<Broker> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'pinpoint-mosquitto-'));
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(
    conf,
    [
      `listener ${port} 127.0.0.1`,
      'allow_anonymous true',
      'persistence false',
      'log_dest none',
      extraConfig,
    ].join('\n') + '\n',
  );
  const broker: Broker = {
    port,
    url: `mqtt://127.0.0.1:${port}`,
    process: undefined as unknown as ChildProcess,
    async stop() {
      const p = broker.process;
      if (p.exitCode !== null || p.signalCode !== null) return;
      await new Promise<void>((resolve) => {
        p.once('exit', () => resolve());
        p.kill('SIGTERM');
      });
    },
    async restart() {
      await broker.stop();
      broker.process = spawn('mosquitto', ['-c', conf], { stdio: 'ignore' });
      await waitForPort(port, 5000);
    },
  };
  broker.process = spawn('mosquitto', ['-c', conf], { stdio: 'ignore' });
  await waitForPort(port, 5000);
  return broker;
}
