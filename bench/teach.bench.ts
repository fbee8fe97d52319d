// Teach-in speed: (1) seconds to teach 50 good images with the dev teacher at S = 224 through the library
// API with the default schedule, by phase; (2) rows per second of one training step (both students,
// forward, backward and Adam) for 768-wide (ViT-B) students at 4096 and 1024 rows a step, and for the
// dev teacher's 64-wide ones.
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBundle, loadBundle } from '../src/model/bundle.js';
import { writeDevTeacher } from '../src/model/dev-teacher.js';
import { initStudents } from '../src/model/students.js';
import { makeDataset } from '../src/synthetic/parts.js';
import { teachIn } from '../src/teach/teach-in.js';
import { StudentTrainer } from '../src/teach/trainer.js';

async function stepRate(
  dir: string,
  dim: number,
  rows: number,
  threads: number,
  steps: number,
): Promise<string> {
  const trainer = await StudentTrainer.open(loadBundle(dir), initStudents(dim, 0), {
    lr: 1e-3,
    maxRows: rows,
    device: 'cpu',
    threads,
  });
  try {
    for (let i = 0; i < trainer.fa.length; i++) {
      trainer.fa[i] = Math.sin(i * 0.37);
      trainer.fb[i] = Math.cos(i * 0.11);
    }
    await trainer.step(rows); // warm-up: first-run allocations
    const t0 = performance.now();
    for (let i = 0; i < steps; i++) await trainer.step(rows);
    const ms = (performance.now() - t0) / steps;
    return `D=${dim} rows=${rows} threads=${threads || 'all'}: ${ms.toFixed(1)} ms/step, ${Math.round((rows / ms) * 1000)} rows/s`;
  } finally {
    await trainer.release();
  }
}

export async function run(): Promise<void> {
  const tmp = mkdtempSync(join(tmpdir(), 'pinpoint-teach-bench-'));
  try {
    console.log(`host: ${cpus().length} cores (${cpus()[0]?.model ?? '?'})`);

    // (1) 50 images, dev teacher (12 blocks, width 64), S = 224, 640×480 parts, defaults (20 % held out).
    writeDevTeacher(join(tmp, 'dev.safetensors'));
    createBundle({ teacherPath: join(tmp, 'dev.safetensors'), outDir: join(tmp, 'dev'), size: 224 });
    const parts = makeDataset({ good: 50, defective: 0, seed: 1 });
    const t0 = performance.now();
    const r = await teachIn({
      bundleDir: join(tmp, 'dev'),
      images: parts.map((p) => ({ width: p.width, height: p.height, channels: 3 as const, data: p.rgb })),
      options: { device: 'cpu' },
    });
    const total = (performance.now() - t0) / 1000;
    console.log(
      `teach 50 images (dev teacher, S=224, defaults): ${total.toFixed(1)} s total — features ` +
        `${r.seconds.features.toFixed(1)} s, training ${r.seconds.train.toFixed(1)} s ` +
        `(${r.epochs} epochs, ${r.steps} steps, ${r.stoppedBy}, ${((r.seconds.train / r.steps) * 1000).toFixed(1)} ms/step), ` +
        `calibration ${r.seconds.calibrate.toFixed(1)} s; final loss ${r.finalLoss.toFixed(4)}`,
    );

    // (2) Step throughput. A 2-block width-768 teacher is enough to open a bundle of that width.
    writeDevTeacher(join(tmp, 'vitb.safetensors'), { depth: 2, dim: 768, heads: 12 });
    createBundle({
      teacherPath: join(tmp, 'vitb.safetensors'),
      outDir: join(tmp, 'vitb'),
      size: 224,
      layers: [1, 2],
    });
    console.log(await stepRate(join(tmp, 'vitb'), 768, 4096, 0, 3));
    console.log(await stepRate(join(tmp, 'vitb'), 768, 1024, 0, 5));
    console.log(await stepRate(join(tmp, 'vitb'), 768, 4096, 1, 2));
    console.log(await stepRate(join(tmp, 'dev'), 64, 1024, 1, 200));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
