// The prepared directory that `onerec prepare` writes and every later stage reads through loadPrepared().
//
//   OUT/prepared.json        what is here: counts, split, signals, session rules, and each array's file/dtype/shape
//   OUT/report.json          the prepare report (semantic-ID figures, baseline, embeddings, sessions, timings)
//   OUT/items.json           catalog: item index → { id, title?, attributes? }
//   OUT/users.json           user index → external user id
//   OUT/semantic-ids.bin     the trie (runtime/semantic-id-trie.ts, format "OSID" v1)
//   OUT/codes.u16            [items, levels]  semantic IDs, suffix level last
//   OUT/embeddings.f32       [items, dim]     behaviour-aligned item embeddings
//   OUT/<array>.<dtype>      the columns below, raw little-endian
//
// Interaction rows are grouped by user and chronological within a user (see Dataset):
//   rows-user-offsets.i32 [users + 1], rows-item.i32 [rows], rows-time-ms.f64 [rows], rows-day.i32 [rows],
//   rows-split.u8 [rows] (0 train, 1 validation, 2 test), signal-<name>.f32 [rows] per signal.
// Sessions (see sessions.ts): sessions-offsets.i32 [sessions + 1], sessions-rows.i32 [Σ lengths],
//   sessions-user.i32, sessions-day.i32, sessions-flags.u8 [sessions].
// Data with play time also has the reward model's sessions (sessions.ts `rewardSessions`), the same five arrays
//   under `reward-sessions-*`; KuaiRand the pre-period histories, prior-history-offsets.i32 [users + 1] and
//   prior-history-item.i32 [Σ lengths].
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SemanticIdTrie } from '../../runtime/semantic-id-trie.ts';
import { PreparedDataError } from './errors.ts';
import type { CatalogItem, Dataset } from './dataset.ts';
import type { Split, SplitKind } from './splits.ts';
import type { RewardSessionRules, SessionCounts, SessionRules, Sessions } from './sessions.ts';

export const PREPARED_FORMAT = 'onerec-prepared';
export const PREPARED_VERSION = 1;

type DType = 'u8' | 'u16' | 'i32' | 'f32' | 'f64';
type TypedArray = Uint8Array | Uint16Array | Int32Array | Float32Array | Float64Array;
const CONSTRUCTORS = { u8: Uint8Array, u16: Uint16Array, i32: Int32Array, f32: Float32Array, f64: Float64Array } as const;

export interface ArrayEntry {
  file: string;
  dtype: DType;
  shape: number[];
}

export interface PreparedMeta {
  format: typeof PREPARED_FORMAT;
  version: number;
  dataset: string; // folder name of the source data
  source: Dataset['source'];
  items: number;
  users: number;
  rows: number;
  levels: number; // token layout levels = k-means levels + 1 suffix
  codebookSize: number;
  embeddingDim: number;
  split: { kind: SplitKind; historyCap: number; validationDay?: number; testDay?: number };
  signals: string[]; // per-row signal names, e.g. play_time_ms, like, … (empty for Amazon)
  sessions: { kind: Sessions['kind']; count: number; rules: SessionRules; counts: SessionCounts };
  rewardSessions?: { count: number; rules: RewardSessionRules; counts: SessionCounts }; // data with play time
  firstDay?: number; // the calendar day of day index 0 (Unix days, UTC), where the source dates its rows
  arrays: Record<string, ArrayEntry>;
}

export interface PreparedData {
  dir: string;
  meta: PreparedMeta;
  report: Record<string, unknown>;
  items: CatalogItem[]; // [items]
  users: string[]; // [users] external ids
  levels: number;
  codebookSize: number;
  codes: Uint16Array; // [items, levels]
  trie: SemanticIdTrie;
  embeddings: Float32Array; // [items, embeddingDim]
  embeddingDim: number;
  userOffsets: Int32Array; // [users + 1]
  item: Int32Array; // [rows]
  timeMs: Float64Array; // [rows]
  day: Int32Array; // [rows]
  split: Split & { historyCap: number };
  signals: Record<string, Float32Array>; // [rows] each
  sessions: Sessions;
  rewardSessions?: Sessions; // the reward model's sessions (data with play time)
  priorHistory?: Dataset['priorHistory']; // impressions before the log (KuaiRand)
}

export interface PreparedContents {
  meta: Omit<PreparedMeta, 'format' | 'version' | 'arrays'>;
  report: Record<string, unknown>;
  dataset: Dataset;
  codes: Uint16Array;
  trie: SemanticIdTrie;
  embeddings: Float32Array;
  split: Split;
  sessions: Sessions;
  rewardSessions?: Sessions;
}

export function writePrepared(dir: string, contents: PreparedContents): void {
  mkdirSync(dir, { recursive: true });
  const { dataset, meta } = contents;
  const arrays: Record<string, ArrayEntry> = {};
  const put = (name: string, dtype: DType, data: TypedArray, shape: number[]) => {
    const file = `${name}.${dtype}`;
    writeFileSync(join(dir, file), new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    arrays[name] = { file, dtype, shape };
  };
  put('codes', 'u16', contents.codes, [meta.items, meta.levels]);
  put('embeddings', 'f32', contents.embeddings, [meta.items, meta.embeddingDim]);
  put('rows-user-offsets', 'i32', dataset.userOffsets, [meta.users + 1]);
  put('rows-item', 'i32', dataset.item, [meta.rows]);
  put('rows-time-ms', 'f64', dataset.timeMs, [meta.rows]);
  put('rows-day', 'i32', dataset.day, [meta.rows]);
  put('rows-split', 'u8', contents.split.rowSplit, [meta.rows]);
  for (const [name, column] of Object.entries(dataset.signals)) put(`signal-${name}`, 'f32', column, [meta.rows]);
  const putSessions = (prefix: string, s: Sessions) => {
    put(`${prefix}-offsets`, 'i32', s.offsets, [s.user.length + 1]);
    put(`${prefix}-rows`, 'i32', s.rows, [s.rows.length]);
    put(`${prefix}-user`, 'i32', s.user, [s.user.length]);
    put(`${prefix}-day`, 'i32', s.day, [s.user.length]);
    put(`${prefix}-flags`, 'u8', s.flags, [s.user.length]);
  };
  putSessions('sessions', contents.sessions);
  if (contents.rewardSessions) putSessions('reward-sessions', contents.rewardSessions);
  if (dataset.priorHistory) {
    put('prior-history-offsets', 'i32', dataset.priorHistory.offsets, [meta.users + 1]);
    put('prior-history-item', 'i32', dataset.priorHistory.item, [dataset.priorHistory.item.length]);
  }
  writeFileSync(join(dir, 'semantic-ids.bin'), contents.trie.toBytes());
  writeFileSync(join(dir, 'items.json'), JSON.stringify(dataset.items));
  writeFileSync(join(dir, 'users.json'), JSON.stringify(dataset.users));
  const full: PreparedMeta = { format: PREPARED_FORMAT, version: PREPARED_VERSION, ...meta, arrays };
  writeFileSync(join(dir, 'prepared.json'), JSON.stringify(full, null, 2) + '\n');
  writeFileSync(join(dir, 'report.json'), JSON.stringify(contents.report, null, 2) + '\n');
}

function readJson<T>(dir: string, file: string): T {
  const path = join(dir, file);
  if (!existsSync(path)) throw new PreparedDataError(`${path} is missing; run \`onerec prepare --data DATA --out ${dir}\` first`);
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch (e) {
    throw new PreparedDataError(`${path}: not valid JSON (${(e as Error).message}); re-run \`onerec prepare\``);
  }
}

/** Everything `onerec prepare` wrote to `dir`, as typed arrays; checks that the files agree. */
export function loadPrepared(dir: string): PreparedData {
  const meta = readJson<PreparedMeta>(dir, 'prepared.json');
  if (meta.format !== PREPARED_FORMAT || meta.version !== PREPARED_VERSION) {
    throw new PreparedDataError(`${join(dir, 'prepared.json')}: format ${meta.format} v${meta.version}, this code reads ${PREPARED_FORMAT} v${PREPARED_VERSION}; re-run \`onerec prepare\``);
  }
  const array = <D extends DType>(name: string, dtype: D): InstanceType<(typeof CONSTRUCTORS)[D]> => {
    const entry = meta.arrays[name];
    if (!entry) throw new PreparedDataError(`${join(dir, 'prepared.json')} lists no array '${name}'; re-run \`onerec prepare\``);
    if (entry.dtype !== dtype) throw new PreparedDataError(`${name}: dtype ${entry.dtype}, expected ${dtype}`);
    const path = join(dir, entry.file);
    if (!existsSync(path)) throw new PreparedDataError(`${path} is missing; re-run \`onerec prepare\``);
    const bytes = readFileSync(path);
    const Ctor = CONSTRUCTORS[dtype];
    const length = entry.shape.reduce((a, b) => a * b, 1);
    if (bytes.byteLength !== length * Ctor.BYTES_PER_ELEMENT) {
      throw new PreparedDataError(`${path}: ${bytes.byteLength} bytes, shape [${entry.shape.join(', ')}] of ${dtype} needs ${length * Ctor.BYTES_PER_ELEMENT}; the file is truncated, re-run \`onerec prepare\``);
    }
    const copy = new Uint8Array(bytes.byteLength); // aligned copy (Buffer pools are not)
    copy.set(bytes);
    return new Ctor(copy.buffer) as InstanceType<(typeof CONSTRUCTORS)[D]>;
  };
  const codes = array('codes', 'u16');
  const trieBytes = existsSync(join(dir, 'semantic-ids.bin')) ? readFileSync(join(dir, 'semantic-ids.bin')) : null;
  if (!trieBytes) throw new PreparedDataError(`${join(dir, 'semantic-ids.bin')} is missing; re-run \`onerec prepare\``);
  const trie = SemanticIdTrie.fromBytes(new Uint8Array(trieBytes.buffer, trieBytes.byteOffset, trieBytes.byteLength));
  if (trie.itemCount !== meta.items || trie.levels !== meta.levels || trie.codebookSize !== meta.codebookSize) {
    throw new PreparedDataError(`semantic-ids.bin (${trie.itemCount} items, ${trie.levels} levels, K ${trie.codebookSize}) disagrees with prepared.json (${meta.items}, ${meta.levels}, ${meta.codebookSize})`);
  }
  for (let i = 0; i < meta.items; i++) {
    const c = trie.itemCodes(i);
    for (let l = 0; l < meta.levels; l++) {
      if (c[l] !== codes[i * meta.levels + l]) throw new PreparedDataError(`item ${i}: codes.u16 and semantic-ids.bin disagree at level ${l}; re-run \`onerec prepare\``);
    }
  }
  const items = readJson<CatalogItem[]>(dir, 'items.json');
  const users = readJson<string[]>(dir, 'users.json');
  if (items.length !== meta.items || users.length !== meta.users) {
    throw new PreparedDataError(`items.json has ${items.length} items / users.json ${users.length} users; prepared.json says ${meta.items} / ${meta.users}`);
  }
  const signals: Record<string, Float32Array> = {};
  for (const name of meta.signals) signals[name] = array(`signal-${name}`, 'f32');
  const rowSplit = array('rows-split', 'u8');
  const sessions = (prefix: string, kind: Sessions['kind']): Sessions => ({
    kind,
    offsets: array(`${prefix}-offsets`, 'i32'),
    rows: array(`${prefix}-rows`, 'i32'),
    user: array(`${prefix}-user`, 'i32'),
    day: array(`${prefix}-day`, 'i32'),
    flags: array(`${prefix}-flags`, 'u8'),
  });
  return {
    dir,
    meta,
    report: readJson<Record<string, unknown>>(dir, 'report.json'),
    items,
    users,
    levels: meta.levels,
    codebookSize: meta.codebookSize,
    codes,
    trie,
    embeddings: array('embeddings', 'f32'),
    embeddingDim: meta.embeddingDim,
    userOffsets: array('rows-user-offsets', 'i32'),
    item: array('rows-item', 'i32'),
    timeMs: array('rows-time-ms', 'f64'),
    day: array('rows-day', 'i32'),
    split: { ...meta.split, rowSplit },
    signals,
    sessions: sessions('sessions', meta.sessions.kind),
    ...(meta.rewardSessions ? { rewardSessions: sessions('reward-sessions', 'reward') } : {}),
    ...(meta.arrays['prior-history-offsets'] ? { priorHistory: { offsets: array('prior-history-offsets', 'i32'), item: array('prior-history-item', 'i32') } } : {}),
  };
}
