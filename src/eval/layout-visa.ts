// VisA layout: split_csv/1cls.csv lists every image as `object,split,label,image,mask` with paths relative to
// the dataset root (<object>/Data/Images/{Normal,Anomaly}/…, masks in <object>/Data/Masks/Anomaly/…).
// Train rows are the good training images; test rows with label 'anomaly' need a mask.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatasetError, pick, type EvalCategory } from './dataset.js';

export const VISA_SPLIT = join('split_csv', '1cls.csv');

export function isVisa(dir: string): boolean {
  return existsSync(join(dir, VISA_SPLIT));
}

export function visaCategories(dir: string, wanted?: readonly string[]): EvalCategory[] {
  const file = join(dir, VISA_SPLIT);
  const lines = readFileSync(file, 'utf8').split(/\r?\n/);
  const header = lines[0]?.trim().split(',');
  if (header?.join(',') !== 'object,split,label,image,mask') {
    throw new DatasetError(`${file}:1: expected the header object,split,label,image,mask`);
  }
  const byName = new Map<string, EvalCategory>();
  lines.slice(1).forEach((line, i) => {
    if (line.trim() === '') return;
    const where = `${file}:${i + 2}`;
    const [object, split, label, image, mask] = line.trim().split(',');
    if (!object || !image || !['train', 'test'].includes(split) || !['normal', 'anomaly'].includes(label)) {
      throw new DatasetError(
        `${where}: expected object,train|test,normal|anomaly,image[,mask], got "${line}"`,
      );
    }
    let c = byName.get(object);
    if (!c) byName.set(object, (c = { name: object, train: [], test: [] }));
    const path = join(dir, image);
    if (split === 'train') {
      if (label === 'normal') c.train!.push(path);
      return;
    }
    const defective = label === 'anomaly';
    if (defective && !mask) throw new DatasetError(`${where}: an anomaly without a mask`);
    c.test.push({ path, type: label, defective, mask: defective ? [join(dir, mask)] : null });
  });
  for (const c of byName.values()) {
    if (c.test.length === 0) throw new DatasetError(`${file}: category ${c.name} has no test images`);
  }
  return pick([...byName.values()], wanted, file);
}
