// MVTec AD layout: <category>/train/good/*.png, <category>/test/<type>/*.png and
// <category>/ground_truth/<type>/<name>_mask.png for every type but 'good'. MVTec LOCO keeps a folder of
// masks per image (ground_truth/<type>/<name>/*.png); they are united into one mask (LOCO's own sPRO metric is
// not computed). `dir` is the dataset root or one category folder.
import { existsSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { DatasetError, imagesIn, isDir, pick, subdirs, type EvalCategory, type TestItem } from './dataset.js';

/** True when `dir` is an MVTec category folder or a root holding some. */
export function isMvtec(dir: string): boolean {
  return isDir(join(dir, 'test')) || subdirs(dir).some((d) => isDir(join(dir, d, 'test')));
}

export function mvtecCategories(dir: string, wanted?: readonly string[]): EvalCategory[] {
  const single = isDir(join(dir, 'test'));
  const names = single ? [basename(dir)] : subdirs(dir).filter((d) => isDir(join(dir, d, 'test')));
  const all = names.map((n) => ({ name: n, dir: single ? dir : join(dir, n) }));
  const chosen = pick(
    all.map((c) => ({ name: c.name, train: null, test: [] })),
    wanted,
    dir,
  );
  return chosen.map((c) => category(c.name, all.find((x) => x.name === c.name)!.dir));
}

function category(name: string, dir: string): EvalCategory {
  const trainDir = join(dir, 'train', 'good');
  const test: TestItem[] = [];
  for (const type of subdirs(join(dir, 'test'))) {
    for (const path of imagesIn(join(dir, 'test', type))) {
      const defective = type !== 'good';
      test.push({ path, type, defective, mask: defective ? maskOf(dir, type, path) : null });
    }
  }
  if (test.length === 0) throw new DatasetError(`${join(dir, 'test')}: no test images`);
  return { name, train: isDir(trainDir) ? imagesIn(trainDir) : null, test };
}

function maskOf(dir: string, type: string, image: string): string[] {
  const stem = basename(image, extname(image));
  const file = join(dir, 'ground_truth', type, `${stem}_mask.png`);
  if (existsSync(file)) return [file];
  const loco = join(dir, 'ground_truth', type, stem);
  if (isDir(loco)) {
    const files = imagesIn(loco);
    if (files.length > 0) return files;
  }
  throw new DatasetError(`${image}: no ground-truth mask (expected ${file})`);
}
