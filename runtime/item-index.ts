// The bundle's item index (items.bin, "OITM" v1): what generation needs about the items and nothing more — each
// item's semantic ID (its codes) and its external id, by item index. The prefix trie the beam search walks is rebuilt
// from the codes at load (SemanticIdTrie.build), so it is not shipped; titles and attributes live in the optional
// display catalog (runtime/catalog-format.ts). All integers are little-endian u32.
//
//   offset 0   magic "OITM"
//          4   version (1)
//          8   itemCount
//         12   levels                     codes per item, the suffix level included
//         16   codebookSize               K: codes are 0..K-1
//         20   codeBits                   bits per code: the fewest that hold K - 1 (at least 1)
//         24   idEncoding                 0 = decimal integers, 1 = strings, 2 = fixed-length ASCII ids (radix)
//         28   idBytes                    size of the id section
//         32   codes                      itemCount × levels codes of codeBits each, item-major, packed from the
//                                         least significant bit of each byte up; zero bits to a multiple of 4 bytes
//              ids[idBytes]               idEncoding 0: per item, the difference from the previous item's id (the
//                                         first from 0), zigzag-mapped (d ≥ 0 → 2d, d < 0 → −2d − 1) and written as
//                                         an LEB128 varint; 1: per item, the UTF-8 byte length as an LEB128 varint,
//                                         then every item's UTF-8 bytes in item order; 2: the ids' length n (varint),
//                                         then per position its alphabet (a varint count, then the ASCII bytes in
//                                         ascending order), then per item its id as a mixed-radix number (position 0
//                                         most significant, digit = the character's rank in its position's alphabet)
//                                         in ⌈log2 Π alphabet sizes⌉ bits, packed from the least significant bit of
//                                         each byte up, zero bits to the byte
//
// Decimal encoding is chosen when every id is a canonical decimal integer (no sign, no leading zero) below 2^48, so
// that ids numbered in item order cost a byte each. Else, when every id has the same length, is ASCII, and the
// product of the positions' alphabet sizes is at most 2^53 (10-character ASINs: 41 bits against 11 bytes as strings),
// the radix encoding, whose ids the runtime also keeps as numbers; any other id set is stored as strings.
import { ItemIndexFormatProblem } from './errors.ts';

export const ITEM_INDEX_MAGIC = 'OITM';
export const ITEM_INDEX_VERSION = 1;
const HEADER_BYTES = 32;
const ID_DECIMAL = 0;
const ID_STRINGS = 1;
const ID_RADIX = 2;
const MAX_DECIMAL_ID = 2 ** 48; // zigzag differences stay below 2^49, inside float64's exact integers
const MAX_RADIX_SPACE = 2 ** 53; // radix ids are numbers below it: float64's exact integers
const POW2 = Array.from({ length: 54 }, (_, k) => 2 ** k);
const DECIMAL = /^(0|[1-9][0-9]{0,14})$/;

export interface ItemIndex {
  itemCount: number;
  levels: number; // codes per item, the suffix level included
  codebookSize: number; // K
  codes: Uint16Array; // [items, levels]
  ids: string[]; // [items] external ids
}

/** The fewest bits that hold every code 0..K-1 (at least 1). */
export function codeBitsFor(codebookSize: number): number {
  return Math.max(1, Math.ceil(Math.log2(codebookSize)));
}

function varintBytes(value: number): number {
  let n = 1;
  while (value >= 128) {
    value = Math.floor(value / 128);
    n++;
  }
  return n;
}

/**
 * items.bin for `index`; ItemIndexFormatProblem when a code is out of range or an id repeats. `strings: true` writes
 * the ids as strings whatever they are (id encoding 1, as runtimes before the radix encoding read).
 */
export function encodeItemIndex(index: ItemIndex, options: { strings?: boolean } = {}): Uint8Array {
  const { itemCount, levels, codebookSize, codes, ids } = index;
  if (!Number.isInteger(levels) || levels < 1) throw new ItemIndexFormatProblem(`levels must be a positive integer, got ${levels}`);
  if (!Number.isInteger(codebookSize) || codebookSize < 1 || codebookSize > 65536) throw new ItemIndexFormatProblem(`codebookSize must be an integer in 1..65536, got ${codebookSize}`);
  if (codes.length !== itemCount * levels) throw new ItemIndexFormatProblem(`${codes.length} codes for ${itemCount} items × ${levels} levels`);
  if (ids.length !== itemCount) throw new ItemIndexFormatProblem(`${ids.length} ids for ${itemCount} items`);
  const seen = new Map<string, number>();
  ids.forEach((id, i) => {
    if (typeof id !== 'string') throw new ItemIndexFormatProblem(`item ${i}'s id is ${typeof id}, not a string`);
    const first = seen.get(id);
    if (first !== undefined) throw new ItemIndexFormatProblem(`items ${first} and ${i} have the same external id ${JSON.stringify(id)}; ids must name one item each`);
    seen.set(id, i);
  });
  const codeBits = codeBitsFor(codebookSize);
  const codeSectionBytes = Math.ceil((codes.length * codeBits) / 32) * 4;

  const decimal = !options.strings && ids.every((id) => DECIMAL.test(id) && Number(id) < MAX_DECIMAL_ID);
  const radix = decimal || options.strings ? null : RadixIds.fit(ids);
  const encoder = new TextEncoder();
  let idSection: Uint8Array;
  if (radix) {
    idSection = radix.encode(ids);
  } else if (decimal) {
    const zigzag = new Float64Array(itemCount); // [items] zigzag-mapped differences
    let previous = 0;
    let size = 0;
    for (let i = 0; i < itemCount; i++) {
      const value = Number(ids[i]);
      const d = value - previous;
      zigzag[i] = d >= 0 ? 2 * d : -2 * d - 1;
      size += varintBytes(zigzag[i]);
      previous = value;
    }
    idSection = new Uint8Array(size);
    let o = 0;
    for (let i = 0; i < itemCount; i++) o = writeVarint(idSection, o, zigzag[i]);
  } else {
    const utf8 = ids.map((id) => encoder.encode(id));
    const size = utf8.reduce((n, b) => n + varintBytes(b.length) + b.length, 0);
    idSection = new Uint8Array(size);
    let o = 0;
    for (const b of utf8) o = writeVarint(idSection, o, b.length);
    for (const b of utf8) {
      idSection.set(b, o);
      o += b.length;
    }
  }

  const out = new Uint8Array(HEADER_BYTES + codeSectionBytes + idSection.length);
  const view = new DataView(out.buffer);
  out.set(encoder.encode(ITEM_INDEX_MAGIC), 0);
  [ITEM_INDEX_VERSION, itemCount, levels, codebookSize, codeBits, radix ? ID_RADIX : decimal ? ID_DECIMAL : ID_STRINGS, idSection.length]
    .forEach((v, i) => view.setUint32(4 + 4 * i, v, true));
  let bit = HEADER_BYTES * 8;
  for (let c = 0; c < codes.length; c++) {
    const code = codes[c];
    if (code >= codebookSize) throw new ItemIndexFormatProblem(`item ${Math.floor(c / levels)} level ${c % levels} has code ${code} ≥ codebookSize ${codebookSize}`);
    for (let b = 0; b < codeBits; b++, bit++) if ((code >> b) & 1) out[bit >> 3] |= 1 << (bit & 7);
  }
  out.set(idSection, HEADER_BYTES + codeSectionBytes);
  return out;
}

function writeVarint(out: Uint8Array, o: number, value: number): number {
  while (value >= 128) {
    out[o++] = (value % 128) | 128;
    value = Math.floor(value / 128);
  }
  out[o++] = value;
  return o;
}

/** items.bin as the runtime keeps it: the external ids in an ItemIds, not one string per item. */
export interface ItemIndexTables {
  itemCount: number;
  levels: number; // codes per item, the suffix level included
  codebookSize: number; // K
  codes: Uint16Array; // [items, levels]
  ids: ItemIds; // [items] external ids
}

/** Decodes items.bin; ItemIndexFormatProblem says what is wrong. */
export function decodeItemIndex(bytes: Uint8Array): ItemIndex {
  const index = readItemIndex(bytes);
  return { ...index, ids: index.ids.toArray() };
}

/**
 * Decodes items.bin into the tables the runtime keeps (decimal ids stay numbers: see ItemIds); ItemIndexFormatProblem
 * says what is wrong, as decodeItemIndex.
 */
export function readItemIndex(bytes: Uint8Array): ItemIndexTables {
  if (bytes.length < HEADER_BYTES) throw new ItemIndexFormatProblem(`${bytes.length} bytes, shorter than the ${HEADER_BYTES}-byte header`);
  if (String.fromCharCode(bytes[0], bytes[1], bytes[2], bytes[3]) !== ITEM_INDEX_MAGIC) throw new ItemIndexFormatProblem(`does not start with "${ITEM_INDEX_MAGIC}"`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const at = (offset: number): number => view.getUint32(offset, true);
  const version = at(4);
  if (version !== ITEM_INDEX_VERSION) throw new ItemIndexFormatProblem(`version ${version}; this runtime reads version ${ITEM_INDEX_VERSION}`);
  const itemCount = at(8), levels = at(12), codebookSize = at(16), codeBits = at(20), idEncoding = at(24), idBytes = at(28);
  if (levels < 1 || codebookSize < 1 || codebookSize > 65536) throw new ItemIndexFormatProblem(`bad header: levels ${levels}, codebookSize ${codebookSize}`);
  if (codeBits !== codeBitsFor(codebookSize)) throw new ItemIndexFormatProblem(`${codeBits} bits per code where codebookSize ${codebookSize} takes ${codeBitsFor(codebookSize)}`);
  if (idEncoding !== ID_DECIMAL && idEncoding !== ID_STRINGS && idEncoding !== ID_RADIX) throw new ItemIndexFormatProblem(`id encoding ${idEncoding} is unknown (0 = decimal, 1 = strings, 2 = radix)`);
  const codeCount = itemCount * levels;
  const codeSectionBytes = Math.ceil((codeCount * codeBits) / 32) * 4;
  const expected = HEADER_BYTES + codeSectionBytes + idBytes;
  if (bytes.length !== expected) throw new ItemIndexFormatProblem(`${bytes.length} bytes where its header implies ${expected} (truncated or corrupted)`);

  const codes = new Uint16Array(codeCount); // [items, levels]
  if (codeBits === 8) {
    codes.set(bytes.subarray(HEADER_BYTES, HEADER_BYTES + codeCount));
  } else {
    const mask = (1 << codeBits) - 1;
    let bit = HEADER_BYTES * 8;
    for (let c = 0; c < codeCount; c++, bit += codeBits) {
      // A code spans at most 3 bytes (codeBits ≤ 16); read 24 bits from its first byte (zeros past the section's end).
      const byte = bit >> 3;
      const word = bytes[byte] | (bytes[byte + 1] << 8) | ((bytes[byte + 2] ?? 0) << 16);
      codes[c] = (word >> (bit & 7)) & mask;
    }
  }
  if (codebookSize < 1 << codeBits) { // else every codeBits-bit value is a code
    for (let c = 0; c < codeCount; c++) {
      if (codes[c] >= codebookSize) throw new ItemIndexFormatProblem(`item ${Math.floor(c / levels)} level ${c % levels} has code ${codes[c]} ≥ codebookSize ${codebookSize}`);
    }
  }

  const idAt = HEADER_BYTES + codeSectionBytes;
  let o = idAt;
  const end = idAt + idBytes;
  const readVarint = (what: string): number => {
    let value = 0;
    let scale = 1;
    for (;;) {
      if (o >= end) throw new ItemIndexFormatProblem(`${what} runs past the id section`);
      const b = bytes[o++];
      value += (b & 127) * scale;
      if (b < 128) return value;
      scale *= 128;
      if (scale > 2 ** 49) throw new ItemIndexFormatProblem(`${what} is longer than 7 bytes`);
    }
  };
  let ids: ItemIds;
  if (idEncoding === ID_DECIMAL) {
    const values = new Float64Array(itemCount); // [items] the ids as numbers
    let value = 0;
    for (let i = 0; i < itemCount; i++) {
      const z = o < end && bytes[o] < 128 ? bytes[o++] : readVarint(`item ${i}'s id`); // one-byte varints read inline
      value += z % 2 === 0 ? z / 2 : -(z + 1) / 2;
      if (value < 0 || value >= MAX_DECIMAL_ID) throw new ItemIndexFormatProblem(`item ${i}'s id ${value} is outside 0..2^48`);
      values[i] = value;
    }
    ids = ItemIds.fromDecimal(values);
  } else if (idEncoding === ID_RADIX) {
    const length = readVarint('the ids\' length');
    if (length < 1 || length > 64) throw new ItemIndexFormatProblem(`radix ids of length ${length}; 1..64 expected`);
    const alphabets: string[] = [];
    for (let p = 0; p < length; p++) {
      const size = readVarint(`position ${p}'s alphabet size`);
      if (size < 1 || size > 128 || o + size > end) throw new ItemIndexFormatProblem(`position ${p}'s alphabet of ${size} characters does not fit the id section`);
      const chars = bytes.subarray(o, o + size);
      for (let c = 0; c < size; c++) if (chars[c] > 127 || (c > 0 && chars[c] <= chars[c - 1])) throw new ItemIndexFormatProblem(`position ${p}'s alphabet is not ascending ASCII`);
      alphabets.push(String.fromCharCode(...chars));
      o += size;
    }
    const radix = new RadixIds(alphabets);
    if (radix.space > MAX_RADIX_SPACE) throw new ItemIndexFormatProblem(`radix ids over alphabets of ${radix.space} values; at most 2^53 expected`);
    const packed = Math.ceil((itemCount * radix.bits) / 8);
    if (o + packed > end) throw new ItemIndexFormatProblem(`${itemCount} ids of ${radix.bits} bits run past the id section`);
    const values = radix.unpack(bytes.subarray(o, o + packed), itemCount);
    for (let i = 0; i < itemCount; i++) if (values[i] >= radix.space) throw new ItemIndexFormatProblem(`item ${i}'s id ${values[i]} is outside its alphabets' ${radix.space} values`);
    o += packed;
    ids = ItemIds.fromRadix(values, radix);
  } else {
    const strings: string[] = new Array(itemCount);
    const lengths = new Float64Array(itemCount); // [items] UTF-8 bytes of each id
    for (let i = 0; i < itemCount; i++) lengths[i] = readVarint(`item ${i}'s id length`);
    const decoder = new TextDecoder('utf-8', { fatal: true });
    for (let i = 0; i < itemCount; i++) {
      if (o + lengths[i] > end) throw new ItemIndexFormatProblem(`item ${i}'s id runs past the id section`);
      try {
        strings[i] = decoder.decode(bytes.subarray(o, o + lengths[i]));
      } catch {
        throw new ItemIndexFormatProblem(`item ${i}'s id is not valid UTF-8`);
      }
      o += lengths[i];
    }
    ids = ItemIds.fromStrings(strings);
  }
  if (o !== end) throw new ItemIndexFormatProblem(`the id section has ${end - o} bytes after the last id`);
  return { itemCount, levels, codebookSize, codes, ids };
}

/**
 * The external ids of a bundle's items, by item index, and the lookup from an id back to its item. Decimal ids (items.bin's
 * id encoding 0) are kept as numbers: nothing at all when every item's id is its index, the values alone (a binary search)
 * when they increase with the item index, else the values and an open-addressing hash table id → item — at 1 M items
 * 0, 8 or 8 + 8 MB, built in one pass, where a string per item and a Map of them took ~45 MB and ~0.6 s. Other ids are
 * kept as strings in a Map. Duplicate ids are an ItemIndexFormatProblem.
 */
export class ItemIds {
  readonly length: number;

  private constructor(
    length: number,
    private readonly strings: string[] | null, // [items] string ids; null for numeric ids
    private readonly byString: Map<string, number> | null, // string id → item
    private readonly values: Float64Array | null, // [items] decimal or radix ids as numbers; null when every id is its item index
    private readonly slots: Int32Array | null, // [2^k ≥ 2 × items] hash table of the values: item index, or −1 for empty; null when the values increase
    private readonly radix: RadixIds | null, // how radix ids (items.bin's id encoding 2) spell their values; null for decimal ids
  ) {
    this.length = length;
  }

  static fromStrings(ids: string[]): ItemIds {
    const byString = new Map<string, number>();
    ids.forEach((id, i) => {
      const first = byString.get(id);
      if (first !== undefined) throw new ItemIndexFormatProblem(`items ${first} and ${i} have the same external id ${JSON.stringify(id)}`);
      byString.set(id, i);
    });
    return new ItemIds(ids.length, ids, byString, null, null, null);
  }

  /** `values: Float64Array // [items]`, integers in 0..2^48 (kept, not copied). */
  static fromDecimal(values: Float64Array): ItemIds {
    let identity = true;
    for (let i = 0; i < values.length && identity; i++) identity = values[i] === i;
    if (identity) return new ItemIds(values.length, null, null, null, null, null);
    return ItemIds.numeric(values, null);
  }

  /** `values: Float64Array // [items]`, each id's number under `radix` (kept, not copied). */
  static fromRadix(values: Float64Array, radix: RadixIds): ItemIds {
    return ItemIds.numeric(values, radix);
  }

  /** Values that increase with the item index are found by binary search; others through a hash table. */
  private static numeric(values: Float64Array, radix: RadixIds | null): ItemIds {
    const n = values.length;
    let increasing = true;
    for (let i = 1; i < n && increasing; i++) increasing = values[i] > values[i - 1];
    if (increasing) return new ItemIds(n, null, null, values, null, radix);
    let bits = 1;
    while (1 << bits < 2 * n) bits++;
    const slots = new Int32Array(1 << bits).fill(-1);
    const mask = (1 << bits) - 1;
    for (let i = 0; i < n; i++) {
      let slot = hashDecimal(values[i], bits);
      while (slots[slot] >= 0) {
        if (values[slots[slot]] === values[i]) throw new ItemIndexFormatProblem(`items ${slots[slot]} and ${i} have the same external id "${radix ? radix.format(values[i]) : values[i]}"`);
        slot = (slot + 1) & mask;
      }
      slots[slot] = i;
    }
    return new ItemIds(n, null, null, values, slots, radix);
  }

  /** The external id of `item` (an index in 0..length − 1). */
  idOf(item: number): string {
    if (this.strings) return this.strings[item];
    if (this.radix) return this.radix.format(this.values![item]);
    return String(this.values ? this.values[item] : item);
  }

  /** The item whose external id is `id`, or −1 when none is. */
  itemOf(id: string): number {
    if (this.byString) return this.byString.get(id) ?? -1;
    let value: number;
    if (this.radix) {
      value = this.radix.value(id);
      if (value < 0) return -1;
    } else {
      if (!DECIMAL.test(id)) return -1; // decimal ids are canonical: "07" or "+7" is no item's
      value = Number(id);
    }
    if (!this.values) return value < this.length ? value : -1;
    if (!this.slots) {
      const values = this.values;
      let lo = 0;
      let hi = values.length - 1;
      while (lo <= hi) {
        const mid = (lo + hi) >> 1;
        if (values[mid] === value) return mid;
        if (values[mid] < value) lo = mid + 1;
        else hi = mid - 1;
      }
      return -1;
    }
    const mask = this.slots.length - 1;
    for (let slot = hashDecimal(value, Math.log2(this.slots.length)); this.slots[slot] >= 0; slot = (slot + 1) & mask) {
      if (this.values![this.slots[slot]] === value) return this.slots[slot];
    }
    return -1;
  }

  /** Every id as a string, by item index (one string per item: for tools, not the runtime). */
  toArray(): string[] {
    return this.strings ? this.strings.slice() : Array.from({ length: this.length }, (_, i) => this.idOf(i));
  }
}

/**
 * Fixed-length ASCII ids as numbers (items.bin's id encoding 2): position 0 the most significant digit, each digit the
 * character's rank in its position's alphabet, so that the numbers order as the strings do. 10-character ASINs (a
 * few letters in the first positions, 36 in the rest) take 41 bits where a string table takes 11 bytes, and the
 * runtime keeps them in ItemIds's numeric tables instead of a Map of strings.
 */
export class RadixIds {
  readonly space: number; // Π alphabet sizes: how many ids the alphabets spell
  readonly bits: number; // bits per packed id: the fewest whose values cover `space` (at least 1)
  private readonly digits: Int16Array[]; // [positions][128] character code → digit, −1 where not in the alphabet

  constructor(readonly alphabets: string[]) {
    this.space = alphabets.reduce((n, a) => n * a.length, 1);
    let bits = 1;
    while (2 ** bits < this.space) bits++;
    this.bits = bits;
    this.digits = alphabets.map((a) => {
      const digit = new Int16Array(128).fill(-1);
      for (let d = 0; d < a.length; d++) digit[a.charCodeAt(d)] = d;
      return digit;
    });
  }

  /** The alphabets of `ids` when they fit the encoding (one length, ASCII, at most 2^53 spellings) and it is the smaller; else null. */
  static fit(ids: string[]): RadixIds | null {
    if (ids.length === 0) return null;
    const n = ids[0].length;
    if (n < 1 || n > 64) return null;
    const seen = Array.from({ length: n }, () => new Uint8Array(128));
    for (const id of ids) {
      if (id.length !== n) return null;
      for (let p = 0; p < n; p++) {
        const c = id.charCodeAt(p);
        if (c > 127) return null;
        seen[p][c] = 1;
      }
    }
    const alphabets = seen.map((s) => String.fromCharCode(...Array.from(s.keys()).filter((c) => s[c])));
    const radix = new RadixIds(alphabets);
    if (radix.space > MAX_RADIX_SPACE) return null;
    const stringBytes = ids.length * (varintBytes(n) + n); // ASCII: one byte per character
    return radix.sectionBytes(ids.length) < stringBytes ? radix : null;
  }

  /** The number `id` spells, or −1 when it is not of these alphabets. */
  value(id: string): number {
    if (id.length !== this.digits.length) return -1;
    let value = 0;
    for (let p = 0; p < id.length; p++) {
      const c = id.charCodeAt(p);
      const d = c < 128 ? this.digits[p][c] : -1;
      if (d < 0) return -1;
      value = value * this.alphabets[p].length + d;
    }
    return value;
  }

  /** The id that `value` (in 0..space − 1) spells. */
  format(value: number): string {
    const chars: string[] = new Array(this.alphabets.length);
    for (let p = this.alphabets.length - 1; p >= 0; p--) {
      const size = this.alphabets[p].length;
      const d = value % size;
      chars[p] = this.alphabets[p][d];
      value = (value - d) / size;
    }
    return chars.join('');
  }

  private sectionBytes(count: number): number {
    return varintBytes(this.alphabets.length) + this.alphabets.reduce((n, a) => n + varintBytes(a.length) + a.length, 0) + Math.ceil((count * this.bits) / 8);
  }

  /** items.bin's id section for `ids` (each of these alphabets). */
  encode(ids: string[]): Uint8Array {
    const out = new Uint8Array(this.sectionBytes(ids.length));
    let o = writeVarint(out, 0, this.alphabets.length);
    for (const a of this.alphabets) {
      o = writeVarint(out, o, a.length);
      for (let c = 0; c < a.length; c++) out[o++] = a.charCodeAt(c);
    }
    let bit = o * 8;
    for (const id of ids) {
      const value = this.value(id);
      const low = value % 2 ** 24; // bitwise operators read 32 bits: a value below 2^48 goes in two halves
      const high = (value - low) / 2 ** 24;
      for (let b = 0; b < this.bits; b++, bit++) if (((b < 24 ? low >> b : high >> (b - 24)) & 1) !== 0) out[bit >> 3] |= 1 << (bit & 7);
    }
    return out;
  }

  /** `count` packed ids from `bytes` (the section after the alphabets). */
  unpack(bytes: Uint8Array, count: number): Float64Array {
    const values = new Float64Array(count); // [items]
    const bits = this.bits;
    const byteAt = (k: number): number => (k < bytes.length ? bytes[k] : 0);
    for (let i = 0, bit = 0; i < count; i++, bit += bits) {
      // The id's first bits from a 24-bit word (bitwise, exact); the rest, at most 36 bits, in float64 arithmetic.
      const b = bit >> 3;
      const shift = bit & 7;
      const lowBits = 24 - shift;
      const low = (byteAt(b) | (byteAt(b + 1) << 8) | (byteAt(b + 2) << 16)) >>> shift;
      if (bits <= lowBits) {
        values[i] = low & ((1 << bits) - 1);
        continue;
      }
      const need = bits - lowBits;
      let high = 0;
      for (let k = 0, scale = 1; k * 8 < need; k++, scale *= 256) high += byteAt(b + 3 + k) * scale;
      values[i] = low + (high % POW2[need]) * POW2[lowBits];
    }
    return values;
  }
}

/** A slot in 0..2^bits − 1 for an integer id below 2^48: its low and high words mixed, Fibonacci hashing. */
function hashDecimal(value: number, bits: number): number {
  const low = value >>> 0;
  const high = Math.floor(value / 4294967296);
  return Math.imul(low ^ Math.imul(high, 0x85ebca6b), 0x9e3779b1) >>> (32 - bits);
}
