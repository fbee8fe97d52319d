// Memory of `pinpoint eval` on large images: peak RSS of the CLI (a child process, dev teacher at S = 112,
// untrained students) on categories of 1500×1500 synthetic parts with masks, against the same run on
// 300×300 parts, and with 3× as many 1500×1500 images. Maps are streamed into fixed-size histograms, so the
// peak must not grow with the number of images, and a 2.25 MP image may cost only its own working set
// (image, map, labels, mask: ~40 MB) over the small-image run. Bound checked: 1500² peak ≤ 300² peak + 300 MB
// and 12 images ≤ 4 images + 100 MB: holding each image's map, labels, mask and pixels (≈ 27 MB at 1500²)
// would add over 200 MB for the 8 more, while the garbage awaiting V8's collector moves the peak by a few tens
// of MB from run to run. Short: 3 runs of 15–45 s on a loaded 2-core VM.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBundle } from '../src/model/bundle.js';
import { writeDevTeacher } from '../src/model/dev-teacher.js';
import { makeDataset } from '../src/synthetic/parts.js';
import { writeImage } from '../src/util/image-io.js';

function writeCategory(dir: string, side: number, good: number, bad: number): void {
  const parts = makeDataset({
    good,
    defective: bad,
    seed: 5,
    width: side,
    height: side,
    sizes: [side / 20, side / 10],
  });
  for (const [i, p] of parts.entries()) {
    const type = p.defect ? 'spot' : 'good';
    const name = `${String(i).padStart(3, '0')}.png`;
    mkdirSync(join(dir, 'test', type), { recursive: true });
    writeImage(join(dir, 'test', type, name), { width: side, height: side, channels: 3, data: p.rgb });
    if (p.defect) {
      mkdirSync(join(dir, 'ground_truth', type), { recursive: true });
      writeImage(join(dir, 'ground_truth', type, name.replace('.png', '_mask.png')), {
        width: side,
        height: side,
        channels: 1,
        data: p.mask.map((v) => v * 255),
      });
    }
  }
}

function peakRss(model: string, data: string, out: string): { mb: number; seconds: number } {
  const t0 = performance.now();
  const r = spawnSync(
    process.execPath,
    [
      '--import',
      'tsx',
      'bench/eval-rss-child.ts',
      'eval',
      '--model',
      model,
      '--data',
      data,
      '--out',
      out,
      '--device',
      'cpu',
      '--json',
    ],
    { encoding: 'utf8', maxBuffer: 64 << 20 },
  );
  const m = /maxrss-kb (\d+)/.exec(r.stdout);
  if (r.status !== 0 || !m) throw new Error(`eval failed (${r.status}): ${r.stderr}`);
  return { mb: Number(m[1]) / 1024, seconds: (performance.now() - t0) / 1000 };
}

export async function run(): Promise<void> {
  const tmp = mkdtempSync(join(tmpdir(), 'pinpoint-eval-bench-'));
  try {
    writeDevTeacher(join(tmp, 'teacher.safetensors'));
    const model = join(tmp, 'bundle');
    createBundle({ teacherPath: join(tmp, 'teacher.safetensors'), outDir: model, size: 112 });
    const small = join(tmp, 'small');
    const big4 = join(tmp, 'big4');
    const big12 = join(tmp, 'big12');
    writeCategory(small, 300, 2, 2);
    writeCategory(big4, 1500, 2, 2);
    writeCategory(big12, 1500, 6, 6);
    const s = peakRss(model, small, join(tmp, 'o1'));
    const b4 = peakRss(model, big4, join(tmp, 'o2'));
    const b12 = peakRss(model, big12, join(tmp, 'o3'));
    console.log(`peak RSS, 4 images of 300×300:    ${s.mb.toFixed(0)} MB (${s.seconds.toFixed(1)} s)`);
    console.log(`peak RSS, 4 images of 1500×1500:  ${b4.mb.toFixed(0)} MB (${b4.seconds.toFixed(1)} s)`);
    console.log(`peak RSS, 12 images of 1500×1500: ${b12.mb.toFixed(0)} MB (${b12.seconds.toFixed(1)} s)`);
    const large = b4.mb - s.mb;
    const growth = b12.mb - b4.mb;
    console.log(`1500² over 300²: +${large.toFixed(0)} MB (bound 300 MB) ${large <= 300 ? 'OK' : 'OVER'}`);
    console.log(`12 vs 4 images: +${growth.toFixed(0)} MB (bound 100 MB) ${growth <= 100 ? 'OK' : 'OVER'}`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
