// The live view's fan-out: at most `liveFps` updates per camera, each encoded once (its JPEG in libuv's thread
// pool, never on the event loop) and sent as the same string to every watching client. Each camera's latest
// update is kept (its tile-sized snapshot, encoded only when someone watches) and sent to a client as it connects
// or starts watching, so a console opened on a slow line shows every camera's last part at once, not a blank
// tile until the next part comes. A client whose socket does not drain (a hung or slow browser) gets updates
// skipped while it holds more than MAX_BUFFERED bytes unsent; the skips are counted. So the server holds at most
// about MAX_BUFFERED + one message per client (on top of the kernel's socket buffer), nothing here ever waits for
// a browser, and a client stalled for STALLED_CLOSE_MS is disconnected.
import type { InspectionResult } from '../../pipeline/result.js';
import type { PartEvidence } from '../types.js';
import type { LiveSnapshot } from './live-frame.js';
import { encodeLiveMessage, livePartFields, snapshot } from './live-frame.js';

/** Unsent bytes a client may hold before its updates are skipped (a few tiles' worth). */
export const MAX_BUFFERED = 512 * 1024;

/** What the hub needs of a WebSocket (ws's WebSocket has these). */
export interface LiveSocket {
  readonly bufferedAmount: number;
  send(data: string): void;
  /** Drops the connection at once (no closing handshake: a stalled peer would never complete one). */
  terminate(): void;
  close(code: number, reason: string): void;
}

/** The close code a live client gets when its login ended (logout, idle expiry): the page asks for a login. */
export const SESSION_ENDED = 4401;

/** How often a camera nobody watches has its latest part snapshotted (for a client that joins). */
export const UNWATCHED_INTERVAL_MS = 1000;

/** A client that has not drained below MAX_BUFFERED for this long is disconnected (its browser reconnects). */
export const STALLED_CLOSE_MS = 60_000;

export interface LiveClientStats {
  sent: number;
  skipped: number;
  bufferedAmount: number;
}

export interface LiveStats {
  clients: number;
  /** Updates built (one per shown part, however many clients). */
  encoded: number;
  /** Messages sent, all clients. */
  sent: number;
  /** Messages skipped for clients that did not drain, all clients. */
  skipped: number;
  /** Clients disconnected for not draining for STALLED_CLOSE_MS (or at shutdown). */
  disconnected: number;
  /** The largest unsent backlog a client holds now, bytes. */
  maxBuffered: number;
  perClient: LiveClientStats[];
}

class Client {
  sent = 0;
  skipped = 0;
  /** performance.now() when its backlog went above MAX_BUFFERED; null while it drains. */
  stalledSince: number | null = null;
  /** null: every camera. */
  cameras: Set<string> | null = null;
  /** Per camera, the number of the latest update this client was sent (or skipped): each goes to it once. */
  readonly shown = new Map<string, number>();
  constructor(
    readonly socket: LiveSocket,
    /** Whether the login the socket was opened with still holds. */
    readonly valid: () => boolean,
  ) {}
  watches(camera: string): boolean {
    return this.cameras === null || this.cameras.has(camera);
  }
}

type LivePart = LiveSnapshot | InspectionResult;

/** A camera's latest update: numbered in the order offered, its message once encoded. */
interface LiveEntry {
  n: number;
  part: LivePart;
  message?: string;
}

export class LiveHub {
  private readonly clients = new Set<Client>();
  private readonly lastShown = new Map<string, number>();
  /** Each camera's latest update (what a client that joins is sent first). */
  private readonly latest = new Map<string, LiveEntry>();
  /** Cameras whose latest update is being encoded: one at a time per camera, so they go out in order. */
  private readonly encoding = new Set<string>();
  private entries = 0;
  private encoded = 0;
  private sent = 0;
  private skipped = 0;
  private dropped = 0;
  private readonly minIntervalMs: number;

  constructor(
    liveFps: number,
    /** Whether a camera is still configured: a removed one's latest part is not sent to clients that join. */
    private readonly current: (camera: string) => boolean = () => true,
  ) {
    this.minIntervalMs = 1000 / liveFps;
  }

  add(
    socket: LiveSocket,
    valid: () => boolean = () => true,
  ): { watch(cameras: string[] | null): void; remove(): void } {
    const c = new Client(socket, valid);
    this.clients.add(c);
    this.showLatest();
    return {
      watch: (cameras) => {
        c.cameras = cameras === null ? null : new Set(cameras);
        this.showLatest();
      },
      remove: () => this.clients.delete(c),
    };
  }

  watched(camera: string): boolean {
    for (const c of this.clients) if (c.watches(camera)) return true;
    return false;
  }

  /**
   * From the sink's result(): at most `liveFps` times a second per watched camera a tile-sized snapshot (~1 ms
   * at 640×480, ~4 ms for a tiled 5 MP frame), encoded at once. An unwatched camera's is only kept for a client
   * that joins later, so it is taken at most once every UNWATCHED_INTERVAL_MS and not encoded.
   */
  offer(r: InspectionResult, ev: PartEvidence | undefined): void {
    const now = performance.now();
    const last = this.lastShown.get(r.cameraId);
    const watched = this.watched(r.cameraId);
    const interval = watched ? this.minIntervalMs : Math.max(this.minIntervalMs, UNWATCHED_INTERVAL_MS);
    if (last !== undefined && now - last < interval) return;
    this.lastShown.set(r.cameraId, now);
    // The engine's buffers are valid only during result(): shrink and copy now, encode later.
    this.latest.set(r.cameraId, { n: ++this.entries, part: ev ? snapshot(r, ev) : r });
    if (watched) this.show(r.cameraId);
  }

  /** Every camera's latest update to the clients that watch it and have not had it (a client joined). */
  private showLatest(): void {
    for (const camera of [...this.latest.keys()]) {
      if (this.current(camera)) this.show(camera);
      else this.latest.delete(camera); // removed by a config reload
    }
  }

  /**
   * The camera's latest update to every client that watches it and has not had it, encoded first (in the
   * thread pool) unless it is. While one is being encoded the next waits, then the newest goes out: a camera
   * faster than its encoding skips updates instead of queueing them.
   */
  private show(camera: string): void {
    const entry = this.latest.get(camera);
    if (!entry || this.encoding.has(camera)) return;
    if (entry.message !== undefined) return this.fanOut(camera, entry);
    if ('tile' in entry.part) {
      this.encoding.add(camera);
      encodeLiveMessage(entry.part)
        .then((m) => (entry.message = m))
        .catch(() => (entry.message = verdictOnly((entry.part as LiveSnapshot).result)))
        .finally(() => {
          this.encoding.delete(camera);
          this.encoded++;
          this.fanOut(camera, entry);
          if (this.latest.get(camera) !== entry && this.watched(camera)) this.show(camera);
        });
      return;
    }
    entry.message = verdictOnly(entry.part);
    this.encoded++;
    this.fanOut(camera, entry);
  }

  private fanOut(camera: string, entry: LiveEntry): void {
    for (const c of this.clients) {
      if (!c.watches(camera) || (c.shown.get(camera) ?? 0) >= entry.n) continue;
      c.shown.set(camera, entry.n);
      this.deliver(c, entry.message!);
    }
  }

  /** A small message to every client (camera states, fps): skipped like any other for a client that lags. */
  broadcast(message: string, camera?: string): void {
    for (const c of this.clients) if (camera === undefined || c.watches(camera)) this.deliver(c, message);
  }

  /** One message to one client, or a skip (counted) while it holds more than MAX_BUFFERED unsent. */
  private deliver(c: Client, message: string): void {
    if (c.socket.bufferedAmount > MAX_BUFFERED) {
      c.skipped++;
      this.skipped++;
      const now = performance.now();
      c.stalledSince ??= now;
      if (now - c.stalledSince > STALLED_CLOSE_MS) this.drop(c);
      return;
    }
    c.stalledSince = null;
    try {
      c.socket.send(message);
      c.sent++;
      this.sent++;
    } catch {
      this.clients.delete(c); // closed under us: its close handler removes it too
    }
  }

  /**
   * Closes the sockets whose login ended (logout, idle expiry, eviction): a live view must not outlive the
   * session that opened it. Called once a second; returns how many were closed.
   */
  closeEnded(): number {
    let n = 0;
    for (const c of [...this.clients]) {
      if (c.valid()) continue;
      this.clients.delete(c);
      n++;
      try {
        c.socket.close(SESSION_ENDED, 'session ended');
      } catch {
        // already closed
      }
    }
    return n;
  }

  /** Disconnects every client at once (the server is closing: a stalled one must not hold it up). */
  closeAll(): void {
    for (const c of [...this.clients]) this.drop(c);
  }

  private drop(c: Client): void {
    this.clients.delete(c);
    this.dropped++;
    try {
      c.socket.terminate();
    } catch {
      // already closed
    }
  }

  stats(): LiveStats {
    const perClient = [...this.clients].map((c) => ({
      sent: c.sent,
      skipped: c.skipped,
      bufferedAmount: c.socket.bufferedAmount,
    }));
    return {
      clients: this.clients.size,
      encoded: this.encoded,
      sent: this.sent,
      skipped: this.skipped,
      disconnected: this.dropped,
      maxBuffered: Math.max(0, ...perClient.map((c) => c.bufferedAmount)),
      perClient,
    };
  }
}

/** A part decided without a frame (fail-safe): the verdict still shows, without an image. */
function verdictOnly(r: InspectionResult): string {
  return JSON.stringify({
    ...livePartFields(r),
    blobs: [],
    detail: r.detail ?? null,
  });
}
