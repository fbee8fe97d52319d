// The MQTT command inbox (src/sinks/mqtt-commands.ts) in the MQTT sink, against a real Mosquitto, with real
// handlers that record their calls: commands off (the default) are refused with a response and no handler
// runs; on, a handler gets its checked arguments and the sender's `who`; a retained command, a handler's
// refusal and a flood of bad messages are each answered once, and the daemon's own responses are never read
// back as commands. Refusal logs are rate-limited.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configSchema } from '../src/config/schema.js';
import { CommandError, CommandRegistry } from '../src/sinks/command-registry.js';
import type { CommandContext } from '../src/sinks/command-registry.js';
import { commandArgs } from '../src/sinks/mqtt-command-payload.js';
import { createMqttSink, type MqttSink } from '../src/sinks/mqtt.js';
import { startMosquitto, type Broker } from './helpers/mosquitto.js';
import { captureLog, record, type Recorder } from './helpers/mqtt.js';

const tmp = mkdtempSync(join(tmpdir(), 'pinpoint-cmd-'));
let broker: Broker;

before(async () => {
  broker = await startMosquitto();
});
after(async () => {
  await broker.stop();
  rmSync(tmp, { recursive: true, force: true });
});

interface Call {
  args: Record<string, unknown>;
  ctx: CommandContext;
}

function registry(calls: Call[]): CommandRegistry {
  const r = new CommandRegistry();
  r.registerCommand(
    'threshold',
    (args, ctx) => {
      calls.push({ args, ctx });
      if (args.camera === 'gone') throw new CommandError('unknown camera "gone"');
      return { applied: true };
    },
    commandArgs.threshold,
  );
  return r;
}

async function startSink(prefix: string, commands: boolean, calls: Call[]) {
  const cfg = configSchema.parse({
    mqtt: {
      url: broker.url,
      topicPrefix: prefix,
      commands,
      outbox: { dir: join(tmp, prefix) },
      statsIntervalSec: 0,
    },
  }).mqtt;
  const { log, lines } = captureLog();
  const sink: MqttSink = createMqttSink(cfg, { log, cameras: ['a'], commands: registry(calls) });
  await sink.start();
  assert.ok(sink.connected);
  const client: Recorder = await record(broker.url, [`${prefix}/cmd/response`]);
  const responses = () =>
    client.on(`${prefix}/cmd/response`).map((m) => JSON.parse(m.text) as Record<string, unknown>);
  const send = async (name: string, payload: unknown, retain = false) => {
    const n = responses().length;
    await client.client.publishAsync(`${prefix}/cmd/${name}`, JSON.stringify(payload), { qos: 1, retain });
    await client.waitFor(() => responses().length > n, `a response to ${name}`, 10000);
    return responses()[n];
  };
  return { sink, client, responses, send, lines };
}

describe('MQTT commands', () => {
  test('mqtt.commands false (the default): refused with a response, no handler runs', async () => {
    assert.equal(configSchema.parse({}).mqtt.commands, false);
    const calls: Call[] = [];
    const s = await startSink('cmdoff', false, calls);
    const r = await s.send('threshold', { correlationId: 'c1', camera: 'a', reject: 3 });
    assert.deepEqual(r, {
      correlationId: 'c1',
      command: 'threshold',
      ok: false,
      error: 'commands are disabled on this daemon (mqtt.commands: false)',
    });
    assert.deepEqual(calls, []);
    assert.equal(s.sink.stats().refusedCommands, 1);
    await s.client.end();
    await s.sink.stop();
  });

  test('on: the handler gets checked arguments and who; refusals are answered once and logged rate-limited', async () => {
    const calls: Call[] = [];
    const s = await startSink('cmdon', true, calls);
    const ok = await s.send('threshold', { correlationId: 'c2', who: 'line 3 PLC', camera: 'a', pixel: 2 });
    assert.deepEqual(ok, { correlationId: 'c2', command: 'threshold', ok: true, result: { applied: true } });
    assert.deepEqual(calls, [
      {
        args: { camera: 'a', pixel: 2 },
        ctx: { correlationId: 'c2', by: { who: 'mqtt:line 3 PLC', source: 'mqtt' } },
      },
    ]);
    const anonymous = await s.send('threshold', { correlationId: 'c3', camera: 'a', reject: 1 });
    assert.equal(anonymous.ok, true);
    assert.equal(calls[1].ctx.by.who, 'mqtt:anonymous');

    const refused = await s.send('threshold', { correlationId: 'c4', camera: 'gone', reject: 1 });
    assert.deepEqual(refused, {
      correlationId: 'c4',
      command: 'threshold',
      ok: false,
      error: 'unknown camera "gone"',
    });
    const retained = await s.send('threshold', { correlationId: 'c5', camera: 'a', reject: 1 }, true);
    assert.match(String(retained.error), /retained command ignored/);
    await s.client.client.publishAsync('cmdon/cmd/threshold', '', { qos: 1, retain: true }); // clear it
    assert.equal(calls.length, 3, 'the retained one did not run');

    // A flood of malformed commands: every one answered, one log line for the kind (rate-limited).
    for (let i = 0; i < 20; i++) await s.send('threshold', { correlationId: `f${i}`, camera: 'a', nope: i });
    const malformed = s
      .lines()
      .filter((l) => l.msg === 'MQTT command refused' && /unknown field nope/.test(String(l.error)));
    assert.equal(malformed.length, 1, 'the first at once, the rest suppressed');
    // Each command got exactly one response: none of ours was read back as a command.
    await new Promise((r) => setTimeout(r, 300));
    const ids = s.responses().map((r) => r.correlationId);
    assert.equal(new Set(ids).size, ids.length, JSON.stringify(ids));
    assert.equal(ids.length, 24);
    assert.deepEqual(
      { commands: s.sink.stats().commands, refused: s.sink.stats().refusedCommands },
      { commands: 2, refused: 22 },
    );
    await s.client.end();
    await s.sink.stop();
  });
});
