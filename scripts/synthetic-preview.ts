// Writes a few synthetic parts as PNGs to eyeball them: node --import tsx scripts/synthetic-preview.ts OUTDIR
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DEFECT_KINDS, makePart } from '../src/synthetic/parts.js';
import type { PartOptions, SyntheticPart } from '../src/synthetic/parts.js';
import { writeImage } from '../src/util/image-io.js';

const out = process.argv[2];
if (!out) {
  console.error('usage: synthetic-preview.ts OUTDIR');
  process.exit(2);
}
mkdirSync(out, { recursive: true });

function save(name: string, p: SyntheticPart): void {
  writeImage(join(out, `${name}.png`), { width: p.width, height: p.height, channels: 3, data: p.rgb });
  if (p.defect) {
    // The mask's pixels in red over the part, to check that the mask covers the defect.
    const over = p.rgb.slice();
    for (let i = 0; i < p.mask.length; i++) if (p.mask[i]) over.set([255, 0, 0], i * 3);
    writeImage(join(out, `${name}-mask.png`), { width: p.width, height: p.height, channels: 3, data: over });
    // A 4× nearest-neighbour zoom around the defect, side by side with the mask overlay.
    const b = p.defect.box;
    const cx = Math.round(b.x + b.width / 2);
    const cy = Math.round(b.y + b.height / 2);
    const half = 40;
    const z = 4;
    const w = 2 * half * z;
    const zoom = new Uint8Array(2 * w * w * 3);
    for (let y = 0; y < w; y++) {
      for (let x = 0; x < 2 * w; x++) {
        const sx = Math.min(p.width - 1, Math.max(0, cx - half + Math.floor((x % w) / z)));
        const sy = Math.min(p.height - 1, Math.max(0, cy - half + Math.floor(y / z)));
        const src = x < w ? p.rgb : over;
        zoom.set(src.subarray((sy * p.width + sx) * 3, (sy * p.width + sx) * 3 + 3), (y * 2 * w + x) * 3);
      }
    }
    writeImage(join(out, `${name}-zoom.png`), { width: 2 * w, height: w, channels: 3, data: zoom });
  }
  console.log(name, p.defect ? JSON.stringify(p.defect) : 'good');
}

const runs: [string, PartOptions][] = [
  ['good-1', { seed: 1 }],
  ['good-2', { seed: 2 }],
];
for (const kind of DEFECT_KINDS) {
  for (const size of [10, 40]) runs.push([`${kind}-${size}`, { seed: 3, defect: { kind, size } }]);
}
for (const [name, opts] of runs) {
  const t0 = performance.now();
  const p = makePart(opts);
  const ms = performance.now() - t0;
  save(name, p);
  console.log(`  ${ms.toFixed(1)} ms`);
}
