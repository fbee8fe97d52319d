// `npm run bench [-- NAME...]`: runs each bench/*.bench.ts in turn (or only those named) and prints what it
// measured. Benchmarks print ratios measured side by side in one run; timing goals never live in tests.
import { readdirSync } from 'node:fs';
import { basename } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const dir = fileURLToPath(new URL('.', import.meta.url));
const wanted = process.argv.slice(2);
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => wanted.length === 0 || wanted.includes(basename(f, '.bench.ts')))
  .sort();
if (files.length === 0) {
  console.error(`no benchmarks matched ${wanted.join(' ')}`);
  process.exit(1);
}
for (const f of files) {
  console.log(`\n=== ${basename(f, '.bench.ts')} ===`);
  const mod = (await import(pathToFileURL(`${dir}/${f}`).href)) as { run: () => Promise<void> };
  await mod.run();
}
