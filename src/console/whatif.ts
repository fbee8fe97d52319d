// Threshold what-if per camera: a histogram of the camera's recent scores (good, rejected, labelled false reject,
// confirmed defect) with the reject threshold as a slider. The projected reject count and the labelled parts
// that would flip come from the server, counted exactly over the archive. An engineer may apply the slider's
// threshold (POST /api/cameras/:camera/thresholds: a live change, audited); viewers only look.
import { currentSession, getJson, postJson } from './api.js';
import { fmtScore, h, link } from './dom.js';

interface Point {
  score: number;
  verdict: string;
  label: string | null;
}
interface WhatIf {
  threshold: number;
  scored: number;
  currentRejects: number;
  projectedRejects: number;
  flips: { id: number; partId: string; score: number; label: string; verdict: string; projected: string }[];
}
interface Status {
  cameras: Record<string, unknown>;
  model: { thresholds: Record<string, { reject: number } | null> } | null;
}

const CLASSES = [
  { key: 'good', colour: '#4caf50' },
  { key: 'rejected', colour: '#e53935' },
  { key: 'false-reject', colour: '#fbc02d' },
  { key: 'confirmed-defect', colour: '#8e24aa' },
] as const;
const BINS = 60;

const classOf = (p: Point): string => p.label ?? (p.verdict === 'reject' ? 'rejected' : 'good');

function drawHistogram(canvas: HTMLCanvasElement, pts: Point[], lo: number, hi: number, t: number): void {
  const ctx = canvas.getContext('2d')!;
  const W = canvas.width;
  const H = canvas.height;
  ctx.clearRect(0, 0, W, H);
  const span = hi - lo || 1;
  const counts = CLASSES.map(() => new Array<number>(BINS).fill(0));
  for (const p of pts) {
    const b = Math.min(BINS - 1, Math.max(0, Math.floor(((p.score - lo) / span) * BINS)));
    counts[CLASSES.findIndex((c) => c.key === classOf(p))][b]++;
  }
  const max = Math.max(1, ...Array.from({ length: BINS }, (_, b) => counts.reduce((a, c) => a + c[b], 0)));
  const bw = W / BINS;
  for (let b = 0; b < BINS; b++) {
    let y = H;
    CLASSES.forEach((c, i) => {
      const hgt = (counts[i][b] / max) * (H - 10);
      ctx.fillStyle = c.colour;
      ctx.fillRect(b * bw + 1, y - hgt, bw - 2, hgt);
      y -= hgt;
    });
  }
  const x = ((t - lo) / span) * W;
  ctx.strokeStyle = '#000';
  ctx.lineWidth = 2;
  ctx.beginPath();
  ctx.moveTo(x, 0);
  ctx.lineTo(x, H);
  ctx.stroke();
}

export async function whatIfView(main: HTMLElement, cameraParam: string | null): Promise<void> {
  const st = await getJson<Status>('/api/console/status');
  const cameras = Object.keys(st.cameras);
  const camera = cameraParam && cameras.includes(cameraParam) ? cameraParam : cameras[0];
  const select = h(
    'select',
    { id: 'whatif-camera' },
    ...cameras.map((c) => h('option', { value: c, selected: c === camera }, c)),
  );
  select.addEventListener('change', () => void whatIfView(main, select.value));
  if (!camera) {
    main.replaceChildren(h('p', {}, 'no cameras'));
    return;
  }
  const { scores } = await getJson<{ scores: Point[] }>(`/api/whatif/${encodeURIComponent(camera)}`);
  const current = st.model?.thresholds[camera]?.reject ?? null;
  const all = scores.map((p) => p.score);
  const lo = Math.min(...all, current ?? Infinity);
  const hi = Math.max(...all, current ?? -Infinity);
  const canvas = h('canvas', { id: 'histogram', width: 720, height: 220 });
  const slider = h('input', {
    id: 'threshold',
    type: 'range',
    min: lo,
    max: hi,
    step: (hi - lo) / 1000 || 0.001,
    value: current ?? (lo + hi) / 2,
  });
  const shown = h('span', { id: 'threshold-value' });
  const projected = h('b', { id: 'projected' }, '…');
  const flips = h('div', { id: 'flips' });
  let asked = 0;
  const update = async (): Promise<void> => {
    const t = Number(slider.value);
    shown.textContent = fmtScore(t);
    drawHistogram(canvas, scores, lo, hi, t);
    const mine = ++asked;
    const { whatIf } = await getJson<{ whatIf: WhatIf }>(
      `/api/whatif/${encodeURIComponent(camera)}?threshold=${encodeURIComponent(String(t))}`,
    );
    if (mine !== asked) return; // a later move answered first
    projected.textContent = String(whatIf.projectedRejects);
    projected.dataset.threshold = String(whatIf.threshold);
    document.getElementById('current-rejects')!.textContent = `${whatIf.currentRejects} of ${whatIf.scored}`;
    flips.replaceChildren(
      whatIf.flips.length === 0
        ? h('p', {}, 'no labelled part changes its verdict at this threshold')
        : h(
            'ul',
            {},
            ...whatIf.flips.map((f) =>
              h(
                'li',
                { class: 'flip' },
                link(
                  `/part/${encodeURIComponent(camera)}/${encodeURIComponent(f.partId)}?id=${f.id}`,
                  f.partId,
                ),
                ` (${f.label}, ${fmtScore(f.score)}): ${f.verdict} → ${f.projected}`,
              ),
            ),
          ),
    );
  };
  slider.addEventListener('input', () => void update().catch(() => undefined));
  const applied = h('span', { id: 'whatif-applied' });
  const apply = async (): Promise<void> => {
    try {
      const r = await postJson<{ thresholds: { reject: number } }>(
        `/api/cameras/${encodeURIComponent(camera)}/thresholds`,
        { reject: Number(slider.value) },
      );
      applied.textContent = `applied: reject threshold ${fmtScore(r.thresholds.reject)}`;
    } catch (err) {
      applied.textContent = `refused: ${(err as Error).message}`;
    }
  };
  main.replaceChildren(
    h('h2', {}, 'Threshold what-if'),
    h('p', {}, 'camera ', select, `  current reject threshold ${fmtScore(current)}`),
    canvas,
    h(
      'div',
      { class: 'legend' },
      ...CLASSES.map((c) => h('span', { style: `border-left: 12px solid ${c.colour}` }, ` ${c.key} `)),
    ),
    h('p', {}, 'threshold ', slider, ' ', shown),
    h(
      'p',
      {},
      'projected rejects: ',
      projected,
      ' of the recent scored parts; rejected today: ',
      h('span', { id: 'current-rejects' }, '…'),
    ),
    currentSession()?.role === 'engineer'
      ? h(
          'p',
          {},
          h('button', { id: 'whatif-apply', onclick: () => void apply() }, 'Apply this threshold'),
          ' ',
          applied,
          h(
            'span',
            { class: 'hint' },
            ' (from the next part on, audited; a restart goes back to the config)',
          ),
        )
      : h('p', { class: 'hint' }, 'Read-only for viewers: an engineer can apply a threshold here.'),
    h('h3', {}, 'Labelled parts that would flip'),
    flips,
  );
  await update();
}
