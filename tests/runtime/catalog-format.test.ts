import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeCatalog, encodeCatalog } from '../../runtime/catalog-format.ts';
import { parseCatalog } from '../../runtime/bundle.ts';

const entries = [
  { id: 'B001', title: 'Rosé lip balm <b>', attributes: ['Brand A', 'Lips'] },
  { id: 'B002', attributes: ['Brand A', 'Lips'] }, // no title; attributes shared with the first item
  { id: 'B003', title: '' }, // empty title, no attributes
  { id: 'v-7', title: '短视频 🎬', attributes: ['Brand A'] },
];

test('catalog.bin round-trips ids, titles (absent, empty, non-ASCII) and attributes', () => {
  assert.deepEqual(decodeCatalog(encodeCatalog(entries), entries.length), entries);
});

test('each distinct string is stored once', () => {
  const bytes = encodeCatalog(entries);
  const stringCount = new DataView(bytes.buffer).getUint32(12, true);
  // B001 B002 B003 v-7, three titles, 'Brand A', 'Lips'
  assert.equal(stringCount, 9);
  assert.ok(bytes.length < new TextEncoder().encode(JSON.stringify(entries)).length);
});

const ids = entries.map((e) => e.id);

test('parseCatalog reads catalog.bin whose ids are those of items.bin, and refuses one of another export', () => {
  assert.deepEqual(parseCatalog(encodeCatalog(entries), ids, 'catalog.bin'), entries);
  assert.throws(() => parseCatalog(encodeCatalog(entries), ['B001', 'B002', 'B004', 'v-7'], 'catalog.bin'),
    (e: Error) => e.name === 'BundleFormatError' && /catalog entry 2 is "B003", items\.bin's item 2 "B004"/.test(e.message));
  // The JSON catalog of version-1 bundles is read only by `onerec migrate`.
  assert.throws(() => parseCatalog(new TextEncoder().encode(JSON.stringify(entries)), ids, 'catalog.json'), (e: Error) => e.name === 'BundleFormatError' && /does not start with "OCAT"/.test(e.message));
});

test('truncated, corrupted or mismatched catalogs give a BundleFormatError naming the file', () => {
  const bytes = encodeCatalog(entries);
  const named = (what: RegExp) => (e: Error) => e.name === 'BundleFormatError' && /catalog\.bin/.test(e.message) && what.test(e.message);
  assert.throws(() => parseCatalog(bytes.subarray(0, bytes.length - 3), ids, 'catalog.bin'), named(/truncated/));
  assert.throws(() => parseCatalog(bytes, [...ids, 'x'], 'catalog.bin'), named(/4 items where items\.bin has 5/));
  const wrongVersion = bytes.slice();
  new DataView(wrongVersion.buffer).setUint32(4, 9, true);
  assert.throws(() => parseCatalog(wrongVersion, ids, 'catalog.bin'), named(/version 9/));
  const badIndex = bytes.slice();
  const view = new DataView(badIndex.buffer);
  view.setUint32(24 + 4 * view.getUint32(12, true), 999, true); // item 0's id → string 999
  assert.throws(() => parseCatalog(badIndex, ids, 'catalog.bin'), named(/string 999 of 9/));
});
