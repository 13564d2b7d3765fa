import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { readDataset } from '../../../models/data/readers.ts';
import { DataFormatError } from '../../../models/data/errors.ts';
import { userItems } from '../../../models/data/dataset.ts';

function folder(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'onerec-readers-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), name.endsWith('.gz') ? gzipSync(text) : text);
  return dir;
}

const ITEMS = [
  { item: 'a', title: 'Alpha', attributes: ['x'] },
  { item: 'b', title: 'Beta' },
  { item: 'c' },
].map((o) => JSON.stringify(o)).join('\n') + '\n';

test('generic CSV: catalog order, users numeric-sorted, rows chronological per user, signals kept', async () => {
  const dir = folder({
    'items.jsonl': ITEMS,
    'interactions.csv': 'user,item,timestamp,play_time_ms,like\n10,b,200,5000,1\n2,a,100,100,0\n10,a,100,7000,0\n2,c,50,,0\n',
  });
  const ds = await readDataset(dir);
  assert.equal(ds.source, 'generic');
  assert.deepEqual(ds.items.map((i) => i.id), ['a', 'b', 'c']);
  assert.deepEqual(ds.items[0], { id: 'a', title: 'Alpha', attributes: ['x'] });
  assert.deepEqual(ds.users, ['2', '10']);
  assert.deepEqual([...ds.userOffsets], [0, 2, 4]);
  assert.deepEqual([...userItems(ds, 0)], [2, 0]); // user 2: c@50, a@100
  assert.deepEqual([...userItems(ds, 1)], [0, 1]); // user 10: a@100, b@200
  assert.deepEqual([...ds.timeMs], [50_000, 100_000, 100_000, 200_000]);
  assert.deepEqual([...ds.signals.play_time_ms].map((v) => (Number.isNaN(v) ? null : v)), [null, 100, 7000, 5000]);
  assert.deepEqual([...ds.signals.like], [0, 0, 0, 1]);
});

test('generic TSV.gz and JSONL read the same rows; equal times keep file order', async () => {
  const tsv = folder({ 'interactions.tsv.gz': 'user_id\titem_id\ttimestamp\nu\tq\t5\nu\tp\t5\nu\tr\t1\n' });
  const jsonl = folder({ 'interactions.jsonl': ['{"user":"u","item":"q","timestamp":5}', '{"user":"u","item":"p","timestamp":5}', '{"user":"u","item":"r","timestamp":1}'].join('\n') });
  for (const dir of [tsv, jsonl]) {
    const ds = await readDataset(dir);
    assert.deepEqual(ds.items.map((i) => i.id), ['q', 'p', 'r']); // no items file: order of first appearance
    assert.deepEqual([...ds.item], [2, 0, 1]);
  }
});

test('quoted CSV fields may hold the delimiter', async () => {
  const ds = await readDataset(folder({ 'interactions.csv': 'user,item,timestamp,rating\n"u,1","it""em",3,4\n' }));
  assert.deepEqual(ds.users, ['u,1']);
  assert.equal(ds.items[0].id, 'it"em');
});

async function rejects(dir: string, file: string, line: number, message: RegExp): Promise<void> {
  await assert.rejects(readDataset(dir), (e: Error) => {
    assert.ok(e instanceof DataFormatError);
    assert.equal(e.name, 'DataFormatError');
    assert.equal(e.file, file);
    assert.equal(e.line, line);
    assert.ok(e.message.startsWith(`${file}:${line}: `), e.message);
    assert.match(e.message, message);
    return true;
  });
}

test('errors name file and line: missing column, bad timestamp, unknown item, duplicate item, bad signal', async () => {
  await rejects(folder({ 'interactions.csv': 'user,item,time\n1,a,3\n' }), 'interactions.csv', 1, /missing column 'timestamp'.*found user, item, time/);
  await rejects(folder({ 'interactions.csv': 'user,timestamp\n1,3\n' }), 'interactions.csv', 1, /missing column 'item'/);
  await rejects(folder({ 'interactions.tsv': 'user\titem\ttimestamp\n1\ta\t3\n1\tb\tyesterday\n' }), 'interactions.tsv', 3, /timestamp 'yesterday' is not a number/);
  await rejects(folder({ 'items.jsonl': ITEMS, 'interactions.csv': 'user,item,timestamp\n1,a,3\n1,zz,4\n' }), 'interactions.csv', 3, /item 'zz' is not in items.jsonl/);
  await rejects(folder({ 'items.jsonl': ITEMS + '{"item":"b"}\n', 'interactions.csv': 'user,item,timestamp\n1,a,3\n' }), 'items.jsonl', 4, /duplicate item id 'b' \(first on line 2\)/);
  await rejects(folder({ 'interactions.csv': 'user,item,timestamp,like\n1,a,3,maybe\n' }), 'interactions.csv', 2, /like 'maybe' is not a number/);
  await rejects(folder({ 'interactions.csv': 'user,item,timestamp\n1,a\n' }), 'interactions.csv', 2, /2 fields, the header has 3/);
  await rejects(folder({ 'interactions.jsonl': '{"user":1,"item":"a","timestamp":1}\n{oops\n' }), 'interactions.jsonl', 2, /not valid JSON/);
  await rejects(folder({ 'items.jsonl': ITEMS + 'null\n', 'interactions.csv': 'user,item,timestamp\n1,a,3\n' }), 'items.jsonl', 4, /each line must be one JSON object/);
  await rejects(folder({ 'interactions.jsonl': '{"user":1,"item":"a","timestamp":1}\n[1,2]\n' }), 'interactions.jsonl', 2, /each line must be one JSON object/);
  await assert.rejects(readDataset(folder({ 'notes.txt': 'x' })), /no interactions file/);
});

test('skipBadRows skips and counts by reason; a duplicate catalog id is never skipped', async () => {
  const dir = folder({
    'items.jsonl': ITEMS,
    'interactions.csv': 'user,item,timestamp\n1,a,3\n1,zz,4\n1,b,x\n1,c\n2,c,9\n',
  });
  const ds = await readDataset(dir, { skipBadRows: true });
  assert.equal(ds.item.length, 2);
  assert.deepEqual(ds.skipped, { 'unknown item': 1, 'bad timestamp': 1, 'wrong field count': 1 });
  const dup = folder({ 'items.jsonl': ITEMS + '{"item":"a"}\n', 'interactions.csv': 'user,item,timestamp\n1,a,3\n' });
  await assert.rejects(readDataset(dup, { skipBadRows: true }), DataFormatError);
});

test('allowMissingTimestamp keeps file order per user', async () => {
  const ds = await readDataset(folder({ 'interactions.tsv': 'user_id\titem_id\n1\tb\n1\ta\n' }), { allowMissingTimestamp: true });
  assert.deepEqual([...ds.item], [0, 1]);
  assert.ok(Number.isNaN(ds.timeMs[0]));
});

const KUAIRAND_HEADER = 'user_id,video_id,date,hourmin,time_ms,is_click,is_like,is_follow,is_comment,is_forward,is_hate,long_view,play_time_ms,duration_ms,profile_stay_time,comment_stay_time,is_profile_enter,is_rand,tab';

test('KuaiRand: catalog = logged videos by id, signals and day from the log, features joined', async () => {
  const dir = folder({
    'log_standard_4_25_to_5_08_pure.csv.gz': [
      KUAIRAND_HEADER,
      '7,20,20220425,1000,1650852000000,1,1,0,0,0,0,1,30000,40000,0,0,0,0,1',
      '7,3,20220426,1000,1650938400000,1,0,0,1,0,0,0,2000,9000,0,0,0,0,1',
      '5,3,20220426,1100,1650942000000,0,0,0,0,0,0,0,0,9000,0,0,0,0,2',
    ].join('\n'),
    'video_features_basic_pure.csv.gz': 'video_id,author_id,video_type,upload_dt,upload_type,visible_status,video_duration,server_width,server_height,music_id,music_type,tag\n3,11,NORMAL,2022-04-10,Web,0.0,9000.0,720.0,1280.0,1,9.0,"39,8"\n20,12,AD,2022-04-10,UNKNOWN,0.0,40000.0,720.0,1280.0,2,4.0,5\n99,13,NORMAL,2022-04-10,Web,0.0,1.0,1.0,1.0,3,9.0,1\n',
    'video_features_statistic_pure.csv.gz': 'video_id,show_cnt,like_cnt\n3,10,1\n20,20,2\n99,1,0\n',
  });
  const ds = await readDataset(dir);
  assert.equal(ds.source, 'kuairand');
  assert.deepEqual(ds.items.map((i) => i.id), ['3', '20']);
  assert.deepEqual(ds.items[0].attributes, ['author:11', 'video_type:NORMAL', 'upload_type:Web', 'music_type:9', 'tag:39', 'tag:8']);
  assert.deepEqual(ds.items[1].attributes, ['author:12', 'video_type:AD', 'music_type:4', 'tag:5']);
  assert.deepEqual(ds.users, ['5', '7']);
  assert.deepEqual([...ds.item], [0, 1, 0]);
  assert.deepEqual([...ds.day], [1, 0, 1]);
  assert.deepEqual([...ds.signals.play_time_ms], [0, 30000, 2000]);
  assert.deepEqual([...ds.signals.comment], [0, 0, 1]);
  assert.deepEqual(ds.itemFeatures!.names, ['video_duration', 'server_width', 'server_height', 'show_cnt', 'like_cnt']);
  assert.deepEqual([...ds.itemFeatures!.values], [9000, 720, 1280, 10, 1, 40000, 720, 1280, 20, 2]);
});

test('KuaiRand: a logged video without features is an error naming it', async () => {
  const dir = folder({
    'log_standard_4_25_to_5_08_pure.csv': `${KUAIRAND_HEADER}\n7,20,20220425,1000,1650852000000,1,1,0,0,0,0,1,30000,40000,0,0,0,0,1\n`,
    'video_features_basic_pure.csv': 'video_id,author_id,video_type,upload_dt,upload_type,visible_status,video_duration,server_width,server_height,music_id,music_type,tag\n3,11,NORMAL,x,Web,0,1,1,1,1,1,1\n',
  });
  await assert.rejects(readDataset(dir), /video_id '20' occurs in log_standard_4_25_to_5_08_pure.csv but has no row/);
});

test('MovieLens-100K: ratings with genres as attributes; unknown movie names the line', async () => {
  const dir = folder({
    'u.data.gz': '1\t2\t5\t881250949\n1\t1\t3\t881250000\n2\t1\t4\t881251000\n',
    'u.item.gz': '1|Toy Story (1995)|01-Jan-1995||url|0|0|1\n2|GoldenEye (1995)|01-Jan-1995||url|0|1|0\n',
    'u.genre': 'unknown|0\nAction|1\nAnimation|2\n',
  });
  const ds = await readDataset(dir);
  assert.equal(ds.source, 'movielens');
  assert.deepEqual(ds.items[0], { id: '1', title: 'Toy Story (1995)', attributes: ['Animation'] });
  assert.deepEqual([...userItems(ds, 0)], [0, 1]);
  assert.deepEqual([...ds.signals.rating], [3, 5, 4]);
  const bad = folder({ 'u.data': '1\t9\t5\t881250949\n', 'u.item': '1|Toy Story (1995)|x||url|0\n' });
  await rejects(bad, 'u.data', 1, /movie '9' is not in the movie list/);
});

test('MovieLens-1M: movies.dat and ratings with ::', async () => {
  const dir = folder({
    'movies.dat': '1::Toy Story (1995)::Animation|Comedy\n2::Jumanji (1995)::Adventure\n',
    'ratings_users_0001-2999.dat.gz': '1::2::5::978300760\n1::1::3::978300000\n',
  });
  const ds = await readDataset(dir);
  assert.deepEqual(ds.items[0].attributes, ['Animation', 'Comedy']);
  assert.deepEqual([...ds.item], [0, 1]);
});
