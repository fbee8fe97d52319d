// A user's own parts: <dir>/good/ and <dir>/bad/ test images, an optional <dir>/masks/ with a mask per bad
// image (same file name, or the same name with .png), and an optional <dir>/train/ of good images for --train.
// One category, named after the folder.
import { existsSync } from 'node:fs';
import { basename, extname, join, resolve } from 'node:path';
import { DatasetError, imagesIn, isDir, pick, type EvalCategory } from './dataset.js';

export function isPlainFolder(dir: string): boolean {
  return isDir(join(dir, 'good')) && isDir(join(dir, 'bad'));
}

export function folderCategories(dir: string, wanted?: readonly string[]): EvalCategory[] {
  const masks = join(dir, 'masks');
  const hasMasks = isDir(masks);
  const maskOf = (image: string): string[] | null => {
    if (!hasMasks) return null;
    const name = basename(image);
    for (const m of [join(masks, name), join(masks, basename(name, extname(name)) + '.png')]) {
      if (existsSync(m)) return [m];
    }
    throw new DatasetError(`${image}: no mask in ${masks} (expected ${name})`);
  };
  const test = [
    ...imagesIn(join(dir, 'good')).map((path) => ({ path, type: 'good', defective: false, mask: null })),
    ...imagesIn(join(dir, 'bad')).map((path) => ({ path, type: 'bad', defective: true, mask: maskOf(path) })),
  ];
  if (test.length === 0) throw new DatasetError(`${dir}: good/ and bad/ hold no images`);
  const train = isDir(join(dir, 'train')) ? imagesIn(join(dir, 'train')) : null;
  return pick([{ name: basename(resolve(dir)), train, test }], wanted, dir);
}
