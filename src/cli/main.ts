// The `pinpoint` command line: parses arguments and hands over to one module per subcommand.
// Only the module of the command being run is loaded (onnxruntime, OpenCV, RxJS and MQTT take most of a
// second to load): `pinpoint --help` lists the commands from the summaries below, without their modules.
import { Command, CommanderError } from 'commander';
import { ConfigError } from '../config/config-error.js';
import { CliError, EXIT } from './exit.js';

type Register = (program: Command) => void;

/** Each command: its one-line summary for `pinpoint --help`, and the module that registers it in full. */
const COMMANDS: Record<string, { summary: string; load: () => Promise<Register> }> = {
  run: {
    summary: 'run the inspection daemon',
    load: async () => (await import('./run-command.js')).registerRun,
  },
  demo: {
    summary: 'self-contained demo: synthetic parts, teach-in, MQTT verdicts',
    load: async () => (await import('./demo-command.js')).registerDemo,
  },
  doctor: {
    summary: 'what this host can do, and whether it has what a config needs',
    load: async () => (await import('./doctor-command.js')).registerDoctor,
  },
  config: {
    summary: 'validate and describe deployment configs',
    load: async () => (await import('./config-commands.js')).registerConfig,
  },
  model: {
    summary: 'build and inspect model bundles',
    load: async () => (await import('./model-command.js')).registerModel,
  },
  train: {
    summary: 'teach in a bundle from good images and calibrate its thresholds',
    load: async () => (await import('./train-command.js')).registerTrain,
  },
  infer: {
    summary: 'score images with a bundle',
    load: async () => (await import('./infer-command.js')).registerInfer,
  },
  archive: {
    summary: 'list and export archived parts (images, maps, results, labels)',
    load: async () => (await import('./archive-command.js')).registerArchive,
  },
  web: {
    summary: 'web console helpers (hash a user password)',
    load: async () => (await import('./web-command.js')).registerWeb,
  },
  eval: {
    summary: 'measure a bundle on labelled parts (AUROC, AUPRO, F1) and write a report',
    load: async () => (await import('./eval-command.js')).registerEval,
  },
};

/** The subcommand argv names (`pinpoint help run` names run), or undefined. */
function commandIn(argv: readonly string[]): string | undefined {
  const words = argv.filter((a) => !a.startsWith('-'));
  return words[0] === 'help' ? words[1] : words[0];
}

export async function buildProgram(argv: readonly string[]): Promise<Command> {
  const program = new Command('pinpoint')
    .description('Line-side visual inspection: cameras in, anomaly verdicts out over MQTT')
    .version(process.env.npm_package_version ?? '0.1.0')
    .exitOverride()
    .showHelpAfterError();
  const wanted = commandIn(argv);
  for (const [name, c] of Object.entries(COMMANDS)) {
    if (name === wanted) (await c.load())(program);
    else program.command(name).summary(c.summary);
  }
  return program;
}

export async function main(argv: readonly string[]): Promise<number> {
  try {
    const program = await buildProgram(argv);
    await program.parseAsync([...argv], { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version are "errors" to commander; they already printed.
      return err.code === 'commander.helpDisplayed' || err.code === 'commander.version'
        ? EXIT.ok
        : EXIT.usage;
    }
    if (err instanceof ConfigError) {
      process.stderr.write(err.message + '\n');
      return EXIT.usage;
    }
    if (err instanceof CliError) {
      process.stderr.write(err.message + '\n');
      return err.code;
    }
    process.stderr.write(`pinpoint: ${(err as Error).stack ?? String(err)}\n`);
    return EXIT.failure;
  }
}

process.exitCode = await main(process.argv.slice(2));
