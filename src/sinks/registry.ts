// Config sections → sink plug-ins. Adding an output = one import and one entry here.
import type { Config } from '../config/schema.js';
import { archiveSink } from './archive.js';
import { mqttSink } from './mqtt.js';
import type { Sink, SinkContext, SinkPlugin, SinkSection } from './types.js';
import { webSink } from './web.js';

const plugins: { [S in SinkSection]: SinkPlugin<S> } = {
  mqtt: mqttSink,
  archive: archiveSink,
  // Last: its metrics read what the others publish in DaemonStatus.
  web: webSink,
};

/** One sink per enabled section, in a fixed order (MQTT first: it is what the line acts on). */
export function createSinks(config: Config, ctx: SinkContext): Sink[] {
  return (Object.keys(plugins) as SinkSection[])
    .filter((s) => config[s].enabled)
    .map((s) => (plugins[s] as SinkPlugin).create(config[s] as never, ctx));
}
