// Saved images as a camera: a folder (recursive) or a glob replayed at a fixed rate, once or in a loop (the
// list is read again at the start of every pass, so files added meanwhile join). Unreadable files, and files
// above `maxImagePixels` (refused from their header, before decoding), are logged once and skipped; an empty
// folder is reported as stalled and looked at again later. At start (check()), a folder that does not exist,
// or nothing to replay once (loop: false), is a config error: the daemon does not start without its camera.
import { statSync } from 'node:fs';
import { resolve, sep } from 'node:path';
import { Observable } from 'rxjs';
import { ImageFolderError, listImages } from '../model/image-folder.js';
import { ImageReadError, ImageTooLargeError, readImage } from '../util/image-io.js';
import { pace } from './pace.js';
import { partIdFor } from './part-id.js';
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

/** The folder a replay lists: the path itself, or a glob's deepest directory without wildcards. */
export function replayRoot(path: string): string {
  if (!GLOB_CHARS.test(path)) return path;
  const parts = path.split(sep);
  const fixed = parts.findIndex((p) => GLOB_CHARS.test(p));
  return parts.slice(0, fixed).join(sep) || sep;
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
  const root = replayRoot(path);
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
  check(id, cfg, configDir) {
    const path = resolve(configDir, cfg.path);
    const root = replayRoot(path);
    let dir = false;
    try {
      dir = statSync(root).isDirectory();
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      return `cameras.${id}.path: ${root} ${code === 'ENOENT' ? 'does not exist' : `cannot be read (${code})`}`;
    }
    if (!dir) return `cameras.${id}.path: ${root} is not a directory`;
    if (!cfg.loop && listReplay(path).length === 0) {
      return `cameras.${id}.path: no images at ${path}, and loop: false leaves nothing to replay`;
    }
    return undefined;
  },
  create(id, cfg, ctx) {
    const path = resolve(ctx.configDir, cfg.path);
    let seq = 0;
    const warned = new Set<string>();
    let warnedEmpty = false;
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
        if (!warnedEmpty) {
          warnedEmpty = true;
          ctx.log.warn({ path }, 'no images to replay yet: looking again every 2 s');
        }
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
          image = readImage(file, { maxPixels: cfg.maxImagePixels });
        } catch (e) {
          // A file deleted mid-pass, a corrupt one, one too large to decode: skip it; the replay goes on.
          if (!warned.has(file) && warned.size < MAX_WARNED) {
            warned.add(file);
            const reason = e instanceof ImageReadError ? e.reason : String(e);
            if (e instanceof ImageTooLargeError) {
              ctx.log.warn(
                { file, reason },
                `image too large: skipped (cameras.${id}.maxImagePixels raises the limit)`,
              );
            } else ctx.log.warn({ file, reason }, 'unreadable image skipped');
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
          partId: partIdFor(id, seq, ctx.runId, base),
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
