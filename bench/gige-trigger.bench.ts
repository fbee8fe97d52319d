// Software trigger → frame latency on the gige source (gige-runner.py) against Aravis's fake camera.
//
//   trigger→frame: from ctx.softwareTrigger$.next() (what the app does on a PLC part message) to the frame
//     reaching the source's subscriber: pipe to the runner, TriggerSoftware over GVCP, the camera's wait,
//     GVSP transfer, appsrc → GDP pipe → Frame.
//   The fake camera looks at its TriggerSoftware register only on a 25 Hz grid (40 ms), so 0–40 ms of every
//   sample is the fake camera's own wait (a real camera starts exposing within microseconds). Triggers are
//   137 ms apart so they fall on all phases of that grid; min ≈ the path without the camera's wait.
// The fake camera runs on the same 2 cores.
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { Subject } from 'rxjs';
import { pino } from 'pino';
import { cameraSchema, type CameraConfig } from '../src/config/schema.js';
import { gigeSource } from '../src/sources/gige.js';
import type { SourceState } from '../src/sources/types.js';
import { startFakeCamera } from '../test/helpers/fake-camera.js';

const N = 50;
const GAP_MS = 137;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const now = () => performance.now();

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

async function measure(device: string, width: number, height: number): Promise<string> {
  const cfg = cameraSchema.parse({
    type: 'gige',
    device,
    pixelFormat: 'Mono8',
    packetSize: 16000,
    softwareTrigger: true,
    trigger: { enabled: true },
    features: { Width: width, Height: height },
  }) as Extract<CameraConfig, { type: 'gige' }>;
  const fire = new Subject<number>();
  let state: SourceState | null = null;
  const sent: number[] = [];
  const lat: number[] = [];
  const sub = gigeSource
    .create('bench', cfg, {
      log: pino({ level: 'silent' }),
      configDir: '.',
      onState: (s) => (state = s),
      softwareTrigger$: fire,
    })
    .subscribe(() => {
      const t = sent.shift();
      if (t !== undefined) lat.push(now() - t);
    });
  try {
    const end = Date.now() + 15000;
    while (state !== 'streaming' && Date.now() < end) await sleep(20);
    if (state !== 'streaming') return `${width}×${height}: camera not streaming (${state})`;
    for (let i = 0; i < N; i++) {
      sent.length = 0; // a trigger whose frame was lost must not pair with the next one
      sent.push(now());
      fire.next(i + 1);
      await sleep(GAP_MS);
    }
  } finally {
    sub.unsubscribe();
  }
  if (lat.length === 0) return `${width}×${height} Mono8: 0/${N} frames (see net.core.rmem_max)`;
  const f = (x: number) => x.toFixed(1);
  return (
    `${width}×${height} Mono8: ${lat.length}/${N} frames, trigger→frame p50 ${f(pct(lat, 50))} / ` +
    `p99 ${f(pct(lat, 99))} ms (min ${f(Math.min(...lat))}, max ${f(Math.max(...lat))})`
  );
}

export async function run(): Promise<void> {
  const rmem = readFileSync('/proc/sys/net/core/rmem_default', 'utf8').trim();
  console.log(
    `load average before: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}; rmem_default ${rmem}`,
  );
  const cam = await startFakeCamera('PPTRBENCH');
  try {
    console.log(await measure(cam.device, 256, 192));
    console.log(await measure(cam.device, 1280, 1024));
  } finally {
    await cam.kill();
  }
  console.log(
    `load average after: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
}
