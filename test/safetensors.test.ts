import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  SafetensorsError,
  bf16ToF32,
  encodeSafetensors,
  f16ToF32,
  f32ToBf16,
  f32ToF16,
  parseSafetensors,
  readSafetensors,
  roundToF16,
  writeSafetensors,
} from '../src/model/safetensors.js';
import type { TensorData } from '../src/model/safetensors.js';
import { Rng } from '../src/util/random.js';

/** Build a file by hand (independently of the encoder): header JSON + raw data bytes. */
function rawFile(header: unknown, data: Uint8Array, headerText?: string): Uint8Array {
  const json = new TextEncoder().encode(headerText ?? JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setUint32(0, json.length, true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function f32Bytes(values: number[]): Uint8Array {
  return new Uint8Array(new Float32Array(values).buffer);
}

function throwsSt(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof SafetensorsError, `expected SafetensorsError, got ${String(e)}`);
    assert.match(e.message, re);
    return true;
  });
}

describe('f16 / bf16 conversion', () => {
  const h = (x: number) => f32ToF16(new Float32Array([x]))[0];
  const b = (x: number) => f32ToBf16(new Float32Array([x]))[0];

  test('f16 exact values and specials', () => {
    assert.equal(h(1), 0x3c00);
    assert.equal(h(-2), 0xc000);
    assert.equal(h(65504), 0x7bff);
    assert.equal(h(Infinity), 0x7c00);
    assert.equal(h(-Infinity), 0xfc00);
    assert.equal(h(-0), 0x8000);
    assert.equal(h(0), 0);
    assert.equal(h(2 ** -14), 0x0400); // smallest normal
    assert.equal(h(2 ** -24), 0x0001); // smallest subnormal
    const nan = h(NaN);
    assert.equal(nan & 0x7c00, 0x7c00);
    assert.notEqual(nan & 0x3ff, 0);
  });

  test('f16 round-to-nearest-even, including subnormals and overflow', () => {
    assert.equal(h(1 + 2 ** -11), 0x3c00); // tie → even (down)
    assert.equal(h(1 + 3 * 2 ** -11), 0x3c02); // tie → even (up)
    assert.equal(h(1 + 2 ** -11 + 2 ** -20), 0x3c01); // just above the tie
    assert.equal(h(65519), 0x7bff); // below the overflow tie
    assert.equal(h(65520), 0x7c00); // tie between max and 2^16 → inf
    assert.equal(h(2 ** -25), 0); // half the smallest subnormal: tie → 0
    assert.equal(h(1.5 * 2 ** -25), 0x0001);
    assert.equal(h(3 * 2 ** -25), 0x0002); // 1.5 units: tie → 2
    assert.equal(h(5 * 2 ** -25), 0x0002); // 2.5 units: tie → 2
    assert.equal(h((1 - 2 ** -11) * 2 ** -14), 0x0400); // 1023.5 units carries into the normal range
    assert.equal(h(2 ** -26), 0);
    assert.equal(h(-(2 ** -24)), 0x8001);
  });

  test('f16 decode of every pattern round-trips through the encoder', () => {
    const all = new Uint16Array(65536);
    for (let i = 0; i < 65536; i++) all[i] = i;
    const f = f16ToF32(all);
    const back = f32ToF16(f);
    for (let i = 0; i < 65536; i++) {
      const isNan = (i & 0x7c00) === 0x7c00 && (i & 0x3ff) !== 0;
      if (isNan) assert.ok(Number.isNaN(f[i]));
      else assert.equal(back[i], i, `pattern ${i.toString(16)}`);
    }
    assert.equal(f[0x0001], 2 ** -24);
    assert.equal(f[0x03ff], 1023 * 2 ** -24);
    assert.equal(f[0x7bff], 65504);
    assert.equal(roundToF16(0.1), 0.0999755859375);
  });

  test('bf16 rounding and specials', () => {
    assert.equal(b(1), 0x3f80);
    assert.equal(b(1 + 2 ** -8), 0x3f80); // tie → even
    assert.equal(b(1 + 3 * 2 ** -8), 0x3f82); // tie → even (up)
    assert.equal(b(1 + 2 ** -8 + 2 ** -20), 0x3f81);
    assert.equal(b(-Infinity), 0xff80);
    assert.equal(b(3.4028234663852886e38), 0x7f80); // f32 max rounds to inf
    assert.equal(b(2 ** -133), 0x0001); // smallest bf16 subnormal
    assert.equal(b(2 ** -134), 0x0000); // tie → even (zero)
    assert.equal(b(3 * 2 ** -134), 0x0002); // tie → even (up)
    const nan = b(NaN);
    assert.equal(nan & 0x7f80, 0x7f80);
    assert.notEqual(nan & 0x7f, 0);
    const back = bf16ToF32(new Uint16Array([0x3f80, 0xc040, 0x7f80, 0x0001]));
    assert.deepEqual([...back], [1, -3, Infinity, 2 ** -133]);
  });
});

describe('safetensors round trip', () => {
  const rng = new Rng(3);
  const randomData = (n: number) => Float32Array.from({ length: n }, () => rng.normal());

  test('F32, F16 and BF16 tensors survive encode → parse; header aligned, names sorted', () => {
    const a = randomData(6);
    const bf = randomData(12);
    const hf = randomData(5);
    const tensors: Record<string, TensorData> = {
      'z.w': { dtype: 'F32', shape: [2, 3], data: a },
      'a.b': { dtype: 'BF16', shape: [3, 4], data: bf },
      'm.h': { dtype: 'F16', shape: [5], data: hf },
      scalar: { dtype: 'F32', shape: [], data: new Float32Array([7]) },
      empty: { dtype: 'F16', shape: [0, 3], data: new Float32Array(0) },
    };
    const bytes = encodeSafetensors(tensors, { format: 'pt', note: 'x' });
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    assert.equal((8 + n) % 8, 0);
    const { tensors: got, metadata } = parseSafetensors(bytes, 'mem');
    assert.deepEqual(metadata, { format: 'pt', note: 'x' });
    assert.deepEqual([...got.keys()], ['a.b', 'empty', 'm.h', 'scalar', 'z.w']);
    assert.deepEqual(got.get('z.w'), tensors['z.w']);
    assert.deepEqual(got.get('scalar')?.data, new Float32Array([7]));
    assert.deepEqual(got.get('empty')?.shape, [0, 3]);
    const gh = got.get('m.h')!;
    assert.equal(gh.dtype, 'F16');
    for (let i = 0; i < hf.length; i++) assert.equal(gh.data[i], roundToF16(hf[i]));
    const gb = got.get('a.b')!;
    assert.equal(gb.dtype, 'BF16');
    for (let i = 0; i < bf.length; i++) {
      assert.ok(Math.abs(gb.data[i] - bf[i]) <= Math.abs(bf[i]) * 2 ** -8, `bf16 ${bf[i]} → ${gb.data[i]}`);
    }
    // Re-encoding decoded half data is lossless and byte-identical (determinism).
    assert.deepEqual(encodeSafetensors(got, metadata), encodeSafetensors(got, metadata));
    assert.deepEqual(encodeSafetensors(parseSafetensors(bytes).tensors, metadata), bytes);
  });

  test('hand-built file parses (independent of the encoder), unaligned offsets included', () => {
    const header = {
      __metadata__: { format: 'pt' },
      b: { dtype: 'F16', shape: [1], data_offsets: [8, 10] },
      a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
      c: { dtype: 'F32', shape: [1], data_offsets: [10, 14] },
    };
    const data = new Uint8Array(14);
    data.set(f32Bytes([1.5, -2]), 0);
    data.set([0x00, 0x3c], 8); // f16 1.0
    data.set(f32Bytes([0.25]), 10); // at an odd offset relative to the buffer
    const { tensors } = parseSafetensors(rawFile(header, data, JSON.stringify(header) + ' '));
    assert.deepEqual([...tensors.get('a')!.data], [1.5, -2]);
    assert.deepEqual([...tensors.get('b')!.data], [1]);
    assert.deepEqual([...tensors.get('c')!.data], [0.25]);
  });

  test('writeSafetensors / readSafetensors on disk', () => {
    const dir = mkdtempSync(join(tmpdir(), 'st-'));
    try {
      const p = join(dir, 'w.safetensors');
      writeSafetensors(p, new Map([['x', { dtype: 'F32', shape: [2], data: new Float32Array([1, 2]) }]]));
      assert.deepEqual([...readSafetensors(p).tensors.get('x')!.data], [1, 2]);
      throwsSt(() => readSafetensors(join(dir, 'missing.safetensors')), /missing\.safetensors: cannot read/);
    } finally {
      rmSync(dir, { recursive: true });
    }
  });

  test('encoder rejects data that does not fit the shape', () => {
    throwsSt(
      () => encodeSafetensors({ x: { dtype: 'F32', shape: [2, 2], data: new Float32Array(3) } }),
      /'x': shape \[2,2\] needs 4 values, has 3/,
    );
  });
});

describe('safetensors corruption', () => {
  const x4 = { dtype: 'F32', shape: [2, 2], data_offsets: [0, 16] };

  test('header length beyond the file', () => {
    const buf = new Uint8Array(100);
    new DataView(buf.buffer).setUint32(0, 9999999, true);
    throwsSt(
      () => parseSafetensors(buf, 'bad.safetensors'),
      /^bad\.safetensors: header length 9999999 exceeds file size 100$/,
    );
    const huge = new Uint8Array(100);
    new DataView(huge.buffer).setUint32(4, 1, true);
    throwsSt(() => parseSafetensors(huge), /header length 4294967296 exceeds file size 100/);
  });

  test('file shorter than the length field', () => {
    throwsSt(() => parseSafetensors(new Uint8Array(5), 'f'), /f: file is 5 bytes, too short/);
  });

  test('invalid JSON header', () => {
    throwsSt(() => parseSafetensors(rawFile(null, new Uint8Array(0), '{"x": [1,')), /invalid JSON header/);
    throwsSt(
      () => parseSafetensors(rawFile([1, 2], new Uint8Array(0))),
      /invalid JSON header: not an object/,
    );
    const badUtf8 = rawFile(null, new Uint8Array(0), '{}  ');
    badUtf8[9] = 0xff;
    throwsSt(() => parseSafetensors(badUtf8), /invalid JSON header/);
  });

  test('offsets that do not match the shape', () => {
    const f = rawFile({ x: { dtype: 'F32', shape: [2, 2], data_offsets: [0, 12] } }, new Uint8Array(12));
    throwsSt(
      () => parseSafetensors(f, 'm.st'),
      /^m\.st: tensor 'x': data_offsets \[0, 12\] do not match shape \[2,2\] × F32 = 16 bytes$/,
    );
  });

  test('overlapping tensors', () => {
    const f = rawFile(
      {
        x: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
        y: { dtype: 'F32', shape: [2], data_offsets: [4, 12] },
      },
      new Uint8Array(12),
    );
    throwsSt(() => parseSafetensors(f), /tensor 'y' overlaps 'x'/);
  });

  test('unsupported dtype', () => {
    const f = rawFile({ x: { dtype: 'I64', shape: [1], data_offsets: [0, 8] } }, new Uint8Array(8));
    throwsSt(() => parseSafetensors(f), /unsupported dtype I64 for 'x'/);
  });

  test('gaps and unused trailing bytes', () => {
    const gap = rawFile(
      {
        x: { dtype: 'F32', shape: [1], data_offsets: [0, 4] },
        y: { dtype: 'F32', shape: [1], data_offsets: [8, 12] },
      },
      new Uint8Array(12),
    );
    throwsSt(() => parseSafetensors(gap), /gap\/unused bytes: data bytes \[4, 8\)/);
    const trailing = rawFile({ x: x4 }, new Uint8Array(20));
    throwsSt(
      () => parseSafetensors(trailing),
      /gap\/unused bytes: data section has 20 bytes but tensors end at 16/,
    );
  });

  test('malformed entries: each problem named', () => {
    const cases: [unknown, RegExp][] = [
      [{ x: { shape: [1], data_offsets: [0, 4] } }, /tensor 'x': missing dtype/],
      [{ x: { dtype: 'F32', data_offsets: [0, 4] } }, /tensor 'x': missing shape/],
      [{ x: { dtype: 'F32', shape: [1] } }, /tensor 'x': missing or malformed data_offsets/],
      [
        { x: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } },
        /shape \[-1\] must hold non-negative integers/,
      ],
      [{ x: { dtype: 'F32', shape: [1.5], data_offsets: [0, 4] } }, /non-negative integers/],
      [{ x: { dtype: 'F32', shape: [1], data_offsets: [4, 0] } }, /not ordered non-negative integers/],
      [{ x: 3 }, /tensor 'x': entry is not an object/],
      [{ __metadata__: { a: 1 } }, /__metadata__ value for 'a' is not a string/],
    ];
    for (const [header, re] of cases)
      throwsSt(() => parseSafetensors(rawFile(header, new Uint8Array(4))), re);
    // Several problems are reported together.
    throwsSt(
      () =>
        parseSafetensors(
          rawFile(
            { a: { dtype: 'I8', shape: [1], data_offsets: [0, 1] }, b: { dtype: 'F32' } },
            new Uint8Array(1),
          ),
        ),
      /unsupported dtype I8 for 'a'.*; tensor 'b': missing shape/,
    );
  });

  test('truncated files, cut at many points', () => {
    const good = encodeSafetensors({
      a: { dtype: 'F32', shape: [3, 5], data: new Float32Array(15).fill(1) },
      b: { dtype: 'BF16', shape: [7], data: new Float32Array(7).fill(2) },
    });
    const headerEnd = 8 + Number(new DataView(good.buffer).getBigUint64(0, true));
    const dataLen = good.length - headerEnd;
    for (const cut of [
      0,
      3,
      7,
      8,
      20,
      headerEnd - 1,
      headerEnd,
      headerEnd + 1,
      headerEnd + 30,
      good.length - 1,
    ]) {
      const re =
        cut < 8
          ? /too short for the 8-byte header length/
          : cut < headerEnd
            ? /header length \d+ exceeds file size/
            : new RegExp(`truncated: expected ${dataLen} bytes of data, file has ${cut - headerEnd}`);
      throwsSt(() => parseSafetensors(good.subarray(0, cut), 'cut.safetensors'), re);
    }
  });

  test('random corruption never crashes: parses or throws SafetensorsError', () => {
    const good = encodeSafetensors({
      'w.x': { dtype: 'F16', shape: [4, 3], data: new Float32Array(12).fill(0.5) },
      'w.y': { dtype: 'F32', shape: [2], data: new Float32Array([1, 2]) },
    });
    const rng = new Rng(11);
    for (let k = 0; k < 400; k++) {
      const bad = good.slice();
      const flips = 1 + rng.int(0, 3);
      for (let f = 0; f < flips; f++) bad[rng.int(0, Math.min(bad.length - 1, 140))] = rng.int(0, 255);
      try {
        const { tensors } = parseSafetensors(bad);
        for (const t of tensors.values()) {
          assert.equal(
            t.data.length,
            t.shape.reduce((a, b) => a * b, 1),
          );
        }
      } catch (e) {
        assert.ok(e instanceof SafetensorsError, `mutation ${k}: ${String(e)}`);
      }
    }
  });
});
