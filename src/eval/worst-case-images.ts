// Draws a worst case for the report: the image, its ground-truth mask, the anomaly map as a heatmap and the
// heatmap over the image, all as small PNGs in data: URLs (the page stays one self-contained file).
import { cv } from '../util/cv.js';
import { readImage } from '../util/image-io.js';
import { heatColor } from './colormap.js';
import { readMask } from './read-mask.js';
import type { WorstCase } from './worst-cases.js';

export interface CaseImages {
  image: string;
  mask: string | null;
  heat: string;
  overlay: string;
}

function png(width: number, height: number, channels: 1 | 3, data: Uint8Array): string {
  const c = cv();
  const m = new c.Mat(
    height,
    width,
    channels === 3 ? c.CV_8UC3 : c.CV_8UC1,
    Buffer.from(data.buffer, data.byteOffset, data.byteLength),
  );
  const bgr = channels === 3 ? m.cvtColor(c.COLOR_RGB2BGR) : m;
  try {
    return 'data:image/png;base64,' + c.imencode('.png', bgr).toString('base64');
  } finally {
    if (bgr !== m) bgr.release();
    m.release();
  }
}

function shrink(
  width: number,
  height: number,
  channels: 1 | 3,
  data: Uint8Array,
  tw: number,
  th: number,
): Uint8Array {
  const c = cv();
  const m = new c.Mat(
    height,
    width,
    channels === 3 ? c.CV_8UC3 : c.CV_8UC1,
    Buffer.from(data.buffer, data.byteOffset, data.byteLength),
  );
  const s = m.resize(th, tw, 0, 0, c.INTER_AREA);
  try {
    return new Uint8Array(s.getData());
  } finally {
    s.release();
    m.release();
  }
}

/** `vmin`..`vmax`: the map values drawn as dark blue..dark red (shared by the grid so the colours compare). */
export function caseImages(w: WorstCase, vmin: number, vmax: number): CaseImages {
  const { width: tw, height: th, data: map } = w.map;
  const img = readImage(w.item.path);
  const rgb = shrink(img.width, img.height, 3, img.data, tw, th);
  const heat = new Uint8Array(tw * th * 3);
  const over = new Uint8Array(tw * th * 3);
  for (let i = 0; i < tw * th; i++) {
    const c = heatColor((map[i] - vmin) / (vmax - vmin));
    for (let k = 0; k < 3; k++) {
      heat[i * 3 + k] = c[k];
      over[i * 3 + k] = Math.round(0.5 * rgb[i * 3 + k] + 0.5 * c[k]);
    }
  }
  let mask: string | null = null;
  if (w.item.mask) {
    const m = readMask(w.item.mask);
    const m255 = m.data.map((v) => (v ? 255 : 0));
    mask = png(tw, th, 1, shrink(m.width, m.height, 1, m255, tw, th));
  }
  return { image: png(tw, th, 3, rgb), mask, heat: png(tw, th, 3, heat), overlay: png(tw, th, 3, over) };
}
