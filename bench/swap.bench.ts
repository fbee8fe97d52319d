// What a hot swap costs the line: capture→verdict latency (p50, p99, max) of a steady stream of parts, in
// rounds without swaps and rounds with two swaps (load + warm-up of the incoming version in its own worker
// thread, then the switch between two batches), alternated in one run so machine load hits both alike.
// Dev-teacher bundles of a models directory; inference on the CPU with BENCH_THREADS threads per worker.
// Knobs: BENCH_SIZE (S, default 112), BENCH_ROUND_S (default 10), BENCH_ROUNDS (pairs, default 2),
// BENCH_FPS (the camera's rate, default 25).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Observable, Subject, takeUntil } from 'rxjs';
import { pino } from 'pino';
import { createBundle, loadBundle, saveStudents } from '../src/model/bundle.js';
import { writeDevTeacher } from '../src/model/dev-teacher.js';
import { readManifest } from '../src/model/bundle.js';
import { publishVersion } from '../src/model/version-publish.js';
import { versionDir } from '../src/model/versions.js';
import { Engine, type EngineFrame } from '../src/pipeline/engine.js';
import { ModelSwapper, type SwapOutcome } from '../src/pipeline/model-swap.js';
import type { InspectionResult } from '../src/pipeline/result.js';
import type { VerdictSettings } from '../src/pipeline/verdict.js';
import { openModelInWorker } from '../src/pipeline/worker-model.js';
import { pace } from '../src/sources/pace.js';

const S = Number(process.env.BENCH_SIZE ?? 112);
const ROUND_S = Number(process.env.BENCH_ROUND_S ?? 10);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
/** Well inside what the pipeline sustains on the loaded 2-core machine (letterbox + maps + blobs per part). */
const fps = Number(process.env.BENCH_FPS ?? 25);
const THREADS = Number(process.env.BENCH_THREADS ?? 1);
const log = pino({ level: 'silent' });
const verdict: VerdictSettings = { thresholds: { reject: 1e9, pixel: 1e9 }, minBlobArea: 16, ignore: [] };

function q(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

function frames(fps: number): Observable<EngineFrame> {
  const data = new Uint8Array(320 * 240 * 3);
  for (let i = 0; i < data.length; i++) data[i] = (i * 31) & 255;
  const image = { width: 320, height: 240, channels: 3 as const, data };
  return new Observable<EngineFrame>((sub) => {
    let seq = 0;
    return pace(1000 / fps, () => {
      seq++;
      sub.next({ cameraId: 'a', seq, captureTime: Date.now(), image });
      return true;
    });
  });
}

interface Round {
  latency: number[];
  failSafe: number;
  swaps: SwapOutcome[];
}

async function round(engine: Engine, swapper: ModelSwapper, dirs: [string, string][]): Promise<Round> {
  const stop$ = new Subject<void>();
  const results: InspectionResult[] = [];
  const done = new Promise<void>((resolve) =>
    engine
      .run(frames(fps).pipe(takeUntil(stop$)))
      .subscribe({ next: (r) => results.push(r), complete: resolve }),
  );
  const swaps: Promise<SwapOutcome>[] = [];
  const at = [0.25, 0.6];
  dirs.forEach(([dir, v], i) => setTimeout(() => swaps.push(swapper.swapTo(dir, v)), at[i] * ROUND_S * 1000));
  await new Promise((r) => setTimeout(r, ROUND_S * 1000));
  stop$.next();
  await done;
  return {
    latency: results.map((r) => r.latencyMs).sort((a, b) => a - b),
    failSafe: results.filter((r) => r.reason !== 'pass' && r.reason !== 'score').length,
    swaps: await Promise.all(swaps),
  };
}

/** Median wall time of a batch of 1 once warm (warm-up's single CPU run includes first-run set-up). */
async function steadyMs(engine: Engine, runs: number): Promise<number> {
  const m = engine.models.current.model;
  const pixels = new Uint8Array(S * S * 3).fill(100);
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await m.run(pixels, 1);
    ms.push(performance.now() - t0);
  }
  return ms.sort((a, b) => a - b)[runs >> 1];
}

function line(name: string, r: Round[]): string {
  const all = r.flatMap((x) => x.latency).sort((a, b) => a - b);
  const fs = r.reduce((s, x) => s + x.failSafe, 0);
  return `${name.padEnd(14)} parts ${String(all.length).padStart(5)}  p50 ${q(all, 0.5).toFixed(0).padStart(4)} ms  p99 ${q(all, 0.99).toFixed(0).padStart(4)} ms  max ${all[all.length - 1].toFixed(0).padStart(4)} ms  fail-safe ${fs}`;
}

export async function run(): Promise<void> {
  const tmp = mkdtempSync(join(tmpdir(), 'pinpoint-swap-bench-'));
  try {
    const teacher = join(tmp, 'teacher.safetensors');
    writeDevTeacher(teacher, { depth: 4, dim: 64, heads: 4, registers: 4, seed: 1 });
    const models = join(tmp, 'models');
    const versions: string[] = [];
    for (let s = 0; s < 3; s++) {
      const dir = join(tmp, `b${s}`);
      createBundle({ teacherPath: teacher, outDir: dir, size: S, layers: [2, 4], seed: s });
      saveStudents(dir, loadBundle(dir).students, { thresholds: { reject: 1e9, pixel: 1e9, rule: 'bench' } });
      versions.push(publishVersion(models, dir, { parent: null }).version);
    }
    const open = (dir: string) => openModelInWorker(dir, { device: 'cpu', threads: THREADS });
    const engine = new Engine({
      model: await open(versionDir(models, versions[0])),
      modelVersion: versions[0],
      cameras: new Map([
        ['a', { queue: { depth: 16, policy: 'drop-oldest' }, verdict, triggerWindowMs: null }],
      ]),
      maxBatch: 4,
      maxWaitMs: 10,
      deadlineMs: 5000,
      failSafe: 'reject',
      log,
    });
    await engine.warmUp();
    const oneMs = await steadyMs(engine, 8);
    const swapper = new ModelSwapper(engine.models, {
      open,
      verdicts: () => new Map([['a', verdict]]),
      maxBatch: 4,
      log,
    });
    console.log(
      `S ${S}, dev teacher depth 4 width 64, ${THREADS} ORT thread(s) per worker; inference of a batch of 1 ${oneMs.toFixed(1)} ms; camera at ${fps} fps; ${ROUNDS}×${ROUND_S} s each, alternated`,
    );
    const plain: Round[] = [];
    const swapped: Round[] = [];
    let k = 0;
    for (let i = 0; i < ROUNDS; i++) {
      plain.push(await round(engine, swapper, []));
      const next = (): [string, string] => {
        k = (k + 1) % versions.length;
        return [versionDir(models, versions[k]), versions[k]];
      };
      swapped.push(await round(engine, swapper, [next(), next()]));
    }
    const swaps = swapped.flatMap((r) => r.swaps);
    const ok = swaps.filter((s) => s.ok);
    console.log(line('no swap', plain));
    console.log(line('2 swaps/round', swapped));
    const p99 = (r: Round[]) =>
      q(
        r.flatMap((x) => x.latency).sort((a, b) => a - b),
        0.99,
      );
    console.log(
      `p99 ratio with/without swaps ${(p99(swapped) / p99(plain)).toFixed(2)}; ${ok.length}/${swaps.length} swaps, load+warm-up ${ok.map((s) => s.loadMs).join(', ')} ms; model now ${readManifest(versionDir(models, versions[k])).modelId === engine.models.modelId ? 'as expected' : 'UNEXPECTED'}`,
    );
    await engine.models.close();
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
