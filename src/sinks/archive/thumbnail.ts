// A small JPEG of a large frame for the console's strips and search lists: a tiled 5–20 MP camera's frame PNG
// is 8–30 MB, and a strip shows 24 of them. Frames up to THUMB_FROM px a side get none (the console shows the
// frame itself, as small as a thumbnail needs). Block means, then our JPEG encoder (jpeg-encode.ts; jpeg-js,
// before, built its tables on every call: ~83 ms per thumbnail, measured). A grey frame's thumbnail is grey.
import type { Image } from '../../pipeline/image.js';
import { encodeJpeg } from '../../util/jpeg-encode.js';
import { shrinkImage } from './entry-map.js';

/** Frames with a side above this get a thumbnail. */
export const THUMB_FROM = 640;
/** A thumbnail's longest side at most, px. */
export const THUMB_MAX = 160;

/** The frame's thumbnail as JPEG bytes, or null when the frame is small enough to serve itself. */
export function thumbnail(img: Image, quality = 80): Uint8Array | null {
  if (Math.max(img.width, img.height) <= THUMB_FROM) return null;
  const small = shrinkImage(img, Math.ceil(Math.max(img.width, img.height) / THUMB_MAX));
  return encodeJpeg(small, { quality });
}
