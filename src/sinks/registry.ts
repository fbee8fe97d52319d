// Config sections → sink plug-ins. Adding an output = one import and one entry here.
import type { Config } from '../config/schema.js';
import { archiveSink } from './archive.js';
import { mqttSink } from './mqtt.js';
import { sparkplugSink } from './sparkplug/plugin.js';
import type { Sink, SinkContext, SinkPlugin } from './types.js';
import { webSink } from './web/plugin.js';

/** In start order: MQTT first (it is what the line acts on), the web server last (its metrics read the others). */
const plugins: readonly SinkPlugin[] = [
  mqttSink as SinkPlugin,
  sparkplugSink as SinkPlugin,
  archiveSink as SinkPlugin,
  webSink as SinkPlugin,
];

/** One sink per plug-in whose config section asks for it. */
export function createSinks(config: Config, ctx: SinkContext): Sink[] {
  return plugins
    .filter((p) => {
      const cfg = config[p.section] as never;
      return p.enabled ? p.enabled(cfg) : (cfg as { enabled: boolean }).enabled;
    })
    .map((p) => p.create(config[p.section] as never, ctx));
}
