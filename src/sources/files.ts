// Saved images as a camera: a folder (recursive) or a glob replayed at a fixed rate, once or in a loop (the
// list is read again at the start of every pass, so files added meanwhile join). Unreadable files are
// logged once and skipped; an empty folder is reported as stalled and looked at again later.
import { resolve, sep } from 'node:path';
import { Observable } from 'rxjs';
import { ImageFolderError, listImages } from '../model/image-folder.js';
import { ImageReadError, readImage } from '../util/image-io.js';
import { pace } from './pace.js';
import type { Frame, SourcePlugin } from './types.js';

const GLOB_CHARS = /[*?[]/;

/** A glob as a RegExp over absolute paths: `**` any depth, `*` and `?` within one path segment, `[...]` a class. */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '*' && glob[i + 1] === '*') {
      // `**/` matches zero or more directories
      if (glob[i + 2] === '/') {
        re += '(?:.*/)?';
        i += 2;
      } else {
        re += '.*';
        i += 1;
      }
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = glob.indexOf(']', i + 1);
      if (end < 0) re += '\\[';
      else {
        const body = glob
          .slice(i + 1, end)
          .replace(/^!/, '^')
          .replace(/\\/g, '\\\\');
        re += `[${body}]`;
        i = end;
      }
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** The images a `files` camera replays, sorted; empty when there are none (yet). */
export function listReplay(path: string): string[] {
  if (!GLOB_CHARS.test(path)) {
    try {
      return listImages(path);
    } catch (e) {
      if (e instanceof ImageFolderError) return [];
      throw e;
    }
  }
  // List below the deepest directory without wildcards, then match the whole pattern.
  const parts = path.split(sep);
  const fixed = parts.findIndex((p) => GLOB_CHARS.test(p));
  const root = parts.slice(0, fixed).join(sep) || sep;
  const re = globToRegExp(path);
  let all: string[];
  try {
    all = listImages(root);
  } catch (e) {
    if (e instanceof ImageFolderError) return [];
    throw e;
  }
  return all.filter((p) => re.test(p));
}

/** How long an empty folder waits before it is listed again. */
const RELIST_MS = 2000;
/** Unreadable paths remembered so a looping replay warns once per file, not once per pass. */
const MAX_WARNED = 1000;

export const filesSource: SourcePlugin<'files'> = {
  type: 'files',
  create(id, cfg, ctx) {
    const path = resolve(ctx.configDir, cfg.path);
    let seq = 0;
    const warned = new Set<string>();
    return new Observable<Frame>((subscriber) => {
      let list: string[] = [];
      let next = 0;
      let emittedThisPass = 0;
      let finished = false;
      let streaming = false;
      let stopTimer: (() => void) | undefined;
      let relist: NodeJS.Timeout | undefined;
      const finish = (detail: string): false => {
        finished = true;
        ctx.onState('stopped', detail);
        subscriber.complete();
        return false;
      };
      const startPass = (): boolean => {
        list = listReplay(path);
        next = 0;
        emittedThisPass = 0;
        if (list.length > 0) return true;
        streaming = false;
        ctx.onState('stalled', `no images at ${path}`);
        if (!cfg.loop) return finish(`no images at ${path}`);
        relist = setTimeout(begin, RELIST_MS);
        return false;
      };
      const tick = (): boolean => {
        if (next >= list.length) {
          if (!cfg.loop) return finish(`replayed ${list.length} files`);
          if (emittedThisPass === 0) {
            // A whole pass of unreadable files: wait rather than spin on them.
            streaming = false;
            ctx.onState('stalled', `none of the ${list.length} images at ${path} is readable`);
            relist = setTimeout(begin, RELIST_MS);
            return false;
          }
          if (!startPass()) return false;
        }
        const file = list[next++];
        let image;
        try {
          image = readImage(file);
        } catch (e) {
          // A file deleted mid-pass or a corrupt one: skip it; the replay goes on.
          if (!warned.has(file) && warned.size < MAX_WARNED) {
            warned.add(file);
            const reason = e instanceof ImageReadError ? e.reason : String(e);
            ctx.log.warn({ file, reason }, 'unreadable image skipped');
          }
          return true;
        }
        seq++;
        emittedThisPass++;
        if (!streaming) {
          streaming = true;
          ctx.onState('streaming');
        }
        const base = file.slice(file.lastIndexOf(sep) + 1).replace(/\.[^.]*$/, '');
        subscriber.next({
          cameraId: id,
          seq,
          captureTime: Date.now(),
          partId: `${id}-${seq}-${base}`,
          image,
        });
        return true;
      };
      function begin(): void {
        relist = undefined;
        if (!startPass()) return;
        stopTimer = pace(1000 / cfg.fps, tick);
      }
      ctx.onState('connecting');
      begin();
      return () => {
        stopTimer?.();
        if (relist) clearTimeout(relist);
        if (!finished) ctx.onState('stopped');
      };
    });
  },
};
