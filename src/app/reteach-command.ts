// MQTT `<prefix>/cmd/teach`: starts a re-teach (answered at once with the job id; the job runs for minutes to
// hours and reports on the retained `<prefix>/reteach`), or `{"cancel": true}` cancels the one in progress.
// Replaces the `unavailable` stand-in of app/commands.ts.
import type { CommandRegistry } from '../sinks/command-registry.js';
import { commandArgs } from '../sinks/mqtt-command-payload.js';
import type { ReteachHandle } from '../sinks/reteach-view.js';

export function registerReteachCommand(r: CommandRegistry, reteach: ReteachHandle): void {
  r.registerCommand(
    'teach',
    (args, ctx) => {
      if (args.cancel === true) return { cancelled: reteach.cancel(ctx.by) };
      return { started: true, ...reteach.start(ctx.by) };
    },
    commandArgs.teach,
  );
}
