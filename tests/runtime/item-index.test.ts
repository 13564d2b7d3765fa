// items.bin (runtime/item-index.ts): ids and codes round-trip exactly in every id encoding and at every code width, the
// sizes are what the format says (4 bytes of codes per item at K 256 × 4 levels, 1 byte per id numbered in order), and
// damaged bytes are a typed problem naming what is wrong.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ItemIds, codeBitsFor, decodeItemIndex, encodeItemIndex, readItemIndex, type ItemIndex } from '../../runtime/item-index.ts';
import { parseBundleItems } from '../../runtime/bundle.ts';
import { SemanticIdTrie } from '../../runtime/semantic-id-trie.ts';
import { seededUniform } from '../../models/random.ts';

/** `items` items of `levels` codes below K, unique by their last level (a suffix counter per prefix). */
function randomIndex(items: number, levels: number, K: number, ids: (i: number) => string, seed = 3): ItemIndex {
  const uniform = seededUniform(seed);
  const codes = new Uint16Array(items * levels); // [items, levels]
  const used = new Map<string, number>();
  for (let i = 0; i < items; i++) {
    const prefix = Array.from({ length: levels - 1 }, () => Math.floor(uniform() * K));
    const suffix = used.get(prefix.join()) ?? 0;
    assert.ok(suffix < K, 'test data: a prefix overflowed its suffix level');
    used.set(prefix.join(), suffix + 1);
    codes.set([...prefix, suffix], i * levels);
  }
  return { itemCount: items, levels, codebookSize: K, codes, ids: Array.from({ length: items }, (_, i) => ids(i)) };
}

test('codes and ids round-trip exactly, decimal and string ids, every code width from 1 to 16 bits', () => {
  for (const K of [2, 3, 8, 200, 256, 257, 1000, 65536]) {
    const levels = K < 8 ? 12 : 3;
    const decimal = randomIndex(60, levels, K, (i) => String(i * 7 + (i % 3 === 0 ? 1e12 : 0)));
    const strings = randomIndex(60, levels, K, (i) => (i % 2 ? `B00${i}X` : `短视频-${i}`), 5);
    for (const index of [decimal, strings]) {
      const back = decodeItemIndex(encodeItemIndex(index));
      assert.deepEqual({ ...back, codes: [...back.codes] }, { ...index, codes: [...index.codes] }, `K ${K}`);
    }
  }
  assert.deepEqual([1, 2, 8, 8, 9, 16].map((_, i) => codeBitsFor([2, 3, 200, 256, 257, 65536][i])), [1, 2, 8, 8, 9, 16]);
});

test('ids numbered in item order cost one byte each; codes at K 256 × 4 levels four bytes per item', () => {
  const ordered = randomIndex(1000, 4, 256, (i) => String(i));
  assert.equal(encodeItemIndex(ordered).length, 32 + 4 * 1000 + 1000);
  // Not every id decimal (a leading zero, a sign, past 2^48): strings, a length byte and the characters each.
  for (const odd of ['007', '-1', '281474976710656', '1.5']) {
    const index = randomIndex(3, 4, 256, (i) => (i === 1 ? odd : String(i)));
    const bytes = encodeItemIndex(index);
    assert.equal(new DataView(bytes.buffer).getUint32(24, true), 1, odd);
    assert.deepEqual(decodeItemIndex(bytes).ids, index.ids);
  }
  // Ids that go down as well as up (zigzag differences) stay decimal.
  const shuffled = randomIndex(5, 4, 256, (i) => String([50, 3, 281474976710655, 0, 9][i]));
  assert.equal(new DataView(encodeItemIndex(shuffled).buffer).getUint32(24, true), 0);
  assert.deepEqual(decodeItemIndex(encodeItemIndex(shuffled)).ids, shuffled.ids);
});

test('the trie built from items.bin equals the trie built from the same codes', () => {
  const index = randomIndex(500, 4, 16, (i) => `item-${i}`);
  const { trie, itemIds } = parseBundleItems(encodeItemIndex(index), 'items.bin');
  assert.deepEqual([...trie.toBytes()], [...SemanticIdTrie.build(index.codes, 4, 16).toBytes()]);
  assert.deepEqual(itemIds.toArray(), index.ids);
});

test('ItemIds: every id back to its item and each item to its id, decimal ids kept as numbers, others as strings', () => {
  const cases: [string, (i: number) => string][] = [
    ['item order', (i) => String(i)], // every id its index: no table
    ['increasing', (i) => String(10_000_000 + 7 * i + (i >= 300 ? 2 ** 40 : 0))], // a binary search over the values
    ['decimal', (i) => String(10_000_000 + 7 * ((i * 37) % 400) + (i === 5 ? 2 ** 47 : 0))], // shuffled, one past 2^32: a hash table
    ['strings', (i) => `B0${i}X`],
  ];
  for (const [name, id] of cases) {
    const index = randomIndex(400, 4, 256, id);
    const { ids } = readItemIndex(encodeItemIndex(index));
    assert.equal(ids.length, 400, name);
    for (let i = 0; i < 400; i++) {
      assert.equal(ids.idOf(i), index.ids[i], `${name}: idOf(${i})`);
      assert.equal(ids.itemOf(index.ids[i]), i, `${name}: itemOf(${index.ids[i]})`);
    }
    assert.deepEqual(ids.toArray(), index.ids, name);
    // No item's: another number, a non-canonical spelling of an id, an empty string.
    const first = index.ids[1];
    for (const unknown of ['400', '9999999', '10000001', '10000008', '1099521627776', `0${first}`, `+${first}`, `${first}.0`, ` ${first}`, '']) assert.equal(ids.itemOf(unknown), -1, `${name}: itemOf(${JSON.stringify(unknown)})`);
  }
  // Decimal ids hold no strings: ItemIds.fromDecimal keeps the Float64Array it is given.
  const values = Float64Array.from([5, 3, 2 ** 40, 0]);
  const decimal = ItemIds.fromDecimal(values);
  assert.deepEqual([0, 1, 2, 3].map((i) => decimal.itemOf(decimal.idOf(i))), [0, 1, 2, 3]);
  assert.equal(decimal.idOf(2), '1099511627776');
});

test('ItemIds: a repeated id, which encodeItemIndex refuses, is an ItemIndexFormatProblem when a file has one', () => {
  const index = randomIndex(4, 3, 8, (i) => String(10 + i));
  const bytes = encodeItemIndex(index);
  // The id section holds the zigzag differences 20, 2, 2, 2 (ids 10..13), one byte each: make item 2's difference 0.
  bytes[bytes.length - 2] = 0;
  assert.throws(() => readItemIndex(bytes), (e: Error) => e.name === 'ItemIndexFormatProblem' && /items 1 and 2 have the same external id "11"/.test(e.message));
  assert.throws(() => ItemIds.fromStrings(['a', 'b', 'a']), (e: Error) => e.name === 'ItemIndexFormatProblem' && /items 0 and 2 have the same external id "a"/.test(e.message));
});

test('bad input: a repeated id or an out-of-range code at encoding, damaged bytes at decoding, each named', () => {
  const index = randomIndex(10, 3, 8, (i) => String(i));
  assert.throws(() => encodeItemIndex({ ...index, ids: index.ids.map((id, i) => (i === 7 ? '2' : id)) }), (e: Error) => e.name === 'ItemIndexFormatProblem' && /items 2 and 7 have the same external id "2"/.test(e.message));
  const codes = index.codes.slice();
  codes[4] = 8;
  assert.throws(() => encodeItemIndex({ ...index, codes }), /item 1 level 1 has code 8 ≥ codebookSize 8/);
  const bytes = encodeItemIndex(index);
  const problem = (b: Uint8Array, what: RegExp) => assert.throws(() => decodeItemIndex(b), (e: Error) => e.name === 'ItemIndexFormatProblem' && what.test(e.message), String(what));
  problem(bytes.subarray(0, bytes.length - 1), /where its header implies/);
  problem(bytes.subarray(0, 10), /shorter than the 32-byte header/);
  const magic = bytes.slice();
  magic[0] = 0x58;
  problem(magic, /does not start with "OITM"/);
  const version = bytes.slice();
  new DataView(version.buffer).setUint32(4, 2, true);
  problem(version, /version 2; this runtime reads version 1/);
  const width = bytes.slice();
  new DataView(width.buffer).setUint32(20, 4, true);
  problem(width, /4 bits per code where codebookSize 8 takes 3/);
  const varint = bytes.slice();
  varint[varint.length - 1] = 0x80; // the last id's varint runs on past the end
  problem(varint, /item 9's id runs past the id section/);
  // A trie that cannot be built (two items with one semantic ID) is a BundleFormatError naming the file.
  const twins = index.codes.slice();
  twins.set(index.codes.subarray(0, 3), 3);
  assert.throws(() => parseBundleItems(encodeItemIndex({ ...index, codes: twins }), 'b/items.bin'), (e: Error) => e.name === 'BundleFormatError' && /b\/items\.bin: item index: items 0 and 1 have the same semantic ID/.test(e.message));
});

/** 1,296 ASIN-shaped ids, "B0" + 8 of [0-9A-Z], every character at every one of those 8 positions, unique by (d0, d1). */
const BASE36 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const asinShaped = (i: number): string => `B0${Array.from({ length: 8 }, (_, p) => BASE36[(i % 36 + p * Math.floor(i / 36)) % 36]).join('')}`;

test('fixed-length ASCII ids (ASINs) are mixed-radix numbers: 42 bits each here instead of 11 bytes, back exactly, ordered as the strings', () => {
  const index = randomIndex(1296, 4, 256, asinShaped);
  const bytes = encodeItemIndex(index);
  assert.equal(new DataView(bytes.buffer).getUint32(24, true), 2, 'id encoding 2');
  // id section: length 10 (1 byte), alphabets "B" and "0" (2 bytes each), 8 × (1 + 36), then 1,296 × ⌈log2 36^8⌉ = 42 bits
  assert.equal(bytes.length, 32 + 4 * 1296 + 1 + 2 * 2 + 8 * 37 + Math.ceil((1296 * 42) / 8));
  const back = decodeItemIndex(bytes);
  assert.deepEqual(back.ids, index.ids);
  assert.deepEqual([...back.codes], [...index.codes]);
  // Item order (a hash table) and sorted order (a binary search): every id to its item and back; others are no item's.
  const sorted = { ...index, ids: [...index.ids].sort() };
  for (const [name, source] of [['item order', index], ['sorted', sorted]] as const) {
    const { ids } = readItemIndex(encodeItemIndex(source));
    for (let i = 0; i < source.itemCount; i++) {
      assert.equal(ids.idOf(i), source.ids[i], `${name}: idOf(${i})`);
      assert.equal(ids.itemOf(source.ids[i]), i, `${name}: itemOf(${source.ids[i]})`);
    }
    // "B00000000Z" is spelled by the alphabets but no item's: its first seven characters give d0 = d1 = 0, whose id is B000000000.
    for (const unknown of ['', 'B0', 'B00000000Z', 'B01ZZZZZZZZ', 'A0AAAAAAAA', 'b0AAAAAAAA', 'B0AAAAAAAé']) assert.equal(ids.itemOf(unknown), -1, `${name}: itemOf(${JSON.stringify(unknown)})`);
  }
  // Up to 2^53 spellings (float64's exact integers): 10 characters of 36 everywhere, 52 bits, the largest id included.
  const spread = (i: number) => Array.from({ length: 10 }, (_, p) => BASE36[(i + p * (7 + Math.floor(i / 36))) % 36]).join(''); // unique below 1,296
  const wide = randomIndex(300, 4, 256, (i) => (i === 7 ? 'ZZZZZZZZZZ' : i === 8 ? '0000000000' : spread(i)));
  const wideBytes = encodeItemIndex(wide);
  assert.equal(new DataView(wideBytes.buffer).getUint32(24, true), 2);
  assert.equal(wideBytes.length, 32 + 4 * 300 + 1 + 10 * 37 + Math.ceil((300 * 52) / 8));
  assert.deepEqual(decodeItemIndex(wideBytes).ids, wide.ids);
  // Other id sets keep their encodings: mixed lengths or non-ASCII are strings, canonical decimals decimal.
  const kind = (id: (i: number) => string) => new DataView(encodeItemIndex(randomIndex(50, 4, 256, id)).buffer).getUint32(24, true);
  assert.deepEqual([kind((i) => `B0${i}`), kind((i) => `短${String(i).padStart(3, '0')}`), kind((i) => String(100 + i)), kind((i) => String(i).padStart(4, '0'))], [1, 1, 0, 2]);
});

test('radix ids: a damaged alphabet or a repeated id is an ItemIndexFormatProblem', () => {
  const index = randomIndex(3, 2, 4, (i) => ['AX', 'BY', 'AY'][i]);
  const bytes = encodeItemIndex(index);
  const idAt = 32 + 4; // 3 items × 2 levels × 2 bits, padded to 4 bytes
  assert.deepEqual([...bytes.subarray(idAt, idAt + 7)], [2, 2, 0x41, 0x42, 2, 0x58, 0x59], 'length 2, alphabets "AB" and "XY"');
  const problem = (b: Uint8Array, what: RegExp) => assert.throws(() => decodeItemIndex(b), (e: Error) => e.name === 'ItemIndexFormatProblem' && what.test(e.message), String(what));
  const unordered = bytes.slice();
  unordered[idAt + 2] = 0x42;
  unordered[idAt + 3] = 0x41;
  problem(unordered, /position 0's alphabet is not ascending ASCII/);
  const wide = bytes.slice();
  wide[idAt + 4] = 3; // position 1's alphabet claims 3 characters: it takes a byte of the packed ids, and the ids run past the section
  problem(wide, /position 1's alphabet is not ascending ASCII|run past the id section/);
  const packedAt = idAt + 7; // 3 ids × 2 bits: AX = 0, BY = 3, AY = 1, from the least significant bit up
  assert.equal(bytes[packedAt], 0b011100);
  const twin = bytes.slice();
  twin[packedAt] = 0b111100; // item 2 spells BY too
  problem(twin, /items 1 and 2 have the same external id "BY"/);
});
