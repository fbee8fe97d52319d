// The Sparkplug B edge node as a sink plug-in: configured under `mqtt.sparkplug`, on the same broker as the
// JSON topics but with its own connection (its NDEATH is its will). docs/sparkplug.md.
import { resolve } from 'node:path';
import type { SinkPlugin } from '../types.js';
import { createSparkplugSink } from './sink.js';

export const sparkplugSink: SinkPlugin<'mqtt'> = {
  section: 'mqtt',
  enabled: (cfg) => cfg.enabled && cfg.sparkplug.enabled,
  create(cfg, ctx) {
    const cameras = Object.entries(ctx.config.cameras)
      .filter(([, c]) => c.enabled)
      .map(([id, c]) => ({ id, softwareTrigger: c.type === 'gige' && c.softwareTrigger }));
    const sink = createSparkplugSink(
      { ...cfg, sparkplug: { ...cfg.sparkplug, dir: resolve(ctx.configDir, cfg.sparkplug.dir) } },
      { log: ctx.log, cameras, modelId: ctx.status.modelId ?? 'unknown' },
    );
    // A hot swap: the node's Model ID follows the model in force (the sink lives as long as the daemon).
    ctx.status.onModelChange((id) => sink.modelChanged(id ?? 'unknown'));
    return sink;
  },
};
