// Parquet input (models/data/parquet.ts through readers.ts): the same log as TSV and as Parquet — written here by
// DuckDB itself from the TSV, as a warehouse or Spark export would be — gives the same dataset and byte-identical
// prepared outputs; bad rows are the same DataFormatError at file:row (Parquet rows count from 1, no header); column
// types that cannot hold their values, folders of part files and files that are not Parquet are handled by name.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { readDataset } from '../../../models/data/readers.ts';
import { DataFormatError } from '../../../models/data/errors.ts';
import { DEFAULT_PREPARE_CONFIG, prepare } from '../../../models/data/prepare.ts';
import { seededRandom } from '../../../models/random.ts';
import type { Dataset } from '../../../models/data/dataset.ts';

/** Runs SQL statements in a fresh in-memory DuckDB (the tests' way of writing Parquet files). */
async function duckdb(...statements: string[]): Promise<void> {
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    for (const sql of statements) await connection.run(sql);
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

const quote = (path: string) => `'${path.replaceAll("'", "''")}'`;

/** A folder named `log` (prepared outputs carry the folder's name) inside a fresh temporary folder. */
function logFolder(files: Record<string, string> = {}): string {
  const dir = join(mkdtempSync(join(tmpdir(), 'onerec-parquet-')), 'log');
  mkdirSync(dir);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

/**
 * A TSV log with what the readers must keep apart: string user ids, equal times (file order breaks the tie), empty
 * signal fields (missing), fractional signals, and items with titles and attributes in items.jsonl.
 */
function tsvLog(users: number, rowsPerUser: number, seed: number): { tsv: string; items: string } {
  const r = seededRandom(seed);
  const items = Array.from({ length: 40 }, (_, i) => JSON.stringify({ item: `i${i}`, title: `Item ${i}`, attributes: [`group:${i % 4}`, `shade:${i % 3}`] }));
  const lines = ['user\titem\ttimestamp\tplay_time_ms\tlike\tscore'];
  for (let u = 0; u < users; u++) {
    const group = u % 4;
    for (let k = 0; k < rowsPerUser; k++) {
      const item = group + 4 * r.int(10);
      const t = 1_650_000_000 + u * 10 + Math.floor(k / 2) * 60; // pairs of rows share a second
      const play = k % 5 === 4 ? '' : String(5000 + r.int(20000));
      lines.push(`u${(u * 7919) % users}\ti${item}\t${t}\t${play}\t${k === 3 ? 1 : 0}\t${(r.int(1000) / 8).toFixed(3)}`);
    }
  }
  return { tsv: lines.join('\n') + '\n', items: items.join('\n') + '\n' };
}

/**
 * The Parquet twin of a TSV folder, made by DuckDB from its files: types inferred, as an export would have them, or
 * every column text (`allText`: the time is then parsed like a CSV field, and the reader orders rows in memory).
 */
async function parquetTwin(tsvDir: string, rowGroupSize = 122_880, allText = false): Promise<string> {
  const dir = logFolder();
  await duckdb(
    `COPY (SELECT * FROM read_csv(${quote(join(tsvDir, 'interactions.tsv'))}, delim = '\t', header = true, all_varchar = ${allText})) TO ${quote(join(dir, 'interactions.parquet'))} (FORMAT parquet, ROW_GROUP_SIZE ${rowGroupSize})`,
    `COPY (SELECT * FROM read_json(${quote(join(tsvDir, 'items.jsonl'))})) TO ${quote(join(dir, 'items.parquet'))} (FORMAT parquet)`,
  );
  return dir;
}

function assertSameDataset(actual: Dataset, expected: Dataset): void {
  for (const key of ['name', 'source', 'items', 'users', 'userOffsets', 'item', 'timeMs', 'day', 'signals', 'skipped'] as const) {
    assert.deepEqual(actual[key], expected[key], key);
  }
}

test('the same log as TSV and as Parquet (written by DuckDB from the TSV) gives byte-identical prepared outputs', async () => {
  const { tsv, items } = tsvLog(30, 8, 5);
  const tsvDir = logFolder({ 'interactions.tsv': tsv, 'items.jsonl': items });
  const parquetDir = await parquetTwin(tsvDir);
  const fromTsv = await readDataset(tsvDir);
  const fromParquet = await readDataset(parquetDir);
  assertSameDataset(fromParquet, fromTsv);
  assert.deepEqual(fromParquet.files, ['interactions.parquet', 'items.parquet']);
  assert.ok(Number.isNaN(fromParquet.signals.play_time_ms[fromParquet.userOffsets[0] + 4]), 'an empty field / NULL is a missing signal');

  const config = { ...DEFAULT_PREPARE_CONFIG, semanticIds: 'balanced', levels: 2, codebookSize: 8, idDim: 0, maxIterations: 20, evalPairs: 20, content: 'features', threads: 1 };
  const outTsv = mkdtempSync(join(tmpdir(), 'onerec-parquet-out-'));
  const outParquet = mkdtempSync(join(tmpdir(), 'onerec-parquet-out-'));
  await prepare({ ...config, data: tsvDir, out: outTsv });
  await prepare({ ...config, data: parquetDir, out: outParquet });
  const files = readdirSync(outTsv).sort();
  assert.deepEqual(readdirSync(outParquet).sort(), files);
  assert.ok(files.length > 10, files.join(' '));
  for (const file of files) {
    if (file === 'report.json') continue;
    assert.ok(readFileSync(join(outParquet, file)).equals(readFileSync(join(outTsv, file))), `${file} differs`);
  }
  // report.json differs only where it says which files were read and how long each step took.
  const report = (dir: string) => {
    const r = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8'));
    delete r.timing_s;
    delete r.cpu_s;
    delete r.wall_time_s;
    delete r.data.files;
    return r;
  };
  assert.deepEqual(report(outParquet), report(outTsv));
});

test('many row groups and chunks keep the stored row order (ties, first-appearance item order); 6,000 rows', async () => {
  const { tsv, items } = tsvLog(150, 40, 9);
  const tsvDir = logFolder({ 'interactions.tsv': tsv, 'items.jsonl': items });
  const fromTsv = await readDataset(tsvDir);
  assertSameDataset(await readDataset(await parquetTwin(tsvDir, 2048 * 2)), fromTsv); // ordered by DuckDB's sort
  assertSameDataset(await readDataset(await parquetTwin(tsvDir, 2048 * 2, true)), fromTsv); // text time: ordered in memory
  // All of a user's rows at one time: only the file order can order them (DuckDB's sort alone is not stable).
  const r = seededRandom(2);
  const tied = ['user\titem\ttimestamp', ...Array.from({ length: 6000 }, (_, k) => `u${k % 3}\ti${r.int(40)}\t${1_650_000_000 + (k % 3)}`)].join('\n') + '\n';
  const tiedDir = logFolder({ 'interactions.tsv': tied, 'items.jsonl': items });
  assertSameDataset(await readDataset(await parquetTwin(tiedDir, 2048)), await readDataset(tiedDir));
  // Without a catalog the items are numbered by first appearance, which only the stored order gives.
  const noCatalog = logFolder();
  await duckdb(`COPY (SELECT * FROM read_csv(${quote(join(tsvDir, 'interactions.tsv'))}, delim = '\t', header = true)) TO ${quote(join(noCatalog, 'interactions.parquet'))} (FORMAT parquet, ROW_GROUP_SIZE 3000)`);
  assertSameDataset(await readDataset(noCatalog), await readDataset(logFolder({ 'interactions.tsv': tsv })));
});

test('--skipBadRows skips the same rows of the same log as TSV and as Parquet, wherever they fall among the chunks', async () => {
  const { tsv, items } = tsvLog(150, 40, 4);
  const lines = tsv.trimEnd().split('\n');
  // Bad rows scattered over the file: an empty user, an item outside the catalog, a signal that is not a number.
  for (let n = 7; n < lines.length; n += 401) {
    const fields = lines[n].split('\t');
    if (n % 3 === 0) fields[0] = '';
    else if (n % 3 === 1) fields[1] = 'not-in-catalog';
    else fields[5] = 'NaN';
    lines[n] = fields.join('\t');
  }
  const tsvDir = logFolder({ 'interactions.tsv': lines.join('\n') + '\n', 'items.jsonl': items });
  const fromTsv = await readDataset(tsvDir, { skipBadRows: true });
  assert.equal(Object.values(fromTsv.skipped).reduce((a, b) => a + b, 0), 15);
  for (const allText of [false, true]) {
    const parquetDir = await parquetTwin(tsvDir, 2048 * 2, allText);
    const fromParquet = await readDataset(parquetDir, { skipBadRows: true });
    assertSameDataset(fromParquet, fromTsv);
    for (const [reason, first] of Object.entries(fromTsv.firstSkipped!)) {
      const line = Number(/^interactions\.tsv:(\d+):/.exec(first)![1]);
      assert.equal(fromParquet.firstSkipped![reason], first.replace(`interactions.tsv:${line}:`, `interactions.parquet:${line - 1}:`).replace('items.jsonl', 'items.parquet'));
    }
  }
});

/** The error a folder's read throws (a DataFormatError), or a failure. */
async function readError(dir: string): Promise<DataFormatError> {
  try {
    await readDataset(dir);
  } catch (e) {
    assert.ok(e instanceof DataFormatError, `${(e as Error).name}: ${(e as Error).message}`);
    return e;
  }
  assert.fail(`${dir} was read without an error`);
}

test('bad rows are the same DataFormatError as in the TSV, at file:row; --skipBadRows counts them alike', async () => {
  // Each case: TSV rows after the header, and the SELECT that writes the same rows to Parquet with an exporter's types.
  const cases: [string, string[], string][] = [
    ['null user', ['u1\ta\t1', '\tb\t2'], `SELECT * FROM (VALUES ('u1', 'a', 1), (NULL, 'b', 2)) t(user, item, timestamp)`],
    ['null item', ['u1\ta\t1', 'u2\t\t2'], `SELECT * FROM (VALUES ('u1', 'a', 1), ('u2', NULL, 2)) t(user, item, timestamp)`],
    ['null timestamp', ['u1\ta\t1', 'u1\tb\t'], `SELECT * FROM (VALUES ('u1', 'a', 1::BIGINT), ('u1', 'b', NULL)) t(user, item, timestamp)`],
    ['unparseable timestamp', ['u1\ta\t1', 'u1\tb\tyesterday'], `SELECT * FROM (VALUES ('u1', 'a', '1'), ('u1', 'b', 'yesterday')) t(user, item, timestamp)`],
    ['bad signal', ['u1\ta\t1\t3', 'u1\tb\t2\tmaybe'], `SELECT * FROM (VALUES ('u1', 'a', 1, '3'), ('u1', 'b', 2, 'maybe')) t(user, item, timestamp, "like")`],
    ['NaN signal', ['u1\ta\t1\t3', 'u1\tb\t2\tNaN'], `SELECT * FROM (VALUES ('u1', 'a', 1, 3.0::DOUBLE), ('u1', 'b', 2, 'NaN'::DOUBLE)) t(user, item, timestamp, "like")`],
    ['time_ms', ['u1\ta\t1', 'u1\tb\tx'], `SELECT * FROM (VALUES ('u1', 'a', '1'), ('u1', 'b', 'x')) t(user, item, time_ms)`],
  ];
  for (const [name, rows, select] of cases) {
    const header = rows[0].split('\t').length === 4 ? 'user\titem\t' + (select.includes('time_ms') ? 'time_ms' : 'timestamp') + '\tlike' : 'user\titem\t' + (select.includes('time_ms') ? 'time_ms' : 'timestamp');
    const tsvDir = logFolder({ 'interactions.tsv': [header, ...rows].join('\n') + '\n' });
    const parquetDir = logFolder();
    await duckdb(`COPY (${select}) TO ${quote(join(parquetDir, 'interactions.parquet'))} (FORMAT parquet)`);
    const tsvError = await readError(tsvDir);
    const parquetError = await readError(parquetDir);
    assert.equal(tsvError.line, 3, name);
    assert.equal(parquetError.file, 'interactions.parquet', name);
    assert.equal(parquetError.line, 2, name); // row 2 of the file; the TSV's line 3 counts the header
    assert.equal(parquetError.message.replace('interactions.parquet:2: ', ''), tsvError.message.replace('interactions.tsv:3: ', ''), name);
    const skippedTsv = await readDataset(tsvDir, { skipBadRows: true });
    const skippedParquet = await readDataset(parquetDir, { skipBadRows: true });
    assert.deepEqual(skippedParquet.skipped, skippedTsv.skipped, name);
    assert.equal(skippedParquet.firstSkipped![Object.keys(skippedTsv.skipped)[0]], skippedTsv.firstSkipped![Object.keys(skippedTsv.skipped)[0]].replace('interactions.tsv:3:', 'interactions.parquet:2:'), name);
    assert.deepEqual([...skippedParquet.item], [...skippedTsv.item], name);
  }
  // An item outside items.parquet is the same 'unknown item' error as outside items.jsonl.
  const dir = logFolder();
  await duckdb(
    `COPY (SELECT * FROM (VALUES ('u1', 'a', 1), ('u1', 'zz', 2)) t(user, item, timestamp)) TO ${quote(join(dir, 'interactions.parquet'))} (FORMAT parquet)`,
    `COPY (SELECT * FROM (VALUES ('a', 'Alpha'), ('b', NULL)) t(item, title)) TO ${quote(join(dir, 'items.parquet'))} (FORMAT parquet)`,
  );
  const e = await readError(dir);
  assert.equal(e.message, "interactions.parquet:2: item 'zz' is not in items.parquet; add it to the catalog or remove the row (pass --skipBadRows to skip and count such rows)");
});

test('column types: integer ids are their digits, TIMESTAMP is Unix time, booleans are 1/0; a type that cannot hold the values names the column', async () => {
  const dir = logFolder();
  await duckdb(`COPY (SELECT * FROM (VALUES (12::BIGINT, 9007199254740993::BIGINT, TIMESTAMP '2024-01-01 00:00:01.5', true, 2.5::DECIMAL(9,2)), (3, 7, TIMESTAMP '2024-01-01 00:00:00', false, NULL)) t(user_id, item_id, timestamp, liked, rating)) TO ${quote(join(dir, 'interactions.parquet'))} (FORMAT parquet)`);
  const ds = await readDataset(dir);
  assert.deepEqual(ds.users, ['3', '12']); // numeric ids sort numerically, as in a CSV
  assert.deepEqual(ds.items.map((i) => i.id), ['9007199254740993', '7']); // exact digits, not a rounded double
  assert.deepEqual([...ds.timeMs], [Date.UTC(2024, 0, 1), Date.UTC(2024, 0, 1) + 1500]);
  assert.deepEqual([...ds.signals.liked], [0, 1]);
  assert.deepEqual([...ds.signals.rating].map((v) => (Number.isNaN(v) ? null : v)), [null, 2.5]);

  // Spark writes instants as TIMESTAMP WITH TIME ZONE (TIMESTAMP_MICROS, adjusted to UTC); milliseconds stay exact.
  const zoned = logFolder();
  await duckdb(`COPY (SELECT 'u' AS "user", 'a' AS item, TIMESTAMPTZ '2024-01-01 00:00:01.25+00' AS "timestamp", TIMESTAMP_MS '2024-01-01 00:00:02.5' AS t2) TO ${quote(join(zoned, 'interactions.parquet'))} (FORMAT parquet)`);
  await assert.rejects(readDataset(zoned), /column 't2' is TIMESTAMP.*; it must be numeric or boolean/); // a signal is a number
  await duckdb(`COPY (SELECT 'u' AS "user", 'a' AS item, TIMESTAMPTZ '2024-01-01 00:00:01.25+00' AS "timestamp") TO ${quote(join(zoned, 'interactions.parquet'))} (FORMAT parquet)`);
  assert.deepEqual([...(await readDataset(zoned)).timeMs], [Date.UTC(2024, 0, 1, 0, 0, 1, 250)]);

  const typed = async (select: string, column: string, message: RegExp) => {
    const bad = logFolder();
    await duckdb(`COPY (${select}) TO ${quote(join(bad, 'interactions.parquet'))} (FORMAT parquet)`);
    const e = await readError(bad);
    assert.equal(e.file, 'interactions.parquet');
    assert.equal(e.line, 0);
    assert.match(e.message, new RegExp(`column '${column}' is `));
    assert.match(e.message, message);
  };
  await typed(`SELECT 1.5::DOUBLE AS user, 'a' AS item, 1 AS timestamp`, 'user', /ids must be strings or integers/);
  await typed(`SELECT 'u' AS user, ['a'] AS item, 1 AS timestamp`, 'item', /ids must be strings or integers/);
  await typed(`SELECT 'u' AS user, 'a' AS item, DATE '2024-01-01' AS timestamp`, 'timestamp', /or a TIMESTAMP/);
  await typed(`SELECT 'u' AS user, 'a' AS item, 1 AS timestamp, DATE '2024-01-01' AS day`, 'day', /numeric or boolean/);
  const missing = logFolder();
  await duckdb(`COPY (SELECT 'u' AS user, 'a' AS item, 1 AS ts) TO ${quote(join(missing, 'interactions.parquet'))} (FORMAT parquet)`);
  const e = await readError(missing);
  assert.equal(e.message, "interactions.parquet: missing column 'timestamp'; found user, item, ts. The interactions need user, item and timestamp (Unix seconds) or time_ms; pass --allowMissingTimestamp if rows are already in time order per user");
});

test('a folder of part files (Spark) reads like one file, in file-name order; errors name the part file and its row', async () => {
  const { tsv, items } = tsvLog(60, 10, 3);
  const tsvDir = logFolder({ 'interactions.tsv': tsv, 'items.jsonl': items });
  const dir = logFolder({ 'items.jsonl': items });
  const folder = join(dir, 'interactions.parquet');
  mkdirSync(folder);
  for (const name of ['_SUCCESS', '._SUCCESS.crc', '.part-00000.parquet.crc']) writeFileSync(join(folder, name), '');
  // Three parts, the last written first: the order comes from the names.
  const source = `(SELECT *, row_number() OVER () AS n FROM read_csv(${quote(join(tsvDir, 'interactions.tsv'))}, delim = '\t', header = true))`;
  const part = (name: string, where: string) => `COPY (SELECT * EXCLUDE (n) FROM ${source} WHERE ${where} ORDER BY n) TO ${quote(join(folder, name))} (FORMAT parquet)`;
  // Rows 155 and 156 share a second and a user: the tie crosses a part boundary and keeps file order.
  await duckdb(part('part-00002.parquet', 'n > 400'), part('part-00000.parquet', 'n <= 155'), part('part-00001.parquet', 'n > 155 AND n <= 400'));
  const ds = await readDataset(dir);
  assertSameDataset(ds, await readDataset(tsvDir));
  assert.deepEqual(ds.files, ['interactions.parquet', 'items.jsonl']);

  await duckdb(`COPY (SELECT * FROM (VALUES ('u1', 'i1', 1, 1, 1, 1.0), ('u1', 'nope', 2, 1, 1, 1.0)) t(user, item, timestamp, play_time_ms, "like", score)) TO ${quote(join(folder, 'part-00003.parquet'))} (FORMAT parquet)`);
  const e = await readError(dir);
  assert.equal(e.file, 'interactions.parquet/part-00003.parquet');
  assert.equal(e.line, 2);
  await duckdb(`COPY (SELECT 'u1' AS user, 'i1' AS item, 1 AS timestamp) TO ${quote(join(folder, 'part-00003.parquet'))} (FORMAT parquet)`);
  assert.match((await readError(dir)).message, /^interactions\.parquet\/part-00003\.parquet: columns user, item, timestamp differ from interactions\.parquet\/part-00000\.parquet's/);
});

test('items.parquet: duplicate ids are never skipped, a null attribute is a bad row, asin replaces the shown id', async () => {
  const dir = logFolder({ 'interactions.tsv': 'user\titem\ttimestamp\nu\ta\t1\nu\tb\t2\n' });
  const items = (select: string) => duckdb(`COPY (${select}) TO ${quote(join(dir, 'items.parquet'))} (FORMAT parquet)`);
  await items(`SELECT * FROM (VALUES ('a', 'B000A', 'Alpha', ['x', 'y']), ('b', NULL, NULL, [])) t(item, asin, title, attributes)`);
  const ds = await readDataset(dir);
  assert.deepEqual(ds.items, [{ id: 'B000A', title: 'Alpha', attributes: ['x', 'y'] }, { id: 'b', attributes: [] }]);
  await items(`SELECT * FROM (VALUES ('a'), ('b'), ('a')) t(item)`);
  assert.equal((await readError(dir)).message, "items.parquet:3: duplicate item id 'a' (first on row 1); each item must appear once in the catalog");
  await items(`SELECT * FROM (VALUES ('a', ['x']), ('b', ['y', NULL])) t(item, attributes)`);
  assert.match((await readError(dir)).message, /^items\.parquet:2: "attributes" holds a null/);
  await items(`SELECT * FROM (VALUES ('a', 'x'), ('b', 'y')) t(item, attributes)`);
  assert.match((await readError(dir)).message, /^items\.parquet: column 'attributes' is VARCHAR; it must be a list of strings/);
});

test('a file that is not Parquet, or a folder without part files, is a DataFormatError naming it', async () => {
  const e = await readError(logFolder({ 'interactions.parquet': 'user,item,timestamp\nu,a,1\n' }));
  assert.equal(e.file, 'interactions.parquet');
  assert.match(e.message, /could not be read as Parquet/);
  const dir = logFolder();
  mkdirSync(join(dir, 'interactions.parquet', 'day=2024-01-01'), { recursive: true });
  assert.match((await readError(dir)).message, /partition folders/);
});
