// Writes docs/mqtt/<name>.schema.json from the zod payload schemas in src/sinks/mqtt-payloads.ts (the source of
// truth; test/mqtt-sink.test.ts fails when the committed files are stale). Run: npx tsx scripts/mqtt-schemas.ts
import { mkdirSync, writeFileSync } from 'node:fs';
import { mqttJsonSchemas } from '../src/sinks/mqtt-payloads.js';

mkdirSync('docs/mqtt', { recursive: true });
for (const [name, schema] of Object.entries(mqttJsonSchemas())) {
  writeFileSync(`docs/mqtt/${name}.schema.json`, `${JSON.stringify(schema, null, 2)}\n`);
}
