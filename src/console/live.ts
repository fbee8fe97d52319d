// The live view: one tile per camera (latest frame, heatmap overlay with toggle and opacity, blob boxes, verdict,
// score vs threshold, camera state, fps and drops) fed by the /api/live WebSocket, and under each tile the strip
// of the camera's recent archived parts, coloured by verdict, each a link to its drill-down.
import { getJson } from './api.js';
import { fmtScore, h, link } from './dom.js';
import { decodeFloats, drawPart } from './heat.js';
import type { Box, Overlay } from './heat.js';

interface PartMsg {
  type: 'part';
  camera: string;
  partId: string;
  verdict: string;
  reason: string;
  score: number | null;
  threshold: number | null;
  blobs: Box[];
  latencyMs: number;
  frame?: { width: number; height: number };
  jpeg?: string;
  grid?: string;
  gridCols?: number;
  gridRows?: number;
  gridBox?: Box;
  pixelThreshold?: number;
  detail?: string | null;
}

interface CameraInfo {
  state: string;
  detail: string | null;
  frames: number;
  dropped: number;
  fps: number | null;
}

interface StripEntry {
  id: number;
  partId: string;
  cameraId: string;
  verdict: string;
  score: number | null;
  label: string | null;
  frameFormat: string | null;
}

class Tile {
  readonly root: HTMLElement;
  private readonly canvas = h('canvas', { class: 'live' });
  private readonly badge = h('span', { class: 'badge' }, '–');
  private readonly score = h('span', { class: 'score' }, '');
  private readonly state = h('span', { class: 'state' }, '');
  private readonly rate = h('span', { class: 'rate' }, '');
  private readonly strip = h('div', { class: 'strip' });
  private last: { msg: PartMsg; img: HTMLImageElement | null; overlay: Overlay | null } | null = null;
  paused = false;
  /** Parts handed to show(), and the newest of them presented (text and picture). */
  private shown = 0;
  private presented = 0;
  private stripKey = '';

  constructor(
    readonly camera: string,
    private readonly view: { overlay: boolean; opacity: number },
  ) {
    const pause = h('button', { class: 'pause', type: 'button' }, 'Freeze');
    pause.addEventListener('click', () => {
      this.paused = !this.paused;
      pause.textContent = this.paused ? 'Resume' : 'Freeze';
      this.root.dataset.paused = String(this.paused);
    });
    this.root = h(
      'section',
      { class: 'tile', 'data-camera': camera, 'data-paused': 'false' },
      h('header', {}, h('b', {}, camera), this.badge, this.score, pause),
      this.canvas,
      h('footer', {}, this.state, this.rate),
      this.strip,
    );
  }

  show(msg: PartMsg): void {
    if (this.paused) return;
    const seq = ++this.shown;
    if (!msg.jpeg || !msg.frame) {
      this.presented = seq;
      this.present(msg, null, null);
      return;
    }
    const img = new Image();
    const overlay: Overlay | null = msg.grid
      ? {
          grid: decodeFloats(msg.grid),
          cols: msg.gridCols!,
          rows: msg.gridRows!,
          box: msg.gridBox!,
          pixelThreshold: msg.pixelThreshold!,
        }
      : null;
    // The verdict, score and blobs are shown with their picture, in one step once it is decoded: a tile frozen
    // in between must not show one part's verdict over the previous part's picture. A later part that decoded
    // first wins.
    img.onload = () => {
      if (this.paused || seq < this.presented) return;
      this.presented = seq;
      this.present(msg, img, overlay);
    };
    img.src = `data:image/jpeg;base64,${msg.jpeg}`;
  }

  /** Verdict, score, blobs and picture of one part, together. */
  private present(msg: PartMsg, img: HTMLImageElement | null, overlay: Overlay | null): void {
    const ds = this.root.dataset;
    ds.partId = msg.partId;
    ds.verdict = msg.verdict;
    ds.score = msg.score === null ? '' : String(msg.score);
    ds.blobs = JSON.stringify(msg.blobs);
    this.badge.textContent = msg.verdict === 'ok' ? 'OK' : msg.verdict === 'reject' ? 'REJECT' : 'ERROR';
    this.badge.className = `badge v-${msg.verdict}`;
    this.score.textContent = `${fmtScore(msg.score)} / ${fmtScore(msg.threshold)}  ${msg.latencyMs} ms`;
    this.score.title = msg.detail ?? msg.reason;
    this.last = { msg, img, overlay };
    if (!img) return;
    this.redraw();
    ds.frames = String(Number(ds.frames ?? '0') + 1);
  }

  redraw(): void {
    const l = this.last;
    if (!l?.img || !l.msg.frame) return;
    const scale = l.img.width / l.msg.frame.width;
    drawPart(this.canvas, l.img, scale, this.view.overlay ? l.overlay : null, this.view.opacity, l.msg.blobs);
  }

  camera_(c: CameraInfo): void {
    this.state.textContent = `${c.state}${c.detail ? `: ${c.detail}` : ''}`;
    this.state.className = `state s-${c.state}`;
    this.rate.textContent = `${c.fps === null ? '–' : c.fps.toFixed(1)} fps · ${c.dropped} dropped`;
  }

  async refreshStrip(): Promise<void> {
    const { parts } = await getJson<{ parts: StripEntry[] }>(
      `/api/parts?camera=${encodeURIComponent(this.camera)}&limit=24`,
    );
    const key = parts.map((p) => `${p.id}:${p.label ?? ''}`).join(',');
    if (key === this.stripKey) return; // unchanged: keep the loaded thumbnails
    this.stripKey = key;
    this.strip.replaceChildren(
      ...parts.map((p) =>
        link(
          `/part/${encodeURIComponent(p.cameraId)}/${encodeURIComponent(p.partId)}?id=${p.id}`,
          h(
            'span',
            {
              class: `thumb v-${p.verdict}${p.label ? ` l-${p.label}` : ''}`,
              'data-id': p.id,
              'data-verdict': p.verdict,
              'data-part-id': p.partId,
              title: `${p.partId} ${p.verdict} ${fmtScore(p.score)}${p.label ? ` (${p.label})` : ''}`,
            },
            p.frameFormat ? h('img', { src: `/api/parts/${p.id}/thumb`, alt: '' }) : p.verdict,
          ),
        ),
      ),
    );
  }
}

/** Builds the live view into `main`; returns its teardown (closes the socket and timers). */
export function liveView(main: HTMLElement): () => void {
  const view = { overlay: true, opacity: 0.45 };
  const tiles = new Map<string, Tile>();
  const grid = h('div', { class: 'tiles' });
  const overlayBox = h('input', { type: 'checkbox', id: 'overlay', checked: true });
  const opacity = h('input', {
    type: 'range',
    id: 'opacity',
    min: 0,
    max: 1,
    step: 0.05,
    value: view.opacity,
  });
  const redrawAll = (): void => tiles.forEach((t) => t.redraw());
  overlayBox.addEventListener('change', () => {
    view.overlay = overlayBox.checked;
    redrawAll();
  });
  opacity.addEventListener('input', () => {
    view.opacity = Number(opacity.value);
    redrawAll();
  });
  const conn = h('span', { class: 'conn' }, 'connecting…');
  main.replaceChildren(
    h(
      'div',
      { class: 'toolbar' },
      h('label', {}, overlayBox, ' heatmap'),
      h('label', {}, 'opacity ', opacity),
      conn,
    ),
    grid,
  );
  const tile = (camera: string): Tile => {
    let t = tiles.get(camera);
    if (!t) {
      t = new Tile(camera, view);
      tiles.set(camera, t);
      grid.append(t.root);
      void t.refreshStrip().catch(() => undefined);
    }
    return t;
  };

  let ws: WebSocket | null = null;
  let closed = false;
  const connect = (): void => {
    ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/live`);
    ws.onopen = () => (conn.textContent = 'live');
    ws.onclose = (ev) => {
      // 4401: the login this view was opened with ended (logout elsewhere, idle expiry): back to the login.
      if (ev.code === 4401) {
        conn.textContent = 'session ended';
        if (!closed) location.reload();
        return;
      }
      conn.textContent = 'disconnected: retrying';
      if (!closed) setTimeout(connect, 2000);
    };
    ws.onmessage = (ev) => {
      const m = JSON.parse(String(ev.data)) as
        PartMsg | { type: 'cameras'; cameras: Record<string, CameraInfo> };
      if (m.type === 'cameras') for (const [id, c] of Object.entries(m.cameras)) tile(id).camera_(c);
      else tile(m.camera).show(m);
    };
  };
  connect();
  const strips = setInterval(() => tiles.forEach((t) => void t.refreshStrip().catch(() => undefined)), 3000);
  return () => {
    closed = true;
    ws?.close();
    clearInterval(strips);
  };
}
