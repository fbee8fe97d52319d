// `pipeline.tiling` and `cameras.<id>.tiling` (issue 15): defaults, validation, the per-camera override and
// the refusal of a tiling the bundle was not taught with.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../src/config/load.js';
import { configuredTiling, tilingProblems } from '../src/app/camera-tiling.js';
import { inferTiling } from '../src/cli/infer-command.js';
import { tilingOption } from '../src/cli/parse-options.js';

const base = (extra: string) => `
model: { path: ./bundle }
cameras:
  a: { type: synthetic }
  b: { type: synthetic${extra} }
`;

describe('tiling config', () => {
  test('default off; { } gets scale 1, overlap 0.125; a camera overrides the pipeline', () => {
    const off = parseConfig(base(''), 'x.yaml');
    assert.equal(off.pipeline.tiling, 'off');
    assert.equal(configuredTiling(off, off.cameras.a), null);
    const on = parseConfig(base(', tiling: off') + 'pipeline: { tiling: {} }\n', 'x.yaml');
    assert.deepEqual(on.pipeline.tiling, { scale: 1, overlap: 0.125 });
    assert.deepEqual(configuredTiling(on, on.cameras.a), { scale: 1, overlap: 0.125 });
    assert.equal(configuredTiling(on, on.cameras.b), null);
  });

  test('bad values are refused naming the key', () => {
    assert.throws(
      () => parseConfig(base('') + 'pipeline: { tiling: { scale: 0 } }\n', 'x.yaml'),
      /pipeline\.tiling/,
    );
    assert.throws(() => parseConfig(base(', tiling: { overlap: 0.5 } '), 'x.yaml'), /cameras\.b\.tiling/);
    assert.throws(() => parseConfig(base(', tiling: on'), 'x.yaml'), /cameras\.b\.tiling/);
  });

  test('a camera whose tiling differs from the bundle is a problem unless allowed', () => {
    const c = parseConfig(base(', tiling: { scale: 0.5 }') + 'pipeline: { tiling: {} }\n', 'x.yaml');
    const cams = Object.entries(c.cameras);
    const taught = {
      input: { size: 224, mean: [0, 0, 0], std: [1, 1, 1], tiling: { scale: 1, overlap: 0.125 } },
    } as const;
    const problems = tilingProblems(c, cams, taught as never);
    assert.equal(problems.length, 1);
    assert.deepEqual(problems[0].path, ['cameras', 'b', 'tiling']);
    assert.match(
      problems[0].message,
      /taught with tiling scale 1, overlap 0.125, this asks for scale 0.5, overlap 0.125/,
    );
    assert.match(problems[0].message, /allowTilingMismatch/);
    const untiled = { input: { size: 224, mean: [0, 0, 0], std: [1, 1, 1] } };
    const both = tilingProblems(c, cams, untiled as never);
    assert.deepEqual(
      both.map((p) => p.path),
      [
        ['pipeline', 'tiling'],
        ['cameras', 'b', 'tiling'],
      ],
    );
    const allowed = parseConfig(
      base(', tiling: { scale: 0.5 }') + 'pipeline: { tiling: {}, allowTilingMismatch: true }\n',
      'x.yaml',
    );
    assert.equal(tilingProblems(allowed, Object.entries(allowed.cameras), untiled as never).length, 0);
  });
});

describe('infer/train --tiling', () => {
  test('parses off and SCALE[,OVERLAP]; refuses nonsense', () => {
    assert.equal(tilingOption('off'), 'off');
    assert.deepEqual(tilingOption('1'), { scale: 1, overlap: 0.125 });
    assert.deepEqual(tilingOption('0.5,0.25'), { scale: 0.5, overlap: 0.25 });
    for (const bad of ['0', '1,0.5', 'x', '1,', '5'])
      assert.throws(() => tilingOption(bad), /is not a tiling/);
  });

  test('infer uses the bundle tiling; another one only with --allow-tiling-mismatch', () => {
    const taught = {
      input: { size: 224, mean: [0, 0, 0], std: [1, 1, 1], tiling: { scale: 1, overlap: 0.125 } },
    };
    const plain = { input: { size: 224, mean: [0, 0, 0], std: [1, 1, 1] } };
    assert.deepEqual(inferTiling(taught as never, undefined, false), { scale: 1, overlap: 0.125 });
    assert.equal(inferTiling(plain as never, undefined, false), null);
    assert.throws(
      () => inferTiling(taught as never, 'off', false),
      /taught with tiling scale 1, overlap 0.125, this asks for off.*--allow-tiling-mismatch/,
    );
    assert.equal(inferTiling(taught as never, 'off', true), null);
    assert.deepEqual(inferTiling(plain as never, { scale: 1, overlap: 0.125 }, true), {
      scale: 1,
      overlap: 0.125,
    });
  });
});
