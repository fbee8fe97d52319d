import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { DEFECT_KINDS, MASK_TOLERANCE, makeDataset, makePart } from '../src/synthetic/parts.js';
import type { SyntheticPart } from '../src/synthetic/parts.js';

const meanAbsDiff = (a: Uint8Array, b: Uint8Array): number => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i] - b[i]);
  return s / a.length;
};

/** Means of 16×16 blocks per channel: what a patch-level view sees once the texture averages out. */
function blockMeans(p: SyntheticPart): Uint8Array {
  const bw = Math.floor(p.width / 16);
  const bh = Math.floor(p.height / 16);
  const out = new Uint8Array(bw * bh * 3);
  for (let by = 0; by < bh; by++) {
    for (let bx = 0; bx < bw; bx++) {
      for (let c = 0; c < 3; c++) {
        let s = 0;
        for (let y = 0; y < 16; y++)
          for (let x = 0; x < 16; x++) s += p.rgb[((by * 16 + y) * p.width + bx * 16 + x) * 3 + c];
        out[(by * bw + bx) * 3 + c] = Math.round(s / 256);
      }
    }
  }
  return out;
}

/** 8-connected components of a binary mask. */
function components(mask: Uint8Array, w: number, h: number): number {
  const seen = new Uint8Array(mask.length);
  let n = 0;
  for (let i = 0; i < mask.length; i++) {
    if (!mask[i] || seen[i]) continue;
    n++;
    const stack = [i];
    seen[i] = 1;
    while (stack.length) {
      const p = stack.pop()!;
      const x = p % w;
      const y = (p - x) / w;
      for (let dy = -1; dy <= 1; dy++) {
        for (let dx = -1; dx <= 1; dx++) {
          const xx = x + dx;
          const yy = y + dy;
          if (xx < 0 || yy < 0 || xx >= w || yy >= h) continue;
          const q = yy * w + xx;
          if (mask[q] && !seen[q]) {
            seen[q] = 1;
            stack.push(q);
          }
        }
      }
    }
  }
  return n;
}

/** Checks the mask contract against the same seed's good part; returns the mean change inside the mask. */
function checkMaskExact(bad: SyntheticPart, good: SyntheticPart): number {
  let inside = 0;
  let change = 0;
  for (let i = 0; i < bad.mask.length; i++) {
    const d = Math.max(
      Math.abs(bad.rgb[3 * i] - good.rgb[3 * i]),
      Math.abs(bad.rgb[3 * i + 1] - good.rgb[3 * i + 1]),
      Math.abs(bad.rgb[3 * i + 2] - good.rgb[3 * i + 2]),
    );
    if (bad.mask[i]) {
      assert.ok(d > MASK_TOLERANCE, `mask pixel ${i} changed by only ${d}`);
      inside++;
      change += d;
    } else {
      assert.equal(d, 0, `pixel ${i} outside the mask changed by ${d}`);
    }
  }
  return change / inside;
}

describe('synthetic parts', () => {
  test('same seed gives identical bytes; different seeds differ', () => {
    const a = makePart({ seed: 11, defect: { kind: 'spot', size: 20 } });
    const b = makePart({ seed: 11, defect: { kind: 'spot', size: 20 } });
    assert.deepEqual(a.rgb, b.rgb);
    assert.deepEqual(a.mask, b.mask);
    assert.deepEqual(a.defect, b.defect);
    const c = makePart({ seed: 12, defect: { kind: 'spot', size: 20 } });
    assert.notDeepEqual(a.rgb, c.rgb);
    assert.equal(a.rgb.length, 640 * 480 * 3);
    assert.equal(a.mask.length, 640 * 480);
  });

  test('good parts vary a little from seed to seed, far less than from a part to an empty belt', () => {
    const goods = [1, 2, 3].map((seed) => makePart({ seed }));
    const empty = new Uint8Array(goods[0].rgb.length);
    for (let i = 0; i < empty.length; i += 3) empty.set([46, 52, 50], i);
    const absent = meanAbsDiff(goods[0].rgb, empty);
    const blocks0 = blockMeans(goods[0]);
    for (const g of goods.slice(1)) {
      // Pixel for pixel the few-px pose jitter shifts the 12-px grooves, so compare at patch scale too.
      const d = meanAbsDiff(goods[0].rgb, g.rgb);
      const coarse = meanAbsDiff(blocks0, blockMeans(g));
      assert.ok(d > 1, `good parts should not be identical (mean abs diff ${d})`);
      assert.ok(d < 0.4 * absent, `good parts differ too much: ${d} vs part-absent ${absent}`);
      assert.ok(coarse < 0.2 * absent, `good parts differ too much at patch scale: ${coarse} vs ${absent}`);
      assert.equal(g.defect, null);
      assert.ok(g.mask.every((m) => m === 0));
    }
    // The object fills much of the frame.
    const filled = goods[0].object.reduce((s, v) => s + v, 0) / goods[0].object.length;
    assert.ok(filled > 0.45 && filled < 0.8, `object fills ${filled} of the frame`);
  });

  test('variation 0 makes every good part identical', () => {
    assert.deepEqual(makePart({ seed: 5, variation: 0 }).rgb, makePart({ seed: 6, variation: 0 }).rgb);
  });

  for (const kind of DEFECT_KINDS) {
    test(`${kind}: exact masks, plausible extent, on the object, for sizes 2, 10, 60`, () => {
      for (const [k, size] of [2, 10, 60].entries()) {
        const seed = 300 + k;
        const good = makePart({ seed });
        const bad = makePart({ seed, defect: { kind, size } });
        const change = checkMaskExact(bad, good);
        const info = bad.defect;
        assert.ok(info, 'defect info present');
        assert.equal(info.kind, kind);
        const area = bad.mask.reduce((s, v) => s + v, 0);
        assert.ok(area > 0, `${kind} ${size}: empty mask`);
        assert.ok(
          info.size >= 0.75 * size && info.size <= 1.25 * size + 2,
          `${kind} ${size}: extent ${info.size} implausible`,
        );
        if (size >= 10) assert.ok(change > 25, `${kind} ${size}: mean change ${change} too faint`);
        assert.equal(components(bad.mask, bad.width, bad.height), 1, `${kind} ${size}: mask in pieces`);

        // The box is the mask's bounding box.
        let x0 = Infinity;
        let y0 = Infinity;
        let x1 = -1;
        let y1 = -1;
        let onObject = 0;
        let nearObject = 0;
        for (let i = 0; i < bad.mask.length; i++) {
          if (!bad.mask[i]) continue;
          const x = i % bad.width;
          const y = (i - x) / bad.width;
          x0 = Math.min(x0, x);
          y0 = Math.min(y0, y);
          x1 = Math.max(x1, x);
          y1 = Math.max(y1, y);
          onObject += good.object[i];
          let near = 0;
          for (let dy = -1; dy <= 1; dy++)
            for (let dx = -1; dx <= 1; dx++) near |= good.object[i + dy * bad.width + dx];
          nearObject += near;
        }
        assert.deepEqual(info.box, { x: x0, y: y0, width: x1 - x0 + 1, height: y1 - y0 + 1 });
        // Material defects lie wholly on the part; a missing chunk bites its edge (antialiased rim pixels).
        assert.equal(nearObject, area, `${kind} ${size}: mask pixels off the object`);
        if (kind === 'missing') assert.ok(onObject >= 0.5 * area, `${kind} ${size}: mostly off the object`);
        else assert.equal(onObject, area, `${kind} ${size}: mask pixels off the object`);
      }
    });
  }

  test('a defect changes its region far more than natural variation changes the whole part', () => {
    const good = makePart({ seed: 40 });
    const other = makePart({ seed: 41 });
    const bad = makePart({ seed: 40, defect: { kind: 'scratch', size: 30 } });
    const natural = meanAbsDiff(good.rgb, other.rgb);
    const local = checkMaskExact(bad, good);
    assert.ok(local > 3 * natural, `defect change ${local} vs natural variation ${natural}`);
  });

  test('smaller frames scale the part and still place exact defects', () => {
    const good = makePart({ seed: 9, width: 224, height: 168 });
    const bad = makePart({ seed: 9, width: 224, height: 168, defect: { kind: 'dent', size: 12 } });
    assert.equal(bad.rgb.length, 224 * 168 * 3);
    checkMaskExact(bad, good);
    assert.ok(bad.defect && bad.defect.size >= 9);
    assert.throws(() => makePart({ seed: 1, width: 10, height: 10 }), RangeError);
  });

  test('makeDataset: good first, then kinds cycling through sizes, deterministic seeds', () => {
    const opts = { good: 3, defective: 5, seed: 2, width: 160, height: 120, sizes: [4, 8] };
    const ds = makeDataset(opts);
    assert.equal(ds.length, 8);
    assert.ok(ds.slice(0, 3).every((p) => p.defect === null));
    const kinds = ds.slice(3).map((p) => p.defect?.kind);
    assert.deepEqual(kinds, ['scratch', 'spot', 'dent', 'missing', 'scratch']);
    assert.ok(
      ds[7].defect && ds[7].defect.size > ds[3].defect!.size,
      'the fifth defect uses the second size',
    );
    assert.equal(new Set(ds.map((p) => p.seed)).size, 8);
    const again = makeDataset(opts);
    assert.deepEqual(
      again.map((p) => p.seed),
      ds.map((p) => p.seed),
    );
    assert.deepEqual(again[6].rgb, ds[6].rgb);
  });
});
