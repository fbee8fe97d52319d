// An MQTT sink in a process of its own, for tests that SIGKILL it (last will, outbox after a crash).
// argv[2]: JSON { url, prefix, outboxDir, results }. Prints "connected" when connected at start, then
// "written <n>" once n results are in the outbox, then idles until killed.
import { configSchema } from '../../src/config/schema.js';
import { createMqttSink } from '../../src/sinks/mqtt.js';
import { createLogger } from '../../src/util/log.js';
import { makeResult } from './mqtt.js';

const args = JSON.parse(process.argv[2]) as {
  url: string;
  prefix: string;
  outboxDir: string;
  results: number;
};
const cfg = configSchema.parse({
  mqtt: {
    url: args.url,
    topicPrefix: args.prefix,
    outbox: { dir: args.outboxDir },
    reconnect: { minMs: 100, maxMs: 200 },
  },
}).mqtt;
const sink = createMqttSink(cfg, {
  log: createLogger({ level: 'silent' }),
  cameras: ['cam1'],
  startTimeoutMs: 2000,
});
await sink.start();
if (sink.connected) console.log('connected');
for (let n = 0; n < args.results; n++) sink.result(makeResult('cam1', n));
console.log(`written ${args.results}`);
setInterval(() => {}, 1 << 30);
