// The live console's cost on the pipeline: throughput and capture→decide p99 with nobody watching, with the web
// console on and one reading WebSocket client, and with that plus a client that stops reading (a real socket
// with a 4 KB receive buffer that never reads), side by side in this process, alternating.
// - reading vs nobody: what showing parts costs the pipeline at liveFps 30, the most the config allows. Each
//   shown update costs ~4 ms of CPU at 640×480 (1.4 ms shrink on the event loop, the JPEG in the thread pool),
//   taken from inference on a saturated 2-core machine; with jpeg-js on the event loop it was ~60 ms and the
//   ratio 0.46. Reported, no pass mark: at the default liveFps 2 the cost is 15× smaller.
// - stalled vs reading (issue 12): ratio ≈ 1, the stalled client's backlog bounded (live-hub MAX_BUFFERED), and
//   updates skipped for it, not for the reading client.
// TINY dev-teacher model (S = 56), camera paced faster than the pipeline (throughput = what it sustains).
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import WebSocket from 'ws';
import { startApp } from '../src/app.js';
import { configSchema } from '../src/config/schema.js';
import { createBundle } from '../src/model/bundle.js';
import { writeDevTeacher } from '../src/model/dev-teacher.js';
import type { InspectionResult } from '../src/pipeline/result.js';
import type { LiveStats } from '../src/sinks/web/live-hub.js';
import { freePort, waitForPort } from '../src/util/net.js';
import { stalledWebSocket } from '../test/helpers/stalled-ws.js';

const PARTS = 80;
const ROUNDS = 4;
/** A TCP server that reads and never answers (see once()). */
let decoyPort = 0;

interface Outcome {
  perSec: number;
  p99: number;
  live: LiveStats;
  /** Messages the reading client got. */
  received: number;
}

function p(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}

type Watch = 'nobody' | 'reader' | 'stalled';

async function once(tmp: string, watch: Watch): Promise<Outcome> {
  const port = await freePort();
  const config = configSchema.parse({
    cameras: {
      c: { type: 'synthetic', width: 640, height: 480, fps: 200, count: PARTS, seed: 7, defectRate: 0.5 },
    },
    pipeline: { inputSize: 56, batch: { maxBatch: 4, maxWaitMs: 10 } },
    model: { path: join(tmp, 'model'), cacheDir: join(tmp, 'cache') },
    inference: { device: 'cpu', threads: 1 },
    verdict: { rejectThreshold: 2.14, pixelThreshold: 2.13, deadlineMs: 60000 },
    mqtt: { enabled: false },
    web: { enabled: true, port, liveFps: 30 },
    logging: { level: 'warn' },
  });
  const results: InspectionResult[] = [];
  let received = 0;
  let stalledProc: ReturnType<typeof stalledWebSocket> | undefined;
  let reader: WebSocket | undefined;
  // The clients connect as soon as the server listens (before the camera's first frames).
  const clients = (async () => {
    await waitForPort(port, 120000, 'console');
    if (watch !== 'nobody') {
      reader = new WebSocket(`ws://127.0.0.1:${port}/api/live`);
      reader.on('message', () => received++);
    }
    if (watch === 'stalled') {
      stalledProc = stalledWebSocket(port);
      await stalledProc.statusLine;
    } else {
      // The same python3 process, pointed at a sink that never answers: its start-up CPU is in both conditions.
      stalledProc = stalledWebSocket(decoyPort);
      stalledProc.statusLine.catch(() => undefined); // never answered; rejects when killed
    }
  })();
  const app = await startApp({
    config,
    configDir: tmp,
    log: pino({ level: 'warn' }),
    sinks: [
      {
        name: 'bench',
        start: async () => {},
        result: (r) => void results.push(r),
        cameraState: () => {},
        stop: async () => {},
      },
    ],
  });
  await clients;
  let live: LiveStats | undefined;
  const sample = setInterval(() => {
    void fetch(`http://127.0.0.1:${port}/api/live/stats`)
      .then((r) => r.json() as Promise<LiveStats>)
      .then((s) => (live = s))
      .catch(() => undefined);
  }, 200);
  await app.done;
  clearInterval(sample);
  reader?.close();
  stalledProc?.process.kill('SIGKILL');
  const first = Math.min(...results.map((r) => r.captureTime));
  const last = Math.max(...results.map((r) => r.decideTime));
  const decided = results.filter((r) => r.reason === 'pass' || r.reason === 'score');
  return {
    perSec: (decided.length * 1000) / (last - first),
    p99: p(
      results.map((r) => r.latencyMs),
      0.99,
    ),
    live: live!,
    received,
  };
}

export async function run(): Promise<void> {
  const tmp = mkdtempSync(join(tmpdir(), 'pinpoint-console-bench-'));
  const decoy = createServer((sock) => sock.resume());
  await new Promise<void>((r) => decoy.listen(0, '127.0.0.1', r));
  decoyPort = (decoy.address() as AddressInfo).port;
  try {
    writeDevTeacher(join(tmp, 't.safetensors'), { seed: 0 });
    createBundle({ teacherPath: join(tmp, 't.safetensors'), outDir: join(tmp, 'model'), size: 56 });
    await once(tmp, 'reader'); // warm the ONNX cache
    const arms: Record<Watch, Outcome[]> = { nobody: [], reader: [], stalled: [] };
    const order: Watch[] = ['nobody', 'reader', 'stalled'];
    // A rotating order per round, so no condition always runs first or last.
    for (let r = 0; r < ROUNDS; r++)
      for (let k = 0; k < order.length; k++) {
        const w = order[(r + k) % order.length];
        arms[w].push(await once(tmp, w));
      }
    const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
    const tput = (w: Watch) => mean(arms[w].map((x) => x.perSec));
    const p99 = (w: Watch) => mean(arms[w].map((x) => x.p99));
    console.log(
      `load average ${loadavg()[0].toFixed(1)}; ${PARTS} parts 640×480 per run, liveFps 30, ${ROUNDS} rounds`,
    );
    const label: Record<Watch, string> = {
      nobody: 'nobody watching          ',
      reader: 'reading client           ',
      stalled: '+ client that stops reading',
    };
    for (const w of order)
      console.log(`${label[w]}: ${tput(w).toFixed(1)} parts/s, p99 capture→decide ${p99(w).toFixed(0)} ms`);
    const ratio = (a: Watch, b: Watch) =>
      `throughput ${(tput(a) / tput(b)).toFixed(3)}, p99 ${(p99(a) / p99(b)).toFixed(3)}`;
    console.log(
      `watched / nobody         : ${ratio('reader', 'nobody')} (jpeg-js on the event loop: 0.46, 1.8)`,
    );
    console.log(`stalled / reading        : ${ratio('stalled', 'reader')} (goal ≈ 1)`);
    const reading = arms.reader.map((o) => `${o.live.encoded} built, ${o.received} received`);
    console.log(`reading client per round : ${reading.join(' | ')}`);
    const hung = arms.stalled;
    for (const [i, h] of hung.entries()) {
      const per = h.live.perClient.map(
        (c) => `sent ${c.sent} skipped ${c.skipped} backlog ${c.bufferedAmount} B`,
      );
      console.log(
        `round ${i}: updates built ${h.live.encoded}; reading client got ${h.received}; clients: ${per.join(' | ')}`,
      );
    }
  } finally {
    decoy.close();
    rmSync(tmp, { recursive: true, force: true });
  }
}
