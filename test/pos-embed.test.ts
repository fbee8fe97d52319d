import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { aaBicubicCoefficients, interpolatePosEmbed } from '../src/model/pos-embed.js';
import { Rng } from '../src/util/random.js';

const close = (a: number, b: number, tol = 1e-12, msg = '') =>
  assert.ok(Math.abs(a - b) <= tol, `${msg} ${a} vs ${b} (tol ${tol})`);

function assertTaps(got: ReturnType<typeof aaBicubicCoefficients>, want: [number, number[]][]): void {
  assert.equal(got.length, want.length);
  for (let i = 0; i < want.length; i++) {
    assert.equal(got[i].start, want[i][0], `output ${i} start`);
    assert.equal(got[i].weights.length, want[i][1].length, `output ${i} tap count`);
    want[i][1].forEach((w, k) => close(got[i].weights[k], w, 1e-15, `output ${i} tap ${k}`));
  }
}

describe('aaBicubicCoefficients (PIL precompute_coeffs, a = −0.5)', () => {
  // Kernel values used below: k(0.25) = 111/128, k(0.75) = 29/128, k(1.25) = −9/128,
  // k(1/6) = 405/432, k(0.5) = 243/432, k(7/6) = −25/432 (from ((a+2)x − (a+3))x² + 1 and
  // (((x − 5)x + 8)x − 4)·a).

  test('4 → 2: scale 2, support 4, kernel stretched by 2', () => {
    // Output 0: centre 1, taps 0..3 at (j − 0.5)/2 = −0.25, 0.25, 0.75, 1.25 → 111, 111, 29, −9 (/242 after normalising).
    assertTaps(aaBicubicCoefficients(4, 2), [
      [0, [111 / 242, 111 / 242, 29 / 242, -9 / 242]],
      [0, [-9 / 242, 29 / 242, 111 / 242, 111 / 242]],
    ]);
  });

  test('2 → 4: upsampling keeps support 2; edge taps clipped and renormalised', () => {
    // Output 0: centre 0.25, taps 0..1 at 0.25, 1.25 → 111, −9 (sum 102). Output 1: centre 0.75 → −0.25, 0.75.
    assertTaps(aaBicubicCoefficients(2, 4), [
      [0, [111 / 102, -9 / 102]],
      [0, [111 / 140, 29 / 140]],
      [0, [29 / 140, 111 / 140]],
      [0, [-9 / 102, 111 / 102]],
    ]);
  });

  test('3 → 2: non-integer scale 1.5', () => {
    // Output 0: centre 0.75, taps 0..2 at (j − 0.25)/1.5 = −1/6, 1/2, 7/6 → 405, 243, −25 (sum 623).
    assertTaps(aaBicubicCoefficients(3, 2), [
      [0, [405 / 623, 243 / 623, -25 / 623]],
      [0, [-25 / 623, 243 / 623, 405 / 623]],
    ]);
  });

  test('same size is the identity; weights always sum to 1', () => {
    for (const t of aaBicubicCoefficients(5, 5)) {
      const nonzero = [...t.weights].map((w, k) => [t.start + k, w]).filter(([, w]) => w !== 0);
      assert.equal(nonzero.length, 1);
    }
    for (const [a, b] of [
      [37, 6],
      [37, 74],
      [6, 37],
      [5, 3],
    ]) {
      for (const t of aaBicubicCoefficients(a, b))
        close(
          t.weights.reduce((s, w) => s + w, 0),
          1,
          1e-12,
        );
    }
  });

  test('linear ramps are reproduced away from the borders (up and down)', () => {
    for (const [n, m] of [
      [4, 9],
      [8, 4],
      [37, 74],
      [12, 4],
    ]) {
      const taps = aaBicubicCoefficients(n, m);
      const scale = n / m;
      const support = 2 * Math.max(scale, 1);
      for (let i = 0; i < m; i++) {
        const c = (i + 0.5) * scale;
        if (c - support < 0 || c + support > n) continue; // clipped near the border
        if (scale > 1 && Math.abs(((c - 0.5) * 2) % 1) > 1e-9) continue; // asymmetric samples when shrinking
        const v = [...taps[i].weights].reduce((s, w, k) => s + w * (taps[i].start + k), 0);
        close(v, c - 0.5, 1e-12, `${n}→${m} output ${i}`);
      }
    }
  });
});

describe('interpolatePosEmbed', () => {
  const rng = new Rng(5);

  test('same grid returns an equal copy', () => {
    const p = Float32Array.from({ length: (1 + 9) * 3 }, () => rng.normal());
    const q = interpolatePosEmbed(p, 3, 3, 3);
    assert.deepEqual(q, p);
    assert.notEqual(q, p);
  });

  test('2×2 → 4×4 by hand, cls row untouched', () => {
    // grid [[a, b], [c, d]], dim 1; rows use the same taps as columns.
    const [cls, a, b, c, d] = [42.5, 1, 2, 3, 5];
    const out = interpolatePosEmbed(new Float32Array([cls, a, b, c, d]), 1, 2, 4);
    assert.equal(out.length, 17);
    assert.equal(out[0], cls);
    const w0 = [111 / 102, -9 / 102];
    const w1 = [111 / 140, 29 / 140];
    // out[0][0] = Σ w0y·w0x·in
    const o00 = w0[0] * (w0[0] * a + w0[1] * b) + w0[1] * (w0[0] * c + w0[1] * d);
    // out[1][0]: row tap w1, column tap w0
    const o10 = w1[0] * (w0[0] * a + w0[1] * b) + w1[1] * (w0[0] * c + w0[1] * d);
    // out[0][1]: row tap w0, column tap w1
    const o01 = w0[0] * (w1[0] * a + w1[1] * b) + w0[1] * (w1[0] * c + w1[1] * d);
    close(out[1], Math.fround(o00), 0);
    close(out[1 + 4], Math.fround(o10), 0);
    close(out[1 + 1], Math.fround(o01), 0);
  });

  test('matches a direct 2-D weighted sum (row-major grid, rows vs columns not swapped)', () => {
    const [from, to, dim] = [5, 3, 2];
    const p = Float32Array.from({ length: (1 + from * from) * dim }, () => rng.normal());
    const out = interpolatePosEmbed(p, dim, from, to);
    const taps = aaBicubicCoefficients(from, to);
    for (let oy = 0; oy < to; oy++) {
      for (let ox = 0; ox < to; ox++) {
        for (let d = 0; d < dim; d++) {
          let s = 0;
          taps[oy].weights.forEach((wy, ky) =>
            taps[ox].weights.forEach((wx, kx) => {
              s += wy * wx * p[dim + ((taps[oy].start + ky) * from + taps[ox].start + kx) * dim + d];
            }),
          );
          close(out[dim + (oy * to + ox) * dim + d], s, 1e-6);
        }
      }
    }
    assert.deepEqual(out.subarray(0, dim), p.subarray(0, dim));
  });

  test('a constant grid stays constant; a plane stays a plane in the interior', () => {
    const [from, to, dim] = [6, 13, 2];
    const p = new Float32Array((1 + from * from) * dim);
    for (let y = 0; y < from; y++) {
      for (let x = 0; x < from; x++) {
        p[dim + (y * from + x) * dim] = 0.75;
        p[dim + (y * from + x) * dim + 1] = 10 * y + x;
      }
    }
    const out = interpolatePosEmbed(p, dim, from, to);
    const s = from / to;
    for (let oy = 0; oy < to; oy++) {
      for (let ox = 0; ox < to; ox++) {
        const o = dim + (oy * to + ox) * dim;
        close(out[o], 0.75, 1e-6);
        const cy = (oy + 0.5) * s;
        const cx = (ox + 0.5) * s;
        if (cy >= 2 && cy <= from - 2 && cx >= 2 && cx <= from - 2) {
          close(out[o + 1], 10 * (cy - 0.5) + (cx - 0.5), 1e-4);
        }
      }
    }
  });

  test('rejects a wrongly sized input', () => {
    assert.throws(
      () => interpolatePosEmbed(new Float32Array(10), 2, 3, 4),
      /expected \(1 \+ 3²\)·2 = 20 values, got 10/,
    );
  });
});
