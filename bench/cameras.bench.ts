// Camera capture cost and latency at 1280×1024 @ 25 fps, on the loopback fixtures the tests use.
//
//   CPU: the gst-launch child's utime+stime from /proc/<pid>/stat over a window, as % of one core, plus the
//        daemon side (this process: pipe reads, GDP re-assembly, Frame objects) from process.cpuUsage().
//   camera→app latency (the engine is not in this measurement):
//     GigE: Aravis's fake camera emits frames on the wall-clock grid of its frame period (it sleeps until
//           the next multiple of 40 ms of g_get_real_time and stamps the frame then), so
//           latency = arrival − the grid point before it; valid while latency < one period.
//     RTSP: the fixture paints its wall-clock time into each frame before H.264 encoding (--stamp);
//           latency = arrival − painted time (encode + RTP + depay + decode + convert + pipe).
//   camera→verdict: both cameras at once through the real app (startApp: engine, batching, letterbox,
//     inference, verdicts) with a TINY dev-teacher bundle (S = 56), so this is capture + pipeline overhead;
//     a real model's inference time (bench/model) adds to it. GigE: decideTime − the frame's grid point;
//     RTSP: decideTime − arrival (its glass→app part is the time-stamped row above).
// The fake camera, the RTSP server and its x264 encoder run on the same 2 cores and are not counted.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Observable } from 'rxjs';
import { pino } from 'pino';
import { startApp } from '../src/app.js';
import { cameraSchema, configSchema, type CameraConfig } from '../src/config/schema.js';
import { createBundle } from '../src/model/bundle.js';
import { writeDevTeacher } from '../src/model/dev-teacher.js';
import type { InspectionResult } from '../src/pipeline/result.js';
import { createGigeSource } from '../src/sources/gige.js';
import { capsFilter, element, frameSinkTokens, link } from '../src/sources/gst-pipeline.js';
import { gstFrames } from '../src/sources/gst-process.js';
import { createRtspSource } from '../src/sources/rtsp.js';
import type { Frame, SourceContext, SourceState } from '../src/sources/types.js';
import { startFakeCamera } from '../test/helpers/fake-camera.js';
import { startRtspServer } from '../test/helpers/rtsp-server.js';
import { statCpuMs } from '../src/util/proc-stat.js';

const W = 1280;
const H = 1024;
const FPS = 25;
const WINDOW_MS = 8000;
const CLK_TCK = 100; // Linux USER_HZ
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const now = () => performance.timeOrigin + performance.now();

function cpuTicks(pid: number): number {
  return statCpuMs(readFileSync(`/proc/${pid}/stat`, 'utf8')) / 10;
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

interface Measured {
  fps: number;
  childCpu: number;
  daemonCpu: number;
  latency: number[];
}

async function measure(
  create: (onSpawn: (pid: number) => void, ctx: SourceContext) => Observable<Frame>,
  latencyOf: (f: Frame, arrival: number) => number | null,
): Promise<Measured | string> {
  const pids: number[] = [];
  let state = 'connecting' as SourceState;
  let lastDetail = '';
  let frames = 0;
  let counting = false;
  const latency: number[] = [];
  const ctx: SourceContext = {
    log: pino({ level: 'silent' }),
    configDir: '.',
    onState: (s, d) => {
      state = s;
      lastDetail = d ?? '';
    },
  };
  const sub = create((pid) => pids.push(pid), ctx).subscribe((f) => {
    const arrival = now();
    if (!counting) return;
    frames++;
    const l = latencyOf(f, arrival);
    if (l !== null) latency.push(l);
  });
  try {
    const end = Date.now() + 20000;
    while (state !== 'streaming' && Date.now() < end) await sleep(50);
    if (state !== 'streaming') return `never streamed (${state}: ${lastDetail})`;
    await sleep(2000);
    const pid = pids.at(-1)!;
    const c0 = cpuTicks(pid);
    const d0 = process.cpuUsage();
    const t0 = now();
    counting = true;
    await sleep(WINDOW_MS);
    counting = false;
    const dt = now() - t0;
    if (pids.at(-1) !== pid) return 'the child restarted during the window';
    const d = process.cpuUsage(d0);
    return {
      fps: (frames * 1000) / dt,
      childCpu: ((cpuTicks(pid) - c0) / CLK_TCK / (dt / 1000)) * 100,
      daemonCpu: ((d.user + d.system) / 1000 / dt) * 100,
      latency,
    };
  } finally {
    sub.unsubscribe();
    await sleep(1500);
  }
}

function report(name: string, m: Measured | string): void {
  if (typeof m === 'string') {
    console.log(`${name.padEnd(28)} ${m}`);
    return;
  }
  const lat =
    m.latency.length > 0
      ? `camera→app p50 ${pct(m.latency, 50).toFixed(1)} ms  p99 ${pct(m.latency, 99).toFixed(1)} ms (n=${m.latency.length})`
      : '';
  console.log(
    `${name.padEnd(28)} ${m.fps.toFixed(1).padStart(5)} fps  child ${m.childCpu.toFixed(0).padStart(3)} % core  daemon ${m.daemonCpu.toFixed(0).padStart(3)} % core  ${lat}`,
  );
}

function cfgOf(raw: Record<string, unknown>): CameraConfig {
  return cameraSchema.parse(raw);
}

export async function run(): Promise<void> {
  console.log(
    `load average before: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')} (2 cores, shared)`,
  );
  console.log(`${W}×${H} @ ${FPS} fps, ${WINDOW_MS / 1000} s windows; % core = CPU seconds per second`);
  // aravissrc leaves the GVSP socket at the system default receive buffer: below a frame, packets drop.
  const rmem = readFileSync('/proc/sys/net/core/rmem_default', 'utf8').trim();
  console.log(
    `net.core.rmem_default = ${rmem} (GigE needs ≥ a few frames, e.g. 4194304, or frames are lost)`,
  );

  // The daemon's side alone: a videotestsrc child feeding the same GDP pipe, nothing else running.
  const synthetic = link(
    element('videotestsrc', { 'is-live': true, pattern: 'solid-color' }),
    capsFilter('video/x-raw', { format: 'RGB', width: W, height: H, framerate: `${FPS}/1` }),
    frameSinkTokens(),
  );
  report(
    'videotestsrc RGB (pipe only)',
    await measure(
      (onSpawn, ctx) =>
        gstFrames(
          'test',
          { pipeline: synthetic, describe: 'test', stallTimeoutMs: 5000, timestamps: 'arrival', onSpawn },
          ctx,
        ),
      () => null,
    ),
  );

  const cam = await startFakeCamera('PPBENCH');
  try {
    const period = 1000 / FPS;
    for (const pixelFormat of ['Mono8', 'RGB8', 'BayerGR8'] as const) {
      const cfg = cfgOf({
        type: 'gige',
        device: cam.device,
        pixelFormat,
        packetSize: 16000,
        features: { Width: W, Height: H, AcquisitionFrameRate: FPS },
      }) as Extract<CameraConfig, { type: 'gige' }>;
      const m = await measure(
        (onSpawn, ctx) => createGigeSource({ onSpawn }).create('gige', cfg, ctx),
        (_f, arrival) => arrival % period,
      );
      report(`gige ${pixelFormat}`, m);
    }
  } finally {
    await cam.kill();
  }

  const moving = await startRtspServer({ size: `${W}x${H}`, fps: FPS, pattern: 'ball' });
  try {
    const cfg = cfgOf({ type: 'rtsp', url: moving.url }) as Extract<CameraConfig, { type: 'rtsp' }>;
    report(
      'rtsp H.264 (moving ball)',
      await measure(
        (onSpawn, ctx) => createRtspSource({ onSpawn }).create('rtsp', cfg, ctx),
        () => null,
      ),
    );
  } finally {
    await moving.stop();
  }

  const stamped = await startRtspServer({ size: `${W}x${H}`, fps: FPS, stamp: true });
  try {
    const cfg = cfgOf({ type: 'rtsp', url: stamped.url }) as Extract<CameraConfig, { type: 'rtsp' }>;
    report(
      'rtsp H.264 (time-stamped)',
      await measure(
        (onSpawn, ctx) => createRtspSource({ onSpawn }).create('rtsp', cfg, ctx),
        (f, arrival) => {
          // 40 bars of 16 px in the top rows, most significant bit first (see rtsp-server.py).
          const d = f.image.data;
          let t = 0;
          for (let bit = 0; bit < 40; bit++)
            t = t * 2 + (d[(8 * f.image.width + bit * 16 + 8) * 3 + 1] > 128 ? 1 : 0);
          const lat = (arrival - t) % 2 ** 40;
          return lat >= 0 && lat < 10000 ? lat : null;
        },
      ),
    );
  } finally {
    await stamped.stop();
  }
  await cameraToVerdict();
  console.log(
    `load average after: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
}

async function cameraToVerdict(): Promise<void> {
  const tmp = mkdtempSync(join(tmpdir(), 'pinpoint-cam-bench-'));
  const cam = await startFakeCamera('PPBENCH2');
  const srv = await startRtspServer({ size: `${W}x${H}`, fps: FPS, pattern: 'ball' });
  try {
    writeDevTeacher(join(tmp, 'teacher.safetensors'), { seed: 0 });
    createBundle({ teacherPath: join(tmp, 'teacher.safetensors'), outDir: join(tmp, 'model'), size: 56 });
    const config = configSchema.parse({
      cameras: {
        gige: {
          type: 'gige',
          device: cam.device,
          pixelFormat: 'Mono8',
          packetSize: 16000,
          features: { Width: W, Height: H, AcquisitionFrameRate: FPS },
        },
        rtsp: { type: 'rtsp', url: srv.url },
      },
      pipeline: { inputSize: 56, batch: { maxBatch: 4, maxWaitMs: 10 } },
      model: { path: join(tmp, 'model') },
      inference: { device: 'cpu', threads: 1 },
      verdict: { rejectThreshold: 1e6, pixelThreshold: 1e6 },
      logging: { level: 'warn', statsIntervalSec: 0 },
      mqtt: { enabled: false },
    });
    const results: InspectionResult[] = [];
    let counting = false;
    const app = await startApp({
      config,
      configDir: tmp,
      log: pino({ level: 'warn' }),
      sinks: [
        {
          name: 'bench',
          start: async () => {},
          result: (r) => {
            if (counting) results.push(r);
          },
          cameraState: () => {},
          stop: async () => {},
        },
      ],
    });
    await sleep(4000);
    counting = true;
    await sleep(WINDOW_MS);
    counting = false;
    await app.stop('bench done');
    const period = 1000 / FPS;
    for (const id of ['gige', 'rtsp']) {
      const rs = results.filter((r) => r.cameraId === id);
      const ok = rs.filter((r) => r.reason === 'pass');
      const lat = ok.map((r) =>
        id === 'gige' ? r.decideTime - Math.floor(r.captureTime / period) * period : r.latencyMs,
      );
      const what = id === 'gige' ? 'camera→verdict' : 'arrival→verdict';
      console.log(
        `${`app ${id} (tiny model)`.padEnd(28)} ${((rs.length * 1000) / WINDOW_MS).toFixed(1).padStart(5)} parts/s ` +
          `(${rs.length - ok.length} dropped by the queue)  ` +
          (lat.length > 0
            ? `${what} p50 ${pct(lat, 50).toFixed(1)} ms  p99 ${pct(lat, 99).toFixed(1)} ms`
            : ''),
      );
    }
  } finally {
    await Promise.all([cam.kill(), srv.stop()]);
    rmSync(tmp, { recursive: true, force: true });
  }
}
