import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, test } from 'node:test';
import { createNotifier } from '../src/util/systemd.js';
import { createLogger } from '../src/util/log.js';
import { track } from './helpers/children.js';

function capture(): { stream: PassThrough; lines: () => string[] } {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (d: Buffer) => (text += d.toString()));
  return { stream, lines: () => text.split('\n').filter(Boolean) };
}

describe('logging', () => {
  test('JSON lines with level names, time and message; secrets censored', () => {
    const out = capture();
    const log = createLogger({ level: 'info', destination: out.stream, pretty: 'auto' });
    log.info({ camera: 'top', mqtt: { password: 'x' } }, 'hello');
    log.debug('hidden at info');
    const lines = out.lines();
    assert.equal(lines.length, 1);
    const rec = JSON.parse(lines[0]) as Record<string, unknown>;
    assert.equal(rec.level, 'info');
    assert.equal(rec.msg, 'hello');
    assert.equal(rec.camera, 'top');
    assert.match(String(rec.time), /^\d{4}-\d\d-\d\dT/);
    assert.deepEqual(rec.mqtt, { password: '***' });
  });

  test('PINPOINT_LOG_LEVEL overrides the configured level', () => {
    const out = capture();
    process.env.PINPOINT_LOG_LEVEL = 'debug';
    try {
      const log = createLogger({ level: 'warn', destination: out.stream });
      log.debug('now visible');
    } finally {
      delete process.env.PINPOINT_LOG_LEVEL;
    }
    assert.equal(out.lines().length, 1);
  });

  test('pretty output is human-readable, not JSON', () => {
    const out = capture();
    const log = createLogger({ destination: out.stream, pretty: 'always' });
    log.warn('careful');
    const line = out.lines()[0];
    assert.match(line, /careful/);
    assert.throws(() => JSON.parse(line));
  });

  test('pretty: one line per record, fields inline; the stats line without its numbers object', () => {
    const out = capture();
    const log = createLogger({ destination: out.stream, pretty: 'always' });
    log.info({ camera: 'top', state: 'streaming' }, 'camera streaming');
    log.info({ interval: { seconds: 60, cameras: { top: { ok: 5 } } } }, 'last 60 s: top 5 ok');
    const lines = out.lines();
    assert.equal(lines.length, 2, lines.join('\n'));
    assert.match(lines[0], /camera streaming.*"camera":"top".*"state":"streaming"/);
    assert.match(lines[1], /last 60 s: top 5 ok/);
    assert.doesNotMatch(lines[1], /cameras/);
  });
});

describe('sd_notify', () => {
  test('without NOTIFY_SOCKET the notifier is inactive', () => {
    const saved = process.env.NOTIFY_SOCKET;
    delete process.env.NOTIFY_SOCKET;
    const n = createNotifier();
    if (saved !== undefined) process.env.NOTIFY_SOCKET = saved;
    assert.equal(n.active, false);
    n.ready();
  });

  test('READY=1 and STATUS reach a real notify socket', { timeout: 20000 }, async () => {
    const sock = join(mkdtempSync(join(tmpdir(), 'pinpoint-notify-')), 'notify.sock');
    // A datagram listener like systemd's (Node has no unix datagram sockets; python3 is part of the toolchain).
    const listener = track(
      spawn(
        'python3',
        [
          '-c',
          'import socket,sys\ns=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM)\ns.bind(sys.argv[1])\nprint("up",flush=True)\n' +
            'for _ in range(2):\n  print(s.recv(4096).decode().replace("\\n","|"),flush=True)\n',
          sock,
        ],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      ),
    );
    const received: string[] = [];
    const done = new Promise<void>((resolve) => {
      listener.stdout.on('data', (d: Buffer) => {
        received.push(...d.toString().split('\n').filter(Boolean));
        if (received.length >= 3) resolve();
      });
    });
    await new Promise<void>((resolve) => listener.stdout.once('data', () => resolve()));
    process.env.NOTIFY_SOCKET = sock;
    const n = createNotifier();
    assert.equal(n.active, true);
    n.ready('2 cameras');
    n.stopping();
    delete process.env.NOTIFY_SOCKET;
    await done;
    listener.kill();
    assert.deepEqual(received.slice(1), ['READY=1|STATUS=2 cameras', 'STOPPING=1']);
  });
});
