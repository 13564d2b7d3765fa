// bench/synthetic-log.ts writes the requested counts exactly, a Zipf-like popularity head, heavy-tailed users,
// chronological sessions with gaps, the same bytes for the same seed, and a folder `onerec prepare`'s reader takes. ~3 s.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_SYNTHETIC_LOG, writeSyntheticLog } from '../../bench/synthetic-log.ts';
import { readDataset } from '../../models/data/readers.ts';

test('the synthetic log: exact counts, Zipf head, heavy-tailed users, time order, seeded', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'onerec-synthetic-'));
  try {
    const options = { ...DEFAULT_SYNTHETIC_LOG, interactions: 30_000, items: 3_000, users: 1_000, topics: 30 };
    await writeSyntheticLog({ ...options, out: join(dir, 'a') });
    await writeSyntheticLog({ ...options, out: join(dir, 'b') });
    const text = readFileSync(join(dir, 'a', 'interactions.csv'), 'utf8');
    assert.ok(text === readFileSync(join(dir, 'b', 'interactions.csv'), 'utf8'), 'same seed, same bytes');
    const lines = text.trimEnd().split('\n');
    assert.equal(lines[0], 'user,item,timestamp,play_time_ms,duration_ms,like');
    const rows = lines.slice(1).map((l) => l.split(','));
    assert.equal(rows.length, 30_000);
    const perUser = new Map<string, number>();
    const perItem = new Map<string, number>();
    let gaps = 0;
    for (const [r, [user, item, time, play, duration]] of rows.entries()) {
      perUser.set(user, (perUser.get(user) ?? 0) + 1);
      perItem.set(item, (perItem.get(item) ?? 0) + 1);
      assert.ok(Number(play) <= Number(duration));
      if (r > 0 && rows[r - 1][0] === user) {
        const gap = Number(time) - Number(rows[r - 1][2]);
        assert.ok(gap >= 0, `row ${r + 2}: time goes back within a user`);
        if (gap >= 1800) gaps++;
      }
    }
    assert.equal(perUser.size, 1_000);
    assert.ok(gaps > 1_000, `sessions separated by ≥ 30 min gaps: ${gaps}`);
    const items = [...perItem.values()].sort((a, b) => b - a);
    const top1 = items.slice(0, 30).reduce((a, b) => a + b, 0) / 30_000;
    assert.ok(top1 > 0.15, `the top 1 % of items take ${top1.toFixed(3)} of the rows (uniform: 0.01)`);
    assert.ok(items[0] / items[9] > 3, 'rank 1 well above rank 10 (Zipf s = 1: ×10, diluted by the topics)');
    const users = [...perUser.values()].sort((a, b) => b - a);
    assert.ok(users[0] > 10 * (30_000 / 1_000), `the most active user has ${users[0]} rows, over 10× the mean`);
    const dataset = await readDataset(join(dir, 'a'));
    assert.equal(dataset.items.length, 3_000);
    assert.equal(dataset.users.length, 1_000);
    assert.equal(dataset.item.length, 30_000);
    assert.ok(dataset.signals.play_time_ms && dataset.signals.like);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
