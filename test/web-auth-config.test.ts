// `web.auth` around the server: the schema (a non-loopback host needs auth; messages name the key and never
// quote a hash), redaction, `pinpoint web hash-password` round-trip through a real login, `pinpoint config
// check` exit codes, and the web sink itself started with users and a bearer token: neither /api/status nor
// the captured log carries a password, hash, session id or token. The limiter's memory bound, directly.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { ConfigError, parseConfig } from '../src/config/load.js';
import { redactSecrets } from '../src/config/redact.js';
import { DaemonStatus } from '../src/sinks/daemon-status.js';
import { hashPassword, parsePasswordHash, verifyPassword } from '../src/sinks/web/auth-password.js';
import { LoginRateLimit } from '../src/sinks/web/auth-rate-limit.js';
import { webSink } from '../src/sinks/web/plugin.js';
import { runCli } from './helpers/cli.js';
import { captureLog } from './helpers/log-capture.js';
import { track } from './helpers/children.js';

const FILE = '/etc/pinpoint/line.yaml';
const tmp = mkdtempSync(join(tmpdir(), 'pp-auth-cfg-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function problems(text: string): string {
  try {
    parseConfig(text, FILE, {});
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.message;
  }
  assert.fail('config was accepted');
}

/** `pinpoint web hash-password` with `input` piped to stdin. */
function hashCli(
  input: string,
  args: string[] = [],
): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = track(
      spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'web', 'hash-password', ...args], {
        stdio: ['pipe', 'pipe', 'pipe'],
      }),
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, out, err }));
    child.stdin.end(input);
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

let sample: string | undefined;
const sampleHash = async (): Promise<string> => (sample ??= await hashPassword('sample-pass-9', 14));

describe('web.auth in the config', () => {
  test('a non-loopback web.host without auth is refused, naming web.host; with users it is accepted', async () => {
    const e = problems('web:\n  enabled: true\n  host: 0.0.0.0\n');
    assert.match(e, /web\.host: not a loopback address.*needs web\.auth/);
    const h = await sampleHash();
    const c = parseConfig(
      `web:\n  enabled: true\n  host: 0.0.0.0\n  auth:\n    users:\n      - name: ada\n        role: engineer\n        passwordHash: "${h}"\n`,
      FILE,
      {},
    );
    assert.equal(c.web.auth?.users?.[0].role, 'engineer');
    assert.equal(c.web.auth?.sessionIdleMinutes, 720);
    assert.equal(c.web.auth?.login.maxFailures, 5);
    assert.equal(c.web.auth?.login.windowSec, 300);
    assert.ok(parseConfig('web:\n  enabled: true\n  host: "::1"\n', FILE, {}), 'loopback needs none');
  });

  test('auth needs something to check, not users and usersFile together; bad entries name the key', async () => {
    assert.match(problems('web:\n  auth: {}\n'), /web\.auth: needs tokenEnv, users or usersFile/);
    const h = await sampleHash();
    const both = `web:\n  auth:\n    usersFile: u.yaml\n    users:\n      - {name: a, role: viewer, passwordHash: "${h}"}\n`;
    assert.match(problems(both), /web\.auth\.usersFile: give users or usersFile, not both/);
    const twice = `web:\n  auth:\n    users:\n      - {name: Ada, role: viewer, passwordHash: "${h}"}\n      - {name: ada, role: engineer, passwordHash: "${h}"}\n`;
    assert.match(problems(twice), /web\.auth\.users\.1\.name: user ada is listed twice/);
    const role = `web:\n  auth:\n    users:\n      - {name: a, role: admin, passwordHash: "${h}"}\n`;
    assert.match(problems(role), /web\.auth\.users\.0\.role: expected one of "viewer", "engineer"/);
    const plain =
      'web:\n  auth:\n    users:\n      - {name: a, role: viewer, passwordHash: "hunter2-plain"}\n';
    const msg = problems(plain);
    assert.match(msg, /web\.auth\.users\.0\.passwordHash: not a pinpoint password hash/);
    assert.ok(!msg.includes('hunter2'), 'the value is never quoted');
    const huge = h.replace(/^scrypt\$\d+\$8/, 'scrypt$1048576$16');
    assert.match(
      problems(`web:\n  auth:\n    users:\n      - {name: a, role: viewer, passwordHash: "${huge}"}\n`),
      /too large/,
    );
  });

  test('web.trustProxy: IPs, CIDR ranges and proxy-addr names; anything else names the entry', () => {
    const ok = parseConfig(
      'web:\n  trustProxy: [127.0.0.1, "::1", 10.0.0.0/8, "fd00::/8", loopback]\n',
      FILE,
      {},
    );
    assert.deepEqual(ok.web.trustProxy, ['127.0.0.1', '::1', '10.0.0.0/8', 'fd00::/8', 'loopback']);
    assert.deepEqual(parseConfig('web: {}\n', FILE, {}).web.trustProxy, [], 'none by default');
    for (const bad of ['proxy.local', '10.0.0.0/33', '1.2.3.4/8/1', '*'])
      assert.match(
        problems(`web:\n  trustProxy: [127.0.0.1, "${bad}"]\n`),
        /web\.trustProxy\.1: an IP address, a CIDR range/,
        bad,
      );
  });

  test('config show / check redacts passwordHash', async () => {
    const h = await sampleHash();
    const c = parseConfig(
      `web:\n  auth:\n    users:\n      - {name: a, role: viewer, passwordHash: "${h}"}\n`,
      FILE,
      {},
    );
    const shown = JSON.stringify(redactSecrets(c));
    assert.ok(!shown.includes(h.split('$')[5]), 'no hash in the printed config');
    assert.match(shown, /"passwordHash":"\*\*\*"/);
  });

  test('pinpoint config check: a public host without auth, or a missing users file, exits 2 naming the key', async () => {
    const file = join(tmp, 'public.yaml');
    writeFileSync(file, 'web:\n  enabled: true\n  host: 0.0.0.0\n');
    const r = await runCli(['config', 'check', file]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /public\.yaml:3:\d+ web\.host: not a loopback address/);
    // The users file is read by config check too (the same preflight as run): a missing one names it.
    writeFileSync(file, 'web:\n  enabled: true\n  auth:\n    usersFile: gone.yaml\n');
    const u = await runCli(['config', 'check', file]);
    assert.equal(u.code, 2);
    assert.match(u.stderr, /web\.auth\.usersFile: .*gone\.yaml: cannot read/);
  });
});

describe('pinpoint web hash-password', () => {
  test('piped password → a hash that verifies it and no other; short passwords exit 2', async () => {
    const r = await hashCli('correct horse 7\n', ['--cost', '14']);
    assert.equal(r.code, 0, r.err);
    const line = r.out.trim();
    assert.match(line, /^scrypt\$16384\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
    assert.ok(!r.out.includes('correct horse') && !r.err.includes('correct horse'), 'never echoed');
    const parsed = parsePasswordHash(line);
    assert.ok(typeof parsed !== 'string', String(parsed));
    assert.equal(await verifyPassword('correct horse 7', parsed), true, 'trailing newline dropped');
    assert.equal(await verifyPassword('correct horse 7\n', parsed), false);
    assert.equal(await verifyPassword('correct horse 8', parsed), false);
    const again = await hashCli('correct horse 7', ['--cost', '14']);
    assert.notEqual(again.out.trim(), line, 'a new salt every time');

    const short = await hashCli('short\n');
    assert.equal(short.code, 2);
    assert.match(short.err, /at least 8 characters/);
    assert.equal((await hashCli('long-enough-1', ['--cost', '9'])).code, 2, 'cost out of range');
  });
});

/** hash-password at a real terminal (a pty from util-linux `script`): types each entry once its prompt shows. */
function hashAtTerminal(first: string, second: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const cmd = `${process.execPath} --import tsx src/cli/main.ts web hash-password --cost 14`;
    const child = track(spawn('script', ['-qec', cmd, '/dev/null'], { stdio: ['pipe', 'pipe', 'inherit'] }));
    let out = '';
    const typed = new Set<string>();
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      for (const [prompt, entry] of [
        ['Password: ', first],
        ['again: ', second],
      ]) {
        if (!out.includes(prompt) || typed.has(prompt)) continue;
        typed.add(prompt);
        child.stdin.write(`${entry}\r`);
      }
    });
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, out }));
  });
}

describe('pinpoint web hash-password at a terminal', () => {
  test('asks twice without echo; a mismatch exits 2', async () => {
    const r = await hashAtTerminal('tty-pass-123', 'tty-pass-123');
    assert.equal(r.code, 0, r.out);
    assert.ok(!r.out.includes('tty-pass'), `echoed: ${r.out}`);
    const parsed = parsePasswordHash(/scrypt\S+/.exec(r.out)![0]);
    assert.ok(typeof parsed !== 'string');
    assert.equal(await verifyPassword('tty-pass-123', parsed), true);
    const bad = await hashAtTerminal('tty-pass-123', 'tty-pass-124');
    assert.equal(bad.code, 2);
    assert.match(bad.out, /the two entries differ/);
  });
});

describe('the web sink with users and a bearer token', () => {
  test('login through the sink; no secret in /api/status, /metrics or the log', async () => {
    const hashed = await hashCli('line-three-pw\n', ['--cost', '14']);
    const hash = hashed.out.trim();
    const port = await freePort();
    const token = 'bearer-secret-5150';
    process.env.PP_WEB_TOKEN_T = token;
    const cfg = parseConfig(
      `web:\n  enabled: true\n  host: 127.0.0.1\n  port: ${port}\n  auth:\n    tokenEnv: PP_WEB_TOKEN_T\n    usersFile: users.json\n    sessionsFile: sessions.json\n`,
      FILE,
      {},
    );
    writeFileSync(
      join(tmp, 'users.json'),
      JSON.stringify([{ name: 'eve', role: 'engineer', passwordHash: hash }]),
    );
    const cap = captureLog({ level: 'debug' });
    const sink = webSink.create(cfg.web, {
      log: cap.log,
      configDir: tmp,
      status: new DaemonStatus('model-x', ['cam1']),
      config: cfg,
    });
    await sink.start();
    try {
      const base = `http://127.0.0.1:${port}`;
      assert.equal((await fetch(`${base}/api/status`)).status, 401);
      assert.equal((await fetch(`${base}/healthz`)).status, 200, 'probes stay open');
      const bad = await fetch(`${base}/api/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ user: 'eve', password: 'wrong-pw-123' }),
      });
      assert.equal(bad.status, 401);
      const ok = await fetch(`${base}/api/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ user: 'eve', password: 'line-three-pw' }),
      });
      assert.equal(ok.status, 200);
      const cookie = ok.headers.get('set-cookie')!.split(';')[0];
      const sessionId = cookie.split('=')[1];
      const status = await fetch(`${base}/api/status`, { headers: { cookie } });
      assert.equal(status.status, 200);
      const metrics = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(metrics.status, 200);
      const bodies = (await status.text()) + (await metrics.text());
      const logText = cap.text().join('\n');
      assert.match(logText, /console login failed/);
      assert.match(logText, /"user":"eve".*console login"/);
      const secrets = [
        'line-three-pw',
        'wrong-pw-123',
        hash.split('$')[5],
        hash.split('$')[4],
        sessionId,
        token,
      ];
      for (const s of secrets) {
        assert.ok(!bodies.includes(s), `a secret in the answers: ${s.slice(0, 4)}…`);
        assert.ok(!logText.includes(s), `a secret in the log: ${s.slice(0, 4)}…`);
      }
    } finally {
      await sink.stop();
      delete process.env.PP_WEB_TOKEN_T;
    }
  });
});

describe('login rate limit memory', () => {
  test('counters stay within maxKeys however many names and addresses fail', () => {
    let t = 0;
    const limit = new LoginRateLimit({ maxFailures: 3, windowMs: 60_000 }, () => t, 100);
    for (let i = 0; i < 5000; i++) {
      limit.failed(`name${i}`, `10.0.${i >> 8}.${i & 255}`);
      t += 1;
    }
    assert.ok(limit.size <= 100, `size ${limit.size}`);
    for (let i = 0; i < 3; i++) limit.failed('ada', '10.9.9.9');
    assert.ok(limit.retryAfterSec('ada', '10.9.9.10') > 0, 'the newest counters are kept');
  });
});
