// Console auth over real HTTP: a fastify server on 127.0.0.1 with registerAuth, driven by fetch. Roles (a
// viewer gets 403 on an engineer route), CSRF on every mutation, the login rate limit (429 even for the right
// password until the window ends), cookie flags, idle expiry, the bearer token for machines, the loopback
// mode's Host and WebSocket-origin guards. Time moves by an injected clock, not by sleeping.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import websocket from '@fastify/websocket';
import { configSchema, type WebAuthConfig } from '../src/config/schema.js';
import { hashPassword } from '../src/sinks/web/auth-password.js';
import { registerAuth, type AuthHooks } from '../src/sinks/web/auth.js';
import { SinkConfigError } from '../src/sinks/types.js';
import { captureLog, type CapturedLog } from './helpers/log-capture.js';

const PASSWORDS = { ada: 'engineer-pass-1', vic: 'viewer-pass-22' };
let hashes: { ada: string; vic: string };
const tmp = mkdtempSync(join(tmpdir(), 'pp-auth-'));

/** A validated `web.auth` with the schema's defaults filled in. */
function authConfig(over: Record<string, unknown> = {}): WebAuthConfig {
  const users = [
    { name: 'ada', role: 'engineer', passwordHash: hashes.ada },
    { name: 'vic', role: 'viewer', passwordHash: hashes.vic },
  ];
  return configSchema.parse({ web: { auth: { users, sessionsFile: null, ...over } } }).web.auth!;
}

interface Server {
  app: FastifyInstance;
  base: string;
  clock: { t: number };
  hooks: AuthHooks;
  log: CapturedLog;
}

const servers: FastifyInstance[] = [];

/** A real fastify with auth and two probe routes: GET /api/data (any login), POST /api/label (engineer). */
async function serve(
  cfg: WebAuthConfig | undefined,
  env: NodeJS.ProcessEnv = {},
  startTime = 1_000_000,
): Promise<Server> {
  const app = Fastify({ logger: false });
  servers.push(app);
  const clock = { t: startTime };
  const log = captureLog();
  const hooks = await registerAuth(app, cfg, log.log, {
    configDir: tmp,
    env,
    now: () => clock.t,
  });
  await app.register(websocket);
  app.get('/api/data', async (req) => ({ principal: req.principal }));
  app.post('/api/label', { preHandler: hooks.requireRole('engineer') }, async (req) => ({
    labelledBy: req.principal?.user,
  }));
  app.get('/api/live', { websocket: true }, (socket) => socket.close());
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as { port: number };
  return { app, base: `http://127.0.0.1:${port}`, clock, hooks, log };
}

interface Browser {
  cookie?: string;
  csrf?: string;
}

async function login(s: Server, user: string, password: string, b: Browser = {}): Promise<Response> {
  const res = await fetch(`${s.base}/api/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(b.cookie ? { cookie: b.cookie } : {}) },
    body: JSON.stringify({ user, password }),
  });
  const set = res.headers.get('set-cookie');
  if (res.status === 200 && set) {
    b.cookie = set.split(';')[0];
    b.csrf = ((await res.clone().json()) as { csrfToken: string }).csrfToken;
  }
  return res;
}

function call(s: Server, method: string, path: string, b: Browser, headers: Record<string, string> = {}) {
  return fetch(`${s.base}${path}`, {
    method,
    headers: {
      ...(b.cookie ? { cookie: b.cookie } : {}),
      ...(b.csrf ? { 'x-csrf-token': b.csrf } : {}),
      ...(method === 'GET' ? {} : { 'content-type': 'application/json' }),
      ...headers,
    },
    body: method === 'GET' ? undefined : '{}',
  });
}

before(async () => {
  hashes = { ada: await hashPassword(PASSWORDS.ada, 14), vic: await hashPassword(PASSWORDS.vic, 14) };
});
after(async () => {
  for (const a of servers) await a.close();
  rmSync(tmp, { recursive: true, force: true });
});

describe('console users and roles', () => {
  test('login: session cookie flags, /api/session, wrong password 401', async () => {
    const s = await serve(authConfig());
    const anon = await fetch(`${s.base}/api/session`);
    assert.equal(anon.status, 401);
    assert.deepEqual(await anon.json(), { error: 'login required', authRequired: true });
    assert.equal((await login(s, 'ada', 'not-her-password')).status, 401);
    assert.equal((await login(s, 'nobody', PASSWORDS.ada)).status, 401);
    const b: Browser = {};
    const res = await login(s, 'ADA', PASSWORDS.ada, b);
    assert.equal(res.status, 200);
    const flags = res.headers
      .get('set-cookie')!
      .split(';')
      .map((f) => f.trim());
    assert.match(flags[0], /^pinpoint_session=[A-Za-z0-9_-]{43}$/);
    for (const f of ['HttpOnly', 'SameSite=Strict', 'Path=/']) assert.ok(flags.includes(f), f);
    assert.ok(!flags.includes('Secure'), 'plain http: no Secure flag (the browser would drop the cookie)');
    const me = await call(s, 'GET', '/api/session', b);
    assert.equal(me.status, 200);
    assert.deepEqual(await me.json(), {
      user: 'ada',
      role: 'engineer',
      csrfToken: b.csrf,
      authRequired: true,
    });
    assert.equal((await call(s, 'GET', '/api/data', {})).status, 401, 'data needs a login');

    const secure = await serve(authConfig({ cookieSecure: 'always' }));
    const r2 = await login(secure, 'vic', PASSWORDS.vic);
    assert.ok(r2.headers.get('set-cookie')!.split(/;\s*/).includes('Secure'), 'cookieSecure: always');
  });

  test('a viewer cannot use an engineer route (403), an engineer can; no login: 401', async () => {
    const s = await serve(authConfig());
    const viewer: Browser = {};
    const engineer: Browser = {};
    await login(s, 'vic', PASSWORDS.vic, viewer);
    await login(s, 'ada', PASSWORDS.ada, engineer);
    const v = await call(s, 'POST', '/api/label', viewer);
    assert.equal(v.status, 403);
    assert.match(((await v.json()) as { error: string }).error, /engineer role/);
    assert.equal((await call(s, 'GET', '/api/data', viewer)).status, 200, 'a viewer may look');
    const e = await call(s, 'POST', '/api/label', engineer);
    assert.equal(e.status, 200);
    assert.deepEqual(await e.json(), { labelledBy: 'ada' });
    assert.equal((await call(s, 'POST', '/api/label', {})).status, 401);
  });

  test('mutations without or with a wrong x-csrf-token are refused (403)', async () => {
    const s = await serve(authConfig());
    const b: Browser = {};
    await login(s, 'ada', PASSWORDS.ada, b);
    assert.equal((await call(s, 'POST', '/api/label', { cookie: b.cookie })).status, 403, 'no token');
    const wrong = await call(s, 'POST', '/api/label', { cookie: b.cookie, csrf: 'x'.repeat(43) });
    assert.equal(wrong.status, 403);
    for (const method of ['PUT', 'PATCH', 'DELETE'])
      assert.equal((await call(s, method, '/api/label', { cookie: b.cookie })).status, 403, method);
    // Another session's token does not fit this one.
    const other: Browser = {};
    await login(s, 'ada', PASSWORDS.ada, other);
    assert.equal((await call(s, 'POST', '/api/label', { cookie: b.cookie, csrf: other.csrf })).status, 403);
    assert.equal((await call(s, 'POST', '/api/label', b)).status, 200, 'its own token passes');
  });

  test('wrong passwords → 429 with Retry-After, then even the right password until the window ends', async () => {
    const s = await serve(authConfig({ login: { maxFailures: 3, windowSec: 60 } }));
    for (let i = 0; i < 3; i++) assert.equal((await login(s, 'ada', `guess-${i}`)).status, 401);
    const limited = await login(s, 'ada', PASSWORDS.ada);
    assert.equal(limited.status, 429);
    assert.equal(limited.headers.get('retry-after'), '60');
    assert.equal(limited.headers.get('set-cookie'), null);
    s.clock.t += 30_000;
    const still = await login(s, 'ada', PASSWORDS.ada);
    assert.equal(still.status, 429, 'right password refused inside the window');
    assert.equal(still.headers.get('retry-after'), '30');
    assert.equal((await login(s, 'vic', PASSWORDS.vic)).status, 200, 'another user is not locked');
    s.clock.t += 30_001;
    assert.equal((await login(s, 'ada', PASSWORDS.ada)).status, 200, 'after the window');
  });

  test('one address spraying names is limited at 4× maxFailures', async () => {
    const s = await serve(authConfig({ login: { maxFailures: 2, windowSec: 60 } }));
    for (let i = 0; i < 8; i++) assert.equal((await login(s, `name${i}`, 'whatever-1')).status, 401);
    const r = await login(s, 'vic', PASSWORDS.vic);
    assert.equal(r.status, 429, 'the address is limited, whatever the name');
  });

  test('sessions end after sessionIdleMinutes without a request, and at logout', async () => {
    const s = await serve(authConfig({ sessionIdleMinutes: 1 }));
    const b: Browser = {};
    await login(s, 'vic', PASSWORDS.vic, b);
    s.clock.t += 50_000;
    assert.equal((await call(s, 'GET', '/api/data', b)).status, 200);
    s.clock.t += 50_000; // 100 s after login, 50 s idle: a request restarts the idle clock
    assert.equal((await call(s, 'GET', '/api/data', b)).status, 200);
    s.clock.t += 60_001;
    assert.equal((await call(s, 'GET', '/api/data', b)).status, 401, 'idle past a minute');

    const c: Browser = {};
    await login(s, 'vic', PASSWORDS.vic, c);
    const out = await call(s, 'POST', '/api/logout', c);
    assert.equal(out.status, 200);
    assert.match(out.headers.get('set-cookie')!, /^pinpoint_session=; .*Max-Age=0/);
    assert.equal((await call(s, 'GET', '/api/session', c)).status, 401, 'logged out');
  });

  test('maxSessions: the least recently used session ends first', async () => {
    const s = await serve(authConfig({ maxSessions: 2 }));
    const [a, b, c]: Browser[] = [{}, {}, {}];
    await login(s, 'vic', PASSWORDS.vic, a);
    await login(s, 'vic', PASSWORDS.vic, b);
    assert.equal((await call(s, 'GET', '/api/data', a)).status, 200); // a is now more recent than b
    await login(s, 'ada', PASSWORDS.ada, c);
    assert.equal((await call(s, 'GET', '/api/data', b)).status, 401, 'b was least recently used');
    assert.equal((await call(s, 'GET', '/api/data', a)).status, 200);
    assert.equal((await call(s, 'GET', '/api/data', c)).status, 200);
  });

  test('a login replaces the session the browser had (no fixation)', async () => {
    const s = await serve(authConfig());
    const b: Browser = {};
    await login(s, 'vic', PASSWORDS.vic, b);
    const before = { ...b };
    await login(s, 'ada', PASSWORDS.ada, b);
    assert.notEqual(b.cookie, before.cookie);
    assert.equal((await call(s, 'GET', '/api/data', before)).status, 401, 'the old id is dead');
  });
});

describe('bearer token for machines', () => {
  test('reads as a viewer without CSRF; a wrong token is 401; cannot use engineer routes', async () => {
    const s = await serve(authConfig({ tokenEnv: 'PP_AUTH_TOKEN' }), { PP_AUTH_TOKEN: 'machine-token-77' });
    const auth = { authorization: 'Bearer machine-token-77' };
    const r = await call(s, 'GET', '/api/data', {}, auth);
    assert.equal(r.status, 200);
    assert.deepEqual(await r.json(), { principal: { user: 'token', role: 'viewer' } });
    const wrong = await call(s, 'GET', '/api/data', {}, { authorization: 'Bearer nope' });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.headers.get('www-authenticate'), 'Bearer');
    assert.equal((await call(s, 'POST', '/api/label', {}, auth)).status, 403, 'viewer');
  });

  test('an unset token variable refuses the start, naming the key', async () => {
    await assert.rejects(
      serve(authConfig({ tokenEnv: 'PP_AUTH_UNSET' }), {}),
      (e: Error) => e instanceof SinkConfigError && /web\.auth\.tokenEnv.*PP_AUTH_UNSET/.test(e.message),
    );
  });
});

describe('usersFile', () => {
  test('read relative to the config folder; a bad entry names the file and the key, not the hash', async () => {
    writeFileSync(
      join(tmp, 'users.yaml'),
      `- name: ada\n  role: engineer\n  passwordHash: "${hashes.ada}"\n`,
    );
    const s = await serve(configSchema.parse({ web: { auth: { usersFile: 'users.yaml' } } }).web.auth!);
    assert.equal((await login(s, 'ada', PASSWORDS.ada)).status, 200);

    const bad = hashes.vic.slice(0, 20);
    writeFileSync(join(tmp, 'bad.json'), JSON.stringify([{ name: 'vic', role: 'boss', passwordHash: bad }]));
    await assert.rejects(
      serve(configSchema.parse({ web: { auth: { usersFile: 'bad.json' } } }).web.auth!),
      (e: Error) =>
        e instanceof SinkConfigError &&
        e.message.includes(join(tmp, 'bad.json')) &&
        /\[0\]\.role/.test(e.message) &&
        /\[0\]\.passwordHash: not a pinpoint password hash/.test(e.message) &&
        !e.message.includes(bad),
    );
    await assert.rejects(
      serve(configSchema.parse({ web: { auth: { usersFile: 'missing.yaml' } } }).web.auth!),
      /web\.auth\.usersFile .*missing\.yaml: cannot read/,
    );
  });
});

/** A raw WebSocket handshake: the status the server answers (101 when it upgrades). */
function handshake(url: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, {
      headers: {
        connection: 'Upgrade',
        upgrade: 'websocket',
        'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
        'sec-websocket-version': '13',
        ...headers,
      },
    });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve(res.statusCode ?? 0);
    });
    req.on('response', (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

/** GET with a Host header of our choosing (fetch fixes it to the URL's). */
function getWithHost(url: string, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { host } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('loopback without auth', () => {
  test('the local engineer, one CSRF token per process that mutations still need', async () => {
    const s = await serve(undefined);
    const me = (await (await fetch(`${s.base}/api/session`)).json()) as Record<string, unknown>;
    assert.equal(me.user, 'local');
    assert.equal(me.role, 'engineer');
    assert.equal(me.authRequired, false);
    assert.match(String(me.csrfToken), /^[A-Za-z0-9_-]{43}$/);
    assert.equal(
      (await call(s, 'POST', '/api/label', {})).status,
      403,
      'a cross-site form post has no token',
    );
    assert.equal((await call(s, 'POST', '/api/label', { csrf: String(me.csrfToken) })).status, 200);
    assert.equal((await login(s, 'ada', 'whatever-1')).status, 404, 'no login without web.auth');
    const other = await serve(undefined);
    const theirs = (await (await fetch(`${other.base}/api/session`)).json()) as { csrfToken: string };
    assert.notEqual(theirs.csrfToken, me.csrfToken, 'random per process (here: per server)');
  });

  test('DNS rebinding: a Host that is not a loopback name is refused', async () => {
    const s = await serve(undefined);
    const port = new URL(s.base).port;
    assert.equal(await getWithHost(`${s.base}/api/data`, `evil.example:${port}`), 403);
    assert.equal(await getWithHost(`${s.base}/api/data`, `localhost:${port}`), 200);
    assert.equal(await getWithHost(`${s.base}/api/data`, `[::1]:${port}`), 200);
  });

  test('a WebSocket from a page of another site is refused; from our own page it opens', async () => {
    for (const cfg of [undefined, authConfig()]) {
      const s = await serve(cfg);
      const host = new URL(s.base).host;
      assert.equal(await handshake(`${s.base}/api/live`, { origin: 'http://evil.example' }), 403);
      const own = await handshake(`${s.base}/api/live`, { origin: `http://${host}` });
      assert.equal(own, cfg ? 401 : 101, cfg ? 'with auth it also needs a session' : 'opens');
      if (!cfg) continue;
      const b: Browser = {};
      await login(s, 'vic', PASSWORDS.vic, b);
      assert.equal(
        await handshake(`${s.base}/api/live`, { origin: `http://${host}`, cookie: b.cookie! }),
        101,
      );
    }
  });
});

describe('sessions across a restart (web.auth.sessionsFile)', () => {
  const principal = async (s: Server, b: Browser): Promise<string | null> => {
    const r = await call(s, 'GET', '/api/data', b);
    return r.status === 200 ? ((await r.json()) as { principal: { user: string } }).principal.user : null;
  };

  test('logged-in operators stay logged in; the file holds digests, not cookies, mode 0600', async () => {
    const file = join(tmp, 'restart', 'sessions.json');
    const cfg = authConfig({ sessionsFile: file, sessionIdleMinutes: 60 });
    const s1 = await serve(cfg);
    const [ada, vic, gone]: Browser[] = [{}, {}, {}];
    await login(s1, 'ada', PASSWORDS.ada, ada);
    await login(s1, 'vic', PASSWORDS.vic, vic);
    await login(s1, 'vic', PASSWORDS.vic, gone);
    assert.equal((await call(s1, 'POST', '/api/logout', gone)).status, 200);
    s1.clock.t += 30 * 60_000;
    assert.equal(await principal(s1, ada), 'ada'); // ada's idle clock restarts here; vic's does not
    await s1.app.close();

    const text = readFileSync(file, 'utf8');
    for (const b of [ada, vic, gone])
      assert.ok(!text.includes(b.cookie!.split('=')[1]), 'no cookie in the file');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    // 45 minutes after ada's last request and 75 after vic's: vic went idle while the daemon was down.
    const s2 = await serve(cfg, {}, s1.clock.t + 45 * 60_000);
    assert.equal(await principal(s2, ada), 'ada', 'restored, with its idle clock');
    assert.equal((await call(s2, 'POST', '/api/label', ada)).status, 200, 'her CSRF token still holds');
    assert.equal(await principal(s2, vic), null, 'idle-expired while down');
    assert.equal(await principal(s2, gone), null, 'logged out before the restart');
    const restored = s2.log.records().find((r) => r.msg === 'web auth: console users and sessions');
    assert.equal(restored?.sessionsRestored, 1);
  });

  test('a user removed or given another role is not logged in again', async () => {
    const file = join(tmp, 'roles', 'sessions.json');
    const s1 = await serve(authConfig({ sessionsFile: file }));
    const [ada, vic]: Browser[] = [{}, {}];
    await login(s1, 'ada', PASSWORDS.ada, ada);
    await login(s1, 'vic', PASSWORDS.vic, vic);
    await s1.app.close();
    const users = [{ name: 'ada', role: 'viewer', passwordHash: hashes.ada }]; // vic removed, ada demoted
    const cfg = configSchema.parse({ web: { auth: { users, sessionsFile: file } } }).web.auth!;
    const s2 = await serve(cfg);
    assert.equal(await principal(s2, ada), null);
    assert.equal(await principal(s2, vic), null);
    await s2.app.close();
    assert.deepEqual((JSON.parse(readFileSync(file, 'utf8')) as { sessions: unknown[] }).sessions, []);
  });

  test('a corrupt file or one that cannot be written: a warning, and the console works with sessions in memory', async () => {
    const file = join(tmp, 'corrupt', 'sessions.json');
    mkdirSync(join(tmp, 'corrupt'));
    writeFileSync(file, '{"version":1,"sess');
    const s1 = await serve(authConfig({ sessionsFile: file }));
    assert.ok(
      s1.log.records().some((r) => r.level === 'warn' && /sessions file unreadable/.test(String(r.msg))),
    );
    const b: Browser = {};
    await login(s1, 'ada', PASSWORDS.ada, b);
    assert.equal(await principal(s1, b), 'ada');
    await s1.app.close();
    assert.equal((JSON.parse(readFileSync(file, 'utf8')) as { sessions: unknown[] }).sessions.length, 1);

    writeFileSync(join(tmp, 'a-file'), '');
    const s2 = await serve(authConfig({ sessionsFile: join(tmp, 'a-file', 'sessions.json') }));
    const warned = s2.log.records().filter((r) => r.level === 'warn');
    assert.equal(warned.length, 1, JSON.stringify(warned));
    assert.match(String(warned[0].msg), /cannot be saved: a restart will log everyone out/);
    const c: Browser = {};
    assert.equal((await login(s2, 'vic', PASSWORDS.vic, c)).status, 200);
    assert.equal(await principal(s2, c), 'vic');
  });
});
