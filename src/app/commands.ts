// The daemon's built-in commands (MQTT `<prefix>/cmd/…`, docs/mqtt.md): reload and threshold run here; model
// promotion, rollback and re-teach belong to features wired in by their own modules, which replace the
// stand-ins registered here (registerCommand on the same name). Until then those answer "not available in
// this build", never "unknown command".
import { CommandError, CommandRegistry, unavailable } from '../sinks/command-registry.js';
import { commandArgs } from '../sinks/mqtt-command-payload.js';
import type { ControlPlane } from '../sinks/control-plane.js';

/** A registry with every built-in command: reload and threshold live, the model ones as stand-ins. */
export function builtInCommands(control: () => ControlPlane): CommandRegistry {
  const r = new CommandRegistry();
  r.registerCommand(
    'reload',
    async (_args, ctx) => {
      const report = await control().reload(ctx.by);
      if (!report.ok) throw new CommandError(`config reload refused: ${(report.errors ?? []).join('; ')}`);
      return report;
    },
    commandArgs.reload,
  );
  r.registerCommand(
    'threshold',
    (args, ctx) => {
      const { camera, reject, pixel } = args as { camera: string; reject?: number; pixel?: number };
      return { camera, thresholds: control().setThresholds(camera, { reject, pixel }, ctx.by) };
    },
    commandArgs.threshold,
  );
  r.registerCommand('model/promote', unavailable('model versions (promote)'), commandArgs['model/promote']);
  r.registerCommand(
    'model/rollback',
    unavailable('model versions (rollback)'),
    commandArgs['model/rollback'],
  );
  r.registerCommand('teach', unavailable('re-teach in the daemon'), commandArgs.teach);
  return r;
}
