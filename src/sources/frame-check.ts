// Watches a camera's frames for the quality traps nothing else reports: at the first frame it says what the
// geometry can resolve (one teacher patch in frame pixels); then it warns once per camera when frames differ
// from the ones the model was taught on (colour mode, size). A mono frame on a colour-taught model rejects
// good parts, and a 4000×3000 frame at S = 224 makes one patch 250 px: both used to pass without a word.
// Cheap per frame (a 4096-pixel sample for the colour mode), never blocking.
import { tap, type MonoTypeOperatorFunction } from 'rxjs';
import type { Logger } from 'pino';
import { colourModeOf, frameMismatch, patchPixels, type FrameProfile } from '../model/frame-profile.js';
import type { Frame } from './types.js';

export interface FrameCheckOptions {
  cameraId: string;
  /** Model input side S and teacher patch size. */
  size: number;
  patch: number;
  /** What teach-in saw; undefined for bundles taught before it was recorded (then only the geometry is said). */
  profile: FrameProfile | undefined;
  /** The camera's logger, bound to its id (so its lines carry `camera` once, not twice). */
  log: Logger;
}

export function checkFrames(o: FrameCheckOptions): MonoTypeOperatorFunction<Frame> {
  let first = true;
  const warned = new Set<string>();
  return tap((f: Frame) => {
    const { width, height } = f.image;
    // Once both kinds were warned about there is nothing left to find.
    if (!first && warned.size === 2) return;
    const colour = colourModeOf(f.image);
    if (first) {
      first = false;
      const patchPx = +patchPixels(width, height, o.size, o.patch).toFixed(1);
      o.log.info(
        { width, height, colour, patchPx },
        `camera ${o.cameraId}: ${width}×${height} ${colour} frames, one patch ≈ ${patchPx} px: ` +
          'defects much smaller may be missed',
      );
    }
    for (const [kind, why] of Object.entries(frameMismatch(o.profile, { width, height, colour }))) {
      if (warned.has(kind)) continue;
      warned.add(kind);
      o.log.warn({ width, height, colour, taught: o.profile }, `camera ${o.cameraId}: ${why}`);
    }
  });
}
