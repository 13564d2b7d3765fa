// The prefix trie of valid semantic IDs. Beam search extends a beam only by a code that has an edge here,
// so every generated item exists in the catalog. Pure TypeScript: runs in Node, the page and a Worker.
//
// Layout (CSR, nodes in breadth-first order, root = node 0). A node at depth d (0 ≤ d < levels) is a
// prefix of d codes; its edges are the codes that continue that prefix, ascending. Edges out of a node at
// depth `levels - 1` end at an item: their `childNode` is the item index, not a node.
//
//   childStart: Int32Array   // [nodes + 1]  edges of node n are childStart[n] .. childStart[n+1]-1
//   childCode:  Uint16Array  // [edges]      ascending within a node
//   childNode:  Int32Array   // [edges]      child node; at the last level: the item index (leaf)
//
// Binary format, version 1, little-endian, every section starts at a multiple of 4 bytes:
//   offset  size            field
//   0       4               magic "OSID" (0x4F 0x53 0x49 0x44)
//   4       4   u32         version = 1
//   8       4   u32         levels
//   12      4   u32         codebookSize
//   16      4   u32         itemCount
//   20      4   u32         nodeCount
//   24      4   u32         edgeCount
//   28      4*(nodes+1)     childStart (i32)
//   …       4*edges         childNode (i32)
//   …       2*edges         childCode (u16), then zero padding to a multiple of 4
// Total = 28 + 4*(nodes+1) + 4*edges + 2*edges rounded up to 4.
import { TrieFormatError } from './errors.ts';

export const TRIE_MAGIC = 0x4449534f; // "OSID" read as a little-endian u32
export const TRIE_VERSION = 1;
const HEADER_BYTES = 28;

export class SemanticIdTrie {
  readonly levels: number; // codes per item, the suffix level included
  readonly codebookSize: number; // K: codes per level are 0..K-1
  readonly itemCount: number;
  readonly nodeCount: number; // internal nodes (prefixes of 0..levels-1 codes); items are not nodes
  readonly childStart: Int32Array; // [nodes + 1]
  readonly childCode: Uint16Array; // [edges]
  readonly childNode: Int32Array; // [edges]
  private readonly codes: Uint16Array; // [items, levels], rebuilt from the edges for itemCodes()

  private constructor(levels: number, codebookSize: number, itemCount: number, childStart: Int32Array, childCode: Uint16Array, childNode: Int32Array, codes?: Uint16Array) {
    this.levels = levels;
    this.codebookSize = codebookSize;
    this.itemCount = itemCount;
    this.nodeCount = childStart.length - 1;
    this.childStart = childStart;
    this.childCode = childCode;
    this.childNode = childNode;
    this.codes = codes ?? this.collectCodes();
  }

  /**
   * Build from `codes: Uint16Array // [items, levels]`. Every item's full code must be unique (the suffix
   * level guarantees it) and every code < codebookSize; otherwise TrieFormatError names the item.
   */
  static build(codes: Uint16Array, levels: number, codebookSize: number): SemanticIdTrie {
    if (!Number.isInteger(levels) || levels < 1) throw new TrieFormatError(`levels must be a positive integer, got ${levels}`);
    if (!Number.isInteger(codebookSize) || codebookSize < 1 || codebookSize > 65536) {
      throw new TrieFormatError(`codebookSize must be an integer in 1..65536, got ${codebookSize}`);
    }
    if (codes.length % levels !== 0) throw new TrieFormatError(`codes has ${codes.length} entries, not a multiple of levels = ${levels}`);
    const items = codes.length / levels;
    for (let i = 0; i < codes.length; i++) {
      if (codes[i] >= codebookSize) {
        throw new TrieFormatError(`item ${Math.floor(i / levels)} level ${i % levels} has code ${codes[i]} ≥ codebookSize ${codebookSize}`);
      }
    }
    // Sort items lexicographically by code; ties (identical IDs) are an error. A lexicographic order makes
    // every prefix a contiguous run, so each level's nodes come out breadth-first and edges ascending.
    // Both sorts below are stable LSD radix sorts from index order, so they give the order of a comparison sort by
    // (codes, index) in O(passes × items): the runtime rebuilds the trie at every load.
    const { order, sorted } = levels * codeBits(codebookSize) <= 32 ? sortPacked(codes, items, levels, codebookSize) : sortByLevel(codes, items, levels, codebookSize);
    if (items === 0) {
      return new SemanticIdTrie(levels, codebookSize, 0, Int32Array.from([0, 0]), new Uint16Array(0), new Int32Array(0));
    }
    // diff[r]: the first level at which sorted row r differs from row r − 1 (a prefix of diff[r] codes is shared).
    // Row r opens a new node at every depth d > diff[r] and a new edge at every depth d ≥ diff[r]; row 0 opens all.
    const diff = new Uint8Array(items); // [items in code order]
    const opened = new Int32Array(levels + 1); // [levels + 1] rows whose diff is l, at l + 1 (row 0 at 0)
    opened[0] = 1;
    for (let r = 1; r < items; r++) {
      let l = 0;
      while (l < levels && sorted[r * levels + l] === sorted[(r - 1) * levels + l]) l++;
      if (l === levels) throw new TrieFormatError(`items ${order[r - 1]} and ${order[r]} have the same semantic ID; add a suffix level that breaks collisions`);
      diff[r] = l;
      opened[l + 1]++;
    }
    // Nodes at depth d are the rows with diff < d (row 0 included), edges at depth d those with diff ≤ d.
    let nodeCount = 0;
    let edgeCount = 0;
    for (let d = 0, below = 0; d < levels; d++) {
      nodeCount += opened[0] + below;
      below += opened[d + 1];
      edgeCount += opened[0] + below;
    }
    const childStart = new Int32Array(nodeCount + 1); // [nodes + 1]
    const childCode = new Uint16Array(edgeCount); // [edges]
    const childNode = new Int32Array(edgeCount); // [edges]
    // One sequential pass per depth: in code order, the nodes at depth d come out breadth-first and each node's edges
    // ascending, and the edges at depth d name the nodes at depth d + 1 in the order that depth's pass opens them.
    let nodes = 0;
    let edges = 0;
    let nodesSoFar = 1; // nodes at depths ≤ d: the next depth's first node index
    for (let d = 0; d < levels; d++) {
      let nextCount = 0;
      const last = d === levels - 1;
      for (let r = 0; r < items; r++) {
        const l = r === 0 ? -1 : diff[r];
        if (l < d) childStart[nodes++] = edges;
        if (l <= d) {
          childCode[edges] = sorted[r * levels + d];
          childNode[edges] = last ? order[r] : nodesSoFar + nextCount;
          nextCount++;
          edges++;
        }
      }
      nodesSoFar += nextCount;
    }
    childStart[nodes] = edges;
    if (nodes !== nodeCount || edges !== edgeCount) throw new Error(`SemanticIdTrie.build: counted ${nodeCount} nodes and ${edgeCount} edges, made ${nodes} and ${edges}`);
    return new SemanticIdTrie(levels, codebookSize, items, childStart, childCode, childNode, codes.slice());
  }

  /** Every item's codes, `[items, levels]` by item index: the trie's own array, not a copy (do not write to it). */
  get allItemCodes(): Uint16Array {
    return this.codes;
  }

  /** Parse the version-1 binary written by toBytes(); any inconsistency throws TrieFormatError. */
  static fromBytes(bytes: Uint8Array): SemanticIdTrie {
    if (bytes.byteLength < HEADER_BYTES) throw new TrieFormatError(`semantic-ID trie: ${bytes.byteLength} bytes is shorter than the ${HEADER_BYTES}-byte header; the file is truncated or not a trie`);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const magic = view.getUint32(0, true);
    if (magic !== TRIE_MAGIC) throw new TrieFormatError(`semantic-ID trie: bad magic 0x${magic.toString(16).padStart(8, '0')} (expected "OSID"); this is not a semantic-ids.bin file`);
    const version = view.getUint32(4, true);
    if (version !== TRIE_VERSION) throw new TrieFormatError(`semantic-ID trie: version ${version} is not supported (this reader knows version ${TRIE_VERSION}); re-run \`onerec prepare\` or update the runtime`);
    const levels = view.getUint32(8, true);
    const codebookSize = view.getUint32(12, true);
    const itemCount = view.getUint32(16, true);
    const nodeCount = view.getUint32(20, true);
    const edgeCount = view.getUint32(24, true);
    if (levels < 1 || codebookSize < 1 || codebookSize > 65536 || nodeCount < 1) {
      throw new TrieFormatError(`semantic-ID trie: bad header (levels ${levels}, codebookSize ${codebookSize}, nodes ${nodeCount})`);
    }
    const expected = byteLength(nodeCount, edgeCount);
    if (bytes.byteLength !== expected) {
      throw new TrieFormatError(`semantic-ID trie: ${bytes.byteLength} bytes, but the header (nodes ${nodeCount}, edges ${edgeCount}) needs ${expected}; the file is truncated or corrupt`);
    }
    // Copy into fresh, aligned arrays (the input may sit at any offset of a larger buffer).
    let at = HEADER_BYTES;
    const childStart = new Int32Array(nodeCount + 1);
    for (let i = 0; i <= nodeCount; i++, at += 4) childStart[i] = view.getInt32(at, true);
    const childNode = new Int32Array(edgeCount);
    for (let i = 0; i < edgeCount; i++, at += 4) childNode[i] = view.getInt32(at, true);
    const childCode = new Uint16Array(edgeCount);
    for (let i = 0; i < edgeCount; i++, at += 2) childCode[i] = view.getUint16(at, true);
    validate(levels, codebookSize, itemCount, childStart, childCode, childNode);
    return new SemanticIdTrie(levels, codebookSize, itemCount, childStart, childCode, childNode);
  }

  /** The version-1 binary (see the header of this file). */
  toBytes(): Uint8Array {
    const edges = this.childCode.length;
    const out = new Uint8Array(byteLength(this.nodeCount, edges));
    const view = new DataView(out.buffer);
    view.setUint32(0, TRIE_MAGIC, true);
    view.setUint32(4, TRIE_VERSION, true);
    view.setUint32(8, this.levels, true);
    view.setUint32(12, this.codebookSize, true);
    view.setUint32(16, this.itemCount, true);
    view.setUint32(20, this.nodeCount, true);
    view.setUint32(24, edges, true);
    let at = HEADER_BYTES;
    for (let i = 0; i <= this.nodeCount; i++, at += 4) view.setInt32(at, this.childStart[i], true);
    for (let i = 0; i < edges; i++, at += 4) view.setInt32(at, this.childNode[i], true);
    for (let i = 0; i < edges; i++, at += 2) view.setUint16(at, this.childCode[i], true);
    return out;
  }

  /** The `levels` codes of `item` (a fresh copy). */
  itemCodes(item: number): Uint16Array {
    if (!Number.isInteger(item) || item < 0 || item >= this.itemCount) throw new RangeError(`item ${item} is outside 0..${this.itemCount - 1}`);
    return this.codes.slice(item * this.levels, (item + 1) * this.levels);
  }

  /** Where `code` leads from `node`: a node, or at the last level an item index; -1 when no such edge. */
  child(node: number, code: number): number {
    let lo = this.childStart[node];
    let hi = this.childStart[node + 1] - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const c = this.childCode[mid];
      if (c === code) return this.childNode[mid];
      if (c < code) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  /** Every item's codes, `[items, levels]`, recovered by walking the trie once. */
  private collectCodes(): Uint16Array {
    const codes = new Uint16Array(this.itemCount * this.levels); // [items, levels]
    const prefix = new Uint16Array(this.levels);
    const walk = (node: number, depth: number): void => {
      for (let e = this.childStart[node]; e < this.childStart[node + 1]; e++) {
        prefix[depth] = this.childCode[e];
        if (depth === this.levels - 1) codes.set(prefix, this.childNode[e] * this.levels);
        else walk(this.childNode[e], depth + 1);
      }
    };
    if (this.itemCount > 0) walk(0, 0);
    return codes;
  }
}

/** Bits per code: the fewest that hold K − 1 (at least 1). */
function codeBits(codebookSize: number): number {
  return Math.max(1, Math.ceil(Math.log2(codebookSize)));
}

/** Item indices in code order, and the codes gathered in that order. */
interface SortedCodes {
  order: Int32Array; // [items] item indices in code order
  sorted: Uint16Array; // [items in code order, levels]
}

/**
 * Sorts items whose codes pack into 32 bits (levels × codeBits ≤ 32: 4 levels × K 256 take 32): each item's codes as
 * one u32 key, most significant level first, then an LSD radix sort of the keys by 8-bit digits, carrying the item
 * indices. Every pass reads keys and indices sequentially, where sorting by levels gathers each item's code from
 * across the codes array.
 */
function sortPacked(codes: Uint16Array, items: number, levels: number, codebookSize: number): SortedCodes {
  const bits = codeBits(codebookSize);
  const keyBits = levels * bits;
  let keys = new Uint32Array(items); // [items] packed codes, level 0 in the high bits
  for (let i = 0, c = 0; i < items; i++) {
    let key = 0;
    for (let l = 0; l < levels; l++, c++) key = key * (1 << bits) + codes[c]; // products below 2^32: exact in float64
    keys[i] = key;
  }
  let order = new Int32Array(items); // [items] item indices in key order
  for (let i = 0; i < items; i++) order[i] = i;
  let spareKeys = new Uint32Array(items);
  let spareOrder = new Int32Array(items);
  const counts = new Int32Array(257); // [256 + 1] start of each digit's run
  for (let shift = 0; shift < keyBits; shift += 8) {
    counts.fill(0);
    for (let r = 0; r < items; r++) counts[((keys[r] >>> shift) & 255) + 1]++;
    if (counts[1 + ((keys[0] >>> shift) & 255)] === items) continue; // every key has this digit: the order stands
    for (let d = 0; d < 256; d++) counts[d + 1] += counts[d];
    for (let r = 0; r < items; r++) {
      const key = keys[r];
      const at = counts[(key >>> shift) & 255]++;
      spareKeys[at] = key;
      spareOrder[at] = order[r];
    }
    [keys, spareKeys] = [spareKeys, keys];
    [order, spareOrder] = [spareOrder, order];
  }
  const sorted = new Uint16Array(items * levels); // [items in code order, levels]
  const mask = (1 << bits) - 1;
  for (let r = 0, c = 0; r < items; r++) {
    const key = keys[r];
    for (let l = 0; l < levels; l++) sorted[c + l] = (key >>> ((levels - 1 - l) * bits)) & mask;
    c += levels;
  }
  return { order, sorted };
}

/** Sorts by one stable counting sort per level, last level first: any levels and K. */
function sortByLevel(codes: Uint16Array, items: number, levels: number, codebookSize: number): SortedCodes {
  let order = new Int32Array(items); // [items] item indices in code order
  for (let i = 0; i < items; i++) order[i] = i;
  let spare = new Int32Array(items);
  const counts = new Int32Array(codebookSize + 1); // [K + 1] start of each code's run
  for (let l = levels - 1; l >= 0; l--) {
    counts.fill(0);
    for (let i = 0; i < items; i++) counts[codes[i * levels + l] + 1]++;
    for (let k = 0; k < codebookSize; k++) counts[k + 1] += counts[k];
    for (let r = 0; r < items; r++) {
      const item = order[r];
      spare[counts[codes[item * levels + l]]++] = item;
    }
    [order, spare] = [spare, order];
  }
  // The codes in sorted order, gathered once, so that the passes after the sort read them sequentially.
  const sorted = new Uint16Array(items * levels); // [items in code order, levels]
  for (let r = 0; r < items; r++) {
    const from = order[r] * levels;
    for (let l = 0; l < levels; l++) sorted[r * levels + l] = codes[from + l];
  }
  return { order, sorted };
}

function byteLength(nodes: number, edges: number): number {
  return HEADER_BYTES + 4 * (nodes + 1) + 4 * edges + Math.ceil((2 * edges) / 4) * 4;
}

/** Structural checks so that a corrupt file fails here, not as a wrong recommendation later. */
function validate(levels: number, codebookSize: number, itemCount: number, childStart: Int32Array, childCode: Uint16Array, childNode: Int32Array): void {
  const fail = (what: string): never => {
    throw new TrieFormatError(`semantic-ID trie: ${what}; the file is corrupt, re-run \`onerec prepare\``);
  };
  const nodes = childStart.length - 1;
  const edges = childCode.length;
  if (childStart[0] !== 0 || childStart[nodes] !== edges) fail(`childStart must run from 0 to ${edges}`);
  for (let n = 0; n < nodes; n++) {
    if (childStart[n + 1] < childStart[n]) fail(`childStart decreases at node ${n}`);
    for (let e = childStart[n]; e < childStart[n + 1]; e++) {
      if (childCode[e] >= codebookSize) fail(`edge ${e} has code ${childCode[e]} ≥ codebookSize ${codebookSize}`);
      if (e > childStart[n] && childCode[e] <= childCode[e - 1]) fail(`codes of node ${n} are not strictly ascending at edge ${e}`);
    }
  }
  // Breadth-first depth check: every internal node reached exactly once, every item exactly once at the last level.
  const seenItem = new Uint8Array(itemCount);
  const seenNode = new Uint8Array(nodes);
  let frontier = [0];
  let reached = 1;
  for (let d = 0; d < levels; d++) {
    const next: number[] = [];
    for (const n of frontier) {
      for (let e = childStart[n]; e < childStart[n + 1]; e++) {
        const c = childNode[e];
        if (d === levels - 1) {
          if (c < 0 || c >= itemCount) fail(`leaf edge ${e} points at item ${c}, outside 0..${itemCount - 1}`);
          if (seenItem[c]) fail(`item ${c} appears twice`);
          seenItem[c] = 1;
        } else {
          if (c <= n || c >= nodes) fail(`edge ${e} points at node ${c}, not a later node in 0..${nodes - 1}`);
          if (seenNode[c]) fail(`node ${c} has two parents`);
          seenNode[c] = 1;
          next.push(c);
        }
      }
    }
    reached += d === levels - 1 ? 0 : next.length;
    frontier = next;
  }
  if (reached !== nodes) fail(`${nodes} nodes in the header, ${reached} reachable from the root`);
  for (let i = 0; i < itemCount; i++) if (!seenItem[i]) fail(`item ${i} has no leaf`);
}
