import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SemanticIdTrie } from '../../runtime/semantic-id-trie.ts';
import { TrieFormatError } from '../../runtime/errors.ts';
import { seededRandom } from '../../models/random.ts';

// 5 items, 3 levels, K = 4. Item 3 and item 0 share the prefix (1, 2); items 1, 4 share (0).
const CODES = Uint16Array.from([
  1, 2, 0, // item 0
  0, 3, 0, // item 1
  2, 0, 0, // item 2
  1, 2, 1, // item 3
  0, 1, 0, // item 4
]);

test('build: breadth-first CSR with ascending codes, leaves are item indices', () => {
  const trie = SemanticIdTrie.build(CODES, 3, 4);
  assert.equal(trie.itemCount, 5);
  // depth 0: root; depth 1: prefixes (0) (1) (2); depth 2: (0,1) (0,3) (1,2) (2,0)
  assert.equal(trie.nodeCount, 1 + 3 + 4);
  assert.deepEqual([...trie.childStart], [0, 3, 5, 6, 7, 8, 9, 11, 12]);
  assert.deepEqual([...trie.childCode], [0, 1, 2, 1, 3, 2, 0, 0, 0, 0, 1, 0]);
  assert.deepEqual([...trie.childNode], [1, 2, 3, 4, 5, 6, 7, 4, 1, 0, 3, 2]);
  assert.equal(trie.child(0, 1), 2);
  assert.equal(trie.child(0, 3), -1);
  assert.equal(trie.child(trie.child(trie.child(0, 1), 2), 1), 3); // (1,2,1) → item 3
});

test('itemCodes returns each item\'s codes', () => {
  const trie = SemanticIdTrie.build(CODES, 3, 4);
  for (let i = 0; i < 5; i++) assert.deepEqual([...trie.itemCodes(i)], [...CODES.subarray(i * 3, i * 3 + 3)]);
  assert.throws(() => trie.itemCodes(5), RangeError);
});

test('toBytes → fromBytes round-trips, also from an unaligned offset', () => {
  const trie = SemanticIdTrie.build(CODES, 3, 4);
  const bytes = trie.toBytes();
  assert.equal(bytes.byteLength % 4, 0);
  const shifted = new Uint8Array(bytes.byteLength + 3);
  shifted.set(bytes, 3);
  for (const input of [bytes, shifted.subarray(3)]) {
    const back = SemanticIdTrie.fromBytes(input);
    assert.equal(back.levels, 3);
    assert.equal(back.codebookSize, 4);
    assert.equal(back.itemCount, 5);
    assert.deepEqual(back.childStart, trie.childStart);
    assert.deepEqual(back.childCode, trie.childCode);
    assert.deepEqual(back.childNode, trie.childNode);
    for (let i = 0; i < 5; i++) assert.deepEqual(back.itemCodes(i), trie.itemCodes(i));
  }
});

test('random catalog round-trips and every item is reachable by its codes', () => {
  const random = seededRandom(12345);
  const rand = (n: number) => random.int(n);
  const levels = 4;
  const K = 16;
  const seen = new Set<string>();
  const rows: number[] = [];
  while (seen.size < 600) {
    const c = [rand(K), rand(K), rand(K), rand(K)];
    if (seen.has(c.join())) continue;
    seen.add(c.join());
    rows.push(...c);
  }
  const codes = Uint16Array.from(rows);
  const trie = SemanticIdTrie.fromBytes(SemanticIdTrie.build(codes, levels, K).toBytes());
  for (let i = 0; i < 600; i++) {
    let node = 0;
    for (let l = 0; l < levels; l++) node = trie.child(node, codes[i * levels + l]);
    assert.equal(node, i);
  }
});

/** The trie by a comparison sort and one group per node, level by level: what build() must give, however it sorts. */
function referenceTrie(codes: Uint16Array, levels: number): { childStart: number[]; childCode: number[]; childNode: number[] } {
  const items = codes.length / levels;
  const order = Array.from({ length: items }, (_, i) => i).sort((a, b) => {
    for (let l = 0; l < levels; l++) if (codes[a * levels + l] !== codes[b * levels + l]) return codes[a * levels + l] - codes[b * levels + l];
    return a - b;
  });
  const childStart: number[] = [];
  const childCode: number[] = [];
  const childNode: number[] = [];
  let groups: [number, number][] = [[0, items]];
  let nodesSoFar = 1;
  for (let d = 0; d < levels; d++) {
    const next: [number, number][] = [];
    for (const [start, end] of groups) {
      childStart.push(childCode.length);
      for (let r = start; r < end;) {
        const code = codes[order[r] * levels + d];
        let s = r + 1;
        while (s < end && codes[order[s] * levels + d] === code) s++;
        childCode.push(code);
        childNode.push(d === levels - 1 ? order[r] : nodesSoFar + next.length);
        next.push([r, s]);
        r = s;
      }
    }
    nodesSoFar += next.length;
    groups = next;
  }
  childStart.push(childCode.length);
  return { childStart, childCode, childNode };
}

test('build gives the comparison-sorted trie whether the codes pack into 32 bits (one key per item) or not (a sort per level)', () => {
  // levels × bits per code: 4 × 8 = 32 and 3 × 4 = 12 and 20 × 1 pack; 4 × 9 = 36 and 3 × 16 = 48 do not.
  for (const [levels, K, items] of [[4, 256, 3000], [3, 16, 200], [20, 2, 500], [4, 300, 3000], [3, 65536, 2000], [1, 50, 40]]) {
    const random = seededRandom(levels * 1000 + K);
    const codes = new Uint16Array(items * levels); // [items, levels]
    const used = new Map<string, number>();
    for (let i = 0; i < items; i++) {
      // A small alphabet for the prefix levels, so that prefixes are shared; the last level counts the collisions.
      const prefix = Array.from({ length: levels - 1 }, () => random.int(Math.min(K, 6)) * Math.max(1, Math.floor(K / 6)));
      const suffix = used.get(prefix.join()) ?? (K > 64 ? random.int(K / 2) : 0);
      assert.ok(suffix < K, 'test data: a prefix overflowed its suffix level');
      used.set(prefix.join(), suffix + 1);
      codes.set([...prefix, suffix], i * levels);
    }
    const trie = SemanticIdTrie.build(codes, levels, K);
    const expected = referenceTrie(codes, levels);
    assert.deepEqual([...trie.childStart], expected.childStart, `levels ${levels}, K ${K}`);
    assert.deepEqual([...trie.childCode], expected.childCode, `levels ${levels}, K ${K}`);
    assert.deepEqual([...trie.childNode], expected.childNode, `levels ${levels}, K ${K}`);
    assert.deepEqual([...trie.allItemCodes], [...codes], `levels ${levels}, K ${K}`);
    assert.equal(trie.nodeCount, expected.childStart.length - 1);
  }
});

test('build rejects duplicate IDs and out-of-range codes', () => {
  assert.throws(() => SemanticIdTrie.build(Uint16Array.from([1, 2, 1, 2]), 2, 4), (e: Error) => e.name === 'TrieFormatError' && /items 0 and 1/.test(e.message));
  // Both sorts: packed keys (3 × 8 bits) and a sort per level (3 × 16 bits); the earlier item is named first.
  for (const K of [256, 65536]) {
    assert.throws(() => SemanticIdTrie.build(Uint16Array.from([5, 1, 0, 7, 7, 7, 5, 1, 0]), 3, K), (e: Error) => e.name === 'TrieFormatError' && /items 0 and 2 have the same semantic ID/.test(e.message), `K ${K}`);
  }
  assert.throws(() => SemanticIdTrie.build(Uint16Array.from([1, 4]), 2, 4), /code 4 ≥ codebookSize 4/);
  assert.throws(() => SemanticIdTrie.build(Uint16Array.from([1, 2, 3]), 2, 4), TrieFormatError);
});

test('fromBytes rejects bad magic, version, truncation and corrupt edges', () => {
  const good = SemanticIdTrie.build(CODES, 3, 4).toBytes();
  const edit = (f: (v: DataView) => void) => {
    const b = good.slice();
    f(new DataView(b.buffer));
    return b;
  };
  const cases: [Uint8Array, RegExp][] = [
    [good.subarray(0, 10), /shorter than the 28-byte header/],
    [edit((v) => v.setUint32(0, 0x12345678, true)), /bad magic/],
    [edit((v) => v.setUint32(4, 2, true)), /version 2 is not supported/],
    [good.subarray(0, good.byteLength - 4), /truncated or corrupt/],
    // first leaf edge's childNode (edge 7 sits at 28 + 4*9 + 4*7) → item 99
    [edit((v) => v.setInt32(28 + 36 + 28, 99, true)), /points at item 99/],
    // codes of the root swapped → not ascending; the code section starts at 28 + 36 + 48
    [edit((v) => { v.setUint16(112, 1, true); v.setUint16(114, 0, true); }), /not strictly ascending/],
    [edit((v) => v.setUint16(112, 9, true)), /code 9 ≥ codebookSize 4/],
  ];
  for (const [bytes, message] of cases) {
    assert.throws(() => SemanticIdTrie.fromBytes(bytes), (e: Error) => e instanceof TrieFormatError && e.name === 'TrieFormatError' && message.test(e.message), String(message));
  }
});

test('empty catalog is a root with no edges', () => {
  const trie = SemanticIdTrie.fromBytes(SemanticIdTrie.build(new Uint16Array(0), 2, 8).toBytes());
  assert.equal(trie.itemCount, 0);
  assert.equal(trie.nodeCount, 1);
  assert.equal(trie.child(0, 0), -1);
});
