// `--key=value` overrides checked against a typed default config (the house style: nanoGPT's config, typed).
// `--help` lists every option with its default and the one-line `// comment` its field carries in the source:
// the config's comments are the single place an option is described.
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

export class OptionError extends Error {
  override name = 'OptionError';
}

type Scalar = string | number | boolean;

export interface ParseOptionsExtra<T> {
  /** Options without a sensible default (a user's folder): missing or '' is an OptionError naming each. */
  required?: (keyof T & string)[];
}

/** Whether `argv` sets `--name` (`--name`, `--name=…` or `--name value`), as opposed to leaving it at its default. */
export function optionGiven(argv: readonly string[], name: string): boolean {
  return argv.some((a) => a === `--${name}` || a.startsWith(`--${name}=`));
}

/**
 * Parse `argv` into a copy of `defaults`, converting each value to the type of its default.
 * Unknown keys and values of the wrong type throw OptionError naming the key and the valid keys.
 * `--help` returns null after printing `help` and every option with its default and description.
 */
export function parseOptions<T extends Record<string, Scalar>>(argv: string[], defaults: T, help = '', extra: ParseOptionsExtra<T> = {}): T | null {
  const required = extra.required ?? [];
  // Every option is parsed as a string so that booleans take `--flag`, `--flag=true` and `--flag=false`
  // (node 20's parseArgs has no negation for boolean options).
  const options: Record<string, { type: 'string' | 'boolean' }> = { help: { type: 'boolean' } };
  for (const key of Object.keys(defaults)) options[key] = { type: 'string' };
  const args = argv.map((arg) => (arg.startsWith('--') && !arg.includes('=') && typeof defaults[arg.slice(2)] === 'boolean' ? `${arg}=true` : arg));
  let parsed;
  try {
    parsed = parseArgs({ args, options, strict: true, allowPositionals: false });
  } catch (e) {
    throw new OptionError(`${(e as Error).message}. Valid options: ${Object.keys(defaults).map((k) => `--${k}`).join(' ')}`);
  }
  if (parsed.values.help) {
    console.log(`${help}\n\n${optionsHelp(defaults, required)}`);
    return null;
  }
  const out: Record<string, Scalar> = { ...defaults };
  for (const [key, raw] of Object.entries(parsed.values)) {
    if (key === 'help') continue;
    const def = defaults[key];
    if (typeof def === 'number') {
      const n = Number(raw);
      if (raw === '' || !Number.isFinite(n)) throw new OptionError(`--${key} must be a number, got '${raw}'`);
      out[key] = n;
    } else if (typeof def === 'boolean') {
      if (raw !== 'true' && raw !== 'false') throw new OptionError(`--${key} must be true or false, got '${raw}'`);
      out[key] = raw === 'true';
    } else {
      out[key] = raw as Scalar;
    }
  }
  const missing = required.filter((key) => out[key] === '');
  if (missing.length > 0) {
    const descriptions = optionDescriptions(missing);
    throw new OptionError(`${missing.map((key) => `--${key} is required${descriptions.has(key) ? ` (${descriptions.get(key)})` : ''}`).join('; ')}${help ? `. Usage: ${help.split('\n')[0]}` : ''}`);
  }
  return out as T;
}

// Where option descriptions are read: the verb's source file (set by the CLI before the verb runs) and the
// files it imports by relative path, where spread-in configs (`...DEFAULT_TRAIN_CONFIG`) are declared.
let describedBy: string | null = null;

/** The source file whose config comments describe the options parsed from now on (models/cli.ts sets the verb's). */
export function describeOptionsFrom(file: string | URL): void {
  describedBy = file instanceof URL || file.startsWith('file:') ? fileURLToPath(file) : file;
}

/**
 * `key: value, // description` and `key: type; // description` lines of a TypeScript source, first
 * occurrence of each key: `values` from object literals, `fields` from interfaces.
 */
export function fieldComments(source: string): { values: Map<string, string>; fields: Map<string, string> } {
  const values = new Map<string, string>();
  const fields = new Map<string, string>();
  for (const line of source.split('\n')) {
    const m = /^\s*(?:readonly\s+)?([A-Za-z_$][\w$]*)\??\s*:(.*)$/.exec(line);
    if (!m) continue;
    const rest = m[2];
    const at = commentStart(rest);
    if (at < 0) continue;
    const description = rest.slice(at + 2).trim();
    const code = rest.slice(0, at).trim();
    const target = code.endsWith(';') ? fields : code.endsWith(',') ? values : null;
    if (description && target && !target.has(m[1])) target.set(m[1], description);
  }
  return { values, fields };
}

/** Index of a line's `//` comment outside string literals, or -1. */
function commentStart(code: string): number {
  let quote = '';
  for (let i = 0; i < code.length; i++) {
    const c = code[i];
    if (quote) {
      if (c === '\\') i++;
      else if (c === quote) quote = '';
    } else if (c === "'" || c === '"' || c === '`') quote = c;
    else if (c === '/' && code[i + 1] === '/') return i;
  }
  return -1;
}

/**
 * The description of each key: the verb file's own comment first, then an interface field's comment in a
 * file it imports (what the option is), then a default value's comment there (often why that value).
 */
export function optionDescriptions(keys: string[], file: string | null = describedBy): Map<string, string> {
  const out = new Map<string, string>();
  if (!file || !existsSync(file)) return out;
  const source = readFileSync(file, 'utf8');
  const imported = [...source.matchAll(/from\s+'(\.{1,2}\/[^']+\.ts)'/g)]
    .map((m) => fileURLToPath(new URL(m[1], pathToFileURL(file))))
    .filter((f) => existsSync(f))
    .map((f) => fieldComments(readFileSync(f, 'utf8')));
  const own = fieldComments(source);
  const layers = [own.values, own.fields, ...imported.map((c) => c.fields), ...imported.map((c) => c.values)];
  for (const key of keys) {
    const found = layers.find((layer) => layer.has(key));
    if (found) out.set(key, found.get(key)!);
  }
  return out;
}

/** The `options:` block of `--help`: `--key=default  description`, required ones marked. */
export function optionsHelp(defaults: Record<string, Scalar>, required: string[] = [], file: string | null = describedBy): string {
  const descriptions = optionDescriptions(Object.keys(defaults), file);
  const left = Object.entries(defaults).map(([k, v]) => (required.includes(k) ? `--${k} (required)` : `--${k}=${v}`));
  const width = Math.min(32, Math.max(...left.map((l) => l.length)) + 2);
  const lines = Object.keys(defaults).map((k, i) => `  ${left[i].length + 2 > width ? `${left[i]}  ` : left[i].padEnd(width)}${descriptions.get(k) ?? '(no description)'}`);
  return `options (default):\n${lines.join('\n')}`;
}
