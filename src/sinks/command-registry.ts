// Commands the daemon accepts from outside (MQTT `<prefix>/cmd/…` today), by name. The app registers one handler
// per command (reload, threshold, model promotion…); a transport (sinks/mqtt-commands.ts) parses and validates
// the message, then calls the handler. A feature this build lacks is registered as `unavailable`, so its
// command is answered clearly instead of being "unknown".
import type { z } from 'zod';
import type { ChangedBy } from '../config/change-source.js';

/** A refusal whose message goes back to the sender as is (bad argument, unknown camera, not available). */
export class CommandError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CommandError';
  }
}

export interface CommandContext {
  correlationId: string;
  by: ChangedBy;
}

/** Returns the result sent back (JSON-serialisable), or throws (CommandError: its message is the answer). */
export type CommandHandler = (args: Record<string, unknown>, ctx: CommandContext) => unknown;

export interface Command {
  handler: CommandHandler;
  /** Validates the arguments (the payload less `correlationId` and `who`); strict: unknown fields are refused. */
  args: z.ZodType<Record<string, unknown>>;
}

export class CommandRegistry {
  private readonly commands = new Map<string, Command>();

  /** Registers (or replaces: the lead's wiring plugs a feature in over its `unavailable` stand-in). */
  registerCommand(name: string, handler: CommandHandler, args: z.ZodType<Record<string, unknown>>): void {
    this.commands.set(name, { handler, args });
  }

  get(name: string): Command | undefined {
    return this.commands.get(name);
  }

  get names(): string[] {
    return [...this.commands.keys()].sort();
  }
}

/** A handler for a command whose feature is not in this build. */
export function unavailable(feature: string): CommandHandler {
  return () => {
    throw new CommandError(`not available in this build: ${feature}`);
  };
}
