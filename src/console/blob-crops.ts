// Close-ups of a part's blobs at the frame's own resolution: on a 5–20 MP frame (tiled cameras) the drill-down's
// 640-px view shrinks a 12-px defect to 3 px, so each blob also gets a crop of the frame around its box, drawn
// at least 1:1, with the box in magenta. Pure drawing: the frame image is already loaded.
import { h } from './dom.js';
import { BOX_COLOUR, type Box } from './heat.js';

/** Side of a close-up's frame region, at least (px): context around a small blob. */
const MIN_SIDE = 96;
/** Close-ups shown at most (the strongest blobs: results list them by peak). */
const MAX_CROPS = 8;

/** The square frame region around a box, clamped to the frame. */
export function cropRegion(b: Box, frameW: number, frameH: number): Box {
  const side = Math.min(Math.max(MIN_SIDE, Math.ceil(1.5 * Math.max(b.width, b.height))), frameW, frameH);
  const cx = b.x + b.width / 2;
  const cy = b.y + b.height / 2;
  const x = Math.round(Math.min(Math.max(0, cx - side / 2), frameW - side));
  const y = Math.round(Math.min(Math.max(0, cy - side / 2), frameH - side));
  return { x, y, width: side, height: side };
}

/** One canvas per blob (up to MAX_CROPS); empty when the frame is small enough to see the blobs whole. */
export function blobCrops(frame: HTMLImageElement, boxes: readonly Box[]): HTMLElement | null {
  if (boxes.length === 0 || frame.width <= 640) return null;
  const figures = boxes.slice(0, MAX_CROPS).map((b, i) => {
    const r = cropRegion(b, frame.width, frame.height);
    const zoom = Math.max(1, Math.floor(192 / r.width));
    const c = h('canvas', { class: 'blob-crop', 'data-box': JSON.stringify(b) });
    c.width = r.width * zoom;
    c.height = r.height * zoom;
    const ctx = c.getContext('2d')!;
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(frame, r.x, r.y, r.width, r.height, 0, 0, c.width, c.height);
    ctx.strokeStyle = BOX_COLOUR;
    ctx.lineWidth = 2;
    ctx.strokeRect((b.x - r.x) * zoom, (b.y - r.y) * zoom, b.width * zoom, b.height * zoom);
    return h('figure', {}, c, h('figcaption', {}, `blob ${i + 1} at ${b.x}, ${b.y}`));
  });
  return h('div', { class: 'crops', id: 'blob-crops' }, ...figures);
}
