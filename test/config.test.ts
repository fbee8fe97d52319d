import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ConfigError, loadConfigFile, parseConfig } from '../src/config/load.js';
import { REDACTED, redactSecrets, redactUrl } from '../src/config/redact.js';
import { configJsonSchema } from '../src/config/schema.js';

const FILE = '/etc/pinpoint/line.yaml';

function problemsOf(text: string, env: Record<string, string> = {}): ConfigError {
  try {
    parseConfig(text, FILE, env);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err;
  }
  assert.fail('config was accepted');
}

describe('config validation', () => {
  test('an empty file is a valid config with every default filled in', () => {
    const c = parseConfig('', FILE, {});
    assert.deepEqual(c.cameras, {});
    assert.equal(c.pipeline.inputSize, undefined, 'the bundle fixes the size; unset means not checked');
    assert.equal(c.pipeline.batch.maxBatch, 4);
    assert.equal(c.inference.device, 'auto');
    assert.equal(c.verdict.failSafe, 'reject');
    assert.equal(c.mqtt.url, 'mqtt://127.0.0.1:1883');
    assert.equal(c.web.host, '127.0.0.1');
    assert.equal(c.logging.level, 'info');
  });

  test('the shipped example config is valid', () => {
    const { config } = loadConfigFile('config/pinpoint.example.yaml', { SIDE_CAM_PASSWORD: 's3cret' });
    assert.equal(config.cameras.top.type, 'gige');
    assert.equal(config.mqtt.topicPrefix, 'pinpoint/line1');
    const side = config.cameras.side;
    assert.equal(side.type, 'rtsp');
    assert.ok(side.type === 'rtsp' && side.url.includes('s3cret'));
  });

  test('unknown key: line:column of the key and its path', () => {
    const e = problemsOf('pipeline:\n  inputSize: 448\n  batchsize: 4\n');
    assert.equal(e.problems.length, 1);
    assert.deepEqual(e.problems[0], { line: 3, col: 3, path: 'pipeline.batchsize', message: 'unknown key' });
    assert.match(e.message, /\/etc\/pinpoint\/line\.yaml:3:3 pipeline\.batchsize: unknown key/);
  });

  test('wrong type: line:column of the value', () => {
    const e = problemsOf('verdict:\n  deadlineMs: soon\n');
    assert.equal(e.problems[0].path, 'verdict.deadlineMs');
    assert.equal(e.problems[0].line, 2);
    assert.equal(e.problems[0].col, 15);
    assert.match(e.problems[0].message, /number/i);
  });

  test('missing required key: reported at its parent with the key path', () => {
    const e = problemsOf('cameras:\n  cam1:\n    type: rtsp\n    transport: udp\n');
    const p = e.problems.find((x) => x.path === 'cameras.cam1.url');
    assert.ok(p, JSON.stringify(e.problems));
    assert.equal(p.line, 3);
    assert.match(p.message, /required key is missing/);
  });

  test('every problem is listed at once, in file order', () => {
    const e = problemsOf(
      [
        'pipeline:',
        '  inputSize: 1000',
        'mqtt:',
        '  qos: 3',
        '  colour: blue',
        'logging:',
        '  level: loud',
      ].join('\n'),
    );
    assert.deepEqual(
      e.problems.map((p) => [p.line, p.path]),
      [
        [2, 'pipeline.inputSize'],
        [4, 'mqtt.qos'],
        [5, 'mqtt.colour'],
        [7, 'logging.level'],
      ],
    );
    assert.match(e.problems[0].message, /multiple of 14/);
  });

  test('invalid YAML: line:column from the parser', () => {
    const e = problemsOf('pipeline:\n  inputSize: [1, 2\nmqtt: {}\n');
    assert.ok(e.problems.length >= 1);
    assert.ok(e.problems[0].line >= 2, JSON.stringify(e.problems));
    assert.match(e.problems[0].message, /^YAML:/);
  });

  test('duplicate keys are an error, not a silent override', () => {
    const e = problemsOf('web:\n  port: 80\n  port: 81\n');
    assert.equal(e.problems[0].line, 3);
  });

  test('camera ids are restricted to a safe alphabet', () => {
    const e = problemsOf('cameras:\n  "a/b #":\n    type: synthetic\n');
    assert.equal(e.problems.length, 1);
    assert.deepEqual([e.problems[0].line, e.problems[0].col], [2, 3]);
    assert.match(e.problems[0].message, /invalid key: camera id/);
  });

  test('MQTT topic prefix may not contain wildcards', () => {
    const e = problemsOf('mqtt:\n  topicPrefix: "plant/#"\n');
    assert.equal(e.problems[0].path, 'mqtt.topicPrefix');
  });

  test('ignore polygons need at least three points', () => {
    const e = problemsOf(
      'cameras:\n  c:\n    type: synthetic\n    verdict:\n      ignore: [[[0, 0], [1, 1]]]\n',
    );
    assert.equal(e.problems[0].path, 'cameras.c.verdict.ignore.0');
    assert.equal(e.problems[0].line, 5);
  });
});

describe('wrong types say what was expected and what was found', () => {
  const cases: [string, string, RegExp][] = [
    [
      'files camera fps',
      'cameras:\n  a:\n    type: files\n    path: x\n    fps: two\n',
      /^expected a number, got "two"$/,
    ],
    [
      'YAML 1.2 yes is a string',
      'cameras:\n  a:\n    type: files\n    path: x\n    loop: yes\n',
      /^expected true or false, got "yes"$/,
    ],
    ['quoted number', 'pipeline:\n  inputSize: "big"\n', /^expected a number, got "big"$/],
    ['fraction for an integer', 'verdict:\n  minBlobArea: 16.5\n', /^expected a whole number, got 16\.5$/],
    ['enum', 'logging:\n  level: loud\n', /^expected one of "fatal", .*"silent", got "loud"$/],
    ['union of literals', 'mqtt:\n  qos: "1"\n', /^expected one of 0, 1, 2, got "1"$/],
    ['bound', 'mqtt:\n  keepaliveSec: 0\n', /^expected ≥ 1, got 0$/],
    [
      'camera type',
      'cameras:\n  a:\n    type: gigE\n',
      /^expected one of "gige", "rtsp", "files", "synthetic", got "gigE"$/,
    ],
    ['empty section', 'logging:\n', /^expected a map of keys, got null/],
  ];
  for (const [what, text, message] of cases) {
    test(what, () => {
      const e = problemsOf(text);
      assert.equal(e.problems.length, 1, JSON.stringify(e.problems));
      assert.match(e.problems[0].message, message);
      assert.doesNotMatch(e.problems[0].message, /missing/);
    });
  }

  test('a missing key is still reported as missing', () => {
    const e = problemsOf('cameras:\n  a:\n    type: files\n');
    assert.equal(e.problems[0].path, 'cameras.a.path');
    assert.equal(e.problems[0].message, 'required key is missing (expected a string)');
  });

  test('a secret of the wrong type is not quoted, nor URL credentials', () => {
    const e = problemsOf('mqtt:\n  password: 12345678\n  url: "http://plc:hunter2@broker"\n');
    const text = e.message;
    assert.match(text, /mqtt\.password: expected a string, got a number/);
    assert.ok(!text.includes('12345678') && !text.includes('hunter2'), text);
  });

  test('FILE:LINE:COL key.path: message', () => {
    const e = problemsOf('cameras:\n  a:\n    type: files\n    path: x\n    fps: two\n');
    assert.ok(e.message.includes(`${FILE}:5:10 cameras.a.fps: expected a number, got "two"`), e.message);
  });
});

describe("camera strings: the camera code's own rules", () => {
  test('an rtsp URL with spaces (no credentials in the message)', () => {
    const e = problemsOf('cameras:\n  s:\n    type: rtsp\n    url: "rtsp://op:pw0rd@cam/live ! filesink"\n');
    assert.deepEqual(
      e.problems.map((p) => [p.line, p.path, p.message]),
      [[4, 'cameras.s.url', 'must not contain whitespace']],
    );
    assert.ok(!e.message.includes('pw0rd'));
  });

  test('a GigE device with a backslash', () => {
    const e = problemsOf("cameras:\n  g:\n    type: gige\n    device: 'Basler\\\\1'\n");
    assert.deepEqual(
      e.problems.map((p) => [p.line, p.path, p.message]),
      [[4, 'cameras.g.device', 'backslashes are not allowed']],
    );
  });

  test('feature values with spaces, bad region values, contradicted trigger features', () => {
    const e = problemsOf(
      [
        'cameras:',
        '  g:',
        '    type: gige',
        '    device: Basler-1',
        '    softwareTrigger: true',
        '    trigger: { enabled: true }',
        '    features:',
        '      ExposureAuto: "Off Once"',
        '      Width: "12x"',
        '      TriggerMode: "Off"',
      ].join('\n'),
    );
    assert.deepEqual(
      e.problems.map((p) => [p.line, p.path]),
      [
        [8, 'cameras.g.features.ExposureAuto'],
        [9, 'cameras.g.features.Width'],
        [10, 'cameras.g.features.TriggerMode'],
      ],
    );
    assert.match(e.problems[0].message, /only letters, digits/);
    assert.match(e.problems[1].message, /non-negative integer/);
    assert.match(e.problems[2].message, /softwareTrigger sets TriggerMode = On/);
  });
});

describe('environment substitution', () => {
  test('${NAME} and ${NAME:-default} are substituted, $$ is a literal $', () => {
    const c = parseConfig(
      'mqtt:\n  url: "mqtt://${HOST}:1883"\n  username: ${USER_NAME:-pinpoint}\n  password: "pa$$${PW}"\n',
      FILE,
      { HOST: 'broker.local', PW: 'xyz' },
    );
    assert.equal(c.mqtt.url, 'mqtt://broker.local:1883');
    assert.equal(c.mqtt.username, 'pinpoint');
    assert.equal(c.mqtt.password, 'pa$xyz');
  });

  test('a whole-value reference is typed like YAML would type it', () => {
    const c = parseConfig('web:\n  port: ${PORT}\n  enabled: ${ON}\n', FILE, { PORT: '9090', ON: 'true' });
    assert.equal(c.web.port, 9090);
    assert.equal(c.web.enabled, true);
  });

  test('an unset variable is an error with line:column and key path', () => {
    const e = problemsOf('mqtt:\n  password: ${MQTT_PASSWORD}\n');
    assert.deepEqual(
      { line: e.problems[0].line, col: e.problems[0].col, path: e.problems[0].path },
      { line: 2, col: 13, path: 'mqtt.password' },
    );
    assert.match(e.problems[0].message, /MQTT_PASSWORD is not set/);
  });

  test('a malformed reference is an error', () => {
    const e = problemsOf('mqtt:\n  username: "${1BAD}"\n');
    assert.equal(e.problems[0].path, 'mqtt.username');
    assert.match(e.problems[0].message, /bad environment reference/);
  });
});

describe('redaction', () => {
  test('passwords and URL credentials never appear', () => {
    const c = parseConfig(
      'cameras:\n  s:\n    type: rtsp\n    url: rtsp://admin:hunter2@10.0.0.5/live\nmqtt:\n  username: u\n  password: ${PW}\n',
      FILE,
      { PW: 'topsecret' },
    );
    const red = redactSecrets(c);
    const text = JSON.stringify(red);
    assert.ok(!text.includes('topsecret'));
    assert.ok(!text.includes('hunter2'));
    assert.equal(red.mqtt.password, REDACTED);
    assert.equal(red.mqtt.username, 'u');
    const s = red.cameras.s;
    assert.ok(s.type === 'rtsp' && s.url === 'rtsp://***@10.0.0.5/live');
    // the original is untouched
    assert.equal(c.mqtt.password, 'topsecret');
  });

  test('redactUrl leaves URLs without credentials alone', () => {
    assert.equal(redactUrl('mqtt://broker:1883'), 'mqtt://broker:1883');
    assert.equal(redactUrl('rtsp://user@cam/x'), 'rtsp://***@cam/x');
  });
});

describe('files', () => {
  test('an unreadable file names itself', () => {
    assert.throws(
      () => loadConfigFile('/nonexistent/pinpoint.yaml'),
      /\/nonexistent\/pinpoint\.yaml.*cannot read/s,
    );
  });

  test('relative paths resolve against the config directory', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pinpoint-cfg-'));
    writeFileSync(join(dir, 'a.yaml'), 'model:\n  path: models/current\n');
    const loaded = loadConfigFile(join(dir, 'a.yaml'));
    assert.equal(loaded.dir, dir);
    assert.equal(loaded.config.model?.path, 'models/current');
  });

  test('the JSON Schema describes every section and forbids unknown keys', () => {
    const schema = configJsonSchema() as {
      properties: Record<string, unknown>;
      additionalProperties: unknown;
    };
    for (const k of [
      'cameras',
      'pipeline',
      'model',
      'inference',
      'verdict',
      'mqtt',
      'web',
      'archive',
      'logging',
    ])
      assert.ok(k in schema.properties, k);
    assert.equal(schema.additionalProperties, false);
    assert.ok(readFileSync('config/pinpoint.example.yaml', 'utf8').length > 0);
  });
});
