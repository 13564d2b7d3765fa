// onerec — the offline pipeline's command line.
//
//   onerec prepare --data my-logs --out runs/mine
//   onerec train   --data runs/mine --out runs/mine/seed
//   onerec <verb> --help
//
// Each verb lives in models/commands/<verb>.ts and exports `run(argv: string[]): Promise<void>` and a
// one-line `summary`; its `--help` describes each option by the `// comment` on the option's config field.
import { existsSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describeOptionsFrom } from './options.ts';

const commandsDir = fileURLToPath(new URL('./commands/', import.meta.url));
const verbs = existsSync(commandsDir)
  ? readdirSync(commandsDir).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts')).map((f) => f.slice(0, -3)).sort()
  : [];

interface Command {
  summary: string;
  run(argv: string[]): Promise<void>;
}

async function main(argv: string[]): Promise<void> {
  const [verb, ...rest] = argv;
  if (!verb || verb === '--help' || verb === '-h') {
    const lines = await Promise.all(verbs.map(async (v) => `  ${v.padEnd(8)} ${((await import(`./commands/${v}.ts`)) as Command).summary}`));
    console.log(`usage: onerec <verb> [--key=value ...]\n\nverbs:\n${lines.join('\n')}`);
    return;
  }
  if (!verbs.includes(verb)) {
    throw new Error(`unknown verb '${verb}'; the verbs are: ${verbs.join(', ')}`);
  }
  const command = (await import(`./commands/${verb}.ts`)) as Command;
  describeOptionsFrom(new URL(`./commands/${verb}.ts`, import.meta.url));
  await command.run(rest);
}

main(process.argv.slice(2)).catch((error: unknown) => {
  const e = error as Error;
  console.error(`onerec: ${e.name && e.name !== 'Error' ? `${e.name}: ` : ''}${e.message}`);
  if (process.env.ONEREC_DEBUG) console.error(e.stack);
  process.exit(1);
});
