// Readers for the datasets under ../shared/data and for the generic import format. Each streams its files
// (gzip or plain) once and returns a Dataset; bad input throws DataFormatError naming file and line, or —
// with skipBadRows — is skipped and counted by reason.
//
// Generic import format (a directory):
//   interactions.{csv,tsv,jsonl}[.gz]   required columns: user (or user_id), item (or item_id / video_id),
//   or interactions.parquet             timestamp (Unix seconds) or time_ms (Unix ms); every other column
//                                       is a numeric signal kept by name (play_time_ms, duration_ms, like,
//                                       follow, comment, forward, share, long_view, rating, …)
//   items.jsonl[.gz] or items.parquet   optional; one object (row) per item: item (or item_id), optional asin,
//                                       title, attributes (array of strings). When present it is the
//                                       catalog and an interaction with an item not in it is an error.
// Parquet (a file, or a folder of part files as Spark writes it) is read through DuckDB (./parquet.ts) into the same
// rules as the text formats — GenericInteractions below — so the same log as TSV or Parquet gives the same dataset;
// its rows are numbered from 1 per part file (no header). A column whose Parquet type cannot hold its values (a
// DOUBLE id, a DATE signal) is an error naming the column.
// The Amazon folders (amazon-beauty/-sports/-toys) are in this format.
import { existsSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { DataFormatError } from './errors.ts';
import { readLines, splitFields } from './lines.ts';
import { ParquetSource, type ColumnRead, type ColumnRole } from './parquet.ts';
import { DEFAULT_READ_OPTIONS, dayIndices, InteractionBuilder, orderUsers, utcDay, type CatalogItem, type Dataset, type ReadOptions } from './dataset.ts';

/** Pick the reader by the files in `dir`. */
export async function readDataset(dir: string, options: Partial<ReadOptions> = {}): Promise<Dataset> {
  const opts = { ...DEFAULT_READ_OPTIONS, ...options };
  if (!existsSync(dir)) throw new DataFormatError(dir, 0, 'no such directory; pass --data with a folder in the generic import format (interactions.csv, optional items.jsonl), or a KuaiRand-Pure or MovieLens folder as distributed');
  if (!statSync(dir).isDirectory()) throw new DataFormatError(dir, 0, 'is a file, expected a folder; pass --data with the folder that holds the interactions file');
  if (findFile(dir, ['log_standard_4_25_to_5_08_pure.csv.gz', 'log_standard_4_25_to_5_08_pure.csv'])) return readKuaiRand(dir, opts);
  if (findFile(dir, ['u.data.gz', 'u.data'])) return readMovieLens100k(dir, opts);
  if (findFile(dir, ['movies.dat.gz', 'movies.dat'])) return readMovieLens1m(dir, opts);
  return readGeneric(dir, opts);
}

function findFile(dir: string, names: string[]): string | null {
  for (const name of names) if (existsSync(join(dir, name))) return join(dir, name);
  return null;
}

/** Counts skipped rows (and keeps the first of each reason), or throws when skipping is not allowed. */
class RowErrors {
  readonly skipped: Record<string, number> = {};
  readonly firstSkipped: Record<string, string> = {};
  constructor(private readonly skip: boolean) {}
  /** Throws, or counts the row as skipped; false, for a caller that says whether it kept the row. */
  bad(file: string, line: number, reason: string, message: string): false {
    if (!this.skip) throw new DataFormatError(file, line, `${message} (pass --skipBadRows to skip and count such rows)`);
    this.skipped[reason] = (this.skipped[reason] ?? 0) + 1;
    this.firstSkipped[reason] ??= `${file}:${line}: ${message}`;
    return false;
  }
}

/** What the console says about rows that --skipBadRows skipped: how many, why, and the first of each reason; null when none. */
export function skippedRowsSummary(dataset: Pick<Dataset, 'skipped' | 'firstSkipped'>): string | null {
  const reasons = Object.entries(dataset.skipped).sort((a, b) => b[1] - a[1]);
  const total = reasons.reduce((sum, [, count]) => sum + count, 0);
  if (total === 0) return null;
  const lines = reasons.map(([reason, count]) => `  ${count} × ${reason}${dataset.firstSkipped?.[reason] ? ` (first: ${dataset.firstSkipped[reason]})` : ''}`);
  return `skipped ${total} bad row${total === 1 ? '' : 's'} (--skipBadRows):\n${lines.join('\n')}`;
}

/** A JSON value as a message shows it (short). */
function describe(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  const kind = Array.isArray(value) ? 'an array' : value === null ? 'null' : typeof value === 'object' ? 'an object' : typeof value === 'boolean' ? 'a boolean' : typeof value === 'number' ? 'a non-integer number' : typeof value;
  return `${kind} (${text.length > 40 ? `${text.slice(0, 40)}…` : text})`;
}

/**
 * An id field: a string, or an integer (JSONL), as its text; `missing` when absent or empty. Anything else — an array,
 * an object, a boolean, a fraction — is a problem: stringified it would invent an id ('[object Object]', '1,2') or
 * merge different ones.
 */
function idField(value: unknown, column: string): { id: string } | { missing: true } | { problem: string } {
  if (value === undefined || value === null || value === '') return { missing: true };
  if (typeof value === 'string') return { id: value };
  if (typeof value === 'number' && Number.isSafeInteger(value)) return { id: String(value) };
  return { problem: `'${column}' is ${describe(value)}; ids must be strings or integers` };
}

function numberOrNaN(text: string | undefined | null): number {
  if (text === undefined || text === null) return Number.NaN;
  const t = text.trim();
  return t === '' ? Number.NaN : Number(t);
}

// ---------------------------------------------------------------------------------------------- generic

const USER_COLUMNS = ['user', 'user_id'];
const ITEM_COLUMNS = ['item', 'item_id', 'video_id'];

interface Row {
  get(column: string): string | undefined; // the field as text (JSONL: arrays and objects as JSON, so never a number)
  raw(column: string): unknown; // the field as read (JSONL: the JSON value; CSV/TSV: the text)
  columns: string[];
}

/** A JSONL value as a field's text: strings as they are, numbers and booleans as written, arrays and objects as JSON. */
function jsonFieldText(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/** Rows of a CSV/TSV (header line) or JSONL file as string fields. */
async function* readRows(path: string, shown: string, errors: RowErrors): AsyncGenerator<[Row, number]> {
  const jsonl = /\.jsonl(\.gz)?$/.test(path);
  const delimiter = /\.tsv(\.gz)?$/.test(path) ? '\t' : ',';
  let header: string[] | null = null;
  let index = new Map<string, number>();
  for await (const [line, n] of readLines(path)) {
    if (line.trim() === '') continue;
    if (jsonl) {
      const obj = jsonObjectLine(line, shown, n, errors);
      if (obj === null) continue;
      const columns = Object.keys(obj);
      yield [{ columns, get: (c) => jsonFieldText(obj[c]), raw: (c) => obj[c] }, n];
      continue;
    }
    const fields = splitFields(line, delimiter);
    if (fields === null) {
      errors.bad(shown, n, 'unclosed quote', 'a double quote is not closed on this line');
      continue;
    }
    if (header === null) {
      header = fields.map((f) => f.trim());
      index = new Map();
      for (const [i, name] of header.entries()) {
        // Which of two same-named columns holds the value would be a guess.
        if (index.has(name)) throw new DataFormatError(shown, n, `duplicate column '${name}' (columns ${index.get(name)! + 1} and ${i + 1}); rename one of them`);
        index.set(name, i);
      }
      continue;
    }
    if (fields.length !== header.length) {
      errors.bad(shown, n, 'wrong field count', `${fields.length} fields, the header has ${header.length}`);
      continue;
    }
    const cols = header;
    const get = (c: string): string | undefined => {
      const i = index.get(c);
      return i === undefined ? undefined : fields[i];
    };
    yield [{ columns: cols, get, raw: get }, n];
  }
}

/** One JSONL line as an object, or null after reporting why it is not one (bad JSON, or not an object). */
function jsonObjectLine(line: string, shown: string, n: number, errors: RowErrors): Record<string, unknown> | null {
  let obj: unknown;
  try {
    obj = JSON.parse(line);
  } catch (e) {
    errors.bad(shown, n, 'invalid json', `not valid JSON (${(e as Error).message})`);
    return null;
  }
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) {
    errors.bad(shown, n, 'invalid json', 'each line must be one JSON object');
    return null;
  }
  const duplicate = duplicateTopLevelKey(line);
  // JSON.parse keeps the last of two same-named keys: which one is the value would be a guess, as with two columns.
  if (duplicate !== null) throw new DataFormatError(shown, n, `duplicate key '${duplicate}' in this object; each field may appear once`);
  return obj as Record<string, unknown>;
}

/** The first key that occurs twice at the top level of a valid JSON object's text, or null. */
function duplicateTopLevelKey(text: string): string | null {
  if (!text.includes('"')) return null;
  const seen = new Set<string>();
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '{' || ch === '[') depth++;
    else if (ch === '}' || ch === ']') depth--;
    else if (ch === '"') {
      const start = i;
      for (i++; text[i] !== '"'; i++) if (text[i] === '\\') i++;
      if (depth !== 1) continue;
      let j = i + 1;
      while (text[j] === ' ' || text[j] === '\t' || text[j] === '\r') j++;
      if (text[j] !== ':') continue; // a value, not a key
      const key = JSON.parse(text.slice(start, i + 1)) as string;
      if (seen.has(key)) return key;
      seen.add(key);
    }
  }
  return null;
}

/**
 * items.parquet (a file or a folder of part files): the columns of items.jsonl's objects — item (or item_id), optional
 * asin, title and attributes (a list of strings) — with its rules: a missing id or a null attribute is a bad row, a
 * duplicate id is never skipped.
 */
async function readItemsParquet(path: string, shown: string, errors: RowErrors): Promise<{ items: CatalogItem[]; index: Map<string, number> }> {
  const items: CatalogItem[] = [];
  const index = new Map<string, number>();
  const firstRow = new Map<string, string>(); // id → where it was first, as the duplicate message says it
  const source = await ParquetSource.open(path, shown);
  try {
    for (const part of source.parts) {
      const names = (await source.columns(part)).map(([name]) => name);
      const idColumn = names.includes('item') ? 'item' : names.includes('item_id') ? 'item_id' : null;
      if (idColumn === null) throw new DataFormatError(part.shown, 0, `no column 'item' (or 'item_id'); found ${names.join(', ')}. The catalog needs each item's id`);
      const wanted: [string, ColumnRole][] = [[idColumn, 'id'], ...(['asin', 'title'] as const).filter((c) => names.includes(c)).map((c): [string, ColumnRole] => [c, 'text'])];
      if (names.includes('attributes')) wanted.push(['attributes', 'text list']);
      const plan: ColumnRead[] = await source.plan(part, wanted);
      const column = (name: string) => plan.findIndex((c) => c.name === name);
      const [asinAt, titleAt, attributesAt] = [column('asin'), column('title'), column('attributes')];
      for await (const chunk of source.scan(part, plan)) {
        for (let r = 0; r < chunk.rows; r++) {
          const n = chunk.rowNumber + r;
          const field = idField(chunk.values[0][r], idColumn);
          if ('missing' in field) {
            errors.bad(part.shown, n, 'missing item id', `empty '${idColumn}'; every catalog row needs the item's id`);
            continue;
          }
          if ('problem' in field) {
            errors.bad(part.shown, n, 'bad id', field.problem);
            continue;
          }
          const id = field.id;
          if (index.has(id)) {
            // A duplicate id is never skipped: which of the two rows is the item would be a guess.
            throw new DataFormatError(part.shown, n, `duplicate item id '${id}' (first on ${firstRow.get(id)}); each item must appear once in the catalog`);
          }
          const attributes = attributesAt >= 0 ? (chunk.values[attributesAt][r] as (string | null)[] | null) : null;
          if (attributes !== null && attributes.some((a) => a === null)) {
            errors.bad(part.shown, n, 'bad attributes', '"attributes" holds a null; it must be a list of strings');
            continue;
          }
          const asin = asinAt >= 0 ? (chunk.values[asinAt][r] as string | null) : null;
          const title = titleAt >= 0 ? (chunk.values[titleAt][r] as string | null) : null;
          const item: CatalogItem = { id: asin ?? id };
          if (title !== null) item.title = title;
          if (attributes !== null) item.attributes = attributes as string[];
          index.set(id, items.length);
          firstRow.set(id, part.shown === shown ? `row ${n}` : `${part.shown} row ${n}`);
          items.push(item);
        }
      }
    }
  } finally {
    source.close();
  }
  return { items, index };
}

async function readItemsJsonl(path: string, shown: string, errors: RowErrors): Promise<{ items: CatalogItem[]; index: Map<string, number> }> {
  const items: CatalogItem[] = [];
  const index = new Map<string, number>();
  const firstLine = new Map<string, number>();
  for await (const [line, n] of readLines(path)) {
    if (line.trim() === '') continue;
    const obj = jsonObjectLine(line, shown, n, errors);
    if (obj === null) continue;
    const field = idField(obj.item !== undefined ? obj.item : obj.item_id, obj.item !== undefined ? 'item' : 'item_id');
    if ('missing' in field) {
      errors.bad(shown, n, 'missing item id', `no "item" (or "item_id") field; every catalog line needs the item's id`);
      continue;
    }
    if ('problem' in field) {
      errors.bad(shown, n, 'bad id', field.problem);
      continue;
    }
    const id = field.id;
    if (index.has(id)) {
      // A duplicate id is never skipped: which of the two lines is the item would be a guess.
      throw new DataFormatError(shown, n, `duplicate item id '${id}' (first on line ${firstLine.get(id)}); each item must appear once in the catalog`);
    }
    if (obj.attributes !== undefined && obj.attributes !== null && !(Array.isArray(obj.attributes) && obj.attributes.every((a) => typeof a === 'string' || typeof a === 'number'))) {
      errors.bad(shown, n, 'bad attributes', `"attributes" is ${describe(obj.attributes)}; it must be an array of strings`);
      continue;
    }
    if (obj.asin !== undefined && obj.asin !== null && typeof obj.asin !== 'string') {
      errors.bad(shown, n, 'bad id', `"asin" is ${describe(obj.asin)}; it must be a string`);
      continue;
    }
    const attributes = Array.isArray(obj.attributes) ? obj.attributes.map(String) : undefined;
    const item: CatalogItem = { id: typeof obj.asin === 'string' ? obj.asin : id };
    if (typeof obj.title === 'string') item.title = obj.title;
    if (attributes) item.attributes = attributes;
    index.set(id, items.length);
    firstLine.set(id, n);
    items.push(item);
  }
  return { items, index };
}

/** The generic format's columns: fixed by the CSV/TSV header, the first JSONL object or the Parquet schema. */
interface GenericColumns {
  user: string;
  item: string;
  time: string; // '' with --allowMissingTimestamp and no time column
  signals: string[]; // every other column, in file order
}

/** Picks the generic format's columns from `columns`, or throws naming what is missing (at `line`; 0 = the file). */
function genericColumns(columns: string[], shown: string, line: number, opts: ReadOptions): GenericColumns {
  const has = (c: string) => columns.includes(c);
  const user = USER_COLUMNS.find(has) ?? '';
  const item = ITEM_COLUMNS.find(has) ?? '';
  const time = has('time_ms') ? 'time_ms' : has('timestamp') ? 'timestamp' : '';
  const missing = [!user && 'user', !item && 'item', !time && !opts.allowMissingTimestamp && 'timestamp'].filter(Boolean);
  if (missing.length) {
    throw new DataFormatError(shown, line, `missing column ${missing.map((m) => `'${m}'`).join(', ')}; found ${columns.join(', ')}. The interactions need user, item and timestamp (Unix seconds) or time_ms${missing.includes('timestamp') ? '; pass --allowMissingTimestamp if rows are already in time order per user' : ''}`);
  }
  const signals = columns.filter((c) => c !== user && c !== item && c !== time && !USER_COLUMNS.includes(c) && !ITEM_COLUMNS.includes(c));
  return { user, item, time, signals };
}

/** A field as a reader hands it over: text (CSV, TSV, JSONL), or a number or null where Parquet's type says so. */
type FieldValue = string | number | null | undefined;

/** A signal field's value: a number as it is, text as a CSV field (true/false as 1/0); NaN when missing or unparseable. */
function signalNumber(raw: FieldValue): number {
  if (typeof raw === 'number') return raw;
  return raw === 'true' ? 1 : raw === 'false' ? 0 : numberOrNaN(raw);
}

/** Where GenericInteractions puts the rows it accepts: an InteractionBuilder, or UserFirstAppearance. */
interface RowSink {
  add(user: string, item: number, timeMs: number, signals: ArrayLike<number>): void;
}

/** A RowSink that keeps only the users, in order of first appearance: for a reader whose rows DuckDB orders. */
class UserFirstAppearance implements RowSink {
  readonly keys: string[] = [];
  readonly index = new Map<string, number>();
  add(user: string): void {
    if (!this.index.has(user)) {
      this.index.set(user, this.keys.length);
      this.keys.push(user);
    }
  }
}

/**
 * The generic format's rules for one interaction row — ids, time, signals, the catalog — shared by the text formats
 * and Parquet, so that the same log in either gives the same arrays and the same errors at file:row.
 */
class GenericInteractions<Sink extends RowSink = InteractionBuilder> {
  rowsSeen = 0; // rows offered, bad ones included
  timeScale = 1; // ms per unit of the time column: 1000 for `timestamp` in seconds, 1 for time_ms (or a Parquet TIMESTAMP)
  timeExpected = ''; // what the time column holds, for the message about a bad one
  private readonly signalValues: number[] = [];
  constructor(
    readonly columns: GenericColumns,
    private readonly catalog: Catalog,
    private readonly errors: RowErrors,
    readonly sink: Sink,
  ) {
    this.timeScale = columns.time === 'timestamp' ? 1000 : 1;
    this.timeExpected = columns.time === 'timestamp' ? 'Unix seconds' : 'Unix milliseconds';
  }

  /** Row `n` of `shown`; `signal(s)` is the value of the s-th signal column. Bad rows are reported, not added (false). */
  add(shown: string, n: number, userValue: unknown, itemValue: unknown, time: FieldValue, signal: (s: number) => FieldValue): boolean {
    this.rowsSeen++;
    return this.check(shown, n, userValue, itemValue, time, signal);
  }

  private check(shown: string, n: number, userValue: unknown, itemValue: unknown, time: FieldValue, signal: (s: number) => FieldValue): boolean {
    const { columns, errors } = this;
    const userField = idField(userValue, columns.user);
    const itemField = idField(itemValue, columns.item);
    if ('missing' in userField) return errors.bad(shown, n, 'missing user', `empty '${columns.user}'`);
    if ('missing' in itemField) return errors.bad(shown, n, 'missing item', `empty '${columns.item}'`);
    if ('problem' in userField || 'problem' in itemField) {
      return errors.bad(shown, n, 'bad id', 'problem' in userField ? userField.problem : (itemField as { problem: string }).problem);
    }
    let timeMs = Number.NaN;
    if (columns.time) {
      timeMs = (typeof time === 'number' ? time : numberOrNaN(time)) * this.timeScale;
      if (!Number.isFinite(timeMs)) {
        return errors.bad(shown, n, 'bad timestamp', `${columns.time} '${time ?? ''}' is not a number (expected ${this.timeExpected})`);
      }
    }
    const itemKey = itemField.id;
    const { items, index } = this.catalog;
    let item = index.get(itemKey);
    if (item === undefined) {
      if (this.catalog.file) return errors.bad(shown, n, 'unknown item', `item '${itemKey}' is not in ${this.catalog.file}; add it to the catalog or remove the row`);
      item = items.length;
      index.set(itemKey, item);
      items.push({ id: itemKey });
    }
    let bad = '';
    const values = this.signalValues;
    values.length = 0;
    for (let s = 0; s < columns.signals.length; s++) {
      const raw = signal(s);
      const v = signalNumber(raw);
      const missing = raw === undefined || raw === null || (typeof raw === 'string' && raw.trim() === '');
      if (!missing && !Number.isFinite(v)) bad ||= `${columns.signals[s]} '${raw}' is not a number`;
      values.push(v);
    }
    if (bad) return errors.bad(shown, n, 'bad signal', `${bad}; signal columns must be numeric (empty = missing)`);
    this.sink.add(userField.id, item, timeMs, values);
    return true;
  }
}

const INTERACTION_FILES = [...['csv', 'tsv', 'jsonl'].flatMap((ext) => [`interactions.${ext}`, `interactions.${ext}.gz`]), 'interactions.parquet'];

/** The catalog the interactions are read against: the items file's items, or the items as they first appear. */
interface Catalog {
  items: CatalogItem[];
  index: Map<string, number>; // item id → item index
  file: string | null; // the items file; null when the interactions make the catalog
}

/** What an interactions reader returns: the rows it saw (bad ones included) and the dataset's arrays. */
type InteractionArrays = { rowsSeen: number; arrays: Pick<Dataset, 'users' | 'userOffsets' | 'item' | 'timeMs' | 'day' | 'signals'> };

export async function readGeneric(dir: string, options: Partial<ReadOptions> = {}): Promise<Dataset> {
  const opts = { ...DEFAULT_READ_OPTIONS, ...options };
  const interactionsPath = findFile(dir, INTERACTION_FILES);
  if (!interactionsPath) throw new DataFormatError(dir, 0, `no interactions file; expected one of ${INTERACTION_FILES.join(', ')} (or a KuaiRand/MovieLens folder)`);
  const errors = new RowErrors(opts.skipBadRows);
  const itemsPath = findFile(dir, ['items.jsonl', 'items.jsonl.gz', 'items.parquet']);
  const itemsName = itemsPath ? basename(itemsPath) : null;
  const catalog = itemsPath ? await (itemsPath.endsWith('.parquet') ? readItemsParquet(itemsPath, itemsName!, errors) : readItemsJsonl(itemsPath, itemsName!, errors)) : null;
  const shown = basename(interactionsPath);
  const known: Catalog = { items: catalog?.items ?? [], index: catalog?.index ?? new Map<string, number>(), file: itemsName };
  const interactions = interactionsPath.endsWith('.parquet')
    ? await readInteractionsParquet(interactionsPath, shown, known, errors, opts)
    : await readInteractionsText(interactionsPath, shown, known, errors, opts);
  if (interactions.rowsSeen === 0) throw new DataFormatError(shown, 0, 'no rows; the file is empty');
  const items = known.items;
  const source = existsSync(join(dir, 'users.tsv.gz')) && items.some((i) => /^[A-Z0-9]{10}$/.test(i.id)) ? 'amazon' : 'generic';
  return {
    name: basename(dir),
    source,
    items,
    ...interactions.arrays,
    skipped: errors.skipped,
    firstSkipped: errors.firstSkipped,
    files: [shown, ...(itemsName ? [itemsName] : [])],
  };
}

/** interactions.{csv,tsv,jsonl}[.gz]: rows into an InteractionBuilder, which orders them in memory. */
async function readInteractionsText(path: string, shown: string, catalog: Catalog, errors: RowErrors, opts: ReadOptions): Promise<InteractionArrays> {
  let interactions: GenericInteractions | null = null;
  for await (const [row, n] of readRows(path, shown, errors)) {
    // The header (CSV/TSV) or the first object (JSONL) fixes the columns; later JSONL lines that lack one of them
    // fail as a row with a missing value.
    if (interactions === null) {
      const columns = genericColumns(row.columns, shown, path.includes('.jsonl') ? n : 1, opts);
      interactions = new GenericInteractions(columns, catalog, errors, new InteractionBuilder(columns.signals));
    }
    const { user, item, time, signals } = interactions.columns;
    interactions.add(shown, n, row.raw(user), row.raw(item), time ? row.get(time) : undefined, (s) => row.get(signals[s]));
  }
  return { rowsSeen: interactions?.rowsSeen ?? 0, arrays: interactions?.sink.build() ?? new InteractionBuilder([]).build() };
}

/**
 * interactions.parquet (a file or a folder of part files) through DuckDB, in two streamed passes. The first checks
 * every row with GenericInteractions — the CSV rules and errors — and keeps only the users (first appearance) and the
 * items; the second has DuckDB order the rows by user and time (out of core, DuckDB's sort) and fills the dataset's
 * typed arrays from the sorted stream, so no row is ever held as a JS object. The order is InteractionBuilder's: users
 * by orderUsers, each user's rows by time, ties in file order. A time column stored as text is parsed in JS (as in a
 * CSV), which DuckDB cannot sort by: such a file goes through an InteractionBuilder instead.
 */
async function readInteractionsParquet(path: string, shown: string, catalog: Catalog, errors: RowErrors, opts: ReadOptions): Promise<InteractionArrays> {
  const source = await ParquetSource.open(path, shown);
  try {
    let columns: GenericColumns | null = null;
    const plans: ColumnRead[][] = [];
    for (const part of source.parts) {
      const found = genericColumns((await source.columns(part)).map(([name]) => name), part.shown, 0, opts);
      columns ??= found;
      const describe = (c: GenericColumns) => [c.user, c.item, c.time, ...c.signals].filter(Boolean).join(', ');
      if (describe(found) !== describe(columns)) {
        throw new DataFormatError(part.shown, 0, `columns ${describe(found)} differ from ${source.parts[0].shown}'s (${describe(columns)}); every part file must have the same columns`);
      }
      const wanted: [string, ColumnRole][] = [[columns.user, 'id'], [columns.item, 'id'], ...(columns.time ? [[columns.time, 'time'] as [string, ColumnRole]] : []), ...columns.signals.map((c): [string, ColumnRole] => [c, 'number'])];
      plans.push(await source.plan(part, wanted));
    }
    const { time, signals } = columns!;
    const timeAt = time ? 2 : -1; // the time column's place in a plan
    const signalAt = time ? 3 : 2;
    // ms per unit of each part's time column: a TIMESTAMP arrives as Unix ms whatever the column's name.
    const timeScales = plans.map((plan) => (time === 'timestamp' && !plan[timeAt].milliseconds ? 1000 : 1));
    const textTime = time !== '' && plans.some((plan) => plan[timeAt].type === 'VARCHAR');

    // Pass 1: every row checked, in file order.
    const sink = textTime ? new InteractionBuilder(signals) : new UserFirstAppearance();
    const interactions = new GenericInteractions<RowSink>(columns!, catalog, errors, sink);
    const skippedRows = new Set<number>(); // row ordinals (0-based over all parts) that --skipBadRows skipped
    const partStart: number[] = []; // ordinal of each part's first row
    let ordinal = 0;
    for (const [p, part] of source.parts.entries()) {
      partStart.push(ordinal);
      interactions.timeScale = timeScales[p];
      interactions.timeExpected = time && plans[p][timeAt].milliseconds ? `a ${plans[p][timeAt].type}` : time === 'timestamp' ? 'Unix seconds' : 'Unix milliseconds';
      for await (const chunk of source.scan(part, plans[p])) {
        const [users, items] = chunk.values;
        const times = timeAt >= 0 ? chunk.values[timeAt] : null;
        const signalValues = chunk.values.slice(signalAt) as FieldValue[][];
        for (let r = 0; r < chunk.rows; r++, ordinal++) {
          const kept = interactions.add(part.shown, chunk.rowNumber + r, users[r], items[r], times ? (times[r] as FieldValue) : undefined, (s) => signalValues[s][r]);
          if (!kept) skippedRows.add(ordinal);
        }
      }
    }
    if (sink instanceof InteractionBuilder) return { rowsSeen: interactions.rowsSeen, arrays: sink.build() };

    // Pass 2: DuckDB's order, into the arrays.
    const { order, rank } = orderUsers(sink.keys);
    for (const [key, u] of sink.index) sink.index.set(key, rank[u]); // id → output user index
    const n = ordinal - skippedRows.size;
    const item = new Int32Array(n); // [rows]
    const timeMs = new Float64Array(n); // [rows]
    const dayAbs = new Float64Array(n); // [rows] absolute UTC day
    const signalArrays = signals.map(() => new Float32Array(n)); // [signals][rows]
    const userOffsets = new Int32Array(sink.keys.length + 1);
    let row = 0;
    const sorted = source.scanSorted(plans, { rankBy: 0, ranks: sink.index, indexBy: 1, index: catalog.index, time: timeAt, timeScales });
    for await (const chunk of sorted) {
      const [ranks, indices, parts, rowNumbers] = chunk.values as number[][];
      const [, , , , times] = chunk.values as number[][]; // time × scale: the Unix ms the check computed
      const signalValues = chunk.values.slice(5) as FieldValue[][];
      for (let r = 0; r < chunk.rows; r++) {
        if (skippedRows.has(partStart[parts[r]] + rowNumbers[r] - 1)) continue;
        if (ranks[r] === null || indices[r] === null || row === n) throw new DataFormatError(shown, rowNumbers[r], `DuckDB's sorted scan disagrees with the checked rows (part ${parts[r]})`);
        item[row] = indices[r];
        timeMs[row] = timeAt >= 0 ? times[r] : Number.NaN;
        dayAbs[row] = utcDay(timeMs[row]);
        for (let s = 0; s < signals.length; s++) signalArrays[s][row] = signalNumber(signalValues[s][r]);
        userOffsets[ranks[r] + 1]++;
        row++;
      }
    }
    if (row !== n) throw new DataFormatError(shown, 0, `DuckDB's sorted scan gave ${row} rows, the check kept ${n}`);
    for (let u = 0; u < sink.keys.length; u++) userOffsets[u + 1] += userOffsets[u];
    return {
      rowsSeen: interactions.rowsSeen,
      arrays: {
        users: order.map((u) => sink.keys[u]),
        userOffsets,
        item,
        timeMs,
        day: dayIndices(dayAbs),
        signals: Object.fromEntries(signals.map((name, s) => [name, signalArrays[s]])),
      },
    };
  } finally {
    source.close();
  }
}

// --------------------------------------------------------------------------------------------- KuaiRand

/** Signals kept from the KuaiRand log: [our name, log column]. */
const KUAIRAND_SIGNALS: [string, string][] = [
  ['click', 'is_click'], ['like', 'is_like'], ['follow', 'is_follow'], ['comment', 'is_comment'],
  ['forward', 'is_forward'], ['hate', 'is_hate'], ['long_view', 'long_view'], ['play_time_ms', 'play_time_ms'],
  ['duration_ms', 'duration_ms'], ['profile_stay_time', 'profile_stay_time'], ['comment_stay_time', 'comment_stay_time'],
  ['profile_enter', 'is_profile_enter'], ['tab', 'tab'],
];
/** Categorical video features that become `key:value` attributes. */
const KUAIRAND_CATEGORIES = ['author_id', 'video_type', 'upload_type', 'music_type', 'tag'];
const KUAIRAND_NUMERIC_BASIC = ['video_duration', 'server_width', 'server_height'];

/**
 * KuaiRand-Pure: the standard log (one row per impression) with its real signals; the catalog is the
 * videos that occur in the log (ordered by video id), described by the basic and statistic feature tables.
 */
export async function readKuaiRand(dir: string, options: Partial<ReadOptions> = {}): Promise<Dataset> {
  const opts = { ...DEFAULT_READ_OPTIONS, ...options };
  const errors = new RowErrors(opts.skipBadRows);
  const logPath = findFile(dir, ['log_standard_4_25_to_5_08_pure.csv.gz', 'log_standard_4_25_to_5_08_pure.csv'])!;
  const basicPath = findFile(dir, ['video_features_basic_pure.csv.gz', 'video_features_basic_pure.csv']);
  const statsPath = findFile(dir, ['video_features_statistic_pure.csv.gz', 'video_features_statistic_pure.csv']);
  if (!basicPath) throw new DataFormatError(dir, 0, 'video_features_basic_pure.csv(.gz) is missing; KuaiRand needs it for item features');
  const logName = basename(logPath);

  // 1. The log: keep raw video ids; the catalog order is fixed once all ids are known.
  const required = ['user_id', 'video_id', 'date', 'time_ms', ...KUAIRAND_SIGNALS.map(([, c]) => c)];
  const rows: { user: string; video: string; time: number; day: number; signals: number[] }[] = [];
  for await (const [row, n] of readRows(logPath, logName, errors)) {
    if (rows.length === 0) {
      const missing = required.filter((c) => !row.columns.includes(c));
      if (missing.length) throw new DataFormatError(logName, 1, `missing column ${missing.map((m) => `'${m}'`).join(', ')}; this is not a KuaiRand log`);
    }
    const time = numberOrNaN(row.get('time_ms'));
    if (!Number.isFinite(time)) {
      errors.bad(logName, n, 'bad timestamp', `time_ms '${row.get('time_ms')}' is not a number`);
      continue;
    }
    const date = row.get('date') ?? '';
    const m = /^(\d{4})(\d{2})(\d{2})$/.exec(date.trim());
    if (!m) {
      errors.bad(logName, n, 'bad date', `date '${date}' is not yyyymmdd`);
      continue;
    }
    const signals = KUAIRAND_SIGNALS.map(([, c]) => numberOrNaN(row.get(c)));
    const badSignal = signals.findIndex((v) => !Number.isFinite(v));
    if (badSignal >= 0) {
      errors.bad(logName, n, 'bad signal', `${KUAIRAND_SIGNALS[badSignal][1]} '${row.get(KUAIRAND_SIGNALS[badSignal][1])}' is not a number`);
      continue;
    }
    const day = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])) / 86_400_000;
    rows.push({ user: row.get('user_id')!, video: row.get('video_id')!, time, day, signals });
  }

  // 2. Video features: every logged video must have a row.
  const basicName = basename(basicPath);
  const features = new Map<string, { attributes: string[]; numeric: number[] }>();
  const featureLine = new Map<string, number>();
  for await (const [row, n] of readRows(basicPath, basicName, errors)) {
    const id = row.get('video_id');
    if (id === undefined) throw new DataFormatError(basicName, 1, `missing column 'video_id'`);
    if (features.has(id)) throw new DataFormatError(basicName, n, `duplicate video_id '${id}' (first on line ${featureLine.get(id)})`);
    featureLine.set(id, n);
    const attributes = KUAIRAND_CATEGORIES.flatMap((c) => {
      const v = (row.get(c) ?? '').trim();
      if (v === '' || v === 'UNKNOWN') return [];
      // `tag` may hold several ids ("39,8"): one attribute each.
      return c === 'tag' ? v.split(',').map((t) => `tag:${t.trim()}`) : [`${c.replace(/_id$/, '')}:${v.replace(/\.0$/, '')}`];
    });
    features.set(id, { attributes, numeric: KUAIRAND_NUMERIC_BASIC.map((c) => numberOrNaN(row.get(c))) });
  }
  let statNames: string[] = [];
  const stats = new Map<string, number[]>();
  if (statsPath) {
    const statsName = basename(statsPath);
    for await (const [row, n] of readRows(statsPath, statsName, errors)) {
      if (statNames.length === 0) statNames = row.columns.filter((c) => c !== 'video_id');
      const id = row.get('video_id');
      if (id === undefined) throw new DataFormatError(statsName, 1, `missing column 'video_id'`);
      if (stats.has(id)) throw new DataFormatError(statsName, n, `duplicate video_id '${id}'`);
      stats.set(id, statNames.map((c) => numberOrNaN(row.get(c))));
    }
  }

  const videos = [...new Set(rows.map((r) => r.video))].sort((a, b) => Number(a) - Number(b) || (a < b ? -1 : a > b ? 1 : 0));
  const index = new Map(videos.map((v, i) => [v, i]));
  for (const v of videos) {
    if (!features.has(v)) throw new DataFormatError(basicName, 0, `video_id '${v}' occurs in ${logName} but has no row here; the feature table must cover every logged video`);
  }
  const names = [...KUAIRAND_NUMERIC_BASIC, ...statNames];
  const values = new Float32Array(videos.length * names.length); // [items, features]
  const items: CatalogItem[] = videos.map((v, i) => {
    const f = features.get(v)!;
    const s = stats.get(v) ?? statNames.map(() => Number.NaN);
    values.set([...f.numeric, ...s], i * names.length);
    return { id: v, attributes: f.attributes };
  });
  const builder = new InteractionBuilder(KUAIRAND_SIGNALS.map(([name]) => name));
  let firstDay = Infinity;
  for (const r of rows) {
    builder.add(r.user, index.get(r.video)!, r.time, r.signals, r.day);
    firstDay = Math.min(firstDay, r.day);
  }
  const built = builder.build();

  // 3. Pre-period histories (optional): per user, the last ≤ 50 videos before the log, catalog videos only.
  const historyPath = findFile(dir, ['user_history_until_20220424_last50.jsonl.gz', 'user_history_until_20220424_last50.jsonl']);
  const priorHistory = historyPath ? await readPriorHistory(historyPath, built.users, index) : undefined;
  return {
    name: basename(dir),
    source: 'kuairand',
    items,
    itemFeatures: { names, values },
    ...built,
    ...(Number.isFinite(firstDay) ? { firstDay } : {}),
    ...(priorHistory ? { priorHistory } : {}),
    skipped: errors.skipped,
    firstSkipped: errors.firstSkipped,
    files: [logName, basicName, ...(statsPath ? [basename(statsPath)] : []), ...(historyPath ? [basename(historyPath)] : [])],
  };
}

/**
 * KuaiRand's pre-period summary (JSONL: user_id, watch_seq = the last ≤ 50 video ids before the log, oldest first)
 * as item indices per user of `users`; videos outside the catalog and users outside the log are left out.
 */
async function readPriorHistory(path: string, users: readonly string[], videoIndex: Map<string, number>): Promise<NonNullable<Dataset['priorHistory']>> {
  const name = basename(path);
  const userIndex = new Map(users.map((u, i) => [u, i]));
  const perUser: (number[] | undefined)[] = new Array(users.length);
  for await (const [line, n] of readLines(path)) {
    if (line.trim() === '') continue;
    let row: { user_id?: unknown; watch_seq?: unknown };
    try {
      row = JSON.parse(line);
    } catch (e) {
      throw new DataFormatError(name, n, `not a JSON object (${(e as Error).message})`);
    }
    if (!Array.isArray(row.watch_seq) || (typeof row.user_id !== 'number' && typeof row.user_id !== 'string')) {
      throw new DataFormatError(name, n, 'expected { "user_id": id, "watch_seq": [video ids] } (KuaiRand\'s pre-period summary)');
    }
    const u = userIndex.get(String(row.user_id));
    if (u === undefined) continue;
    perUser[u] = (row.watch_seq as unknown[]).flatMap((v) => {
      const item = videoIndex.get(String(v));
      return item === undefined ? [] : [item];
    });
  }
  const offsets = new Int32Array(users.length + 1);
  for (let u = 0; u < users.length; u++) offsets[u + 1] = offsets[u] + (perUser[u]?.length ?? 0);
  const item = new Int32Array(offsets[users.length]);
  perUser.forEach((list, u) => list && item.set(list, offsets[u]));
  return { offsets, item };
}

// -------------------------------------------------------------------------------------------- MovieLens

/** MovieLens-100K: u.data (user item rating timestamp, TSV, no header), u.item ('|', ISO-8859-1), u.genre. */
export async function readMovieLens100k(dir: string, options: Partial<ReadOptions> = {}): Promise<Dataset> {
  const opts = { ...DEFAULT_READ_OPTIONS, ...options };
  const errors = new RowErrors(opts.skipBadRows);
  const genrePath = findFile(dir, ['u.genre', 'u.genre.gz']);
  const genres: string[] = [];
  if (genrePath) {
    for await (const [line] of readLines(genrePath, 'latin1')) {
      const [name, id] = line.split('|');
      if (name && id !== undefined) genres[Number(id)] = name;
    }
  }
  const itemPath = findFile(dir, ['u.item.gz', 'u.item'])!;
  const items: CatalogItem[] = [];
  const index = new Map<string, number>();
  for await (const [line, n] of readLines(itemPath, 'latin1')) {
    if (line.trim() === '') continue;
    const f = line.split('|');
    if (f.length < 5) {
      errors.bad(basename(itemPath), n, 'wrong field count', `${f.length} '|'-separated fields, expected 24`);
      continue;
    }
    if (index.has(f[0])) throw new DataFormatError(basename(itemPath), n, `duplicate movie id '${f[0]}'`);
    const flags = f.slice(5);
    index.set(f[0], items.length);
    items.push({ id: f[0], title: f[1], attributes: flags.flatMap((v, g) => (v === '1' ? [genres[g] ?? `genre ${g}`] : [])) });
  }
  const dataPath = findFile(dir, ['u.data.gz', 'u.data'])!;
  return readRatings(dataPath, /\t/, items, index, errors, dir, [basename(dataPath), basename(itemPath)]);
}

/** MovieLens-1M: ratings `user::movie::rating::timestamp` (here the users-1–2,999 file) and movies.dat. */
export async function readMovieLens1m(dir: string, options: Partial<ReadOptions> = {}): Promise<Dataset> {
  const opts = { ...DEFAULT_READ_OPTIONS, ...options };
  const errors = new RowErrors(opts.skipBadRows);
  const moviesPath = findFile(dir, ['movies.dat.gz', 'movies.dat'])!;
  const items: CatalogItem[] = [];
  const index = new Map<string, number>();
  for await (const [line, n] of readLines(moviesPath, 'latin1')) {
    if (line.trim() === '') continue;
    const f = line.split('::');
    if (f.length !== 3) {
      errors.bad(basename(moviesPath), n, 'wrong field count', `${f.length} '::'-separated fields, expected MovieID::Title::Genres`);
      continue;
    }
    if (index.has(f[0])) throw new DataFormatError(basename(moviesPath), n, `duplicate movie id '${f[0]}'`);
    index.set(f[0], items.length);
    items.push({ id: f[0], title: f[1], attributes: f[2].split('|') });
  }
  const ratingsPath = findFile(dir, ['ratings.dat.gz', 'ratings.dat', 'ratings_users_0001-2999.dat.gz', 'ratings_users_0001-2999.dat']);
  if (!ratingsPath) throw new DataFormatError(dir, 0, 'no ratings.dat(.gz) or ratings_users_0001-2999.dat(.gz); MovieLens-1M needs ratings with timestamps');
  return readRatings(ratingsPath, '::', items, index, errors, dir, [basename(ratingsPath), basename(moviesPath)]);
}

async function readRatings(path: string, separator: RegExp | string, items: CatalogItem[], index: Map<string, number>, errors: RowErrors, dir: string, files: string[]): Promise<Dataset> {
  const shown = basename(path);
  const builder = new InteractionBuilder(['rating']);
  for await (const [line, n] of readLines(path)) {
    if (line.trim() === '') continue;
    const f = line.split(separator);
    if (f.length !== 4) {
      errors.bad(shown, n, 'wrong field count', `${f.length} fields, expected user, movie, rating, timestamp`);
      continue;
    }
    const item = index.get(f[1]);
    if (item === undefined) {
      errors.bad(shown, n, 'unknown item', `movie '${f[1]}' is not in the movie list`);
      continue;
    }
    const rating = numberOrNaN(f[2]);
    const seconds = numberOrNaN(f[3]);
    if (!Number.isFinite(seconds)) {
      errors.bad(shown, n, 'bad timestamp', `timestamp '${f[3]}' is not a number (Unix seconds)`);
      continue;
    }
    if (!Number.isFinite(rating)) {
      errors.bad(shown, n, 'bad signal', `rating '${f[2]}' is not a number`);
      continue;
    }
    builder.add(f[0], item, seconds * 1000, [rating]);
  }
  return { name: basename(dir), source: 'movielens', items, ...builder.build(), skipped: errors.skipped, firstSkipped: errors.firstSkipped, files };
}
