// Streaming text input: lines of a plain or gzip-compressed file, and delimited-field parsing.
// Bytes are decoded strictly: invalid UTF-8 is a DataFormatError at file:line (never U+FFFD, which would make two
// different ids one), a UTF-8 byte-order mark at the start of the file is dropped (in every format), and a file that
// is not valid gzip, cannot be read or is a folder is a DataFormatError naming the file.
import { createReadStream } from 'node:fs';
import { createGunzip } from 'node:zlib';
import { basename } from 'node:path';
import type { Readable } from 'node:stream';
import { DataFormatError } from './errors.ts';

const NEWLINE = 0x0a;

/** Why reading `path` failed, for a message that names the file and says what to do. */
function readProblem(err: NodeJS.ErrnoException, gzip: boolean): string {
  if (err.code === 'EISDIR') return 'is a folder, expected a file; move the folder away or point --data at the folder that holds the files';
  if (err.code === 'ENOENT') return 'does not exist (it was there when the folder was listed)';
  if (err.code === 'EACCES' || err.code === 'EPERM') return 'cannot be read (permission denied)';
  if (gzip && (err.code?.startsWith('Z_') || /unexpected end of file|incorrect header check|invalid/i.test(err.message))) {
    return `is not a valid gzip file (${err.message}); it is truncated or not compressed: re-download it, or drop the .gz from its name if it is plain text`;
  }
  return `could not be read (${err.message})`;
}

/**
 * Lines of `path` (gunzipped when it ends in .gz), without line endings (\n or \r\n), with their 1-based numbers.
 * 'utf8' is strict (invalid bytes are an error naming the line); 'latin1' maps every byte (MovieLens-100K's u.item).
 */
export async function* readLines(path: string, encoding: 'utf8' | 'latin1' = 'utf8'): AsyncGenerator<[string, number]> {
  const shown = basename(path);
  const gzip = path.endsWith('.gz');
  let stream: Readable = createReadStream(path);
  if (gzip) {
    const gunzip = createGunzip();
    stream.on('error', (err) => gunzip.destroy(err)); // a folder or an unreadable file fails the gunzip stream we read
    stream = stream.pipe(gunzip);
  }
  const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  let n = 0; // lines yielded so far
  let carry: Buffer = Buffer.alloc(0); // bytes after the last newline seen
  let first = true;
  // Decodes whole lines (`bytes` ends before a newline or at the end of the file): UTF-8 never has 0x0A inside a
  // character, so a block of whole lines decodes on its own.
  const decode = (bytes: Buffer): string => {
    if (encoding === 'latin1') return bytes.toString('latin1');
    try {
      return decoder.decode(bytes);
    } catch {
      // Find the line for the message: decode line by line.
      let start = 0;
      for (let line = n + 1; ; line++) {
        const end = bytes.indexOf(NEWLINE, start);
        const slice = bytes.subarray(start, end < 0 ? bytes.length : end);
        try {
          decoder.decode(slice);
        } catch {
          throw new DataFormatError(shown, line, 'not valid UTF-8 text; re-save the file as UTF-8 (ids that differ only in undecodable bytes would otherwise become one)');
        }
        if (end < 0) throw new DataFormatError(shown, line, 'not valid UTF-8 text; re-save the file as UTF-8');
        start = end + 1;
      }
    }
  };
  const split = function* (text: string): Generator<[string, number]> {
    if (first) {
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1); // the byte-order mark some editors write
      first = false;
    }
    for (const line of text.split('\n')) yield [line.endsWith('\r') ? line.slice(0, -1) : line, ++n];
  };
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      const last = chunk.lastIndexOf(NEWLINE);
      if (last < 0) {
        carry = carry.length ? Buffer.concat([carry, chunk]) : chunk;
        continue;
      }
      const block = carry.length ? Buffer.concat([carry, chunk.subarray(0, last)]) : chunk.subarray(0, last);
      carry = chunk.subarray(last + 1);
      yield* split(decode(block));
    }
  } catch (err) {
    if (err instanceof DataFormatError) throw err;
    throw new DataFormatError(shown, 0, `${readProblem(err as NodeJS.ErrnoException, gzip)}${n > 0 ? ` (after line ${n})` : ''}`);
  } finally {
    stream.destroy();
  }
  if (carry.length > 0) yield* split(decode(carry));
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
