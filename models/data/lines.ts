// Streaming text input: lines of a plain or gzip-compressed file, and delimited-field parsing.
import { createReadStream } from 'node:fs';
import { createGunzip } from 'node:zlib';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';

/** Lines of `path` (gunzipped when it ends in .gz), without line endings, with their 1-based numbers. */
export async function* readLines(path: string, encoding: BufferEncoding = 'utf8'): AsyncGenerator<[string, number]> {
  let stream: Readable = createReadStream(path);
  if (path.endsWith('.gz')) stream = stream.pipe(createGunzip());
  stream.setEncoding(encoding);
  const lines = createInterface({ input: stream, crlfDelay: Infinity });
  let n = 0;
  for await (const line of lines) yield [line, ++n];
}

/**
 * Split one line of CSV/TSV into fields. Double-quoted fields may contain the delimiter and `""` for a
 * quote (RFC 4180, one record per line — the datasets here never break a record across lines).
 * Returns null when a quote is left open, so the caller can report the line.
 */
export function splitFields(line: string, delimiter: string): string[] | null {
  if (!line.includes('"')) return line.split(delimiter);
  const out: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quoted) {
      if (ch === '"') {
        if (line[i + 1] === '"') {
          field += '"';
          i++;
        } else quoted = false;
      } else field += ch;
    } else if (ch === '"' && field === '') quoted = true;
    else if (ch === delimiter) {
      out.push(field);
      field = '';
    } else field += ch;
  }
  if (quoted) return null;
  out.push(field);
  return out;
}
