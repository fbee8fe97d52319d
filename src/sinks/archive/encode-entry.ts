// One archive entry's files from a decided part: the result JSON, the frame (lossless PNG or JPEG), the anomaly
// map (float32 .npy, exact; or 16-bit PNG with a scale) and a heatmap overlay for people; for a tiled or pooled
// map, map.json (entry-map.ts); for a frame over 640 px a side, a thumbnail (thumbnail.ts). Runs in the archive
// worker: the map is recomputed here from the Δ grid(s) (postprocess and the stitch are deterministic, so it is
// the map the verdict saw), and the encoding never touches the event loop that decides parts. PNG through our
// own encoder on node:zlib (native deflate; fast-png's pure-JS deflate cost ~3× the CPU per part), JPEG through
// our own baseline encoder (jpeg-encode.ts: in steps, a grey frame as one component); not OpenCV: the OpenCV
// addon may be loaded by one thread of a process only (a second load in a worker breaks the main thread's
// bindings).
import type { Image } from '../../pipeline/image.js';
import type { InspectionResult } from '../../pipeline/result.js';
import { encodeNpy } from '../../util/image-io.js';
import { encodeJpeg } from '../../util/jpeg-encode.js';
import { encodePng, runNow, type Step } from '../../util/png-encode.js';
import { FILES } from './layout.js';
import { entryMap, type ArchiveEvidence, type MapScratch } from './entry-map.js';
import { thumbnail } from './thumbnail.js';

/** What the sink sends the worker per kept part (structured-clone friendly). */
export interface ArchiveJob {
  result: InspectionResult;
  evidence?: ArchiveEvidence;
}

export interface EncodeOptions {
  imageFormat: 'png' | 'jpeg';
  jpegQuality: number;
  mapFormat: 'npy' | 'png16';
  /** The most map pixels kept (entry-map.ts); default MAP_MAX_PIXELS. */
  mapMaxPixels?: number;
}

export interface EncodedEntry {
  files: Record<string, Uint8Array | string>;
  frameFormat: 'png' | 'jpeg' | null;
  mapFormat: 'npy' | 'png16' | null;
  mapScale: number | null;
}

/**
 * Buffers the worker reuses from part to part (the map and the heatmap, ~1 MB each at 640×480): fresh ones per
 * part would make the worker's collector (whose helper threads run at normal priority) free them every time.
 * Safe because every encoded file is a copy: nothing returned refers to them.
 */
export class EncodeScratch implements MapScratch {
  private mapBuf: Float32Array = new Float32Array(0);
  private pooledBuf: Float32Array = new Float32Array(0);
  private frameBuf: Uint8Array = new Uint8Array(0);
  private heatBuf: Uint8Array = new Uint8Array(0);

  map(n: number): Float32Array {
    if (this.mapBuf.length !== n) this.mapBuf = new Float32Array(n);
    return this.mapBuf;
  }

  pooled(n: number): Float32Array {
    if (this.pooledBuf.length !== n) this.pooledBuf = new Float32Array(n);
    return this.pooledBuf;
  }

  frame(n: number): Uint8Array {
    if (this.frameBuf.length !== n) this.frameBuf = new Uint8Array(n);
    return this.frameBuf;
  }

  heat(n: number): Uint8Array {
    if (this.heatBuf.length !== n) this.heatBuf = new Uint8Array(n);
    return this.heatBuf;
  }
}

/** Heatmap colour range: 0 → blue, 2 × the pixel threshold and above → red (the threshold sits mid-scale). */
const HEAT_RANGE = 2;

export function encodeEntry(
  job: ArchiveJob,
  o: EncodeOptions,
  scratch: EncodeScratch = new EncodeScratch(),
  /**
   * Runs each step of the entry's work (the map, each band of rows of a PNG, the heatmap): the archive worker
   * passes its InspectionGate's, which sleeps between steps while inspection is busy (inspection-gate.ts).
   */
  step: Step = runNow,
): EncodedEntry {
  const files: Record<string, Uint8Array | string> = {
    [FILES.result]: `${JSON.stringify(job.result, null, 2)}\n`,
  };
  const ev = job.evidence;
  if (!ev) return { files, frameFormat: null, mapFormat: null, mapScale: null };
  const { map, info, image: under } = step(() => entryMap(ev, scratch, o.mapMaxPixels));
  const { width: W, height: H } = info;
  if (info.tiled || info.downsample > 1) files[FILES.mapInfo] = `${JSON.stringify(info, null, 2)}\n`;
  const img = ev.image;
  if (o.imageFormat === 'png')
    files[FILES.framePng] = encodePng(
      { width: img.width, height: img.height, data: img.data, channels: img.channels, depth: 8 },
      { step },
    );
  else files[FILES.frameJpeg] = encodeJpeg(img, { quality: o.jpegQuality, step });
  const thumb = step(() => thumbnail(img));
  if (thumb) files[FILES.thumb] = thumb;
  let mapScale: number | null = null;
  if (o.mapFormat === 'npy') files[FILES.mapNpy] = encodeNpy(map, [H, W]);
  else {
    const { pixels, scale } = toUint16(map);
    mapScale = scale;
    files[FILES.mapPng16] = encodePng(
      { width: W, height: H, data: pixels, channels: 1, depth: 16 },
      { step },
    );
  }
  const heat = step(() => heatmapOverlay(map, under, ev.pixelThreshold, scratch.heat(W * H * 3)));
  files[FILES.heatmap] = encodePng({ width: W, height: H, data: heat, channels: 3, depth: 8 }, { step });
  return { files, frameFormat: o.imageFormat, mapFormat: o.mapFormat, mapScale };
}

/** 16-bit map: value = pixel · scale, scale chosen so the map's maximum is 65535. */
export function toUint16(map: Float32Array): { pixels: Uint16Array; scale: number } {
  let max = 0;
  for (let i = 0; i < map.length; i++) if (map[i] > max) max = map[i];
  const scale = max > 0 ? max / 65535 : 1;
  const pixels = new Uint16Array(map.length);
  for (let i = 0; i < map.length; i++) {
    const v = map[i];
    pixels[i] = v > 0 ? Math.round(v / scale) : 0;
  }
  return { pixels, scale };
}

const clamp01 = (v: number): number => (v < 0 ? 0 : v > 1 ? 1 : v);

/** The map in the "jet" colours (blue → red; the pixel threshold mid-scale), half over the frame; RGB. */
export function heatmapOverlay(
  map: Float32Array,
  img: Image,
  pixelThreshold: number,
  out: Uint8Array = new Uint8Array(map.length * 3),
): Uint8Array {
  const k = 1 / (HEAT_RANGE * pixelThreshold);
  const c = img.channels;
  const d = img.data;
  for (let i = 0; i < map.length; i++) {
    const t4 = 4 * clamp01(map[i] * k);
    const s = i * c;
    const o = i * 3;
    out[o] = (d[s] + 255 * clamp01(1.5 - Math.abs(t4 - 3))) >> 1;
    out[o + 1] = (d[c === 3 ? s + 1 : s] + 255 * clamp01(1.5 - Math.abs(t4 - 2))) >> 1;
    out[o + 2] = (d[c === 3 ? s + 2 : s] + 255 * clamp01(1.5 - Math.abs(t4 - 1))) >> 1;
  }
  return out;
}
