// The benchmarks' command line: `--name=value` for each key of `defaults` (numbers parsed as numbers); anything else is
// an error that lists the known options.
export function parseArgs<T extends Record<string, string | number>>(defaults: T, argv: string[]): T {
  const options: Record<string, string | number> = { ...defaults };
  for (const arg of argv) {
    const m = /^--([a-zA-Z]+)=(.*)$/.exec(arg);
    if (!m || !(m[1] in defaults)) throw new Error(`unknown argument ${arg}; known: ${Object.keys(defaults).map((k) => `--${k}=`).join(' ')}`);
    options[m[1]] = typeof defaults[m[1]] === 'number' ? Number(m[2]) : m[2];
  }
  return options as T;
}
