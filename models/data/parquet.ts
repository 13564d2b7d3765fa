// Parquet input through DuckDB, the one import site of @duckdb/node-api. DuckDB reads the columns a reader asks for
// (projection pushdown), in row groups, and hands them over as chunks of 2,048 rows: a log larger than memory streams
// through without ever being one JS array. Casts happen in SQL so that JS sees only strings, numbers and null, the
// values the text readers parse their fields into. `scanSorted` orders a log by user and time with DuckDB's sort,
// which spills to a temporary folder past DuckDB's memory limit (80 % of RAM by default).
//
// A Parquet "file" is a file or a folder of part files (what Spark, Hive or a warehouse export writes: part-*.parquet
// beside _SUCCESS and .crc files), read in file-name order, each part's rows in their stored order. Row numbers are
// 1-based per part file: row N is `file_row_number = N - 1` in
//   SELECT * FROM read_parquet('interactions.parquet', file_row_number = true)
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { DuckDBInstance, type DuckDBConnection, DuckDBListValue } from '@duckdb/node-api';
import { DataFormatError } from './errors.ts';

/** What a reader wants from a column; the column's Parquet type decides how DuckDB delivers it. */
export type ColumnRole =
  | 'id' // strings and integers, as text (an integer id is the same id as its digits in a CSV)
  | 'number' // numbers and booleans (1 / 0) as numbers; text as text, for the reader to parse like a CSV field
  | 'time' // as 'number', and TIMESTAMP / TIMESTAMPTZ (any unit) as Unix milliseconds
  | 'text' // strings only
  | 'text list'; // LIST of strings or integers, as arrays of text

/** How a column is read: `milliseconds` is set when DuckDB turned a TIMESTAMP into Unix milliseconds. */
export interface ColumnRead {
  name: string;
  role: ColumnRole;
  type: string; // the DuckDB type name, e.g. VARCHAR, BIGINT, DOUBLE, TIMESTAMP, VARCHAR[]
  sql: string; // the expression that delivers it
  milliseconds: boolean;
}

/** A part of a Parquet input: one file, and how messages name it. */
export interface ParquetPart {
  path: string;
  shown: string; // 'interactions.parquet', or 'interactions.parquet/part-00000-….parquet' in a folder
}

const INTEGER = /^(U?(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT))$/;
const NUMBER = /^(U?(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT)|FLOAT|DOUBLE|DECIMAL\(\d+,\d+\)|BOOLEAN)$/;
const TIMESTAMP = /^(TIMESTAMP|TIMESTAMP_S|TIMESTAMP_MS|TIMESTAMP_NS|TIMESTAMP WITH TIME ZONE)$/;
const TEXT = /^VARCHAR$/;

/** The SQL expression that reads `column` (of DuckDB type `type`) for `role`, or why that type cannot be read so. */
function expression(column: string, type: string, role: ColumnRole): { sql: string; milliseconds?: boolean } | { problem: string } {
  const id = `"${column.replaceAll('"', '""')}"`;
  if (role === 'id') {
    if (TEXT.test(type)) return { sql: id };
    if (INTEGER.test(type)) return { sql: `CAST(${id} AS VARCHAR)` };
    return { problem: `is ${type}; ids must be strings or integers: export it as STRING/VARCHAR or an integer type` };
  }
  if (role === 'number' || role === 'time') {
    if (TEXT.test(type)) return { sql: id };
    if (NUMBER.test(type)) return { sql: `CAST(${id} AS DOUBLE)` };
    if (role === 'time' && TIMESTAMP.test(type)) return { sql: `CAST(epoch_us(${id}) AS DOUBLE) / 1000`, milliseconds: true };
    const what = role === 'time' ? 'a number (Unix seconds for timestamp, Unix ms for time_ms) or a TIMESTAMP' : 'numeric or boolean (empty = missing)';
    return { problem: `is ${type}; it must be ${what}` };
  }
  if (role === 'text') {
    if (TEXT.test(type)) return { sql: id };
    return { problem: `is ${type}; it must be a string (VARCHAR)` };
  }
  const element = /^(.*)\[\]$/.exec(type)?.[1];
  if (element !== undefined && TEXT.test(element)) return { sql: id };
  if (element !== undefined && INTEGER.test(element)) return { sql: `CAST(${id} AS VARCHAR[])` };
  return { problem: `is ${type}; it must be a list of strings (ARRAY<STRING>, VARCHAR[])` };
}

/** One chunk of a scan: `rows` rows, their 1-based row numbers in the part file and one array per requested column. */
export interface ParquetChunk {
  rows: number;
  rowNumber: number; // 1-based row number of the chunk's first row in its part file; the rest follow in order (scan)
  values: (string | number | string[] | null)[][]; // [columns][rows]
}

/** An open Parquet file or folder of part files. Close it (`close()`) when done: it holds a DuckDB instance. */
export class ParquetSource {
  readonly parts: ParquetPart[]; // in the order they are read
  private constructor(private readonly connection: DuckDBConnection, private readonly instance: DuckDBInstance, private readonly spill: string, parts: ParquetPart[]) {
    this.parts = parts;
  }

  /** Opens `path` (a .parquet file or a folder of them); `shown` is how messages name it. */
  static async open(path: string, shown: string): Promise<ParquetSource> {
    let parts: ParquetPart[];
    if (statSync(path).isDirectory()) {
      const entries = readdirSync(path, { withFileTypes: true });
      const names = entries.filter((e) => e.isFile() && e.name.endsWith('.parquet') && !e.name.startsWith('.') && !e.name.startsWith('_')).map((e) => e.name);
      names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      if (names.length === 0) {
        const partitioned = entries.some((e) => e.isDirectory() && e.name.includes('='));
        throw new DataFormatError(shown, 0, partitioned
          ? 'holds partition folders (key=value/), not part files; write the export without partitionBy, or move the part files into this folder'
          : 'is a folder without .parquet part files; point it at the folder Spark or the warehouse export wrote, or at one .parquet file');
      }
      parts = names.map((name) => ({ path: join(path, name), shown: `${shown}/${name}` }));
    } else parts = [{ path, shown }];
    const spill = mkdtempSync(join(tmpdir(), 'onerec-duckdb-')); // where a sort larger than DuckDB's memory limit goes
    let instance: DuckDBInstance | null = null;
    try {
      instance = await DuckDBInstance.create(':memory:', { temp_directory: spill });
      return new ParquetSource(await instance.connect(), instance, spill, parts);
    } catch (err) {
      instance?.closeSync();
      rmSync(spill, { recursive: true, force: true });
      throw err;
    }
  }

  close(): void {
    this.connection.closeSync();
    this.instance.closeSync();
    rmSync(this.spill, { recursive: true, force: true });
  }

  /** The columns of one part file, [name, DuckDB type] in file order. */
  async columns(part: ParquetPart): Promise<[string, string][]> {
    const result = await this.query(part, () => this.connection.run(`DESCRIBE SELECT * FROM ${scan(part.path)}`));
    const rows = (await result.getRowObjectsJS()) as { column_name: string; column_type: string }[];
    return rows.map((r) => [r.column_name, r.column_type]);
  }

  /**
   * How each `[column, role]` of `part` is read; a column whose type does not fit its role is a DataFormatError
   * naming the part file and the column (a type is the file's, not a row's: every row would fail alike).
   */
  async plan(part: ParquetPart, wanted: [string, ColumnRole][]): Promise<ColumnRead[]> {
    const types = new Map(await this.columns(part));
    return wanted.map(([name, role]) => {
      const type = types.get(name);
      if (type === undefined) throw new DataFormatError(part.shown, 0, `no column '${name}'; every part file must have the same columns (found ${[...types.keys()].join(', ')})`);
      const read = expression(name, type, role);
      if ('problem' in read) throw new DataFormatError(part.shown, 0, `column '${name}' ${read.problem}`);
      return { name, role, type, sql: read.sql, milliseconds: read.milliseconds === true };
    });
  }

  /** The rows of `part`, its columns read as `plan` (from `plan(part, …)`) says, in stored order, chunk by chunk. */
  async *scan(part: ParquetPart, plan: ColumnRead[]): AsyncGenerator<ParquetChunk> {
    // file_row_number checks that the stream keeps the stored order (DuckDB's preserve_insertion_order, the default).
    const sql = `SELECT CAST(file_row_number AS DOUBLE), ${plan.map((c) => c.sql).join(', ')} FROM ${scan(part.path, true)}`;
    const result = await this.query(part, () => this.connection.stream(sql));
    let next = 1;
    for (;;) {
      const chunk = await this.query(part, () => result.fetchChunk());
      if (chunk === null || chunk.rowCount === 0) return;
      const first = chunk.getColumnValues(0)[0] as number;
      if (first + 1 !== next) throw new DataFormatError(part.shown, first + 1, `DuckDB returned this row where row ${next} was expected; rows must arrive in stored order`);
      const values = plan.map(({ role }, c) => {
        const column = chunk.getColumnValues(c + 1);
        return role === 'text list' ? column.map((v) => (v instanceof DuckDBListValue ? v.items.map((x) => x as string) : null)) : (column as (string | number | null)[]);
      });
      yield { rows: chunk.rowCount, rowNumber: next, values };
      next += chunk.rowCount;
    }
  }

  /**
   * Every part's rows as one stream ordered by (`sort.ranks` of the row's value in planned column `sort.rankBy`, planned
   * column `sort.time` × `sort.timeScales[part]`, part, row): DuckDB's sort. `plans[p]` is part p's plan, the same
   * columns in every part (`sort.time` numeric in each: a DOUBLE, not text; -1 for none). Each chunk's values are
   * [rank, index of the row's value in column `sort.indexBy` from `sort.index`, part, row (1-based), time × scale (null
   * without a time column), then the other planned columns in plan order]; a value missing from `ranks` or `index` is
   * null (its rank sorts last). The id columns are only joined, never sorted or returned: the sort carries numbers
   * (and any text signal) alone.
   */
  async *scanSorted(plans: ColumnRead[][], sort: { rankBy: number; ranks: Map<string, number>; indexBy: number; index: Map<string, number>; time: number; timeScales: number[] }): AsyncGenerator<ParquetChunk> {
    const first = this.parts[0];
    const shown = this.parts.length === 1 ? first : { path: first.path, shown: first.shown.replace(/\/[^/]*$/, '') };
    await this.query(shown, async () => {
      for (const [table, map] of [['onerec_ranks', sort.ranks], ['onerec_index', sort.index]] as const) {
        await this.connection.run(`CREATE OR REPLACE TEMP TABLE ${table} (id VARCHAR, value INTEGER)`);
        const appender = await this.connection.createAppender(table);
        for (const [id, value] of map) {
          appender.appendVarchar(id);
          appender.appendInteger(value);
          appender.endRow();
        }
        appender.closeSync();
      }
    });
    const columns = plans[0].map((_, c) => `c${c}`);
    const parts = plans.map((plan, p) => {
      const time = sort.time >= 0 ? `(${plan[sort.time].sql}) * ${sort.timeScales[p]}` : 'NULL';
      return `SELECT ${p} AS part, CAST(file_row_number + 1 AS DOUBLE) AS row, ${time} AS sort_time, ${plan.map((c, i) => `${c.sql} AS ${columns[i]}`).join(', ')} FROM ${scan(this.parts[p].path, true)}`;
    });
    const payload = plans[0].map((_, c) => c).filter((c) => c !== sort.rankBy && c !== sort.indexBy && c !== sort.time);
    const sql = `SELECT r.value, x.value, s.part, s.row, s.sort_time${payload.map((c) => `, s.${columns[c]}`).join('')}
      FROM (${parts.join(' UNION ALL ')}) s
      LEFT JOIN onerec_ranks r ON s.${columns[sort.rankBy]} = r.id
      LEFT JOIN onerec_index x ON s.${columns[sort.indexBy]} = x.id
      ORDER BY r.value NULLS LAST, s.sort_time, s.part, s.row`;
    const result = await this.query(shown, () => this.connection.stream(sql), 'sort');
    for (;;) {
      const chunk = await this.query(shown, () => result.fetchChunk(), 'sort');
      if (chunk === null || chunk.rowCount === 0) return;
      const values = [0, 1, 2, 3, 4].map((c) => chunk.getColumnValues(c) as (number | null)[]) as ParquetChunk['values'];
      payload.forEach((c, i) => {
        const column = chunk.getColumnValues(i + 5);
        values.push(plans[0][c].role === 'text list' ? column.map((v) => (v instanceof DuckDBListValue ? v.items.map((x) => x as string) : null)) : (column as (string | number | null)[]));
      });
      yield { rows: chunk.rowCount, rowNumber: 0, values };
    }
  }

  /**
   * Runs one DuckDB call; a file DuckDB cannot read (not Parquet, truncated, unreadable) becomes a DataFormatError
   * naming it. During the sort the cause may also be the temporary folder (full disk) rather than the file.
   */
  private async query<T>(part: ParquetPart, call: () => Promise<T>, during: 'read' | 'sort' = 'read'): Promise<T> {
    try {
      return await call();
    } catch (err) {
      if (err instanceof DataFormatError) throw err;
      const message = (err as Error).message.split('\n')[0];
      const fix = during === 'sort'
        ? `re-export it if the message is about the file; if it is about memory or disk, free space in ${dirname(this.spill)} (the system's temporary folder; TMPDIR moves it)`
        : 're-export it, or check that the file was copied whole';
      throw new DataFormatError(part.shown, 0, `could not be read as Parquet${during === 'sort' ? ' and sorted by user and time' : ''} (${message}); ${fix}`);
    }
  }
}

/** read_parquet over one file, as SQL. */
function scan(path: string, rowNumbers = false): string {
  return `read_parquet('${path.replaceAll("'", "''")}'${rowNumbers ? ', file_row_number = true' : ''})`;
}
