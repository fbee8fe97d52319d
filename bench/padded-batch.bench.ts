// Issue 18: what TensorRT's static batch costs. Through onnxruntime-node TensorRT gets no optimisation
// profiles, so pinpoint pads every partial batch to maxBatch (one engine, built at warm-up) instead of running
// it as it is (an engine build per new batch size, mid-shift). This measures, on the CPU and side by side in
// one run, a partial batch of b frames run as it is (dynamic) against the same frames padded to maxBatch 8
// (static), through the product's own session code (openAnomalyModel with and without staticBatch).
//
// Two regimes: a ViT-S-wide teacher (6 blocks) at S = 224 (compute dominates: the CPU's cost grows with the frames it
// runs, as a saturated GPU's does), and a tiny one at S = 56 (per-run overhead dominates, as on a GPU that a
// small batch leaves idle). CPU time with one onnxruntime thread is the work itself, whatever the load on the
// machine; wall time is printed beside it.
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBundle, loadBundle } from '../src/model/bundle.js';
import { writeDevTeacher, type DevTeacherOptions } from '../src/model/dev-teacher.js';
import { openAnomalyModel, type AnomalyModel } from '../src/pipeline/inference.js';

const MAX_BATCH = 8;
const PARTIAL = [1, 2, 4];
interface Regime {
  name: string;
  size: number;
  teacher: DevTeacherOptions;
  /** Timed runs per point (median). */
  runs: number;
}

const REGIMES: Regime[] = [
  {
    name: 'ViT-S-wide (6 blocks, 384 wide), S = 224',
    size: 224,
    teacher: { depth: 6, dim: 384, heads: 6, posGrid: 16 },
    runs: 3,
  },
  {
    name: 'tiny (2 blocks, 32 wide), S = 56',
    size: 56,
    teacher: { depth: 2, dim: 32, heads: 2, posGrid: 4 },
    runs: 25,
  },
];

/** Median [wall ms, CPU ms] of `runs` calls after one untimed call (per-shape set-up). */
async function time(model: AnomalyModel, px: Uint8Array, b: number, runs: number): Promise<[number, number]> {
  await model.run(px, b);
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < runs; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await model.run(px, b);
    wall.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
  }
  const med = (a: number[]) => a.sort((x, y) => x - y)[a.length >> 1];
  return [med(wall), med(cpu)];
}

async function regime(root: string, r: Regime): Promise<void> {
  const dir = mkdtempSync(join(root, 'r-'));
  const teacher = join(dir, 'teacher.safetensors');
  writeDevTeacher(teacher, { ...r.teacher, seed: 1 });
  const depth = r.teacher.depth ?? 12;
  createBundle({ teacherPath: teacher, outDir: join(dir, 'b'), size: r.size, layers: [depth - 1, depth] });
  const bundle = loadBundle(join(dir, 'b'));
  const base = { device: 'cpu' as const, threads: 1, cacheDir: join(dir, 'cache') };
  const dynamic = await openAnomalyModel(bundle, base);
  const fixed = await openAnomalyModel(bundle, { ...base, maxBatch: MAX_BATCH, staticBatch: true });
  try {
    const frame = r.size * r.size * 3;
    const px = new Uint8Array(MAX_BATCH * frame).map((_, i) => (i * 31) % 256);
    const [full] = await time(dynamic, px, MAX_BATCH, r.runs);
    console.log(`\n${r.name}: a full batch of ${MAX_BATCH} takes ${full.toFixed(1)} ms (wall)`);
    console.log('  b  dynamic wall/cpu ms   padded to 8 wall/cpu ms   padded/dynamic (cpu)');
    for (const b of PARTIAL) {
      const part = px.subarray(0, b * frame);
      const [dw, dc] = await time(dynamic, part, b, r.runs);
      const [pw, pc] = await time(fixed, part, b, r.runs);
      console.log(
        `  ${b}  ${dw.toFixed(1).padStart(8)} / ${dc.toFixed(1).padEnd(8)}   ${pw.toFixed(1).padStart(8)} / ${pc.toFixed(1).padEnd(8)}       ${(pc / dc).toFixed(2)}× (frames ${MAX_BATCH / b}×)`,
      );
    }
  } finally {
    await dynamic.release();
    await fixed.release();
  }
}

export async function run(): Promise<void> {
  console.log(
    `load average at start: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}; one onnxruntime thread`,
  );
  const root = mkdtempSync(join(tmpdir(), 'pinpoint-padbench-'));
  try {
    for (const r of REGIMES) await regime(root, r);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
