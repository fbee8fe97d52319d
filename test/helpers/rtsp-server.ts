// Runs test/fixtures/rtsp-server.py (GStreamer RTSP server, H.264) on 127.0.0.1 for a test.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { killNow, track } from './children.js';

const SCRIPT = fileURLToPath(new URL('../fixtures/rtsp-server.py', import.meta.url));

export interface RtspServerOptions {
  size?: string;
  fps?: number;
  /** RRGGBB of the solid picture. */
  color?: string;
  /** A videotestsrc pattern (e.g. `ball`, moving content) instead of the solid colour. */
  pattern?: string;
  /** Paint the capture time into the top rows (see the script). */
  stamp?: boolean;
  /** `user:password` for basic auth. */
  user?: string;
}

export interface RtspServer {
  port: number;
  /** rtsp://127.0.0.1:<port>/cam (without credentials). */
  url: string;
  process: ChildProcess;
  stop(): Promise<void>;
  /** Starts it again on the same port. */
  start(): Promise<void>;
  pause(): void;
  resume(): void;
}

function launch(port: number, o: RtspServerOptions): Promise<{ child: ChildProcess; port: number }> {
  const args = [SCRIPT, '--port', String(port), '--size', o.size ?? '320x240', '--fps', String(o.fps ?? 25)];
  if (o.color) args.push('--color', o.color);
  if (o.pattern) args.push('--pattern', o.pattern);
  if (o.stamp) args.push('--stamp');
  if (o.user) args.push('--user', o.user);
  // Debian's python3 (python3-gi lives there), not whatever python3 comes first on PATH.
  const child = track(spawn('/usr/bin/python3', args, { stdio: ['ignore', 'pipe', 'pipe'] }));
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => {
      killNow(child);
      reject(new Error(`rtsp server did not start: ${err}`));
    }, 15000);
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /PORT (\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, port: Number(m[1]) });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`rtsp server exited with ${code}: ${err}`));
    });
  });
}

export async function startRtspServer(o: RtspServerOptions = {}): Promise<RtspServer> {
  const first = await launch(0, o);
  const srv: RtspServer = {
    port: first.port,
    url: `rtsp://127.0.0.1:${first.port}/cam`,
    process: first.child,
    async stop() {
      const p = srv.process;
      if (p.exitCode !== null || p.signalCode !== null) return;
      await new Promise<void>((resolve) => {
        p.once('exit', () => resolve());
        p.kill('SIGKILL');
      });
    },
    async start() {
      srv.process = (await launch(srv.port, o)).child;
    },
    pause() {
      srv.process.kill('SIGSTOP');
    },
    resume() {
      srv.process.kill('SIGCONT');
    },
  };
  return srv;
}
