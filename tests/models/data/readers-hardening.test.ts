// The data readers never invent or merge items: ids of the wrong JSON type, bytes that are not UTF-8, duplicate
// columns, broken .gz files and folders in place of files are errors naming the file (and line); a byte-order mark
// is accepted in every format; `onerec prepare`'s numeric options are range-checked before any work, and
// --skipBadRows says on the console what it skipped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { readDataset } from '../../../models/data/readers.ts';
import { readLines } from '../../../models/data/lines.ts';
import { DataFormatError } from '../../../models/data/errors.ts';
import { OptionError } from '../../../models/options.ts';
import { PREPARE_OPTION_RANGES, PREPARE_OPTION_CHOICES } from '../../../models/data/prepare-options.ts';
import { DEFAULT_PREPARE_CONFIG, prepare } from '../../../models/data/prepare.ts';
import { run } from '../../../models/commands/prepare.ts';
import { seededUniform } from '../../../models/random.ts';

type FileContent = string | Uint8Array;

function folder(files: Record<string, FileContent>): string {
  const dir = mkdtempSync(join(tmpdir(), 'onerec-readers-hard-'));
  for (const [name, content] of Object.entries(files)) {
    const bytes = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
    writeFileSync(join(dir, name), name.endsWith('.gz') ? gzipSync(bytes) : bytes);
  }
  return dir;
}

async function rejectsAt(dir: string, file: string, line: number, message: RegExp, options = {}): Promise<void> {
  await assert.rejects(readDataset(dir, options), (e: Error) => {
    assert.ok(e instanceof DataFormatError, `${e.name}: ${e.message}`);
    assert.equal(e.file, file, e.message);
    assert.equal(e.line, line, e.message);
    assert.match(e.message, message);
    return true;
  });
}

const BAD_IDS: unknown[] = [[1, 2], ['a'], [], {}, { id: 'a' }, true, false, 1.5, -0.25, 1e300, 2 ** 60];

test('an array, object, boolean or fractional id is a DataFormatError at file:line, never stringified into an item', async () => {
  for (const [i, bad] of BAD_IDS.entries()) {
    for (const column of ['user', 'item']) {
      const rows = [{ user: 'u1', item: 'a', timestamp: 1 }, { user: 'u1', item: 'b', timestamp: 2 }, { user: 'u2', item: 'a', timestamp: 3 }];
      const at = i % rows.length;
      (rows[at] as Record<string, unknown>)[column] = bad;
      const dir = folder({ 'interactions.jsonl': rows.map((r) => JSON.stringify(r)).join('\n') });
      await rejectsAt(dir, 'interactions.jsonl', at + 1, new RegExp(`'${column}' is .*ids must be strings or integers`));
      // Skipped, the row is counted and no item or user is made from the value.
      const ds = await readDataset(dir, { skipBadRows: true });
      assert.equal(ds.skipped['bad id'], 1, JSON.stringify(bad));
      assert.equal(ds.item.length, 2);
      for (const id of [...ds.items.map((it) => it.id), ...ds.users]) assert.match(id, /^(a|b|u1|u2)$/, `invented id ${id}`);
    }
    const catalog = [{ item: 'a' }, { item: 'b' }, { item: bad }].map((o) => JSON.stringify(o)).join('\n');
    await rejectsAt(folder({ 'items.jsonl': catalog, 'interactions.csv': 'user,item,timestamp\n1,a,1\n' }), 'items.jsonl', 3, /'item' is .*ids must be strings or integers/);
  }
  // Attributes that are not strings are refused too, not turned into '[object Object]'.
  await rejectsAt(folder({ 'items.jsonl': '{"item":"a","attributes":[{"k":1}]}\n', 'interactions.csv': 'user,item,timestamp\n1,a,1\n' }), 'items.jsonl', 1, /"attributes" is an array/);
  // Integers and strings are ids; a JSONL signal that is an array is not a number.
  const ok = await readDataset(folder({ 'interactions.jsonl': '{"user":7,"item":12,"timestamp":1}\n{"user":"7","item":"x","timestamp":2}\n' }));
  assert.deepEqual(ok.items.map((it) => it.id), ['12', 'x']);
  await rejectsAt(folder({ 'interactions.jsonl': '{"user":1,"item":"a","timestamp":1,"like":[1]}\n' }), 'interactions.jsonl', 1, /like '\[1\]' is not a number/);
});

test('property: distinct random ids (any script, emoji, look-alikes) stay distinct items, in CSV, TSV and JSONL, plain or gzip', async () => {
  const uniform = seededUniform(3);
  const alphabet = ['a', 'b', 'é', 'e\u0301', 'ß', 'ss', '中', '文', '😀', '\u00a0', ' ', 'Ω', 'Ω', 'ı', 'i', '-', '1', '0'];
  const ids = new Set<string>();
  while (ids.size < 400) ids.add(Array.from({ length: 1 + Math.floor(uniform() * 6) }, () => alphabet[Math.floor(uniform() * alphabet.length)]).join('').trim() || 'x');
  const list = [...ids].filter((id) => !/^[\d\s]*$/.test(id)); // a bare number is the same id in every format
  const rows = list.map((id, i) => ({ user: `u${i % 17}`, item: id, timestamp: i }));
  const csv = ['user,item,timestamp', ...rows.map((r) => `${r.user},"${r.item}",${r.timestamp}`)].join('\n');
  const tsv = ['user\titem\ttimestamp', ...rows.map((r) => `${r.user}\t${r.item}\t${r.timestamp}`)].join('\n');
  const jsonl = rows.map((r) => JSON.stringify(r)).join('\n');
  // Repeated until past the 64 KiB read chunks, so that characters split across chunks are decoded too.
  const big = (text: string, header: boolean): string => {
    const [head, ...body] = text.split('\n');
    const copies = Math.ceil(200_000 / text.length);
    return [...(header ? [head] : []), ...Array.from({ length: copies }, () => (header ? body : [head, ...body])).flat()].join('\n');
  };
  for (const [name, text] of [['interactions.csv', big(csv, true)], ['interactions.tsv.gz', big(tsv, true)], ['interactions.jsonl', big(jsonl, false)]]) {
    const ds = await readDataset(folder({ [name]: text }));
    assert.deepEqual(new Set(ds.items.map((it) => it.id)), new Set(list), name);
    assert.equal(ds.items.length, list.length, name);
  }
});

/** Byte sequences that are not UTF-8: a stray continuation byte, an overlong form, a surrogate, a truncated character, 0xff. */
const INVALID_UTF8 = [[0x80], [0xc3, 0x28], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xe2, 0x82], [0xff], [0xf0, 0x9f, 0x98]];

test('bytes that are not UTF-8 are an error at file:line in every format, plain or gzip, wherever they fall', async () => {
  const uniform = seededUniform(8);
  const formats: [string, (i: number, id: string) => string, string][] = [
    ['interactions.csv', (i, id) => `u${i},${id},${i}`, 'user,item,timestamp'],
    ['interactions.tsv.gz', (i, id) => `u${i}\t${id}\t${i}`, 'user\titem\ttimestamp'],
    ['interactions.jsonl', (i, id) => `{"user":"u${i}","item":"${id}","timestamp":${i}}`, ''],
  ];
  for (let trial = 0; trial < 24; trial++) {
    const [name, line, header] = formats[trial % formats.length];
    const lines = 50 + Math.floor(uniform() * 3000); // some files span several read chunks
    const bad = Math.floor(uniform() * lines);
    const invalid = Buffer.from(INVALID_UTF8[trial % INVALID_UTF8.length]);
    const parts: Buffer[] = header ? [Buffer.from(`${header}\n`)] : [];
    for (let i = 0; i < lines; i++) {
      const text = line(i, `item-é-${i}`);
      parts.push(i === bad ? Buffer.concat([Buffer.from(text.slice(0, 8)), invalid, Buffer.from(text.slice(8))]) : Buffer.from(text), Buffer.from('\n'));
    }
    await rejectsAt(folder({ [name]: Buffer.concat(parts) }), name, bad + 1 + (header ? 1 : 0), /not valid UTF-8/);
  }
  // A catalog too, and the last line without a newline.
  await rejectsAt(folder({ 'items.jsonl': Buffer.concat([Buffer.from('{"item":"a"}\n{"item":"b'), Buffer.from([0xff]), Buffer.from('"}')]), 'interactions.csv': 'user,item,timestamp\n1,a,1\n' }), 'items.jsonl', 2, /not valid UTF-8/);
});

test('a UTF-8 byte-order mark is accepted in CSV, TSV and JSONL (plain and gzip) and in items.jsonl', async () => {
  const bom = '\ufeff';
  const want = await readDataset(folder({ 'interactions.csv': 'user,item,timestamp\n1,a,1\n1,b,2\n' }));
  const variants: Record<string, FileContent>[] = [
    { 'interactions.csv': `${bom}user,item,timestamp\n1,a,1\n1,b,2\n` },
    { 'interactions.csv': `${bom}user,item,timestamp\r\n1,a,1\r\n1,b,2\r\n` },
    { 'interactions.tsv': `${bom}user\titem\ttimestamp\n1\ta\t1\n1\tb\t2\n` },
    { 'interactions.csv.gz': `${bom}user,item,timestamp\n1,a,1\n1,b,2\n` },
    { 'interactions.jsonl': `${bom}{"user":1,"item":"a","timestamp":1}\n{"user":1,"item":"b","timestamp":2}\n` },
    { 'interactions.jsonl.gz': `${bom}{"user":1,"item":"a","timestamp":1}\n{"user":1,"item":"b","timestamp":2}` },
    { 'items.jsonl': `${bom}{"item":"a"}\n{"item":"b"}\n`, 'interactions.csv': `${bom}user,item,timestamp\n1,a,1\n1,b,2\n` },
  ];
  for (const files of variants) {
    const ds = await readDataset(folder(files));
    assert.deepEqual(ds.items.map((it) => it.id), want.items.map((it) => it.id), Object.keys(files).join(' '));
    assert.deepEqual([...ds.item], [...want.item]);
    assert.deepEqual(ds.users, ['1']);
  }
  // Only a leading mark is dropped: one inside an id stays part of it.
  const inner = await readDataset(folder({ 'interactions.csv': `user,item,timestamp\n1,a${bom},1\n1,a,2\n` }));
  assert.equal(inner.items.length, 2);
});

test('duplicate column names are an error naming the column, in CSV, TSV, JSONL and the KuaiRand tables', async () => {
  await rejectsAt(folder({ 'interactions.csv': 'user,item,timestamp,item\n1,a,1,b\n' }), 'interactions.csv', 1, /duplicate column 'item' \(columns 2 and 4\)/);
  await rejectsAt(folder({ 'interactions.tsv': 'user\titem\ttimestamp\tlike\t like\n1\ta\t1\t0\t1\n' }), 'interactions.tsv', 1, /duplicate column 'like' \(columns 4 and 5\)/);
  await rejectsAt(folder({ 'interactions.csv': 'user,user,item,timestamp\n1,2,a,1\n' }), 'interactions.csv', 1, /duplicate column 'user'/);
  // JSONL: two keys of one name in one object (JSON.parse would keep the last silently); nested and escaped names are not keys of the row.
  await rejectsAt(folder({ 'interactions.jsonl': '{"user":1,"item":"a","timestamp":1}\n{"user":1,"item":"a","item":"b","timestamp":2}\n' }), 'interactions.jsonl', 2, /duplicate key 'item'/);
  await rejectsAt(folder({ 'interactions.jsonl': '{"user":1,"it\\u0065m":"a","item" : "b","timestamp":2}\n' }), 'interactions.jsonl', 1, /duplicate key 'item'/);
  await rejectsAt(folder({ 'items.jsonl': '{"item":"a","title":"x","title":"y"}\n', 'interactions.csv': 'user,item,timestamp\n1,a,1\n' }), 'items.jsonl', 1, /duplicate key 'title'/);
  const nested = await readDataset(folder({ 'items.jsonl': '{"item":"a","meta":{"item":"z","x":["item",{"item":1}]},"note":"\\"item\\":2"}\n', 'interactions.csv': 'user,item,timestamp\n1,a,1\n' }));
  assert.deepEqual(nested.items.map((it) => it.id), ['a']);
  await rejectsAt(folder({ 'log_standard_4_25_to_5_08_pure.csv': 'user_id,video_id,video_id\n1,2,3\n', 'video_features_basic_pure.csv': 'video_id\n1\n' }), 'log_standard_4_25_to_5_08_pure.csv', 1, /duplicate column 'video_id'/);
});

test('a truncated or non-gzip .gz, a folder where a file is expected, or a file for the data folder names the file', async () => {
  const text = Buffer.from(`user,item,timestamp\n${Array.from({ length: 5000 }, (_, i) => `u${i % 9},item-${i},${i}`).join('\n')}\n`);
  const gz = gzipSync(text);
  for (const cut of [10, 100, gz.length >> 1, gz.length - 9]) {
    const dir = folder({});
    writeFileSync(join(dir, 'interactions.csv.gz'), gz.subarray(0, cut));
    await rejectsAt(dir, 'interactions.csv.gz', 0, /is not a valid gzip file .*truncated or not compressed/);
  }
  for (const notGzip of [text, Buffer.from('PK\u0003\u0004 a zip'), Buffer.alloc(0)]) {
    const dir = folder({});
    writeFileSync(join(dir, 'interactions.csv.gz'), notGzip);
    await assert.rejects(readDataset(dir), (e: Error) => e instanceof DataFormatError && e.file === 'interactions.csv.gz' && /gzip|no rows/.test(e.message), notGzip.subarray(0, 8).toString());
  }
  for (const name of ['interactions.csv', 'interactions.jsonl.gz']) {
    const dir = folder({});
    mkdirSync(join(dir, name));
    await rejectsAt(dir, name, 0, /is a folder, expected a file/);
  }
  const withItems = folder({ 'interactions.csv': 'user,item,timestamp\n1,a,1\n' });
  mkdirSync(join(withItems, 'items.jsonl'));
  await rejectsAt(withItems, 'items.jsonl', 0, /is a folder, expected a file/);
  const file = join(folder({ 'interactions.csv': 'user,item,timestamp\n1,a,1\n' }), 'interactions.csv');
  await assert.rejects(readDataset(file), (e: Error) => e instanceof DataFormatError && e.file === file && /is a file, expected a folder/.test(e.message));
  // readLines on its own: the same errors, and lines numbered as before.
  const lines: string[] = [];
  for await (const [line, n] of readLines(join(folder({ 'x.txt': 'a\r\nb\n\nc' }), 'x.txt'))) lines.push(`${n}:${line}`);
  assert.deepEqual(lines, ['1:a', '2:b', '3:', '4:c']);
});

test('prepare: every numeric option is range-checked before any work, with the valid range in the message', async () => {
  const numeric = Object.entries(DEFAULT_PREPARE_CONFIG).filter(([, v]) => typeof v === 'number').map(([k]) => k);
  assert.deepEqual(numeric.filter((k) => !(k in PREPARE_OPTION_RANGES)), [], 'numeric options without a range');
  const base = { ...DEFAULT_PREPARE_CONFIG, data: join(tmpdir(), 'onerec-no-such-data'), out: join(tmpdir(), 'onerec-no-such-out') };
  for (const [key, range] of Object.entries(PREPARE_OPTION_RANGES)) {
    const bad = [range.min - 1, range.max + 1, Number.NaN, Infinity, -Infinity, ...(range.integer ? [range.min + 0.5] : [])];
    for (const value of bad) {
      const t0 = performance.now();
      await assert.rejects(prepare({ ...base, [key]: value }), (e: Error) => {
        assert.ok(e instanceof OptionError, `--${key}=${value}: ${e.name}: ${e.message}`); // not the data folder's DataFormatError: checked first
        assert.ok(e.message.startsWith(`--${key}=${value} is out of range: use ${range.integer ? 'an integer' : 'a number'} in ${range.min}..${range.max}`), e.message);
        return true;
      });
      assert.ok(performance.now() - t0 < 50, `--${key}=${value} took ${performance.now() - t0} ms to refuse`);
    }
    const byDefault = (DEFAULT_PREPARE_CONFIG as Record<string, unknown>)[key];
    assert.ok(typeof byDefault === 'number' && byDefault >= range.min && byDefault <= range.max, `the default --${key} = ${byDefault} is outside its own range (or the option is gone)`);
  }
  for (const [key, valid] of Object.entries(PREPARE_OPTION_CHOICES)) {
    await assert.rejects(prepare({ ...base, [key]: 'nonsense' }), (e: Error) => e instanceof OptionError && e.message === `--${key}=nonsense is not one of ${valid.join(', ')}`);
  }
  // From the command line too.
  await assert.rejects(run([`--data=${base.data}`, `--out=${base.out}`, '--codebookSize=1']), /--codebookSize=1 is out of range: use an integer in 2\.\.65536/);
  await assert.rejects(run([`--data=${base.data}`, `--out=${base.out}`, '--levels=40']), /--levels=40 is out of range: use an integer in 1\.\.15/);
});

test('--skipBadRows prints on the console how many rows it skipped, why, and the first of each', async () => {
  const rows = ['user,item,timestamp'];
  for (let u = 0; u < 30; u++) for (let k = 0; k < 6; k++) rows.push(`u${u},i${(u * 7 + k * 3) % 40},${k + 1}`);
  rows.push('u1,i2,notatime', 'u2,i3', 'u3,i4,5,extra', 'u4,,7');
  const dir = folder({ 'interactions.csv': rows.join('\n') });
  const printed: string[] = [];
  const log = console.log;
  console.log = (...args: unknown[]) => { printed.push(args.join(' ')); };
  try {
    await run([`--data=${dir}`, `--out=${join(dir, 'out')}`, '--skipBadRows', '--content=random', '--levels=1', '--codebookSize=64', '--baseline=false', '--evalPairs=10', '--idDim=0']);
  } finally {
    console.log = log;
  }
  const text = printed.join('\n');
  assert.match(text, /skipped 4 bad rows \(--skipBadRows\):/);
  assert.match(text, /2 × wrong field count \(first: interactions\.csv:183: 2 fields, the header has 3\)/);
  assert.match(text, /1 × bad timestamp \(first: interactions\.csv:182: timestamp 'notatime' is not a number/);
  assert.match(text, /1 × missing item \(first: interactions\.csv:185: empty 'item'\)/);
});
