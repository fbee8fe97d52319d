// Ground-truth masks from files: any non-zero sample is a defect pixel (MVTec writes 255, VisA 1 or more);
// several files (MVTec LOCO) are united. The mask must have the image's size.
import { readImage } from '../util/image-io.js';

export function readMask(
  files: readonly string[],
  width?: number,
  height?: number,
): {
  width: number;
  height: number;
  data: Uint8Array;
} {
  let out: { width: number; height: number; data: Uint8Array } | undefined;
  for (const f of files) {
    const img = readImage(f);
    if (width !== undefined && (img.width !== width || img.height !== height)) {
      throw new Error(`mask ${f} is ${img.width}×${img.height}, its image ${width}×${height}`);
    }
    if (!out) out = { width: img.width, height: img.height, data: new Uint8Array(img.width * img.height) };
    else if (img.width !== out.width || img.height !== out.height) {
      throw new Error(`mask ${f} is ${img.width}×${img.height}, the others ${out.width}×${out.height}`);
    }
    const d = img.data;
    for (let i = 0, p = 0; i < out.data.length; i++, p += 3) {
      if (d[p] | d[p + 1] | d[p + 2]) out.data[i] = 1;
    }
  }
  if (!out) throw new Error('readMask: no mask files');
  return out;
}
