// The worst cases of a category for the report: the highest-scoring good parts and the lowest-scoring
// defective ones. Only a thumbnail of each candidate's map is kept (the full maps are streamed away), so the
// memory is N thumbnails whatever the image size; images and masks are re-read when the report is drawn.
import { cv } from '../util/cv.js';
import type { TestItem } from './dataset.js';

/** Longest side of a thumbnail, px. */
export const THUMB_SIDE = 160;

export interface Thumb {
  width: number;
  height: number;
  data: Float32Array;
}

export interface WorstCase {
  item: TestItem;
  score: number;
  width: number;
  height: number;
  map: Thumb;
}

export function thumbSize(width: number, height: number): { width: number; height: number } {
  const s = Math.min(1, THUMB_SIDE / Math.max(width, height));
  return { width: Math.max(1, Math.round(width * s)), height: Math.max(1, Math.round(height * s)) };
}

/** Area-averaged thumbnail of an H·W float map. */
export function mapThumb(map: Float32Array, width: number, height: number): Thumb {
  const t = thumbSize(width, height);
  const c = cv();
  const src = new c.Mat(height, width, c.CV_32F, Buffer.from(map.buffer, map.byteOffset, map.byteLength));
  const small = src.resize(t.height, t.width, 0, 0, c.INTER_AREA);
  try {
    const b = small.getData();
    const data = new Float32Array(t.width * t.height);
    new Uint8Array(data.buffer).set(b);
    return { ...t, data };
  } finally {
    small.release();
    src.release();
  }
}

export class WorstCases {
  /** Highest scores first. */
  readonly good: WorstCase[] = [];
  /** Lowest scores first. */
  readonly defective: WorstCase[] = [];

  constructor(readonly n: number) {}

  offer(item: TestItem, score: number, map: Float32Array, width: number, height: number): void {
    const list = item.defective ? this.defective : this.good;
    const worse = (a: number, b: number): boolean => (item.defective ? a < b : a > b);
    if (this.n === 0 || (list.length >= this.n && !worse(score, list[list.length - 1].score))) return;
    list.push({ item, score, width, height, map: mapThumb(map, width, height) });
    list.sort((a, b) => (item.defective ? a.score - b.score : b.score - a.score));
    if (list.length > this.n) list.pop();
  }
}
