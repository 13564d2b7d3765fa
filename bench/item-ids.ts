// items.bin's id encodings at catalog scale (#22 items 1 and 3): bytes per item and what reading the file costs the
// runtime (readItemIndex: decoding plus ItemIds's lookup tables) for ids numbered in item order, ASIN-shaped ids
// ("B0" + 8 of [0-9A-Z], as most of Amazon's) and 10 random characters of [0-9A-Z], each as the encoding the exporter
// picks and as a string table (id encoding 1, what ASINs were before the radix encoding). Medians of --repeats reads
// after a warm-up; heap: process.memoryUsage() (heapUsed + arrayBuffers) before and after one read held, after a GC.
//
//   node --expose-gc --import tsx bench/item-ids.ts --items=1000000 --repeats=5 --out=bench/results/scale.json
//   --out merges { item_ids: … } into the JSON file, keeping its other keys.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { execSync } from 'node:child_process';
import { encodeItemIndex, readItemIndex, type ItemIndexTables } from '../runtime/item-index.ts';
import { seededUniform } from '../models/random.ts';
import { parseOptions } from '../models/options.ts';
import { median } from './stats.ts';

const o = parseOptions(process.argv.slice(2), { items: 1_000_000, repeats: 5, seed: 7, out: '' }, 'node --expose-gc --import tsx bench/item-ids.ts [--items=N] [--repeats=N] [--out=FILE]');
if (!o) process.exit(0);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc: the heap figures need a collection before each reading');
const n = o.items;
const BASE36 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ';

function uniqueIds(make: (u: () => number) => string, seed: number): string[] {
  const u = seededUniform(seed);
  const seen = new Set<string>();
  const ids: string[] = [];
  while (ids.length < n) {
    const id = make(u);
    if (!seen.has(id)) { seen.add(id); ids.push(id); }
  }
  return ids;
}
const chars = (u: () => number, k: number) => Array.from({ length: k }, () => BASE36[Math.floor(u() * 36)]).join('');
const u = seededUniform(o.seed);
const codes = new Uint16Array(n * 4); // [items, 4] seeded uniform prefixes and a suffix counting collisions
const used = new Map<number, number>();
for (let i = 0; i < n; i++) {
  const prefix = [0, 1, 2].map(() => Math.floor(u() * 256));
  const key = (prefix[0] * 256 + prefix[1]) * 256 + prefix[2];
  const suffix = used.get(key) ?? 0;
  used.set(key, suffix + 1);
  codes.set([...prefix, suffix], i * 4);
}
const sets: [string, string[]][] = [
  ['item order ("0" … "n − 1")', Array.from({ length: n }, (_, i) => String(i))],
  ['ASIN-shaped ("B0" + 8 of [0-9A-Z])', uniqueIds((r) => `B0${chars(r, 8)}`, o.seed + 1)],
  ['10 random characters of [0-9A-Z]', uniqueIds((r) => chars(r, 10), o.seed + 2)],
];
const heap = () => { gc(); const m = process.memoryUsage(); return m.heapUsed + m.arrayBuffers; };
const rows = [];
for (const [name, ids] of sets) {
  for (const strings of [false, true]) {
    if (strings && name.startsWith('item order')) continue;
    const bytes = encodeItemIndex({ itemCount: n, levels: 4, codebookSize: 256, codes, ids }, { strings });
    const encoding = new DataView(bytes.buffer).getUint32(24, true);
    readItemIndex(bytes); // warm-up
    const times: number[] = [];
    for (let r = 0; r < o.repeats; r++) {
      const t = performance.now();
      readItemIndex(bytes);
      times.push(performance.now() - t);
    }
    const before = heap();
    let held: ItemIndexTables | null = readItemIndex(bytes);
    const after = heap();
    if (held.ids.itemOf(ids[n - 1]) !== n - 1 || held.ids.idOf(0) !== ids[0]) throw new Error(`${name}: ids do not round-trip`);
    held = null;
    const row = { ids: name, id_encoding: ['decimal', 'strings', 'radix'][encoding], items_bin_bytes: bytes.length, bytes_per_item: +(bytes.length / n).toFixed(2), id_bytes_per_item: +((bytes.length - 32 - 4 * n) / n).toFixed(2), read_ms: +median(times).toFixed(1), heap_mib: +((after - before) / 2 ** 20).toFixed(1) };
    rows.push(row);
    console.log(JSON.stringify(row));
  }
}
const result = { command: `node --expose-gc --import tsx bench/item-ids.ts --items=${n} --repeats=${o.repeats} --seed=${o.seed}`, commit: execSync('git rev-parse --short HEAD').toString().trim(), items: n, codes: '4 levels × K 256 (4 bytes per item)', rows };
if (o.out) {
  const prior = existsSync(o.out) ? JSON.parse(readFileSync(o.out, 'utf8')) : {};
  writeFileSync(o.out, JSON.stringify({ ...prior, item_ids: result }, null, 1) + '\n');
}
