// The Sparkplug B edge node without I/O: the state machine's messages exactly (births, deaths, seq, aliases,
// decisions of live and dead devices), the payload bytes read back by the independent `sparkplug-payload`
// decoder (Tahu's, on protobufjs 6), commands from a host, and the primary host's STATE message.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createRequire } from 'node:module';
import sparkplugPayload from 'sparkplug-payload';
import type * as TahuProto from 'sparkplug-payload/lib/sparkplugPayloadProto.js';
import { loadCodec } from '../src/sinks/sparkplug/codec.js';
import { deviceCommands, nodeCommands, readInbound } from '../src/sinks/sparkplug/commands.js';
import { EdgeNode } from '../src/sinks/sparkplug/edge-node.js';
import { isNewer, parseHostState } from '../src/sinks/sparkplug/host-state.js';
import { DataType } from '../src/sinks/sparkplug/payload.js';
import { makeResult } from './helpers/mqtt.js';

const tahu = (() => {
  const t = sparkplugPayload.get('spBv1.0');
  assert.ok(t);
  return t;
})();
// Tahu's generated protobufjs 6 module assigns module.exports at run time: only require() sees its names.
const ProtoRoot = createRequire(import.meta.url)(
  'sparkplug-payload/lib/sparkplugPayloadProto.js',
) as typeof TahuProto;
const RawPayload = ProtoRoot.org.eclipse.tahu.protobuf.Payload;
/** The set member of a raw Tahu metric's value oneof (protobufjs's virtual field, absent from the typings). */
const oneof = (m: object): string => (m as { value: string }).value;
const decodeTahu = (b: Uint8Array) => {
  const p = tahu.decodePayload(b);
  return { ...p, metrics: p.metrics ?? [] };
};

function node(): EdgeNode {
  return new EdgeNode({
    groupId: 'plant',
    edgeNodeId: 'line1',
    cameras: [
      { id: 'top', softwareTrigger: true },
      { id: 'side', softwareTrigger: false },
    ],
    modelId: 'model-a',
  });
}

const byName = <M extends { name?: string | null }>(metrics: M[], name: string): M | undefined =>
  metrics.find((m) => m.name === name);

describe('Sparkplug edge node state machine', () => {
  test('NDEATH: the bdSeq metric (Int64), no seq', () => {
    const d = node().death(7, 1000);
    assert.equal(d.topic, 'spBv1.0/plant/NDEATH/line1');
    assert.deepEqual(d.payload, {
      timestamp: 1000,
      metrics: [{ name: 'bdSeq', timestamp: 1000, datatype: DataType.Int64, value: 7 }],
    });
  });

  test('birth: NBIRTH seq 0 with bdSeq and every node metric typed, then DBIRTH of streaming cameras only', () => {
    const n = node();
    assert.deepEqual(n.cameraState('top', 'streaming', 500), [], 'offline: state kept, nothing sent');
    n.cameraState('side', 'connecting', 500);
    const out = n.birth(7, 1000);
    assert.deepEqual(
      out.map((m) => [m.type, m.topic, m.payload.seq]),
      [
        ['NBIRTH', 'spBv1.0/plant/NBIRTH/line1', 0],
        ['DBIRTH', 'spBv1.0/plant/DBIRTH/line1/top', 1],
      ],
    );
    const nb = out[0].payload.metrics;
    assert.deepEqual(byName(nb, 'bdSeq'), {
      name: 'bdSeq',
      alias: 0,
      timestamp: 1000,
      datatype: 4,
      value: 7,
    });
    assert.deepEqual(byName(nb, 'Node Control/Rebirth'), {
      name: 'Node Control/Rebirth',
      alias: 1,
      timestamp: 1000,
      datatype: DataType.Boolean,
      value: false,
    });
    assert.equal(byName(nb, 'Node Info/Model ID')?.value, 'model-a');
    assert.equal(byName(nb, 'Node Info/Cameras')?.value, 'top,side');
    assert.equal(byName(nb, 'Cameras/top/State')?.value, 'streaming');
    assert.equal(byName(nb, 'Cameras/side/State')?.value, 'connecting');
    assert.equal(byName(nb, 'Cameras/side/Verdict')?.value, null);
    for (const m of nb) {
      assert.ok(m.name && m.datatype && typeof m.alias === 'number', `typed and aliased: ${m.name}`);
    }
    const db = out[1].payload.metrics;
    assert.deepEqual(
      db.map((m) => [m.name, m.datatype]),
      [
        ['State', DataType.String],
        ['Part ID', DataType.String],
        ['Verdict', DataType.String],
        ['Reject', DataType.Boolean],
        ['Reason', DataType.String],
        ['Score', DataType.Double],
        ['Threshold', DataType.Double],
        ['Blob Count', DataType.Int32],
        ['Largest Blob Area', DataType.Int32],
        ['Latency ms', DataType.Double],
        ['Model ID', DataType.String],
        ['Trigger', DataType.String],
      ],
    );
    assert.equal(byName(db, 'State')?.value, 'streaming');
    // Aliases are unique across the node and all devices (the side camera's included, born later).
    n.cameraState('side', 'streaming', 1100);
    const all = [...n.catalog.node, ...[...n.catalog.devices.values()].flat()].map((d) => d.alias);
    assert.equal(new Set(all).size, all.length);
    assert.ok(
      !n.catalog.devices.get('side')?.some((d) => d.name === 'Trigger'),
      'no Trigger without softwareTrigger',
    );
  });

  test('a decision: DDATA with aliases only, timed at the decision, the part values exact', () => {
    const n = node();
    n.cameraState('top', 'streaming', 0);
    n.birth(1, 1000);
    const r = makeResult('top', 1, 2000);
    r.blobs.push({ ...r.blobs[0], area: 40 });
    const [m] = n.decision(r);
    assert.equal(m.type, 'DDATA');
    assert.equal(m.topic, 'spBv1.0/plant/DDATA/line1/top');
    assert.equal(m.payload.seq, 2);
    assert.equal(m.payload.timestamp, 2000);
    const defs = n.catalog.devices.get('top') ?? [];
    const alias = (name: string) => defs.find((d) => d.name === name)?.alias;
    assert.deepEqual(m.payload.metrics, [
      { alias: alias('Part ID'), timestamp: 2000, datatype: DataType.String, value: 'top-part-1' },
      { alias: alias('Verdict'), timestamp: 2000, datatype: DataType.String, value: 'reject' },
      { alias: alias('Reject'), timestamp: 2000, datatype: DataType.Boolean, value: true },
      { alias: alias('Reason'), timestamp: 2000, datatype: DataType.String, value: 'score' },
      { alias: alias('Score'), timestamp: 2000, datatype: DataType.Double, value: 0.9 },
      { alias: alias('Threshold'), timestamp: 2000, datatype: DataType.Double, value: 0.5 },
      { alias: alias('Blob Count'), timestamp: 2000, datatype: DataType.Int32, value: 2 },
      { alias: alias('Largest Blob Area'), timestamp: 2000, datatype: DataType.Int32, value: 40 },
      { alias: alias('Latency ms'), timestamp: 2000, datatype: DataType.Double, value: 12 },
      { alias: alias('Model ID'), timestamp: 2000, datatype: DataType.String, value: 'model-test' },
    ]);
    // A fail-safe error verdict is a reject for the line; a missing score is null.
    const e = {
      ...makeResult('top', 2, 2100),
      verdict: 'error' as const,
      reason: 'error' as const,
      score: null,
    };
    const em = n.decision(e)[0].payload.metrics;
    assert.equal(em[2].value, true);
    assert.equal(em[4].value, null);
  });

  test('camera stalls: NDATA state + DDEATH; streams again: NDATA state + DBIRTH with the last decision', () => {
    const n = node();
    n.cameraState('top', 'streaming', 0);
    n.birth(1, 1000);
    n.decision(makeResult('top', 0, 1500));
    const stall = n.cameraState('top', 'stalled', 2000);
    assert.deepEqual(
      stall.map((m) => [m.type, m.topic, m.payload.seq, m.payload.metrics.map((x) => x.value)]),
      [
        ['NDATA', 'spBv1.0/plant/NDATA/line1', 3, ['stalled']],
        ['DDEATH', 'spBv1.0/plant/DDEATH/line1/top', 4, []],
      ],
    );
    assert.deepEqual(n.cameraState('top', 'stalled', 2001), [], 'a repeated state sends nothing');
    // A fail-safe verdict while the camera is down goes out at node level: no DDATA after a DDEATH.
    const [orphan] = n.decision({ ...makeResult('top', 3, 2500), verdict: 'error', reason: 'no-frame' });
    assert.equal(orphan.type, 'NDATA');
    const nodeAlias = (name: string) => n.catalog.node.find((d) => d.name === name)?.alias;
    assert.equal(orphan.payload.metrics[0].alias, nodeAlias('Cameras/top/Part ID'));
    assert.equal(orphan.payload.metrics[0].value, 'top-part-3');
    assert.equal(orphan.payload.metrics[2].alias, nodeAlias('Cameras/top/Reject'));
    assert.equal(orphan.payload.metrics[2].value, true);
    n.cameraState('top', 'backoff', 2600);
    const back = n.cameraState('top', 'streaming', 3000);
    assert.deepEqual(
      back.map((m) => [m.type, m.payload.seq]),
      [
        ['NDATA', 7],
        ['DBIRTH', 8],
      ],
    );
    const db = back[1].payload.metrics;
    assert.equal(byName(db, 'Part ID')?.value, 'top-part-3', 'the birth carries the last decision');
    assert.equal(byName(db, 'Part ID')?.timestamp, 2500);
  });

  test('seq runs 0-255 and wraps across node and device messages; a rebirth starts at 0 with the same bdSeq', () => {
    const n = node();
    n.cameraState('top', 'streaming', 0);
    n.birth(9, 1000);
    const seqs: number[] = [];
    for (let i = 0; i < 300; i++) {
      const out =
        i % 50 === 0 ? n.cameraState('side', i % 100 === 0 ? 'streaming' : 'stalled', 1000 + i) : [];
      out.push(...n.decision(makeResult(i % 3 === 0 ? 'side' : 'top', i, 1000 + i)));
      seqs.push(...out.map((m) => m.payload.seq as number));
    }
    for (let i = 1; i < seqs.length; i++) assert.equal(seqs[i], (seqs[i - 1] + 1) % 256, `at ${i}`);
    assert.equal(seqs[0], 2);
    assert.ok(seqs.includes(255) && seqs.filter((s) => s === 0).length >= 1);
    const again = n.rebirth(5000);
    assert.equal(again[0].payload.seq, 0);
    assert.equal(byName(again[0].payload.metrics, 'bdSeq')?.value, 9);
    // The side camera's last state (at i = 250) is stalled: only top is born again.
    assert.deepEqual(
      again.map((m) => [m.type, m.deviceId]),
      [
        ['NBIRTH', undefined],
        ['DBIRTH', 'top'],
      ],
    );
  });

  test('a hot swap: NDATA of Node Info/Model ID (alias only) when born, nothing when unchanged or offline; births carry it', () => {
    const n = node();
    assert.deepEqual(n.modelChanged('model-b', 900), [], 'offline: kept for the births');
    const [nb] = n.birth(1, 1000);
    assert.equal(byName(nb.payload.metrics, 'Node Info/Model ID')?.value, 'model-b');
    const alias = nb.payload.metrics.find((m) => m.name === 'Node Info/Model ID')!.alias;
    const [m, ...rest] = n.modelChanged('model-c', 2000);
    assert.deepEqual(rest, []);
    assert.equal(m.type, 'NDATA');
    assert.equal(m.topic, 'spBv1.0/plant/NDATA/line1');
    assert.equal(m.payload.seq, 1);
    assert.deepEqual(m.payload.metrics, [
      { alias, timestamp: 2000, datatype: DataType.String, value: 'model-c' },
    ]);
    assert.deepEqual(n.modelChanged('model-c', 2100), [], 'unchanged: nothing');
    const [again] = n.rebirth(3000);
    assert.equal(byName(again.payload.metrics, 'Node Info/Model ID')?.value, 'model-c');
  });

  test('offline: decisions wait (nothing out); after the next birth they are marked historical', () => {
    const n = node();
    n.cameraState('top', 'streaming', 0);
    n.birth(1, 1000);
    n.offline();
    assert.deepEqual(n.rebirth(1100), []);
    const r = makeResult('top', 1, 1200);
    assert.deepEqual(n.decision(r), []);
    n.birth(2, 2000);
    const [m] = n.decision(r);
    assert.equal(m.payload.timestamp, 1200);
    assert.ok(m.payload.metrics.every((x) => x.isHistorical === true && x.timestamp === 1200));
    const live = n.decision(makeResult('top', 2, 2100))[0];
    assert.ok(live.payload.metrics.every((x) => x.isHistorical === undefined));
    assert.deepEqual(n.decision(makeResult('nope', 1, 2200)), [], 'unknown camera');
  });
});

describe('Sparkplug payload codec (read back by the independent Tahu decoder)', () => {
  test('births, data, nulls and historical flags decode to the same names, types and values', async () => {
    const codec = await loadCodec();
    const n = node();
    n.cameraState('top', 'streaming', 0);
    const [nbirth, dbirth] = n.birth(200, 1_733_000_000_000);
    const nb = decodeTahu(codec.encode(nbirth.payload));
    assert.equal(Number(nb.seq), 0);
    assert.equal(Number(nb.timestamp), 1_733_000_000_000);
    const bd = nb.metrics.find((m) => m.name === 'bdSeq');
    assert.equal(bd?.type, 'Int64');
    assert.equal(Number(bd?.value), 200);
    assert.equal(nb.metrics.find((m) => m.name === 'Node Control/Rebirth')?.value, false);
    assert.equal(nb.metrics.length, nbirth.payload.metrics.length);
    const db = decodeTahu(codec.encode(dbirth.payload));
    assert.deepEqual(
      db.metrics.map((m) => [m.name, m.type, Number(m.alias)]),
      dbirth.payload.metrics.map((m) => [
        m.name,
        Object.entries(DataType).find(([, v]) => v === m.datatype)?.[0],
        m.alias,
      ]),
    );
    assert.equal(byName(db.metrics, 'Score')?.value, null, 'no decision yet: is_null');
    assert.equal(byName(db.metrics, 'State')?.value, 'streaming');
    n.offline();
    n.birth(201, 1_733_000_001_000);
    const r = { ...makeResult('top', 1, 1_733_000_000_500), score: 0.123456789 };
    const [data] = n.decision(r);
    // Data carries no datatype (the birth gave it): read the values off Tahu's raw protobuf decoding.
    const d = RawPayload.decode(codec.encode(data.payload));
    const dm = d.metrics ?? [];
    assert.equal(Number(d.seq), 2);
    const values = dm.map((m) => {
      const v = (m as unknown as Record<string, unknown>)[oneof(m)];
      return typeof v === 'object' && v ? Number(v) : v;
    });
    assert.deepEqual(values, [
      'top-part-1',
      'reject',
      true,
      'score',
      0.123456789,
      0.5,
      1,
      17,
      12,
      'model-test',
    ]);
    assert.deepEqual(dm.map(oneof), [
      'stringValue',
      'stringValue',
      'booleanValue',
      'stringValue',
      'doubleValue',
      'doubleValue',
      'intValue',
      'intValue',
      'doubleValue',
      'stringValue',
    ]);
    assert.ok(dm.every((m) => m.isHistorical === true && Number(m.timestamp) === 1_733_000_000_500));
    assert.ok(
      dm.every((m) => !Object.hasOwn(m, 'name') && !Object.hasOwn(m, 'datatype')),
      'aliases only',
    );
    // Our decoder reads what Tahu's encoder writes.
    const back = codec.decode(
      tahu.encodePayload({
        timestamp: 5,
        seq: 3,
        metrics: [{ name: 'Trigger', type: 'String', value: 'P-1' }],
      }),
    );
    assert.deepEqual(back, {
      timestamp: 5,
      seq: 3,
      metrics: [{ name: 'Trigger', alias: undefined, datatype: DataType.String, value: 'P-1' }],
    });
    assert.throws(() => codec.decode(Buffer.from('not protobuf at all')));
  });
});

describe('Sparkplug commands', () => {
  const cat = node().catalog;
  const metric = (o: { name?: string; alias?: number; value: unknown }) => ({ datatype: 11, ...o }) as never;

  test('NCMD Node Control/Rebirth by name or alias; other writes refused', () => {
    const rebirthAlias = cat.node.find((d) => d.name === 'Node Control/Rebirth')?.alias;
    const cmds = nodeCommands(
      {
        metrics: [
          metric({ name: 'Node Control/Rebirth', value: true }),
          metric({ alias: rebirthAlias, value: true }),
          metric({ name: 'Node Control/Rebirth', value: false }),
          metric({ name: 'bdSeq', value: 3 }),
        ],
      },
      cat,
    );
    assert.deepEqual(
      cmds.map((c) => c.kind),
      ['rebirth', 'rebirth', 'refused', 'refused'],
    );
    assert.match((cmds[3] as { reason: string }).reason, /bdSeq: not writable/);
  });

  test('DCMD Trigger for a software-triggered camera; refused elsewhere and for bad part ids', () => {
    const trig = (dev: string, value: unknown, name = 'Trigger') =>
      deviceCommands(dev, { metrics: [metric({ name, value })] }, cat)[0];
    assert.deepEqual(trig('top', 'P-42'), { kind: 'trigger', cameraId: 'top', partId: 'P-42' });
    assert.deepEqual(trig('top', 42), { kind: 'trigger', cameraId: 'top', partId: '42' });
    const alias = cat.devices.get('top')?.find((d) => d.name === 'Trigger')?.alias;
    assert.equal(deviceCommands('top', { metrics: [metric({ alias, value: 'A' })] }, cat)[0].kind, 'trigger');
    assert.match(JSON.stringify(trig('side', 'P-1')), /no softwareTrigger/);
    assert.match(JSON.stringify(trig('top', '')), /refused/);
    assert.match(JSON.stringify(trig('top', 'a\nb')), /control characters/);
    assert.match(JSON.stringify(trig('top', 'x'.repeat(129))), /refused/);
    assert.match(JSON.stringify(trig('top', 'ok', 'Verdict')), /Verdict: not writable/);
    assert.match(JSON.stringify(trig('ghost', 'P')), /unknown device ghost/);
  });
});

describe('Sparkplug inbound messages', () => {
  test('dispatch by topic; retained, undecodable and bad STATE payloads refused', async () => {
    const codec = await loadCodec();
    const ctx = {
      codec,
      catalog: node().catalog,
      ncmd: 'spBv1.0/plant/NCMD/line1',
      stateTopic: 'spBv1.0/STATE/scada',
    };
    const cmd = (metrics: object[]) =>
      tahu.encodePayload({ timestamp: 1, metrics } as Parameters<typeof tahu.encodePayload>[0]);
    const rebirth = cmd([{ name: 'Node Control/Rebirth', type: 'Boolean', value: true }]);
    const trigger = cmd([{ name: 'Trigger', type: 'String', value: 'P-9' }]);
    assert.deepEqual(readInbound(ctx.ncmd, rebirth, false, ctx), [{ kind: 'rebirth' }]);
    assert.deepEqual(readInbound('spBv1.0/plant/DCMD/line1/top', trigger, false, ctx), [
      { kind: 'trigger', cameraId: 'top', partId: 'P-9' },
    ]);
    assert.match(JSON.stringify(readInbound(ctx.ncmd, rebirth, true, ctx)), /retained command/);
    assert.match(
      JSON.stringify(readInbound(ctx.ncmd, Buffer.from('{"json":1}'), false, ctx)),
      /not a Sparkplug B payload/,
    );
    assert.deepEqual(readInbound(ctx.stateTopic, Buffer.from('{"online":true,"timestamp":5}'), true, ctx), [
      { kind: 'host', state: { online: true, timestamp: 5 } },
    ]);
    assert.match(JSON.stringify(readInbound(ctx.stateTopic, Buffer.from('??'), true, ctx)), /not a STATE/);
  });
});

describe('primary host STATE', () => {
  test('3.0 JSON and 2.2 words; anything else is undefined; older timestamps are stale', () => {
    const p = (s: string) => parseHostState(Buffer.from(s));
    assert.deepEqual(p('{"online":true,"timestamp":10}'), { online: true, timestamp: 10 });
    assert.deepEqual(p('{"online":false}'), { online: false });
    assert.deepEqual(p('ONLINE'), { online: true });
    assert.deepEqual(p('OFFLINE'), { online: false });
    assert.equal(p('{"online":"yes"}'), undefined);
    assert.equal(p('maybe'), undefined);
    assert.equal(isNewer({ online: false, timestamp: 5 }, { online: true, timestamp: 10 }), false);
    assert.equal(isNewer({ online: true, timestamp: 10 }, { online: false, timestamp: 5 }), true);
    assert.equal(isNewer({ online: true }, undefined), true);
  });
});
