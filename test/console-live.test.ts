// The live view's fan-out with real sockets: the daemon's web server (fastify + @fastify/websocket), a reading
// WebSocket client (ws) and a client that stops reading (python3, 4 KB receive buffer, never reads after the
// handshake). Large updates are broadcast until the kernel's buffers for the stalled client are full: then its
// updates are skipped and counted, the server's own backlog for it stays bounded, the reading client gets every
// update, and closing the server does not wait for the stalled client. The CSRF rule of the no-auth session
// is checked on the same server. With users: a live socket closes (code 4401) when the session that opened it
// ends, at logout or evicted by a newer login; a bearer token's socket stays. web.trustProxy: behind a trusted
// proxy the login limit counts each client's forwarded address, and a forwarded https makes the cookie Secure;
// without it a forged X-Forwarded-For changes nothing.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import * as prom from 'prom-client';
import WebSocket from 'ws';
import { DaemonStatus } from '../src/sinks/daemon-status.js';
import { PrometheusMetrics } from '../src/sinks/prometheus.js';
import { configSchema, type WebAuthConfig } from '../src/config/schema.js';
import { hashPassword } from '../src/sinks/web/auth-password.js';
import { MAX_BUFFERED, SESSION_ENDED } from '../src/sinks/web/live-hub.js';
import type { LiveStats } from '../src/sinks/web/live-hub.js';
import { startWebServer } from '../src/sinks/web/web-server.js';
import { freePort } from '../src/util/net.js';
import { stalledWebSocket } from './helpers/stalled-ws.js';
import { computeLetterbox } from '../src/pipeline/letterbox.js';
import type { InspectionResult } from '../src/pipeline/result.js';
import { stitchedGrid } from '../src/pipeline/stitched-grid.js';
import { tileCount, tileGrid } from '../src/pipeline/tiling.js';
import type { PartEvidence } from '../src/sinks/types.js';
import { LIVE_GRID_MAX } from '../src/sinks/web/live-frame.js';

const MESSAGE = 200 * 1024;

/** The daemon's web server on a free loopback port, one camera 'a', live view at 2 fps; closed after the test. */
async function serve(
  t: TestContext,
  auth: WebAuthConfig | undefined,
  trustProxy?: string[],
  cameras = ['a'],
) {
  const port = await freePort();
  const status = new DaemonStatus('m', cameras);
  const metrics = new PrometheusMetrics(prom, status, 4);
  const server = await startWebServer({
    host: '127.0.0.1',
    port,
    configDir: process.cwd(),
    status,
    metrics,
    log: pino({ level: 'silent' }),
    archiveDir: undefined,
    liveFps: 2,
    auth,
    trustProxy,
  });
  t.after(async () => {
    if (server.app.server.listening) await server.app.close();
    metrics.close();
  });
  return { port, server, status };
}

test('a client that stops reading gets updates skipped, its backlog bounded; the reader gets all; close is not held up', async (t) => {
  const { port, server } = await serve(t, undefined);
  const stalled = stalledWebSocket(port);
  t.after(() => stalled.process.kill('SIGKILL'));
  assert.match(await stalled.statusLine, / 101 /);
  const reader = new WebSocket(`ws://127.0.0.1:${port}/api/live`);
  let got = 0;
  reader.on('message', (d: Buffer) => {
    if (d.length >= MESSAGE) got++;
  });
  await new Promise((r) => reader.once('open', r));
  const registered = Date.now() + 10000;
  while (server.hub.stats().clients < 2 && Date.now() < registered)
    await new Promise((r) => setTimeout(r, 20));
  assert.equal(server.hub.stats().clients, 2, 'both registered with the hub');

  const big = JSON.stringify({ type: 'part', camera: 'a', pad: 'x'.repeat(MESSAGE) });
  let sent = 0;
  let stats: LiveStats | undefined;
  const until = Date.now() + 120000;
  while (Date.now() < until) {
    server.hub.broadcast(big);
    sent++;
    stats = server.hub.stats();
    for (const c of stats.perClient)
      assert.ok(c.bufferedAmount <= MAX_BUFFERED + big.length + 1024, `backlog ${c.bufferedAmount} bytes`);
    if (stats.skipped >= 5) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.ok(stats && stats.skipped >= 5, `skipped ${stats?.skipped} after ${sent} updates`);
  assert.equal(stats.clients, 2);
  const skippedPer = stats.perClient.map((c) => c.skipped).sort((a, b) => a - b);
  assert.equal(skippedPer[0], 0, 'the reading client lost nothing');
  assert.equal(skippedPer[1], stats.skipped, 'every skip was the stalled client');
  // The reader gets every update (allow it time to drain what is in flight).
  const deadline = Date.now() + 30000;
  while (got < sent && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.equal(got, sent);

  // Mutations need the session's CSRF token, even without users.
  const session = (await (await fetch(`http://127.0.0.1:${port}/api/session`)).json()) as {
    csrfToken: string;
  };
  const post = (headers: Record<string, string>) =>
    fetch(`http://127.0.0.1:${port}/api/parts/1/labels`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ label: 'false-reject' }),
    });
  assert.equal((await post({})).status, 403);
  assert.equal((await post({ 'x-csrf-token': 'wrong' })).status, 403);
  // With the token it passes the CSRF check and reaches the route: no archive in this server.
  assert.equal((await post({ 'x-csrf-token': session.csrfToken })).status, 404);

  reader.close();
  const t0 = Date.now();
  await server.app.close();
  assert.ok(Date.now() - t0 < 10000, 'close did not wait for the stalled client');
  assert.equal(server.hub.stats().clients, 0);
});

test('a live socket closes when the session that opened it ends (logout, eviction); a bearer socket stays', async (t) => {
  process.env.PP_LIVE_TEST_TOKEN = 'live-test-token-0123456789';
  const users = [{ name: 'vic', role: 'viewer', passwordHash: await hashPassword('viewer-pass-22', 14) }];
  const auth = configSchema.parse({
    web: {
      host: '0.0.0.0',
      auth: { users, tokenEnv: 'PP_LIVE_TEST_TOKEN', maxSessions: 2, sessionsFile: null },
    },
  }).web.auth;
  const { port } = await serve(t, auth);
  t.after(() => delete process.env.PP_LIVE_TEST_TOKEN);
  const base = `http://127.0.0.1:${port}`;
  const login = async (): Promise<{ cookie: string; csrf: string }> => {
    const r = await fetch(`${base}/api/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ user: 'vic', password: 'viewer-pass-22' }),
    });
    assert.equal(r.status, 200);
    return {
      cookie: r.headers.get('set-cookie')!.split(';')[0],
      csrf: ((await r.json()) as { csrfToken: string }).csrfToken,
    };
  };
  /** An open live socket and the promise of its close code. */
  const open = async (
    headers: Record<string, string>,
  ): Promise<{ ws: WebSocket; closed: Promise<number> }> => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/api/live`, { headers });
    const closed = new Promise<number>((r) => ws.once('close', (code: number) => r(code)));
    await new Promise((r, j) => {
      ws.once('open', r);
      ws.once('error', j);
    });
    return { ws, closed };
  };
  const within = <T>(p: Promise<T>, ms: number): Promise<T | 'timeout'> =>
    Promise.race([p, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), ms))]);

  const a = await login();
  const wsA = await open({ cookie: a.cookie });
  const bearer = await open({ authorization: `Bearer ${process.env.PP_LIVE_TEST_TOKEN}` });
  const out = await fetch(`${base}/api/logout`, {
    method: 'POST',
    headers: { cookie: a.cookie, 'x-csrf-token': a.csrf, 'content-type': 'application/json' },
    body: '{}',
  });
  assert.equal(out.status, 200);
  assert.equal(await within(wsA.closed, 5000), SESSION_ENDED, 'logged out: its live socket is closed');

  // maxSessions 2: a third login evicts the least recently used session, and with it its live view.
  const b = await login();
  const wsB = await open({ cookie: b.cookie });
  await login();
  await login();
  assert.equal(await within(wsB.closed, 5000), SESSION_ENDED, 'evicted: its live socket is closed');
  assert.equal(await within(bearer.closed, 1500), 'timeout', 'the bearer socket stays open');
  bearer.ws.close();
});

test('web.trustProxy: the login limit counts the forwarded client address, and only from a trusted proxy', async (t) => {
  const users = [{ name: 'vic', role: 'viewer', passwordHash: await hashPassword('viewer-pass-22', 14) }];
  const auth = configSchema.parse({
    web: { host: '0.0.0.0', auth: { users, login: { maxFailures: 1, windowSec: 300 }, sessionsFile: null } },
  }).web.auth;
  const attempt = (port: number, password: string, headers: Record<string, string>) =>
    fetch(`http://127.0.0.1:${port}/api/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ user: `nobody-${Math.random()}`, password }),
    }).then((r) => r.status);
  /** 4 failures (the address limit at maxFailures 1) from `spoofed`, then a try from `other`. */
  const lockOut = async (port: number, spoofed: string, other: string): Promise<number> => {
    for (let i = 0; i < 4; i++) await attempt(port, 'wrong', { 'x-forwarded-for': spoofed });
    return attempt(port, 'wrong', { 'x-forwarded-for': other });
  };

  const behind = await serve(t, auth, ['127.0.0.1']);
  assert.equal(
    await lockOut(behind.port, '10.0.0.7', '10.0.0.8'),
    401,
    "behind the proxy: one client's failures do not lock out another (a wrong password, not 429)",
  );
  assert.equal(await attempt(behind.port, 'wrong', { 'x-forwarded-for': '10.0.0.7' }), 429, 'the guesser is');
  const login = await fetch(`http://127.0.0.1:${behind.port}/api/login`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-forwarded-proto': 'https',
      'x-forwarded-for': '10.0.0.9',
    },
    body: JSON.stringify({ user: 'vic', password: 'viewer-pass-22' }),
  });
  assert.equal(login.status, 200);
  assert.match(login.headers.get('set-cookie') ?? '', /; Secure/i, 'https at the proxy: a Secure cookie');

  const direct = await serve(t, auth);
  assert.equal(
    await lockOut(direct.port, '10.0.0.7', '10.0.0.8'),
    429,
    'no trusted proxy: X-Forwarded-For is ignored, every try counts against the real address',
  );
});

function part(cameraId: string, partId: string): InspectionResult {
  const now = Date.now();
  return {
    version: 1,
    cameraId,
    partId,
    seq: 1,
    captureTime: now - 20,
    decideTime: now,
    latencyMs: 20,
    score: 1,
    threshold: 2,
    pixelThreshold: 0.5,
    verdict: 'ok',
    reason: 'pass',
    blobs: [],
    modelId: 'm',
  };
}

const ramp = (n: number) => Float32Array.from({ length: n }, (_, i) => (i % 17) / 16);

/** The part messages a new live client gets within `ms` of connecting. */
async function joinAndRead(port: number, ms: number): Promise<Record<string, Record<string, unknown>>> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/api/live`);
  const parts: Record<string, Record<string, unknown>> = {};
  ws.on('message', (d: Buffer) => {
    const m = JSON.parse(d.toString()) as Record<string, unknown>;
    if (m.type === 'part') parts[m.camera as string] = m;
  });
  await new Promise((r) => ws.once('open', r));
  await new Promise((r) => setTimeout(r, ms));
  ws.close();
  return parts;
}

test("a client that joins gets each camera's latest part at once (a tiled one with its blended grid), encoded once; a removed camera's is not sent", async (t) => {
  const { port, server, status } = await serve(t, undefined, undefined, ['a', 't']);
  const hub = server.hub;
  const small = { width: 64, height: 48, channels: 1 as const, data: new Uint8Array(64 * 48).fill(90) };
  const letterboxed = (): PartEvidence => ({
    image: small,
    grid: ramp(16),
    g: 4,
    letterbox: computeLetterbox(64, 48, 56),
    ignore: [],
    pixelThreshold: 0.5,
    minBlobArea: 1,
  });
  const tiles = tileGrid(200, 150, { scale: 1, overlap: 0.125 }, 56);
  const tiled: PartEvidence = {
    kind: 'tiled',
    image: { width: 200, height: 150, channels: 3, data: new Uint8Array(200 * 150 * 3).fill(40) },
    grids: ramp(tileCount(tiles) * 16),
    tiles,
    g: 4,
    ignore: [],
    pixelThreshold: 0.5,
    minBlobArea: 1,
  };
  // Nobody watches yet: the latest part of each camera is kept, at most once a second (UNWATCHED_INTERVAL_MS;
  // liveFps = 2 would allow every 500 ms).
  const t0 = performance.now();
  hub.offer(part('a', 'A-1'), letterboxed());
  hub.offer(part('t', 'T-1'), tiled);
  await new Promise((r) => setTimeout(r, 520));
  hub.offer(part('a', 'A-2'), letterboxed()); // within a second of A-1: not kept
  assert.equal(hub.stats().encoded, 0, 'nothing encoded while nobody watches');

  const first = await joinAndRead(port, 300);
  assert.deepEqual(Object.keys(first).sort(), ['a', 't']);
  assert.equal(first.a.partId, 'A-1');
  const lb = computeLetterbox(64, 48, 56);
  assert.deepEqual(first.a.gridBox, { x: 0 - lb.left, y: 0 - lb.top, width: lb.side, height: lb.side });
  assert.deepEqual([first.a.gridCols, first.a.gridRows], [4, 4]);
  assert.equal(first.t.partId, 'T-1');
  const want = stitchedGrid(tiled.grids, 4, tiles, LIVE_GRID_MAX);
  const grid = new Float32Array(Uint8Array.from(Buffer.from(first.t.grid as string, 'base64')).buffer);
  assert.deepEqual([...grid], [...want.values]);
  assert.deepEqual([first.t.gridCols, first.t.gridRows], [want.cols, want.rows]);
  assert.deepEqual(first.t.frame, { width: 200, height: 150 });
  assert.equal(hub.stats().encoded, 2, 'encoded for the client that joined');

  await new Promise((r) => setTimeout(r, Math.max(0, t0 + 1050 - performance.now())));
  hub.offer(part('a', 'A-3'), letterboxed()); // a second after A-1, nobody watching: kept, not encoded
  assert.equal(hub.stats().encoded, 2);
  const second = await joinAndRead(port, 300);
  assert.deepEqual([second.a.partId, second.t.partId], ['A-3', 'T-1']);
  const third = await joinAndRead(port, 300);
  assert.deepEqual([third.a.partId, third.t.partId], ['A-3', 'T-1']);
  assert.equal(hub.stats().encoded, 3, 'each latest part encoded once, whoever joins');

  status.removeCamera('t'); // a config reload removed it
  const fourth = await joinAndRead(port, 300);
  assert.deepEqual(Object.keys(fourth), ['a']);
});
