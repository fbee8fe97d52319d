// Exit codes shared by every subcommand, so scripts and systemd can tell failures apart.
export const EXIT = {
  ok: 0,
  /** Something failed at run time (a check in `doctor`, an unreadable model, ...). */
  failure: 1,
  /** Bad usage, bad config, or a command that is not built yet. */
  usage: 2,
} as const;

/** An error whose message is meant for the user as is, with the exit code to leave with. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly code: number = EXIT.failure,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export function notImplemented(what: string): never {
  throw new CliError(`pinpoint ${what}: not implemented yet`, EXIT.usage);
}
