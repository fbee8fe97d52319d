// The parts archive's cost on the pipeline: throughput and capture→decide latency with `archive.keep: all`
// vs the archive off, side by side in this process (alternating runs, same synthetic parts). Goal (issue 11):
// ≥ 0.95 of the throughput and p99 latency within +10 % with the archive on. The model is a TINY dev-teacher
// bundle (S = 56), so the pipeline is as fast as it gets and the archive's share is as large as it gets; the
// camera is paced faster than the pipeline, so throughput = what the pipeline sustains.
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { startApp } from '../src/app.js';
import { configSchema } from '../src/config/schema.js';
import { createBundle } from '../src/model/bundle.js';
import { writeDevTeacher } from '../src/model/dev-teacher.js';
import type { InspectionResult } from '../src/pipeline/result.js';

const PARTS = 60;
const ROUNDS = 2;

function p(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}

async function once(tmp: string, archive: boolean, round: number): Promise<{ perSec: number; p99: number }> {
  const config = configSchema.parse({
    cameras: {
      c: { type: 'synthetic', width: 640, height: 480, fps: 200, count: PARTS, seed: 7, defectRate: 0.5 },
    },
    pipeline: { inputSize: 56, batch: { maxBatch: 4, maxWaitMs: 10 } },
    model: { path: join(tmp, 'model'), cacheDir: join(tmp, 'cache') },
    inference: { device: 'cpu', threads: 1 },
    verdict: { rejectThreshold: 2.14, pixelThreshold: 2.13, deadlineMs: 60000 },
    mqtt: { enabled: false },
    archive: { enabled: archive, dir: join(tmp, `archive-${round}`), keep: 'all' },
    logging: { level: 'warn' },
  });
  const results: InspectionResult[] = [];
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
  await app.done;
  const first = Math.min(...results.map((r) => r.captureTime));
  const last = Math.max(...results.map((r) => r.decideTime));
  const decided = results.filter((r) => r.reason === 'pass' || r.reason === 'score');
  return {
    perSec: (decided.length * 1000) / (last - first),
    p99: p(
      results.map((r) => r.latencyMs),
      0.99,
    ),
  };
}

export async function run(): Promise<void> {
  const tmp = mkdtempSync(join(tmpdir(), 'pinpoint-archive-bench-'));
  try {
    writeDevTeacher(join(tmp, 't.safetensors'), { seed: 0 });
    createBundle({ teacherPath: join(tmp, 't.safetensors'), outDir: join(tmp, 'model'), size: 56 });
    await once(tmp, false, -1); // warm the ONNX cache
    const off: { perSec: number; p99: number }[] = [];
    const on: { perSec: number; p99: number }[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      off.push(await once(tmp, false, r));
      on.push(await once(tmp, true, r));
    }
    const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
    const tOff = mean(off.map((x) => x.perSec));
    const tOn = mean(on.map((x) => x.perSec));
    const lOff = mean(off.map((x) => x.p99));
    const lOn = mean(on.map((x) => x.p99));
    console.log(`load average ${loadavg()[0].toFixed(1)}; ${PARTS} parts 640×480 per run, ${ROUNDS} rounds`);
    console.log(`archive off : ${tOff.toFixed(1)} parts/s, p99 capture→decide ${lOff.toFixed(0)} ms`);
    console.log(`keep: all   : ${tOn.toFixed(1)} parts/s, p99 capture→decide ${lOn.toFixed(0)} ms`);
    console.log(
      `ratio       : throughput ${(tOn / tOff).toFixed(3)} (goal ≥ 0.95), p99 ${(lOn / lOff).toFixed(3)} (goal ≤ 1.10)`,
    );
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
