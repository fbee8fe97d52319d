// The part drill-down (/part/<camera>/<partId>, ?id=<entry> picks one of several entries of the same part id):
// frame, heatmap, the frame with blob boxes (and close-ups of the blobs on a large frame), the blobs table,
// score and thresholds, model id, reason, latency, PLC part id, the tile grid of a tiled camera, the operator
// labels with the review buttons, and previous / next of the same camera.
import { currentSession, getJson, postJson } from './api.js';
import { fmtScore, fmtTime, h, link } from './dom.js';
import { blobCrops } from './blob-crops.js';
import { drawPart } from './heat.js';
import type { Box } from './heat.js';

interface Entry {
  id: number;
  partId: string;
  cameraId: string;
  decideTime: number;
  verdict: string;
  reason: string;
  score: number | null;
  label: string | null;
}

interface Label {
  label: string | null;
  note: string | null;
  who: string;
  time: number;
}

interface Detail {
  entry: Entry;
  result: {
    threshold: number | null;
    modelId: string;
    latencyMs: number;
    detail?: string;
    blobs: { box: Box; area: number; peak: number; mean: number }[];
    tiling?: { size: number; tile: number; columns: number; rows: number };
  } | null;
  labels: Label[];
  images: { frame: string | null; heatmap: string | null; map: string | null };
  /** A tiled or pooled map (sinks/archive/entry-map.ts); null: the map is in frame pixels. */
  mapInfo: { width: number; height: number; downsample: number; pooling: string } | null;
  previous: number | null;
  next: number | null;
}

const partPath = (e: { cameraId: string; partId: string; id: number }): string =>
  `/part/${encodeURIComponent(e.cameraId)}/${encodeURIComponent(e.partId)}?id=${e.id}`;

async function resolveId(camera: string, partId: string, id: string | null): Promise<number | null> {
  if (id && /^\d+$/.test(id)) return Number(id);
  const q = new URLSearchParams({ camera, partId, limit: '1' });
  const { parts } = await getJson<{ parts: Entry[] }>(`/api/parts?${q}`);
  return parts[0]?.id ?? null;
}

export async function partView(
  main: HTMLElement,
  camera: string,
  partId: string,
  id: string | null,
): Promise<void> {
  main.replaceChildren(h('p', {}, 'loading…'));
  const entryId = await resolveId(camera, partId, id);
  if (entryId === null) {
    main.replaceChildren(
      h('p', { class: 'error' }, `Part ${partId} of camera ${camera} is not in the archive.`),
    );
    return;
  }
  const d = await getJson<Detail>(`/api/parts/${entryId}`);
  render(main, d);
}

function render(main: HTMLElement, d: Detail): void {
  const e = d.entry;
  const r = d.result;
  const nav = h(
    'nav',
    { class: 'prevnext' },
    d.previous !== null
      ? h(
          'a',
          { href: `/part/${encodeURIComponent(e.cameraId)}/-?id=${d.previous}`, id: 'previous' },
          '← previous',
        )
      : '',
    ' ',
    d.next !== null
      ? h('a', { href: `/part/${encodeURIComponent(e.cameraId)}/-?id=${d.next}`, id: 'next' }, 'next →')
      : '',
  );
  const facts = h(
    'table',
    { class: 'facts' },
    row('PLC part id', h('span', { id: 'part-id' }, e.partId)),
    row('camera', e.cameraId),
    row('verdict', h('span', { id: 'verdict', class: `badge v-${e.verdict}` }, e.verdict)),
    row('reason', e.reason + (r?.detail ? `: ${r.detail}` : '')),
    row('score', h('span', { id: 'score', 'data-score': e.score ?? '' }, fmtScore(e.score))),
    row('reject threshold', fmtScore(r?.threshold)),
    row('model', r?.modelId ?? '–'),
    row('latency', r ? `${r.latencyMs} ms` : '–'),
    row('decided', fmtTime(e.decideTime)),
    row('label', h('span', { id: 'label' }, e.label ?? 'none')),
    r?.tiling
      ? row(
          'tiling',
          h(
            'span',
            { id: 'tiling' },
            `${r.tiling.columns} × ${r.tiling.rows} tiles of ${r.tiling.tile} px (model input ${r.tiling.size})`,
          ),
        )
      : null,
  );
  const overlay = h('canvas', { class: 'part-overlay', id: 'overlay-canvas' });
  const crops = h('div', {});
  if (d.images.frame) {
    const img = new Image();
    img.onload = () => {
      const boxes = r?.blobs.map((b) => b.box) ?? [];
      drawPart(overlay, img, 1, null, 0, boxes);
      crops.replaceChildren(blobCrops(img, boxes) ?? '');
    };
    img.src = d.images.frame;
  }
  const m = d.mapInfo;
  const mapNote =
    m && m.downsample > 1
      ? ` (${m.width}×${m.height}: one pixel is the ${m.pooling} of ${m.downsample}×${m.downsample} frame pixels)`
      : '';
  main.replaceChildren(
    h('h2', {}, `Part ${e.partId}`),
    nav,
    h(
      'div',
      { class: 'part' },
      h(
        'div',
        { class: 'images' },
        d.images.frame
          ? h('figure', {}, overlay, h('figcaption', {}, 'frame with blobs'))
          : h('p', {}, 'no frame (fail-safe verdict)'),
        crops,
        d.images.heatmap
          ? h(
              'figure',
              {},
              h('img', { src: d.images.heatmap, alt: 'heatmap' }),
              h('figcaption', {}, `heatmap over the frame${mapNote}`),
            )
          : '',
        d.images.map
          ? h(
              'p',
              {},
              h('a', { href: d.images.map, download: `${e.partId}-map` }, 'anomaly map (raw)'),
              mapNote,
            )
          : '',
      ),
      h('div', { class: 'side' }, facts, blobsTable(r?.blobs ?? []), review(d)),
    ),
  );
}

function row(k: string, v: Node | string): HTMLTableRowElement {
  return h('tr', {}, h('th', {}, k), h('td', {}, v));
}

function blobsTable(blobs: NonNullable<Detail['result']>['blobs']): HTMLElement {
  if (blobs.length === 0) return h('p', {}, 'no blobs');
  return h(
    'table',
    { class: 'blobs' },
    h(
      'tr',
      {},
      h('th', {}, 'x, y'),
      h('th', {}, 'w × h'),
      h('th', {}, 'area'),
      h('th', {}, 'peak'),
      h('th', {}, 'mean'),
    ),
    ...blobs.map((b) =>
      h(
        'tr',
        {},
        h('td', {}, `${b.box.x}, ${b.box.y}`),
        h('td', {}, `${b.box.width} × ${b.box.height}`),
        h('td', {}, b.area),
        h('td', {}, b.peak.toFixed(3)),
        h('td', {}, b.mean.toFixed(3)),
      ),
    ),
  );
}

function review(d: Detail): HTMLElement {
  const engineer = currentSession()?.role === 'engineer';
  const note = h('textarea', { id: 'note', rows: 2, placeholder: 'note (optional)', maxlength: 2000 });
  const msg = h('span', { class: 'msg' });
  const list = h('ul', { class: 'labels', id: 'labels' }, ...d.labels.map(labelItem));
  const mark = async (label: string | null): Promise<void> => {
    try {
      const res = await postJson<{ labels: Label[] }>(`/api/parts/${d.entry.id}/labels`, {
        label,
        note: note.value,
      });
      list.replaceChildren(...res.labels.map(labelItem));
      const latest = [...res.labels].reverse().find((l) => l.label !== null);
      document.getElementById('label')!.textContent = latest?.label ?? 'none';
      note.value = '';
      msg.textContent = 'saved';
    } catch (err) {
      msg.textContent = (err as Error).message;
    }
  };
  return h(
    'div',
    { class: 'review' },
    h('h3', {}, 'Review'),
    list,
    engineer
      ? h(
          'div',
          {},
          note,
          h(
            'button',
            { id: 'mark-false-reject', type: 'button', onclick: () => void mark('false-reject') },
            'False reject',
          ),
          h(
            'button',
            { id: 'mark-confirmed', type: 'button', onclick: () => void mark('confirmed-defect') },
            'Confirmed defect',
          ),
          h('button', { id: 'add-note', type: 'button', onclick: () => void mark(null) }, 'Note only'),
          msg,
        )
      : h('p', {}, 'Reviewing needs the engineer role.'),
    h(
      'p',
      {},
      link(`/whatif?camera=${encodeURIComponent(d.entry.cameraId)}`, 'threshold what-if for this camera'),
    ),
  );
}

function labelItem(l: Label): HTMLLIElement {
  return h(
    'li',
    {},
    h('b', {}, l.label ?? 'note'),
    ` ${l.note ?? ''} — ${l.who}, ${new Date(l.time).toLocaleString()}`,
  );
}

export { partPath };
