// Starts a real Mosquitto broker on a free loopback port for a test, and stops it afterwards.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { freePort, waitForPort } from '../../src/util/net.js';
import { killNow, track } from './children.js';

// Tests import freePort from here too.
export { freePort };

export interface Broker {
  port: number;
  /** mqtt://127.0.0.1:<port>, or mqtts:// with a TLS listener. */
  url: string;
  /** The broker's temporary directory (config, password file, persistence). */
  dir: string;
  process: ChildProcess;
  stop(): Promise<void>;
  /** Starts the broker again on the same port (after stop()). */
  restart(): Promise<void>;
}

export interface MosquittoOptions {
  /** Extra mosquitto.conf lines, after the listener (so listener options apply to it). */
  extraConfig?: string;
  /**
   * Keep sessions, queued QoS 1 messages and retained messages across stop()/restart(): a clean: false
   * subscriber then misses nothing while the broker is down.
   */
  persistence?: boolean;
  /** Only these users may connect (anonymous access is refused). */
  users?: Record<string, string>;
  /** A TLS listener with these PEM files; requireCertificate: clients must present one signed by `ca`. */
  tls?: { ca: string; cert: string; key: string; requireCertificate?: boolean };
}

export async function startMosquitto(options: string | MosquittoOptions = ''): Promise<Broker> {
  const o: MosquittoOptions = typeof options === 'string' ? { extraConfig: options } : options;
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'pinpoint-mosquitto-'));
  const conf = join(dir, 'mosquitto.conf');
  const lines = [`listener ${port} 127.0.0.1`];
  if (o.tls) {
    lines.push(`cafile ${o.tls.ca}`, `certfile ${o.tls.cert}`, `keyfile ${o.tls.key}`);
    lines.push(`require_certificate ${o.tls.requireCertificate ? 'true' : 'false'}`);
  }
  if (o.users) {
    const pw = join(dir, 'passwd');
    writeFileSync(pw, '');
    for (const [user, password] of Object.entries(o.users)) {
      execFileSync('mosquitto_passwd', ['-b', pw, user, password], { stdio: 'ignore' });
    }
    lines.push('allow_anonymous false', `password_file ${pw}`);
  } else {
    lines.push('allow_anonymous true');
  }
  if (o.persistence) {
    mkdirSync(join(dir, 'db'));
    lines.push('persistence true', `persistence_location ${join(dir, 'db')}/`);
  } else {
    lines.push('persistence false');
  }
  // Run as whoever runs the tests: as root, mosquitto would switch to the `mosquitto` user, which can read
  // neither our private temporary directory (password file, keys) nor write its persistence file there.
  lines.push(`user ${userInfo().username}`, 'log_dest none', o.extraConfig ?? '');
  writeFileSync(conf, lines.join('\n') + '\n');
  const broker: Broker = {
    port,
    url: `${o.tls ? 'mqtts' : 'mqtt'}://127.0.0.1:${port}`,
    dir,
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
      await launch();
    },
  };
  const launch = async (): Promise<void> => {
    const p = (broker.process = track(spawn('mosquitto', ['-c', conf], { stdio: 'ignore' })));
    try {
      await waitForPort(port, 5000, 'mosquitto', () =>
        p.exitCode !== null ? `mosquitto exited with status ${p.exitCode}` : null,
      );
    } catch (err) {
      killNow(p);
      throw err;
    }
  };
  await launch();
  return broker;
}
