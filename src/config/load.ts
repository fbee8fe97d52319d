// Loads a deployment YAML: parse with positions, substitute ${ENV}, validate against the schema,
// and report every problem at once as FILE:LINE:COL key.path: message.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, visit } from 'yaml';
import type { Document, Node as YamlNode } from 'yaml';
import type { z } from 'zod';
import { ConfigError, type ConfigProblem } from './config-error.js';
import { isMissing, issueMessage } from './issue-message.js';
import { configSchema, type Config } from './schema.js';

export interface LoadedConfig {
  config: Config;
  /** Absolute path of the file it came from. */
  file: string;
  /** Directory of the file: relative paths inside the config are resolved against it. */
  dir: string;
  /** Line and column of a key path in the file (its value, else its nearest written parent). */
  position: Positions;
}

/** Where a key path is written in the config text (for problems found after validation). */
export type Positions = (path: readonly PropertyKey[]) => { line: number; col: number };

export { ConfigError, type ConfigProblem };

type Env = Readonly<Record<string, string | undefined>>;

export function loadConfigFile(file: string, env: Env = process.env): LoadedConfig {
  const abs = resolve(file);
  let text: string;
  try {
    text = readFileSync(abs, 'utf8');
  } catch (err) {
    throw new ConfigError(abs, [
      { line: 0, col: 0, path: '', message: `cannot read: ${(err as Error).message}` },
    ]);
  }
  return { ...parseConfigText(text, abs, env), file: abs, dir: dirname(abs) };
}

/** Parses and validates config text; `file` is only used in messages. */
export function parseConfig(text: string, file: string, env: Env = process.env): Config {
  return parseConfigText(text, file, env).config;
}

/** The validated config and where each key path is written. */
export function parseConfigText(
  text: string,
  file: string,
  env: Env = process.env,
): { config: Config; position: Positions } {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const pos = (offset: number | undefined): { line: number; col: number } =>
    offset === undefined ? { line: 1, col: 1 } : lines.linePos(offset);

  const yamlProblems = [...doc.errors, ...doc.warnings].map((e) => ({
    ...pos(e.pos[0]),
    path: '',
    message: `YAML: ${e.message.split('\n')[0]}`,
  }));
  if (yamlProblems.length > 0) throw new ConfigError(file, yamlProblems);

  const envProblems = substituteEnv(doc, env, pos);
  if (envProblems.length > 0) throw new ConfigError(file, envProblems);

  const data: unknown = doc.contents === null ? {} : doc.toJS({ maxAliasCount: 100 });
  // reportInput: the messages say what was found, not only what was expected.
  const result = configSchema.safeParse(data, { reportInput: true });
  if (result.success) {
    const position: Positions = (path) => {
      const { node, key } = locate(doc, path);
      return pos((node ?? key)?.range?.[0]);
    };
    return { config: result.data, position };
  }
  throw new ConfigError(file, zodProblems(doc, result.error.issues, pos));
}

const ENV_REF = /\$\$|\$\{([^}]*)\}/g;
const ENV_NAME = /^([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$/s;

/** Replaces `${NAME}` and `${NAME:-default}` in string scalars; `$$` is a literal `$`. */
function substituteEnv(
  doc: Document,
  env: Env,
  pos: (o: number | undefined) => { line: number; col: number },
): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  visit(doc, {
    Scalar(key, node, path) {
      if (key === 'key' || typeof node.value !== 'string' || !node.value.includes('$')) return;
      const keyPath = pathOf(path, node);
      const replaced = node.value.replace(ENV_REF, (all, ref: string | undefined) => {
        if (all === '$$') return '$';
        const m = ENV_NAME.exec(ref ?? '');
        if (!m) {
          problems.push({
            ...pos(node.range?.[0]),
            path: keyPath,
            message: `bad environment reference "${all}"`,
          });
          return all;
        }
        const value = env[m[1]];
        if (value !== undefined && value !== '') return value;
        if (m[2] !== undefined) return m[2];
        problems.push({
          ...pos(node.range?.[0]),
          path: keyPath,
          message: `environment variable ${m[1]} is not set (use \${${m[1]}:-default} for a fallback)`,
        });
        return all;
      });
      if (replaced !== node.value) {
        // A whole-value reference like `${PORT}` may stand for a number or boolean: re-type it as YAML would.
        node.value = /^\$\{[^}]*\}$/.test(node.value) ? retype(replaced) : replaced;
      }
    },
  });
  return problems;
}

function retype(s: string): unknown {
  if (/^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(s)) return Number(s);
  if (s === 'true' || s === 'false') return s === 'true';
  return s;
}

/** Dotted path of a scalar from the ancestry `visit` provides. */
function pathOf(ancestry: readonly unknown[], leaf: YamlNode): string {
  const parts: string[] = [];
  const chain = [...ancestry, leaf];
  for (let i = 0; i < chain.length; i++) {
    const n = chain[i];
    if (isPair(n) && isScalar(n.key)) parts.push(String(n.key.value));
    else if (isSeq(n)) {
      const child = chain[i + 1];
      const idx = n.items.indexOf(child as never);
      if (idx >= 0) parts.push(String(idx));
    }
  }
  return parts.join('.');
}

/** The deepest node along `path`, and the key node when the last segment names a map key. */
function locate(
  doc: Document,
  path: readonly PropertyKey[],
): { node: YamlNode | null; key: YamlNode | null } {
  let node: unknown = doc.contents;
  let key: YamlNode | null = null;
  for (const seg of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(seg));
      if (!pair) return { node: node as YamlNode, key: null };
      key = pair.key as YamlNode;
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number' && node.items[seg] !== undefined) {
      key = null;
      node = node.items[seg];
    } else {
      return { node: (node as YamlNode) ?? null, key: null };
    }
  }
  return { node: (node as YamlNode) ?? key, key };
}

function zodProblems(
  doc: Document,
  issues: readonly z.core.$ZodIssue[],
  pos: (o: number | undefined) => { line: number; col: number },
): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const k of issue.keys) {
        const { key } = locate(doc, [...issue.path, k]);
        out.push({ ...pos(key?.range?.[0]), path: [...issue.path, k].join('.'), message: 'unknown key' });
      }
      continue;
    }
    const { node, key } = locate(doc, issue.path);
    const missing = isMissing(issue);
    // A bad map key (e.g. a camera id) is reported at the key, with the key's own rule.
    const badKey = issue.code === 'invalid_key';
    const at = badKey ? (key ?? node) : missing ? node : (node ?? key);
    const message = badKey
      ? `invalid key: ${issue.issues.map((i) => i.message).join('; ')}`
      : issueMessage(issue);
    out.push({ ...pos(at?.range?.[0]), path: issue.path.join('.'), message });
  }
  return out.sort((a, b) => a.line - b.line || a.col - b.col);
}
