// The MQTT command validator (src/sinks/mqtt-command-payload.ts): every kind of bad input is refused with a
// reason that names the problem, and the correlation id is kept whenever it can be read, so the refusal
// reaches the right requester.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  MAX_COMMAND_BYTES,
  checkArgs,
  commandArgs,
  parseCommand,
  usableResponseTopic,
} from '../src/sinks/mqtt-command-payload.js';

const enc = (v: unknown): Uint8Array => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v));
const parse = (topic: string, v: unknown) => parseCommand('line/1', topic, enc(v));

describe('parseCommand', () => {
  test('a valid command: its name from the topic, envelope split from the arguments', () => {
    assert.deepEqual(
      parse('line/1/cmd/threshold', { correlationId: 'c1', who: 'scada', camera: 'a', reject: 2 }),
      {
        ok: true,
        command: { name: 'threshold', correlationId: 'c1', who: 'scada', args: { camera: 'a', reject: 2 } },
      },
    );
    const p = parse('line/1/cmd/model/promote', { correlationId: 'c2', version: 'v3' });
    assert.ok(p.ok);
    assert.equal(p.command.name, 'model/promote');
    assert.equal(p.command.who, undefined);
  });

  test('an empty payload (deleting a retained message) is not a command', () => {
    const p = parseCommand('line/1', 'line/1/cmd/reload', new Uint8Array(0));
    assert.ok(!p.ok && p.kind === 'not-a-command');
  });

  test('the response topic and foreign topics are not commands', () => {
    for (const t of ['line/1/cmd/response', 'line/1/cmd/', 'line/2/cmd/reload']) {
      const p = parse(t, { correlationId: 'x' });
      assert.ok(!p.ok && p.kind === 'not-a-command', t);
    }
  });

  test('malformed payloads are refused with the reason, keeping a readable correlation id', () => {
    const cases: [unknown, RegExp, string | null][] = [
      ['{nope', /not UTF-8 JSON/, null],
      [[1, 2], /must be a JSON object/, null],
      ['"text"', /must be a JSON object/, null],
      [{ who: 'x' }, /correlationId/, null],
      [{ correlationId: 7 }, /correlationId/, null],
      [{ correlationId: 'c9', who: 'bad\nname' }, /who/, 'c9'],
      [{ correlationId: 'y'.repeat(129) }, /correlationId/, null],
    ];
    for (const [payload, reason, id] of cases) {
      const p = parse('line/1/cmd/reload', payload);
      assert.ok(!p.ok && p.kind === 'malformed', JSON.stringify(payload));
      assert.match(p.reason, reason);
      assert.equal(p.correlationId, id);
      assert.equal(p.name, 'reload');
    }
    const bad = parseCommand('line/1', 'line/1/cmd/reload', Uint8Array.from([0xff, 0xfe, 0x7b]));
    assert.ok(!bad.ok && /UTF-8/.test(bad.reason));
  });

  test('a payload over the bound is refused unread', () => {
    const big = enc({ correlationId: 'c', pad: 'x'.repeat(MAX_COMMAND_BYTES) });
    const p = parseCommand('line/1', 'line/1/cmd/reload', big);
    assert.ok(!p.ok);
    assert.match(p.reason, new RegExp(`max ${MAX_COMMAND_BYTES}`));
    assert.equal(p.correlationId, null, 'not parsed at all');
  });
});

describe('checkArgs', () => {
  test('threshold: camera, reject and/or pixel, positive finite numbers, nothing else', () => {
    assert.deepEqual(checkArgs(commandArgs.threshold, { camera: 'a', pixel: 1.5 }), {
      ok: true,
      args: { camera: 'a', pixel: 1.5 },
    });
    const refusals: [Record<string, unknown>, RegExp][] = [
      [{ camera: 'a' }, /give reject, pixel or both/],
      [{ camera: 'a', reject: -1 }, /reject/],
      [{ camera: 'a', reject: '2' }, /reject/],
      [{ reject: 2 }, /camera/],
      [{ camera: 'a/b', reject: 2 }, /camera/],
      [{ camera: 'a', reject: 2, rejct: 3 }, /unknown field rejct/],
    ];
    for (const [args, reason] of refusals) {
      const r = checkArgs(commandArgs.threshold, args);
      assert.ok(!r.ok, JSON.stringify(args));
      assert.match(r.reason, reason);
    }
  });

  test('reload and rollback take no arguments; promote needs a version', () => {
    assert.ok(checkArgs(commandArgs.reload, {}).ok);
    const r = checkArgs(commandArgs.reload, { force: true });
    assert.ok(!r.ok && /unknown field force/.test(r.reason));
    const p = checkArgs(commandArgs['model/promote'], {});
    assert.ok(!p.ok && /version/.test(p.reason));
  });
});

test('usableResponseTopic: no wildcards, not empty, bounded', () => {
  assert.equal(usableResponseTopic('scada/replies/7'), 'scada/replies/7');
  for (const t of [undefined, '', 'a/#', 'a/+/b', 'x'.repeat(600)])
    assert.equal(usableResponseTopic(t), undefined);
});
