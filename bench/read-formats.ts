// onerec prepare's read step on one log in three formats: the CSV bench/synthetic-log.ts writes, a TSV and a Parquet
// twin of it (written by DuckDB), each read in a fresh process (wall time, process CPU, peak RSS), rounds interleaved.
// Checks that all three give the same dataset before timing anything.
//
//   node --import tsx bench/synthetic-log.ts --out=runs/synthetic-1m --interactions=1000000 --items=100000 --users=100000
//   node --import tsx bench/read-formats.ts --data=runs/synthetic-1m --out=bench/results/read-formats.json
//
// The twins go to DATA-tsv/ and DATA-parquet/ (interactions.tsv / interactions.parquet beside a copy of items.jsonl).
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cpus, loadavg } from 'node:os';
import { DuckDBInstance } from '@duckdb/node-api';
import { readDataset } from '../models/data/readers.ts';
import { parseArgs } from './args.ts';

const DEFAULTS = {
  data: '', // a folder bench/synthetic-log.ts wrote (interactions.csv, items.jsonl)
  out: '', // JSON report ('' = print only)
  rounds: 3, // timed reads per format, interleaved
};

/** One read in a child process: [wall s, CPU s, peak RSS MB, rows]. */
function timedRead(dir: string): { wall_s: number; cpu_s: number; peak_rss_mb: number; rows: number } {
  const script = `
    import { readDataset } from './models/data/readers.ts';
    const t = performance.now();
    const ds = await readDataset(${JSON.stringify(dir)});
    const wall = (performance.now() - t) / 1000;
    const usage = process.resourceUsage();
    console.log(JSON.stringify({ wall_s: wall, cpu_s: (usage.userCPUTime + usage.systemCPUTime) / 1e6, peak_rss_mb: usage.maxRSS / 1024, rows: ds.item.length }));`;
  const output = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
  return JSON.parse(output.trim().split('\n').at(-1)!);
}

async function main(): Promise<void> {
  const options = parseArgs(DEFAULTS, process.argv.slice(2));
  if (!options.data) throw new Error('pass --data=FOLDER (a bench/synthetic-log.ts output)');
  const csv = join(options.data, 'interactions.csv');
  const twins = { tsv: `${options.data}-tsv`, parquet: `${options.data}-parquet` };
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  const literal = (path: string) => `'${path.replaceAll("'", "''")}'`;
  for (const [format, dir] of Object.entries(twins)) {
    const file = join(dir, `interactions.${format}`);
    if (existsSync(file)) continue;
    mkdirSync(dir, { recursive: true });
    copyFileSync(join(options.data, 'items.jsonl'), join(dir, 'items.jsonl'));
    const target = format === 'tsv' ? `(FORMAT csv, DELIMITER '\t', HEADER true)` : '(FORMAT parquet)';
    await connection.run(`COPY (SELECT * FROM read_csv(${literal(csv)}, header = true)) TO ${literal(file)} ${target}`);
  }
  connection.closeSync();
  instance.closeSync();

  const dirs: Record<string, string> = { csv: options.data, ...twins };
  const reference = await readDataset(options.data);
  for (const [format, dir] of Object.entries(dirs)) {
    if (format === 'csv') continue;
    const other = await readDataset(dir);
    const bytes = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
    const same = JSON.stringify([other.items, other.users, Object.keys(other.signals)]) === JSON.stringify([reference.items, reference.users, Object.keys(reference.signals)])
      && (['userOffsets', 'item', 'timeMs', 'day'] as const).every((key) => bytes(other[key]).equals(bytes(reference[key])))
      && Object.keys(reference.signals).every((name) => bytes(other.signals[name]).equals(bytes(reference.signals[name])));
    if (!same) throw new Error(`${format}: the dataset differs from the CSV's`);
  }
  const runs: Record<string, ReturnType<typeof timedRead>[]> = { csv: [], tsv: [], parquet: [] };
  for (let round = 0; round < options.rounds; round++) {
    for (const [format, dir] of Object.entries(dirs)) {
      const run = timedRead(dir);
      runs[format].push(run);
      console.log(`round ${round + 1} ${format}: ${run.wall_s.toFixed(2)} s wall, ${run.cpu_s.toFixed(2)} CPU-s, ${run.peak_rss_mb.toFixed(0)} MB peak RSS`);
    }
  }
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
  const report = {
    data: options.data,
    rows: reference.item.length,
    users: reference.users.length,
    items: reference.items.length,
    bytes: Object.fromEntries(Object.entries(dirs).map(([format, dir]) => [format, statSync(join(dir, `interactions.${format}`)).size])),
    machine: { cores: cpus().length, load_average_at_end: loadavg().map((l) => Number(l.toFixed(2))) },
    median: Object.fromEntries(Object.entries(runs).map(([format, list]) => [format, {
      wall_s: Number(median(list.map((r) => r.wall_s)).toFixed(2)),
      cpu_s: Number(median(list.map((r) => r.cpu_s)).toFixed(2)),
      peak_rss_mb: Number(median(list.map((r) => r.peak_rss_mb)).toFixed(0)),
    }])),
    runs,
  };
  console.log(JSON.stringify(report.median));
  if (options.out) writeFileSync(options.out, JSON.stringify(report, null, 2) + '\n');
}

await main();
