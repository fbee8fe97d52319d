// Drawing a part on a canvas: the frame, the anomaly heatmap from a grid of raw Δ values (the browser upsamples
// it: the server sends a few thousand floats instead of a full-size image) and the blob boxes. Colours: "jet",
// 0 → blue and 2 × the pixel threshold → red, like the archive's heatmap.png.
export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface Overlay {
  grid: Float32Array;
  cols: number;
  rows: number;
  /** Where the grid lies, frame pixels: a letterbox square reaches past the frame, a tiled frame's covers it. */
  box: Box;
  pixelThreshold: number;
}

/** The blob box colour: magenta, a colour the jet heatmap never makes. */
export const BOX_COLOUR = '#ff00ff';

const clamp01 = (v: number): number => (v < 0 ? 0 : v > 1 ? 1 : v);

export function jet(t: number): [number, number, number] {
  const t4 = 4 * clamp01(t);
  return [
    255 * clamp01(1.5 - Math.abs(t4 - 3)),
    255 * clamp01(1.5 - Math.abs(t4 - 2)),
    255 * clamp01(1.5 - Math.abs(t4 - 1)),
  ];
}

function gridCanvas(o: Overlay): HTMLCanvasElement {
  const c = document.createElement('canvas');
  c.width = o.cols;
  c.height = o.rows;
  const ctx = c.getContext('2d')!;
  const img = ctx.createImageData(o.cols, o.rows);
  const k = 1 / (2 * o.pixelThreshold);
  for (let i = 0; i < o.grid.length; i++) {
    const [r, g, b] = jet(o.grid[i] * k);
    img.data.set([r, g, b, 255], i * 4);
  }
  ctx.putImageData(img, 0, 0);
  return c;
}

/** Frame (already tile-sized), then the heatmap at `opacity` (0: none), then the boxes; `scale` = tile/frame. */
export function drawPart(
  canvas: HTMLCanvasElement,
  frame: CanvasImageSource & { width: number; height: number },
  scale: number,
  overlay: Overlay | null,
  opacity: number,
  boxes: readonly Box[],
): void {
  canvas.width = frame.width;
  canvas.height = frame.height;
  const ctx = canvas.getContext('2d')!;
  ctx.drawImage(frame, 0, 0);
  if (overlay && opacity > 0) {
    ctx.save();
    ctx.globalAlpha = opacity;
    ctx.imageSmoothingEnabled = true;
    const b = overlay.box;
    ctx.drawImage(gridCanvas(overlay), b.x * scale, b.y * scale, b.width * scale, b.height * scale);
    ctx.restore();
  }
  ctx.strokeStyle = BOX_COLOUR;
  ctx.lineWidth = Math.max(2, Math.round(frame.width / 200));
  for (const b of boxes) ctx.strokeRect(b.x * scale, b.y * scale, b.width * scale, b.height * scale);
}

export function decodeFloats(base64: string): Float32Array {
  const bin = atob(base64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return new Float32Array(bytes.buffer);
}
