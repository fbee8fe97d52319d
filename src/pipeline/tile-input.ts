// One tile of a frame as a model input (issue 15): the T×T frame square at the tile's origin, as S·S·3 RGB
// bytes written into the caller's view (a slot of the batch buffer). At T = S (scale 1) the frame's own
// pixels are copied (grey replicated to RGB), no resampling; otherwise the square is resized T → S with the
// bundle's resize mode, exactly as letterbox() resizes a square frame (a square needs no padding).
import type { Image } from './image.js';
import { assertImage } from './image.js';
import { letterbox, type ResizeMode } from './letterbox.js';
import type { TileGrid } from './tiling.js';
import { tileOrigin } from './tiling.js';

export function tileInput(img: Image, grid: TileGrid, i: number, out: Uint8Array, mode: ResizeMode): void {
  assertImage(img);
  const { tile: T, size: S } = grid;
  if (img.width !== grid.frameWidth || img.height !== grid.frameHeight)
    throw new Error(
      `tile: frame is ${img.width}×${img.height}, grid is for ${grid.frameWidth}×${grid.frameHeight}`,
    );
  if (out.length !== S * S * 3)
    throw new Error(`tile: output view holds ${out.length} bytes, needs ${S * S * 3}`);
  const { x, y } = tileOrigin(grid, i);
  const target = T === S ? out : new Uint8Array(T * T * 3);
  cropRgb(img, x, y, T, target);
  if (T !== S) letterbox({ width: T, height: T, channels: 3, data: target }, S, out, mode);
}

/** The T×T square at (x0, y0) as RGB bytes. */
function cropRgb(img: Image, x0: number, y0: number, T: number, out: Uint8Array): void {
  const { width: W, data } = img;
  if (img.channels === 3) {
    for (let v = 0; v < T; v++) {
      const from = ((y0 + v) * W + x0) * 3;
      out.set(data.subarray(from, from + T * 3), v * T * 3);
    }
    return;
  }
  for (let v = 0; v < T; v++) {
    const from = (y0 + v) * W + x0;
    for (let u = 0, o = v * T * 3; u < T; u++, o += 3) {
      const g = data[from + u];
      out[o] = g;
      out[o + 1] = g;
      out[o + 2] = g;
    }
  }
}
