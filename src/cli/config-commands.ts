// `pinpoint config check FILE` and `pinpoint config schema`.
import { stringify } from 'yaml';
import { loadConfigFile } from '../config/load.js';
import { redactSecrets } from '../config/redact.js';
import { configJsonSchema } from '../config/schema.js';

/** Validates FILE and prints the effective config (defaults filled in, secrets redacted) as YAML. */
export function configCheck(file: string, out: NodeJS.WritableStream = process.stdout): void {
  const { config, file: abs } = loadConfigFile(file);
  out.write(`# ${abs}: valid\n`);
  out.write(stringify(redactSecrets(config)));
}

export function configSchemaCommand(out: NodeJS.WritableStream = process.stdout): void {
  out.write(JSON.stringify(configJsonSchema(), null, 2) + '\n');
}
