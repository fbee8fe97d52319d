// Search the archive by PLC part id and/or a time range, optionally one camera; results link to the drill-down.
import { getJson } from './api.js';
import { fmtScore, fmtTime, h, link } from './dom.js';
import { partPath } from './part.js';

interface Entry {
  id: number;
  partId: string;
  cameraId: string;
  decideTime: number;
  verdict: string;
  score: number | null;
  label: string | null;
}

export function searchView(main: HTMLElement): void {
  const partId = h('input', { id: 'q-part', placeholder: 'part id (PLC serial)' });
  const camera = h('input', { id: 'q-camera', placeholder: 'camera (all)' });
  const from = h('input', { id: 'q-from', type: 'datetime-local' });
  const to = h('input', { id: 'q-to', type: 'datetime-local' });
  const out = h('div', { id: 'results' });
  const run = async (ev?: Event): Promise<void> => {
    ev?.preventDefault();
    const q = new URLSearchParams({ limit: '200' });
    if (partId.value.trim()) q.set('partId', partId.value.trim());
    if (camera.value.trim()) q.set('camera', camera.value.trim());
    if (from.value) q.set('from', String(new Date(from.value).getTime()));
    if (to.value) q.set('to', String(new Date(to.value).getTime()));
    try {
      const { parts } = await getJson<{ parts: Entry[] }>(`/api/parts?${q}`);
      out.replaceChildren(
        parts.length === 0
          ? h('p', {}, 'nothing found')
          : h(
              'table',
              { class: 'results' },
              h(
                'tr',
                {},
                ...['decided', 'camera', 'part id', 'verdict', 'score', 'label'].map((t) => h('th', {}, t)),
              ),
              ...parts.map((p) =>
                h(
                  'tr',
                  {},
                  h('td', {}, fmtTime(p.decideTime)),
                  h('td', {}, p.cameraId),
                  h('td', {}, link(partPath(p), p.partId)),
                  h('td', {}, h('span', { class: `badge v-${p.verdict}` }, p.verdict)),
                  h('td', {}, fmtScore(p.score)),
                  h('td', {}, p.label ?? ''),
                ),
              ),
            ),
      );
    } catch (err) {
      out.replaceChildren(h('p', { class: 'error' }, (err as Error).message));
    }
  };
  main.replaceChildren(
    h('h2', {}, 'Search parts'),
    h(
      'form',
      { class: 'search', onsubmit: (e: Event) => void run(e) },
      partId,
      camera,
      h('label', {}, 'from ', from),
      h('label', {}, 'to ', to),
      h('button', { type: 'submit' }, 'Search'),
    ),
    out,
  );
}
