// Detects a dataset's layout (VisA split file, plain good/bad folder, MVTec tree) and lists its categories;
// a folder that fits none gets an error saying what each layout looks like.
import { DatasetError, isDir, type EvalCategory, type LayoutName } from './dataset.js';
import { folderCategories, isPlainFolder } from './layout-folder.js';
import { isMvtec, mvtecCategories } from './layout-mvtec.js';
import { isVisa, visaCategories } from './layout-visa.js';

export function openDataset(
  dir: string,
  categories?: readonly string[],
): { layout: LayoutName; categories: EvalCategory[] } {
  if (!isDir(dir)) throw new DatasetError(`${dir}: not a directory`);
  if (isVisa(dir)) return { layout: 'visa', categories: visaCategories(dir, categories) };
  if (isPlainFolder(dir)) return { layout: 'folder', categories: folderCategories(dir, categories) };
  if (isMvtec(dir)) return { layout: 'mvtec', categories: mvtecCategories(dir, categories) };
  throw new DatasetError(
    `${dir}: not a dataset layout pinpoint knows. Expected one of:\n` +
      '  MVTec AD    <category>/test/<type>/*.png, <category>/ground_truth/<type>/*_mask.png ' +
      '(train/good for --train)\n' +
      '  VisA        split_csv/1cls.csv with <object>/Data/Images and <object>/Data/Masks\n' +
      '  own parts   good/ and bad/ (optional masks/ with the same file names, train/ for --train)',
  );
}
