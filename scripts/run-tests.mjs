#!/usr/bin/env node
// Runs every test/**/*.test.ts with node's built-in runner through tsx.
// Node 20 has no glob support in `--test`, so the files are listed here; extra args are passed through
// (e.g. `npm run test:unit -- --test-name-pattern=config`). A file name filter: PINPOINT_TESTS=config,mqtt.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

function find(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? find(join(dir, e.name)) : e.name.endsWith('.test.ts') ? [join(dir, e.name)] : [],
  );
}

const filter = (process.env.PINPOINT_TESTS ?? '').split(',').filter(Boolean);
const files = find('test')
  .filter((f) => filter.length === 0 || filter.some((s) => f.includes(s)))
  .sort();
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
const r = spawnSync(
  process.execPath,
  [
    '--import',
    'tsx',
    '--test',
    '--test-concurrency=1',
    '--test-reporter=spec',
    // A hung test (a service that never answers) fails with a clear message instead of eating CI's time. In
    // Node 20 this bound is each file's as well as each test's; the longest file takes about 2 minutes on a
    // quiet 2-core machine.
    '--test-timeout=300000',
    // A file ends once its tests are done, even when a failed test left a client or a child open (it used to
    // hang its file for the whole timeout); test/helpers/children.ts kills the children it tracks then.
    '--test-force-exit',
    ...process.argv.slice(2),
    ...files,
  ],
  { stdio: 'inherit', env: { ...process.env, OPENCV4NODEJS_DISABLE_EXTERNAL_MEM_TRACKING: '1' } },
);
process.exit(r.status ?? 1);
