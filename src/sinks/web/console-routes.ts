// The console's JSON API on the parts archive: recent parts and search, one part's detail (its result JSON,
// labels, neighbours, how its map relates to the frame), its images, operator labels (engineers), per-camera label counts and the threshold
// what-if. Query strings are validated (zod) and answered 400 with the offending key; part ids are matched as
// values, never built into paths or SQL. Files are served only from paths the index generated.
import { createReadStream, type ReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import type { MapInfo } from '../archive/entry-map.js';
import { FILES } from '../archive/layout.js';
import type { AuthHooks } from './auth.js';
import type { ConsoleEntry } from './console-index.js';
import {
  ArchiveBusyError,
  ArchiveMissingError,
  ConsoleIndex,
  LABELS,
  WHATIF_WINDOW,
} from './console-index.js';

const time = z.union([
  z.coerce.number().int().nonnegative(),
  z.iso.datetime().transform((s) => Date.parse(s)),
]);
const listQuery = z.strictObject({
  camera: z.string().max(64).optional(),
  partId: z.string().max(256).optional(),
  from: time.optional(),
  to: time.optional(),
  limit: z.coerce.number().int().min(1).max(500).optional(),
});
const idParams = z.strictObject({ id: z.coerce.number().int().positive() });
const imageParams = idParams.extend({ kind: z.enum(['frame', 'heatmap', 'map', 'thumb']) });
const labelBody = z.strictObject({
  label: z.enum(LABELS).nullable(),
  note: z.string().max(2000).nullable().optional(),
});
const whatIfQuery = z.strictObject({
  threshold: z.coerce.number().finite().optional(),
  window: z.coerce.number().int().min(1).max(50000).optional(),
});

class BadRequest extends Error {}

function parse<T>(schema: z.ZodType<T>, v: unknown, what: string): T {
  const r = schema.safeParse(v);
  if (r.success) return r.data;
  const i = r.error.issues[0];
  throw new BadRequest(`${what}: ${i.path.join('.') || '(value)'}: ${i.message}`);
}

/** Where an entry's image files are, and their content types. */
function imageFile(
  e: ConsoleEntry,
  kind: 'frame' | 'heatmap' | 'map',
): { name: string; type: string } | null {
  if (kind === 'heatmap') return e.mapFormat ? { name: FILES.heatmap, type: 'image/png' } : null;
  if (kind === 'frame') {
    if (e.frameFormat === 'png') return { name: FILES.framePng, type: 'image/png' };
    if (e.frameFormat === 'jpeg') return { name: FILES.frameJpeg, type: 'image/jpeg' };
    return null;
  }
  if (e.mapFormat === 'npy') return { name: FILES.mapNpy, type: 'application/octet-stream' };
  if (e.mapFormat === 'png16') return { name: FILES.mapPng16, type: 'image/png' };
  return null;
}

export function registerConsoleRoutes(
  app: FastifyInstance,
  o: { archiveDir: string | undefined; auth: AuthHooks },
): ConsoleIndex | undefined {
  const index = o.archiveDir ? new ConsoleIndex(o.archiveDir) : undefined;
  const archiveRoot = o.archiveDir ? resolve(o.archiveDir) : '';
  const need = (): ConsoleIndex => {
    if (!index || !index.open()) throw new ArchiveMissingError();
    return index;
  };
  const entry = (id: number): ConsoleEntry => {
    const e = need().get(id);
    if (!e)
      throw new NotFound(`no archive entry ${id} (it may have been removed to keep the archive's size)`);
    return e;
  };
  const entryDir = (e: ConsoleEntry): string => {
    const dir = resolve(archiveRoot, e.path);
    if (!dir.startsWith(archiveRoot + sep)) throw new NotFound('entry outside the archive');
    return dir;
  };

  app.setErrorHandler(async (err: Error, _req, reply: FastifyReply) => {
    if (err instanceof BadRequest) return reply.code(400).send({ error: err.message });
    if (err instanceof NotFound) return reply.code(404).send({ error: err.message });
    if (err instanceof ArchiveMissingError) return reply.code(404).send({ error: err.message });
    if (err instanceof ArchiveBusyError)
      return reply.code(503).header('retry-after', '1').send({ error: err.message });
    const code = (err as { statusCode?: number }).statusCode;
    if (code && code < 500) return reply.code(code).send({ error: err.message });
    app.log.error(err);
    return reply.code(500).send({ error: 'internal error' });
  });

  app.get('/api/parts', async (req) => {
    const q = parse(listQuery, req.query, 'query');
    const ix = need();
    const search = q.partId !== undefined || q.from !== undefined || q.to !== undefined;
    if (!search && q.camera) return { parts: ix.recent(q.camera, q.limit) };
    return { parts: ix.search({ ...q, cameraId: q.camera }) };
  });

  app.get('/api/parts/:id', async (req) => {
    const { id } = parse(idParams, req.params, 'path');
    const e = entry(id);
    let result: unknown = null;
    try {
      result = JSON.parse(await readFile(join(entryDir(e), FILES.result), 'utf8'));
    } catch {
      // removed by the size bound between the query and the read: the row's fields still answer
    }
    const mapInfo = await readMapInfo(entryDir(e));
    const images = Object.fromEntries(
      (['frame', 'heatmap', 'map'] as const).map((k) => [
        k,
        imageFile(e, k) ? `/api/parts/${id}/${k}` : null,
      ]),
    );
    return { entry: e, result, labels: need().labels(id), images, mapInfo, ...need().neighbours(e) };
  });

  app.get('/api/parts/:id/:kind', async (req, reply) => {
    const { id, kind } = parse(imageParams, req.params, 'path');
    const e = entry(id);
    // A thumbnail exists for large frames only (archive/thumbnail.ts): a small frame is its own.
    const thumb = kind === 'thumb' && e.frameFormat ? await openFile(join(entryDir(e), FILES.thumb)) : null;
    if (thumb)
      return reply
        .header('content-type', 'image/jpeg')
        .header('cache-control', 'private, max-age=3600')
        .send(thumb);
    const f = imageFile(e, kind === 'thumb' ? 'frame' : kind);
    if (!f) throw new NotFound(`entry ${id} has no ${kind} (a fail-safe verdict without a frame)`);
    const stream = await openFile(join(entryDir(e), f.name));
    if (!stream) throw new NotFound(`entry ${id}: ${kind} is gone`);
    return reply.header('content-type', f.type).header('cache-control', 'private, max-age=3600').send(stream);
  });

  app.post('/api/parts/:id/labels', { preHandler: o.auth.requireRole('engineer') }, async (req) => {
    const { id } = parse(idParams, req.params, 'path');
    const b = parse(labelBody, req.body, 'body');
    entry(id);
    const note = b.note?.trim() ? b.note.trim() : null;
    if (b.label === null && note === null) throw new BadRequest('body: give a label, a note, or both');
    // requireRole('engineer') ran first: a principal is there.
    await need().addLabel(id, { label: b.label, note, who: req.principal!.user, time: Date.now() });
    return { labels: need().labels(id) };
  });

  app.get('/api/labels/counts', async () => ({ cameras: need().labelCounts() }));

  app.get('/api/whatif/:camera', async (req) => {
    const camera = parse(z.string().max(64), (req.params as { camera: string }).camera, 'camera');
    const q = parse(whatIfQuery, req.query, 'query');
    const window = q.window ?? WHATIF_WINDOW;
    const ix = need();
    // The histogram's scores once; each slider move asks only for the counts.
    if (q.threshold === undefined) return { camera, window, scores: ix.scores(camera, window) };
    return { camera, window, whatIf: ix.whatIf(camera, q.threshold, window) };
  });
  return index;
}

class NotFound extends Error {}

/** An open read stream of the file, or null when it is not there. */
async function openFile(path: string): Promise<ReadStream | null> {
  const stream = createReadStream(path);
  return new Promise((res) => {
    stream.once('open', () => res(stream));
    stream.once('error', () => res(null));
  });
}

/** map.json of a tiled or pooled map (sinks/archive/entry-map.ts); null: the map is in frame pixels. */
async function readMapInfo(dir: string): Promise<MapInfo | null> {
  try {
    return JSON.parse(await readFile(join(dir, FILES.mapInfo), 'utf8')) as MapInfo;
  } catch {
    return null;
  }
}
