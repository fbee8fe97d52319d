// Folders of training / evaluation images (MVTec-style trees): listing and loading, where one bad file
// in a folder of hundreds is reported and skipped rather than ending a teach-in.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ImageReadError, readImage } from '../util/image-io.js';
import type { RgbImage } from '../util/image-io.js';

export const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff'];

export class ImageFolderError extends Error {
  constructor(
    readonly dir: string,
    reason: string,
  ) {
    super(`image folder ${dir}: ${reason}`);
    this.name = 'ImageFolderError';
  }
}

const isImageName = (name: string): boolean => {
  const lower = name.toLowerCase();
  return IMAGE_EXTENSIONS.some((ext) => lower.endsWith(ext));
};

/**
 * Image files under `dir`, recursively, sorted by path. Hidden entries (a leading '.') are ignored:
 * they are editor and macOS metadata ("._x.png"), never images. Symlinked directories are not followed.
 */
export function listImages(dir: string): string[] {
  let st;
  try {
    st = statSync(dir);
  } catch (e) {
    throw new ImageFolderError(
      dir,
      (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : String(e),
    );
  }
  if (!st.isDirectory()) throw new ImageFolderError(dir, 'is not a directory');
  const found: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.name.startsWith('.')) continue;
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (isImageName(e.name) && (e.isFile() || (e.isSymbolicLink() && isFile(p)))) found.push(p);
    }
  };
  walk(dir);
  if (found.length === 0) {
    throw new ImageFolderError(dir, `contains no images (${IMAGE_EXTENSIONS.join(', ')})`);
  }
  return found.sort();
}

function isFile(p: string): boolean {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

export interface LoadedImage {
  path: string;
  image: RgbImage;
}

/**
 * Reads every image under `dir`; unreadable ones (and those above `maxPixels`, refused before decoding) go to
 * `onSkip` and are left out.
 */
export function loadImages(
  dir: string,
  opts: { onSkip?: (path: string, reason: string, error: ImageReadError) => void; maxPixels?: number } = {},
): LoadedImage[] {
  const paths = listImages(dir);
  const out: LoadedImage[] = [];
  for (const path of paths) {
    try {
      out.push({ path, image: readImage(path, { maxPixels: opts.maxPixels }) });
    } catch (e) {
      if (!(e instanceof ImageReadError)) throw e;
      opts.onSkip?.(path, e.reason, e);
    }
  }
  if (out.length === 0) throw new ImageFolderError(dir, `none of its ${paths.length} images could be read`);
  return out;
}
