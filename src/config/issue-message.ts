// One validation issue as a sentence for the person who wrote the config: what was expected and what
// was found. zod's own messages ("Invalid input: expected number, received string") name neither the
// value nor the rule in the user's terms. Values of secret keys are never quoted.
import type { z } from 'zod';
import { redactUrl } from './redact.js';
import { SECRET_KEYS } from './schema.js';

type Issue = z.core.$ZodIssue;

/** zod's type names in the words of a YAML author. */
const EXPECTED: Record<string, string> = {
  number: 'a number',
  int: 'a whole number',
  string: 'a string',
  boolean: 'true or false',
  object: 'a map of keys',
  record: 'a map of keys',
  array: 'a list',
  tuple: 'a list',
};

const MAX_SHOWN = 60;

/** The value as the user wrote it (YAML types), shortened; secrets only by their type. */
export function shownValue(input: unknown, secret: boolean): string {
  if (input === null) return 'null (an empty value)';
  if (Array.isArray(input)) return 'a list';
  if (typeof input === 'object') return 'a map of keys';
  if (secret) return `a ${typeof input}`;
  if (typeof input === 'string') {
    const s = JSON.stringify(redactUrl(input));
    return s.length > MAX_SHOWN ? `${s.slice(0, MAX_SHOWN - 4)}…" (${input.length} characters)` : s;
  }
  return String(input);
}

function isSecretPath(path: readonly PropertyKey[]): boolean {
  const last = path[path.length - 1];
  return typeof last === 'string' && SECRET_KEYS.has(last.toLowerCase());
}

/** Whether the issue says the key is absent (zod reports it as the wrong type of `undefined`). */
export function isMissing(issue: Issue): boolean {
  return issue.code === 'invalid_type' && issue.input === undefined;
}

function literal(v: unknown): string {
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
}

/** The options of a union of literals (`qos: 0 | 1 | 2`), or null for any other union. */
function literalOptions(issue: Extract<Issue, { code: 'invalid_union' }>): unknown[] | null {
  const out: unknown[] = [];
  for (const branch of issue.errors) {
    const only = branch.length === 1 ? branch[0] : undefined;
    if (only?.code !== 'invalid_value') return null;
    out.push(...only.values);
  }
  return out.length > 0 ? out : null;
}

/** A discriminated union's options and the discriminator value found (`type: gigE`). */
function discriminated(issue: Issue): { options: unknown[]; got: string } | null {
  const { options, discriminator } = issue as { options?: unknown; discriminator?: unknown };
  if (!Array.isArray(options) || typeof discriminator !== 'string') return null;
  const input = issue.input as Record<string, unknown> | undefined;
  const value = input?.[discriminator];
  return { options, got: value === undefined ? 'nothing' : shownValue(value, false) };
}

function bound(issue: Extract<Issue, { code: 'too_small' | 'too_big' }>): string {
  const small = issue.code === 'too_small';
  const n = Number(issue.code === 'too_small' ? issue.minimum : issue.maximum);
  if (issue.origin === 'array' || issue.origin === 'set')
    return small ? `at least ${n} entr${n === 1 ? 'y' : 'ies'}` : `at most ${n} entries`;
  if (issue.origin === 'string')
    return small ? `at least ${n} character${n === 1 ? '' : 's'}` : `at most ${n} characters`;
  const op = small ? (issue.inclusive ? '≥' : '>') : issue.inclusive ? '≤' : '<';
  return `${op} ${n}`;
}

/** "expected …, got …" for the issue; `undefined` when zod's own message is already the best one. */
export function issueMessage(issue: Issue): string {
  const got = `got ${shownValue(issue.input, isSecretPath(issue.path))}`;
  switch (issue.code) {
    case 'invalid_type':
      if (isMissing(issue))
        return `required key is missing (expected ${EXPECTED[issue.expected] ?? issue.expected})`;
      return `expected ${EXPECTED[issue.expected] ?? issue.expected}, ${got}`;
    case 'invalid_value':
      return `expected ${issue.values.length === 1 ? '' : 'one of '}${issue.values.map(literal).join(', ')}, ${got}`;
    case 'invalid_union': {
      const options = literalOptions(issue);
      if (options) return `expected one of ${options.map(literal).join(', ')}, ${got}`;
      const d = discriminated(issue);
      if (d) return `expected one of ${d.options.map(literal).join(', ')}, got ${d.got}`;
      return `${issue.message}, ${got}`;
    }
    case 'too_small':
    case 'too_big':
      return `expected ${bound(issue)}, ${got}`;
    case 'not_multiple_of':
      return `expected a multiple of ${String(issue.divisor)}, ${got}`;
    case 'invalid_format':
      return `${issue.message}, ${got}`;
    default:
      return issue.message;
  }
}
