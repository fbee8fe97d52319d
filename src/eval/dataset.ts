// What `pinpoint eval` evaluates: categories of labelled test images (and good training images for --train),
// whatever the dataset's layout. The layout is detected from the folder (detectLayout); each layout lists
// its categories in its own file.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { IMAGE_EXTENSIONS } from '../model/image-folder.js';

export type LayoutName = 'mvtec' | 'visa' | 'folder';

export interface TestItem {
  path: string;
  /** 'good', or the defect type (MVTec's test sub-folder, 'anomaly' for VisA, 'bad' for a plain folder). */
  type: string;
  defective: boolean;
  /** Ground-truth mask files, united (MVTec LOCO keeps one file per region); null = none. */
  mask: string[] | null;
}

export interface EvalCategory {
  name: string;
  /** Good training images, for --train; null when the layout has none for this category. */
  train: string[] | null;
  test: TestItem[];
}

export class DatasetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DatasetError';
  }
}

export const isDir = (p: string): boolean => existsSync(p) && statSync(p).isDirectory();

const isImage = (name: string): boolean =>
  !name.startsWith('.') && IMAGE_EXTENSIONS.some((e) => name.toLowerCase().endsWith(e));

/** Image files directly in `dir`, sorted by name (MVTec and VisA folders are flat). */
export function imagesIn(dir: string): string[] {
  return readdirSync(dir)
    .filter(isImage)
    .sort()
    .map((n) => join(dir, n));
}

/** Sub-folders of `dir`, sorted, hidden ones left out. */
export function subdirs(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
    .map((e) => e.name)
    .sort();
}

/** Keeps the categories asked for (all when none), in the order asked; unknown names are an error. */
export function pick(
  all: EvalCategory[],
  wanted: readonly string[] | undefined,
  where: string,
): EvalCategory[] {
  if (!wanted || wanted.length === 0) return all;
  return wanted.map((w) => {
    const c = all.find((x) => x.name === w);
    if (!c) {
      throw new DatasetError(
        `${where}: no category "${w}" (found: ${all.map((x) => x.name).join(', ') || 'none'})`,
      );
    }
    return c;
  });
}
