// What the frames looked like at teach-in (colour mode, typical size), and what the model's geometry can
// resolve: a frame is padded to a square of side max(W, H) and shrunk to S×S, so one patch of the teacher
// covers max(W, H)·patch/S frame pixels, and a defect much smaller than that hardly moves a patch's features.
// Pure: the checks that warn about frames unlike the taught ones (a mono frame on a colour-taught model
// rejects good parts; a 4000×3000 frame at S = 224 makes one patch 250 px) use these.
import { z } from 'zod';

export type ColourMode = 'colour' | 'grey';

/** Recorded in the bundle's training record (`training.frames`) at teach-in; absent in older bundles. */
export interface FrameProfile {
  colour: ColourMode;
  /** Median width and height of the teach-in images. */
  width: number;
  height: number;
}

export interface PixelsLike {
  width: number;
  height: number;
  channels: 1 | 3;
  data: Uint8Array;
}

/** Samples looked at per image: enough for a share of 0.5 %, cheap enough for every frame. */
const SAMPLES = 4096;
/** A pixel is coloured when two of its channels differ by more than this (JPEG chroma noise stays below). */
const CHROMA = 20;
/** An image is colour when at least this share of its sampled pixels is coloured. */
const COLOURED_SHARE = 0.005;

/** 'grey' for one channel or three (nearly) equal ones, 'colour' otherwise; from an even sample of pixels. */
export function colourModeOf(img: PixelsLike): ColourMode {
  if (img.channels === 1) return 'grey';
  const n = img.width * img.height;
  const step = Math.max(1, Math.floor(n / SAMPLES));
  let seen = 0;
  let coloured = 0;
  const d = img.data;
  for (let i = 0; i < n; i += step) {
    const o = i * 3;
    const r = d[o];
    const g = d[o + 1];
    const b = d[o + 2];
    if (Math.max(Math.abs(r - g), Math.abs(g - b), Math.abs(r - b)) > CHROMA) coloured++;
    seen++;
  }
  return coloured >= COLOURED_SHARE * seen ? 'colour' : 'grey';
}

const median = (v: number[]): number => {
  const s = [...v].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)];
};

/** The profile of a set of teach-in images: colour when most are, median width and height. */
export function frameProfileOf(
  images: readonly { width: number; height: number; colour: ColourMode }[],
): FrameProfile {
  if (images.length === 0) throw new RangeError('frameProfileOf: no images');
  const colour = images.filter((i) => i.colour === 'colour').length * 2 >= images.length ? 'colour' : 'grey';
  return { colour, width: median(images.map((i) => i.width)), height: median(images.map((i) => i.height)) };
}

const profileSchema = z.object({
  colour: z.enum(['colour', 'grey']),
  width: z.int().min(1),
  height: z.int().min(1),
});

/** The profile recorded in a manifest's training record; undefined for bundles taught before it was recorded. */
export function frameProfileFrom(training: Record<string, unknown> | undefined): FrameProfile | undefined {
  const r = profileSchema.safeParse(training?.frames);
  return r.success ? r.data : undefined;
}

/** Frame pixels covered by one teacher patch: max(W, H)·patch/S, the smallest defect size worth expecting. */
export function patchPixels(width: number, height: number, size: number, patch: number): number {
  return (Math.max(width, height) * patch) / size;
}

/** Sizes differing by more than this share in either direction are reported. */
const SIZE_TOLERANCE = 0.1;

/** Why a frame is unlike the taught ones (empty when it is alike, or nothing was recorded). */
export function frameMismatch(
  profile: FrameProfile | undefined,
  frame: { width: number; height: number; colour: ColourMode },
): { colour?: string; size?: string } {
  if (!profile) return {};
  const out: { colour?: string; size?: string } = {};
  if (frame.colour !== profile.colour) {
    out.colour =
      frame.colour === 'grey'
        ? 'grey frames on a model taught on colour images: good parts may be rejected (teach in on grey images, or use a colour pixel format)'
        : 'colour frames on a model taught on grey images: colour the model never saw may be scored as defects';
  }
  const off = (a: number, b: number): boolean => Math.abs(a - b) > SIZE_TOLERANCE * b;
  if (off(frame.width, profile.width) || off(frame.height, profile.height)) {
    out.size =
      `frames are ${frame.width}×${frame.height}, the model was taught on ${profile.width}×${profile.height}: ` +
      'parts appear at another scale than the model learned';
  }
  return out;
}
