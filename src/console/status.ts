// The status page: cameras (state, last error, counters, fps), the model (id, dev-teacher warning, thresholds,
// teach-in date), MQTT, the archive, event-loop delay, the live view's clients, version; for engineers the
// re-teach panel and the audit log (reteach.ts); refreshed every 2 s.
import { getJson } from './api.js';
import { h } from './dom.js';
import { engineerPanels } from './reteach.js';

interface Status {
  version: string;
  modelId: string | null;
  uptimeSec: number;
  ready: { ready: boolean; reasons: string[] };
  cameras: Record<
    string,
    { state: string; detail: string | null; frames: number; dropped: number; untriggered: number }
  >;
  parts: Record<string, number> | null;
  mqtt: Record<string, number | boolean> | null;
  archive: { written: number; dropped: number; failed: number; bytes: number; queued: number } | null;
  model: {
    devTeacher: boolean;
    trainedAt: string | null;
    thresholds: Record<string, { reject: number; pixel: number } | null>;
  } | null;
  eventLoopDelayMs: { mean: number; p99: number; max: number };
  live: { liveFps: number; clients: number; encoded: number; sent: number; skipped: number };
  labels: Record<
    string,
    {
      rejects: number;
      falseRejects: number;
      confirmedRejects: number;
      escapes: number;
      falseRejectRate: number | null;
    }
  > | null;
  shift: {
    hours: number;
    cameras: Record<
      string,
      { parts: number; ok: number; reject: number; error: number; failSafe: number; yield: number | null }
    >;
  } | null;
}

const kv = (o: Record<string, unknown> | null): HTMLElement =>
  o === null
    ? h('p', {}, 'not running')
    : h(
        'table',
        { class: 'kv' },
        ...Object.entries(o).map(([k, v]) => h('tr', {}, h('th', {}, k), h('td', {}, String(v)))),
      );

/** Parts, rejects and yield per camera over the last hours (web.shiftHours). */
function shiftTable(shift: NonNullable<Status['shift']>): HTMLElement {
  return h(
    'table',
    { class: 'cams', id: 'status-shift' },
    h(
      'tr',
      {},
      ...['camera', 'parts', 'ok', 'reject', 'error', 'fail-safe', 'yield'].map((t) => h('th', {}, t)),
    ),
    ...Object.entries(shift.cameras).map(([id, c]) =>
      h(
        'tr',
        { 'data-camera': id },
        h('td', {}, id),
        h('td', {}, c.parts),
        h('td', {}, c.ok),
        h('td', {}, c.reject),
        h('td', {}, c.error),
        h('td', {}, c.failSafe),
        h('td', {}, c.yield === null ? '–' : `${(100 * c.yield).toFixed(1)} %`),
      ),
    ),
  );
}

function render(s: Status): (HTMLElement | string)[] {
  const cams = h(
    'table',
    { class: 'cams', id: 'status-cameras' },
    h(
      'tr',
      {},
      ...[
        'camera',
        'state',
        'last error / detail',
        'frames',
        'dropped',
        'reject thr.',
        'pixel thr.',
        'rejects',
        'false rejects',
        'FR rate',
        'escapes',
      ].map((t) => h('th', {}, t)),
    ),
    ...Object.entries(s.cameras).map(([id, c]) => {
      const t = s.model?.thresholds[id];
      const l = s.labels?.[id];
      return h(
        'tr',
        { 'data-camera': id },
        h('td', {}, id),
        h('td', { class: `s-${c.state}` }, c.state),
        h('td', {}, c.detail ?? ''),
        h('td', {}, c.frames),
        h('td', {}, c.dropped),
        h('td', {}, t ? t.reject.toFixed(4) : 'NONE (fail-safe)'),
        h('td', {}, t ? t.pixel.toFixed(4) : ''),
        h('td', {}, l?.rejects ?? 0),
        h('td', {}, l?.falseRejects ?? 0),
        h(
          'td',
          {},
          l?.falseRejectRate === null || l === undefined ? '–' : `${(100 * l.falseRejectRate).toFixed(1)} %`,
        ),
        h('td', {}, l?.escapes ?? 0),
      );
    }),
  );
  return [
    h(
      'h2',
      {},
      `pinpoint ${s.version}`,
      ' ',
      h(
        'span',
        { class: `badge ${s.ready.ready ? 'v-ok' : 'v-reject'}` },
        s.ready.ready ? 'READY' : 'NOT READY',
      ),
    ),
    s.ready.reasons.length
      ? h('ul', { class: 'reasons' }, ...s.ready.reasons.map((r) => h('li', {}, r)))
      : '',
    s.model?.devTeacher
      ? h(
          'p',
          { class: 'warning', id: 'dev-teacher' },
          'DEV TEACHER: the model uses random weights, not a real backbone (tests and demos only).',
        )
      : '',
    h(
      'p',
      {},
      `model ${s.modelId ?? '–'}; taught in ${s.model?.trainedAt ?? 'never (thresholds from the config)'}; up ${s.uptimeSec} s`,
    ),
    h('h3', {}, 'Cameras'),
    cams,
    ...(s.shift ? [h('h3', {}, `Last ${s.shift.hours} h`), shiftTable(s.shift)] : []),
    h('h3', {}, 'Parts since start'),
    kv(s.parts),
    h('h3', {}, 'MQTT'),
    kv(s.mqtt),
    h('h3', {}, 'Archive'),
    kv(s.archive && { ...s.archive, megabytes: (s.archive.bytes / 1e6).toFixed(1) }),
    h('h3', {}, 'Daemon'),
    kv({
      'event loop delay mean ms': s.eventLoopDelayMs.mean,
      'p99 ms': s.eventLoopDelayMs.p99,
      'max ms': s.eventLoopDelayMs.max,
      'live fps limit': s.live.liveFps,
      'live clients': s.live.clients,
      'live updates skipped (slow clients)': s.live.skipped,
    }),
  ];
}

export function statusView(main: HTMLElement): () => void {
  const draw = async (): Promise<void> => {
    try {
      const [s, panels] = await Promise.all([getJson<Status>('/api/console/status'), engineerPanels(redraw)]);
      main.replaceChildren(...render(s), ...panels);
    } catch (err) {
      main.replaceChildren(h('p', { class: 'error' }, (err as Error).message));
    }
  };
  const redraw = (): void => void draw();
  void draw();
  const t = setInterval(() => void draw(), 2000);
  return () => clearInterval(t);
}
