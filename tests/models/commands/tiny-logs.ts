// A folder of logs in the generic import format, small enough for a CLI test to prepare in a second:
// `items` items in 4 attribute groups, `users` users who each walk through one group in order.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function tinyLogs(items: number, users: number, perUser = 8): string {
  const dir = mkdtempSync(join(tmpdir(), 'onerec-tiny-logs-'));
  const catalog = Array.from({ length: items }, (_, i) => JSON.stringify({ item: `p${i}`, attributes: [`group:${i % 4}`, `tone:${i % 3}`] }));
  writeFileSync(join(dir, 'items.jsonl'), `${catalog.join('\n')}\n`);
  const rows = ['user,item,timestamp'];
  for (let u = 0; u < users; u++) {
    for (let k = 0; k < perUser; k++) rows.push(`u${u},p${(u % 4 + 4 * (u + k)) % items},${1_700_000_000 + u * 1000 + k * 60}`);
  }
  writeFileSync(join(dir, 'interactions.csv'), `${rows.join('\n')}\n`);
  return dir;
}
