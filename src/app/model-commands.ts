// Model promotion and rollback as daemon commands (MQTT `<prefix>/cmd/model/{promote,rollback}`, the console),
// over the running daemon's ModelControl (hot swap between two batches). Every swap that succeeds is written
// to the audit log with who asked for it; a refused or failed one changes nothing and says why.
import type { ChangedBy } from '../config/change-source.js';
import type { SwapOutcome } from '../pipeline/model-swap.js';
import { CommandError, type CommandRegistry } from '../sinks/command-registry.js';
import { commandArgs } from '../sinks/mqtt-command-payload.js';
import type { AuditLog } from './audit-log.js';
import type { ModelControl } from './model-control.js';

/** Runs a swap and audits it when it happened; throws CommandError (nothing changed) when it did not. */
export async function auditedSwap(
  run: () => Promise<SwapOutcome>,
  what: 'model promote' | 'model rollback',
  by: ChangedBy,
  audit: AuditLog,
): Promise<SwapOutcome> {
  const r = await run();
  if (!r.ok) throw new CommandError(`${what} refused: ${r.error ?? 'unknown error'}`);
  audit.record(by, { what, old: r.previousModelId, new: { modelId: r.modelId, version: r.version } });
  return r;
}

/** Replaces the `unavailable` stand-ins of the model commands with the real ones. */
export function registerModelCommands(r: CommandRegistry, models: ModelControl, audit: AuditLog): void {
  r.registerCommand(
    'model/promote',
    (args, ctx) =>
      auditedSwap(() => models.requestSwap(String(args.version)), 'model promote', ctx.by, audit),
    commandArgs['model/promote'],
  );
  r.registerCommand(
    'model/rollback',
    (_args, ctx) => auditedSwap(() => models.rollback(), 'model rollback', ctx.by, audit),
    commandArgs['model/rollback'],
  );
}
