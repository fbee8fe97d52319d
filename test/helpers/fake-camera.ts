// Starts Aravis's fake GigE Vision camera (arv-fake-gv-camera-0.8, Debian aravis-tools) on 127.0.0.1 and
// talks to it with arv-tool-0.8, both without CAP_NET_RAW (see dropNetRawOptions).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { dropNetRawOptions } from '../../src/sources/gige.js';
import { killNow, track } from './children.js';

const run = promisify(execFile);

export interface FakeCamera {
  serial: string;
  /** The Aravis device id to put in a gige camera's `device`. */
  device: string;
  process: ChildProcess;
  /** Reads features back: { Name: 'value' } as arv-tool prints them. */
  read(...features: string[]): Promise<Record<string, string>>;
  kill(): Promise<void>;
  /** Starts a fresh camera process with the same serial (registers back at their defaults). */
  start(): Promise<void>;
}

async function arvTool(args: string[]): Promise<string> {
  const argv = ['setpriv', ...dropNetRawOptions(), '--', 'arv-tool-0.8', ...args];
  const { stdout } = await run(argv[0], argv.slice(1), { timeout: 10000 });
  return stdout;
}

export interface FakeCameraOptions {
  /**
   * Share of its stream packets the camera drops at random, per thousand (its own --gvsp-lost-ratio: the
   * packets are never sent, as on a lossy link; the fake camera does not resend them).
   */
  lostPerThousand?: number;
}

export async function startFakeCamera(serial = 'PP01', o: FakeCameraOptions = {}): Promise<FakeCamera> {
  const cam: FakeCamera = {
    serial,
    device: `Aravis-Fake-${serial}`,
    process: undefined as unknown as ChildProcess,
    async read(...features) {
      const out = await arvTool(['-n', cam.device, 'control', ...features]);
      const res: Record<string, string> = {};
      for (const line of out.split('\n')) {
        const m = /^(\w+) = (\S+)/.exec(line.trim());
        if (m) res[m[1]] = m[2];
      }
      return res;
    },
    async kill() {
      const p = cam.process;
      if (p.exitCode !== null || p.signalCode !== null) return;
      await new Promise<void>((resolve) => {
        p.once('exit', () => resolve());
        p.kill('SIGKILL');
      });
    },
    async start() {
      const loss = o.lostPerThousand ? ['-r', String(o.lostPerThousand)] : [];
      cam.process = track(
        spawn('arv-fake-gv-camera-0.8', ['-i', '127.0.0.1', '-s', serial, ...loss], { stdio: 'ignore' }),
      );
      const until = Date.now() + 15000;
      for (;;) {
        try {
          await cam.read('Width');
          return;
        } catch (err) {
          if (Date.now() > until) {
            killNow(cam.process);
            throw new Error(`fake camera ${cam.device} did not answer: ${String(err)}`);
          }
          await new Promise((r) => setTimeout(r, 200));
        }
      }
    },
  };
  await cam.start();
  return cam;
}
