// The status page's engineer panels: Re-teach (start, progress, the shadow report side by side, Promote when a
// candidate exists) and the audit log of live changes. Both read the daemon's control routes
// (src/sinks/web/control-routes.ts); a viewer gets neither (those routes answer 403 to a viewer).
import { currentSession, getJson, postJson } from './api.js';
import { fmtTime, h } from './dom.js';

interface PartRef {
  partId: string;
  cameraId: string;
  current: number;
  candidate: number;
}
interface Side {
  modelId: string;
  rejectThreshold: number;
  rejects: number;
  rejectRate: number;
  unseenRejectRate: number;
}
interface Reteach {
  unavailable: string | null;
  state: string;
  job: string | null;
  by: string | null;
  progress: { phase: string; step: number; total: number; etaSeconds: number | null } | null;
  error: string | null;
  candidate: { version: string; safeToPromote: boolean; reasons: string[]; promoted: boolean } | null;
  report: {
    parts: number;
    current: Side;
    candidate: Side;
    falseRejectsPassing: PartRef[];
    falseRejectsStillRejected: PartRef[];
    defectsEscaping: PartRef[];
    defectsEscapingCurrent: PartRef[];
  } | null;
}
interface Audit {
  persistent: boolean;
  entries: { time: number; who: string; source: string; what: string; camera: string | null; new: unknown }[];
}

const pct = (x: number): string => `${(100 * x).toFixed(1)} %`;

function progressText(r: Reteach): string {
  const p = r.progress;
  if (r.state !== 'running') return r.state + (r.error ? `: ${r.error}` : '');
  if (!p) return 'starting…';
  const eta = p.etaSeconds !== null ? `, about ${Math.round(p.etaSeconds)} s left` : '';
  return `running: ${p.phase} ${p.step}/${p.total || '?'}${eta}`;
}

function reportTable(r: NonNullable<Reteach['report']>): HTMLElement {
  const row = (k: string, a: string | number, b: string | number): HTMLElement =>
    h('tr', {}, h('th', {}, k), h('td', {}, a), h('td', {}, b));
  return h(
    'table',
    { class: 'kv', id: 'reteach-report' },
    h('tr', {}, h('th', {}, `${r.parts} archived parts`), h('th', {}, 'in force'), h('th', {}, 'candidate')),
    row('model', r.current.modelId, r.candidate.modelId),
    row('reject threshold', r.current.rejectThreshold.toFixed(4), r.candidate.rejectThreshold.toFixed(4)),
    row('reject rate', pct(r.current.rejectRate), pct(r.candidate.rejectRate)),
    row(
      'reject rate (parts not taught on)',
      pct(r.current.unseenRejectRate),
      pct(r.candidate.unseenRejectRate),
    ),
    row(
      'labelled false rejects passing',
      '0',
      `${r.falseRejectsPassing.length} of ${r.falseRejectsPassing.length + r.falseRejectsStillRejected.length}`,
    ),
    row('confirmed defects escaping', r.defectsEscapingCurrent.length, r.defectsEscaping.length),
  );
}

async function reteachPanel(redraw: () => void): Promise<HTMLElement> {
  const r = await getJson<Reteach>('/api/reteach');
  const act = (path: string) => async () => {
    try {
      await postJson(path, {});
    } catch (err) {
      alert((err as Error).message);
    }
    redraw();
  };
  const c = r.candidate;
  return h(
    'section',
    { id: 'reteach' },
    h('h3', {}, 'Re-teach'),
    r.unavailable ? h('p', { class: 'hint' }, r.unavailable) : '',
    h('p', { id: 'reteach-state' }, progressText(r), r.by ? ` (asked by ${r.by})` : ''),
    h(
      'p',
      {},
      h(
        'button',
        {
          id: 'reteach-start',
          disabled: !!r.unavailable || r.state === 'running',
          onclick: act('/api/reteach'),
        },
        'Start re-teach',
      ),
      ' ',
      h(
        'button',
        { id: 'reteach-cancel', disabled: r.state !== 'running', onclick: act('/api/reteach/cancel') },
        'Cancel',
      ),
      ' ',
      h(
        'button',
        { id: 'reteach-promote', disabled: !c || c.promoted, onclick: act('/api/reteach/promote') },
        'Promote candidate',
      ),
    ),
    c
      ? h(
          'p',
          { id: 'reteach-candidate', class: c.safeToPromote ? '' : 'warning' },
          `candidate ${c.version}${c.promoted ? ' (promoted)' : ''}: `,
          c.safeToPromote ? 'safe to promote by the shadow evaluation' : `review: ${c.reasons.join('; ')}`,
        )
      : '',
    r.report ? reportTable(r.report) : '',
  );
}

async function auditPanel(): Promise<HTMLElement> {
  const a = await getJson<Audit>('/api/audit?limit=20');
  return h(
    'section',
    { id: 'audit' },
    h('h3', {}, 'Audit log', a.persistent ? '' : ' (this run only: the archive is off)'),
    h(
      'table',
      { class: 'cams', id: 'audit-log' },
      h('tr', {}, ...['time', 'who', 'via', 'what', 'camera', 'new'].map((t) => h('th', {}, t))),
      ...[...a.entries]
        .reverse()
        .map((e) =>
          h(
            'tr',
            {},
            h('td', {}, fmtTime(e.time)),
            h('td', {}, e.who),
            h('td', {}, e.source),
            h('td', {}, e.what),
            h('td', {}, e.camera ?? ''),
            h('td', {}, JSON.stringify(e.new).slice(0, 160)),
          ),
        ),
    ),
  );
}

/** The engineer panels, or nothing for a viewer. A failing panel shows its error instead of hiding the page. */
export async function engineerPanels(redraw: () => void): Promise<HTMLElement[]> {
  if (currentSession()?.role !== 'engineer') return [];
  const safe = (p: Promise<HTMLElement>): Promise<HTMLElement> =>
    p.catch((err: Error) => h('p', { class: 'error' }, err.message));
  return Promise.all([safe(reteachPanel(redraw)), safe(auditPanel())]);
}
