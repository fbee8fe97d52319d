// Where an archive entry's files live, and the names inside an entry. One place, so the store, the writer and
// the export agree. Only generated, safe names reach the file system: part ids come from PLCs (untrusted) and
// never become paths.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';

export const INDEX_FILE = 'index.sqlite';
/** Entries being written; anything here at start is a crash leftover. */
export const STAGING_DIR = 'staging';
export const PARTS_DIR = 'parts';

export const FILES = {
  result: 'result.json',
  framePng: 'frame.png',
  frameJpeg: 'frame.jpg',
  mapNpy: 'map.npy',
  mapPng16: 'map.png',
  heatmap: 'heatmap.png',
  /** How the map relates to the frame, for tiled or pooled maps (entry-map.ts). */
  mapInfo: 'map.json',
  /** A small JPEG of a frame larger than 640 px a side (thumbnail.ts). */
  thumb: 'thumb.jpg',
} as const;

/** A new entry key: time-sortable and unique without coordination (decide time + 48 random bits). */
export function entryKey(decideTime: number): string {
  return `${decideTime.toString(36).padStart(9, '0')}-${randomBytes(6).toString('hex')}`;
}

/** parts/<UTC day>/<camera>/<key>, relative to the archive dir (camera ids are a safe alphabet). */
export function entryPath(cameraId: string, decideTime: number, key: string): string {
  const day = new Date(decideTime).toISOString().slice(0, 10);
  return join(PARTS_DIR, day, cameraId, key);
}
