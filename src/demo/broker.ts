// The demo's MQTT broker: the Debian `mosquitto` package (deps/debian-packages.txt; `make demo` installs it),
// started as a child on a free loopback port with a throw-away config. A real broker rather than an embedded
// one, so the demo shows exactly what a PLC gateway on the line would receive.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { accessSync, constants, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { delimiter, join } from 'node:path';
import { freePort, waitForPort } from '../util/net.js';

export interface LocalBroker {
  url: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

/** The mosquitto binary on PATH or in the Debian location (/usr/sbin is not on every user's PATH). */
export function findMosquitto(): string | null {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin'];
  for (const d of dirs) {
    if (!d) continue;
    const p = join(d, 'mosquitto');
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return null;
}

export async function startLocalMosquitto(binary: string, dir: string): Promise<LocalBroker> {
  const port = await freePort();
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(
    conf,
    [
      `listener ${port} 127.0.0.1`,
      'allow_anonymous true',
      'persistence false',
      // As root mosquitto would switch to its own user, which may not read this directory.
      `user ${userInfo().username}`,
      `log_dest file ${join(dir, 'mosquitto.log')}`,
    ].join('\n') + '\n',
  );
  // Behind a shell that waits for the end of its stdin (our pipe): if the demo dies without stopping the
  // broker (even by SIGKILL), the pipe closes and the shell stops mosquitto; no broker is left behind.
  const child = spawn(
    '/bin/sh',
    [
      '-c',
      'exec 3<&0; "$0" -c "$1" </dev/null & pid=$!; read _ <&3; kill $pid 2>/dev/null; wait $pid',
      binary,
      conf,
    ],
    { stdio: ['pipe', 'ignore', 'ignore'], detached: true },
  );
  // Neither the shell nor our end of its pipe may keep the demo alive: when the demo ends, the pipe closes.
  child.unref();
  (child.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  const broker: LocalBroker = {
    url: `mqtt://127.0.0.1:${port}`,
    process: child,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.ref(); // wait for it here
      await new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.stdin?.end(); // the shell stops mosquitto and waits for it
      });
    },
  };
  try {
    await waitForPort(port, 5000, 'mosquitto (see its log)', () =>
      child.exitCode !== null ? `mosquitto exited with status ${child.exitCode}` : null,
    );
  } catch (e) {
    child.stdin?.end();
    throw e;
  }
  return broker;
}
