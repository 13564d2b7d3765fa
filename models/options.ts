// `--key=value` overrides checked against a typed default config (the house style: nanoGPT's config, typed).
import { parseArgs } from 'node:util';

export class OptionError extends Error {
  override name = 'OptionError';
}

type Scalar = string | number | boolean;

/**
 * Parse `argv` into a copy of `defaults`, converting each value to the type of its default.
 * Unknown keys and values of the wrong type throw OptionError naming the key and the valid keys.
 * `--help` returns null after printing `help` and the defaults.
 */
export function parseOptions<T extends Record<string, Scalar>>(argv: string[], defaults: T, help = ''): T | null {
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
    console.log(`${help}\n\noptions (default):\n${Object.entries(defaults).map(([k, v]) => `  --${k}=${v}`).join('\n')}`);
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
  return out as T;
}
