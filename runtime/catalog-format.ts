// The item catalog's compact binary format (catalog.bin, "OCAT" v1): what a bundle displays for each item.
// Strings are stored once (attributes such as brands and categories repeat across thousands of items), as
// UTF-8 in one blob; items refer to them by index. All integers are little-endian u32; the blob comes last so
// every integer is 4-byte aligned.
//
//   offset 0   magic "OCAT"
//          4   version (1)
//          8   itemCount
//         12   stringCount
//         16   blobBytes
//         20   attributeRefs                       total attribute references over all items
//         24   stringEnd[stringCount]              end of string s in the blob (start = end of s − 1, or 0)
//              idString[itemCount]                 item i's external id
//              titleString[itemCount]              item i's title, or NO_STRING
//              attributeEnd[itemCount]             end of item i's references (start = end of i − 1, or 0)
//              attributeString[attributeRefs]      string index of each attribute
//              blob[blobBytes]                     UTF-8
//
// Item index = position in the catalog = the item index of items.bin (runtime/item-index.ts), whose ids it repeats.
// The display catalog is optional: the runtime reads it only when load() asks for it (LoadOptions.catalog).
import type { CatalogEntry } from './bundle.ts';
import { CatalogFormatProblem } from './errors.ts';

export const CATALOG_MAGIC = 'OCAT';
export const CATALOG_VERSION = 1;
const NO_STRING = 0xffffffff;
const HEADER_BYTES = 24;

export function isBinaryCatalog(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && String.fromCharCode(bytes[0], bytes[1], bytes[2], bytes[3]) === CATALOG_MAGIC;
}

export function encodeCatalog(entries: readonly CatalogEntry[]): Uint8Array {
  const strings: string[] = [];
  const indexOf = new Map<string, number>();
  const intern = (s: string): number => {
    let i = indexOf.get(s);
    if (i === undefined) {
      i = strings.length;
      strings.push(s);
      indexOf.set(s, i);
    }
    return i;
  };
  const ids = entries.map((e) => intern(e.id));
  const titles = entries.map((e) => (e.title === undefined ? NO_STRING : intern(e.title)));
  const attributeEnd: number[] = [];
  const attributeString: number[] = [];
  for (const e of entries) {
    for (const a of e.attributes ?? []) attributeString.push(intern(a));
    attributeEnd.push(attributeString.length);
  }
  const encoder = new TextEncoder();
  const encoded = strings.map((s) => encoder.encode(s));
  const blobBytes = encoded.reduce((n, b) => n + b.length, 0);
  const words = 6 + strings.length + 3 * entries.length + attributeString.length;
  const out = new Uint8Array(words * 4 + blobBytes);
  const view = new DataView(out.buffer);
  out.set(encoder.encode(CATALOG_MAGIC), 0);
  let o = 4;
  const put = (v: number) => {
    view.setUint32(o, v, true);
    o += 4;
  };
  [CATALOG_VERSION, entries.length, strings.length, blobBytes, attributeString.length].forEach(put);
  let end = 0;
  for (const b of encoded) put((end += b.length));
  ids.forEach(put);
  titles.forEach(put);
  attributeEnd.forEach(put);
  attributeString.forEach(put);
  for (const b of encoded) {
    out.set(b, o);
    o += b.length;
  }
  return out;
}

/** Decodes catalog.bin; throws CatalogFormatProblem saying what is wrong. */
export function decodeCatalog(bytes: Uint8Array, itemCount: number): CatalogEntry[] {
  if (!isBinaryCatalog(bytes)) throw new CatalogFormatProblem(`does not start with "${CATALOG_MAGIC}"`);
  if (bytes.length < HEADER_BYTES) throw new CatalogFormatProblem(`${bytes.length} bytes, shorter than the ${HEADER_BYTES}-byte header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const at = (offset: number) => view.getUint32(offset, true);
  const version = at(4);
  if (version !== CATALOG_VERSION) throw new CatalogFormatProblem(`version ${version}; this runtime reads version ${CATALOG_VERSION}`);
  const items = at(8), stringCount = at(12), blobBytes = at(16), refs = at(20);
  if (items !== itemCount) throw new CatalogFormatProblem(`${items} items where items.bin has ${itemCount}`);
  const expected = HEADER_BYTES + 4 * (stringCount + 3 * items + refs) + blobBytes;
  if (bytes.length !== expected) throw new CatalogFormatProblem(`${bytes.length} bytes where its header implies ${expected} (truncated or corrupted)`);
  const stringEndAt = HEADER_BYTES;
  const idAt = stringEndAt + 4 * stringCount;
  const titleAt = idAt + 4 * items;
  const attributeEndAt = titleAt + 4 * items;
  const attributeAt = attributeEndAt + 4 * items;
  const blobAt = attributeAt + 4 * refs;
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const strings: string[] = new Array(stringCount);
  let start = 0;
  for (let s = 0; s < stringCount; s++) {
    const end = at(stringEndAt + 4 * s);
    if (end < start || end > blobBytes) throw new CatalogFormatProblem(`string ${s} ends at ${end}, outside ${start}..${blobBytes}`);
    try {
      strings[s] = decoder.decode(bytes.subarray(blobAt + start, blobAt + end));
    } catch {
      throw new CatalogFormatProblem(`string ${s} is not valid UTF-8`);
    }
    start = end;
  }
  const stringAt = (index: number, what: string): string => {
    if (index >= stringCount) throw new CatalogFormatProblem(`${what} refers to string ${index} of ${stringCount}`);
    return strings[index];
  };
  const entries: CatalogEntry[] = new Array(items);
  let refStart = 0;
  for (let i = 0; i < items; i++) {
    const entry: CatalogEntry = { id: stringAt(at(idAt + 4 * i), `item ${i}'s id`) };
    const title = at(titleAt + 4 * i);
    if (title !== NO_STRING) entry.title = stringAt(title, `item ${i}'s title`);
    const refEnd = at(attributeEndAt + 4 * i);
    if (refEnd < refStart || refEnd > refs) throw new CatalogFormatProblem(`item ${i}'s attributes end at ${refEnd}, outside ${refStart}..${refs}`);
    if (refEnd > refStart) {
      entry.attributes = [];
      for (let r = refStart; r < refEnd; r++) entry.attributes.push(stringAt(at(attributeAt + 4 * r), `item ${i}'s attribute`));
    }
    refStart = refEnd;
    entries[i] = entry;
  }
  return entries;
}
