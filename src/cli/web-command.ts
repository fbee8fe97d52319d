// `pinpoint web hash-password`: the scrypt hash of a console password for `web.auth.users[].passwordHash`
// (docs/console-auth.md). The password comes from stdin (typed without echo, or piped), never from argv,
// where `ps` and the shell history would show it.
import type { Command } from 'commander';
import { DEFAULT_COST, hashPassword } from '../sinks/web/auth-password.js';
import { CliError, EXIT } from './exit.js';
import { intOption } from './parse-options.js';
import { readSecret } from './read-secret.js';

/** Shorter passwords fall to a guesser even through scrypt and the login rate limit. */
const MIN_LENGTH = 8;

export async function hashPasswordCommand(cost: number): Promise<void> {
  let password: string;
  try {
    password = await readSecret('Password');
  } catch (err) {
    throw new CliError(`pinpoint web hash-password: ${(err as Error).message}`, EXIT.usage);
  }
  if ([...password].length < MIN_LENGTH)
    throw new CliError(
      `pinpoint web hash-password: a password needs at least ${MIN_LENGTH} characters`,
      EXIT.usage,
    );
  process.stdout.write((await hashPassword(password, cost)) + '\n');
}

export function registerWeb(program: Command): void {
  const web = program.command('web').description('the web console: user passwords');
  web
    .command('hash-password')
    .description('read a password from stdin (no echo on a terminal) and print its hash for web.auth.users')
    .option(
      '--cost <log2N>',
      `scrypt cost as log2 N, 14-20 (each step doubles time and memory)`,
      intOption(14, 20),
      DEFAULT_COST,
    )
    .action((o: { cost: number }) => hashPasswordCommand(o.cost));
}
