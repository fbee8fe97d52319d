// A config that cannot be used, with every problem as FILE:LINE:COL key.path: message. Its own small
// module: the CLI tells it apart from other errors without loading the YAML parser and the schema.

export interface ConfigProblem {
  line: number;
  col: number;
  /** Dotted key path, e.g. `cameras.top.fps`; empty for the document itself. */
  path: string;
  message: string;
}

export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly problems: ConfigProblem[],
  ) {
    super(
      `invalid config ${file} (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n` +
        problems
          .map((p) => `  ${file}:${p.line}:${p.col} ${p.path || '(document)'}: ${p.message}`)
          .join('\n'),
    );
    this.name = 'ConfigError';
  }
}
