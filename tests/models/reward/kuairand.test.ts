import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { buildSessions, indexVideos, readKuaiRandLog, splitDay, type KuaiRandLog } from '../../../models/reward/kuairand.ts';
import { sessionLabel } from '../../../models/reward/labels.ts';

const DATA = '../shared/data/kuairand-pure';

function log(rows: [user: number, video: number, day: number, minute: number, play: number, like: number][]): KuaiRandLog {
  const col = (i: number) => rows.map((r) => r[i]);
  const zeros = rows.map(() => 0);
  return {
    userId: Int32Array.from(col(0)), videoId: Int32Array.from(col(1)), day: Int32Array.from(col(2)), timeMs: Float64Array.from(col(3), (m) => m * 60000),
    playTimeMs: Float64Array.from(col(4)), durationMs: Float64Array.from(zeros, () => 1000), longView: Uint8Array.from(zeros), like: Uint8Array.from(col(5)),
    follow: Uint8Array.from(zeros), comment: Uint8Array.from(zeros), forward: Uint8Array.from(zeros),
  };
}

test('sessions: gap cuts, chunks of sessionLength, minItems, history = pre-period then earlier rows', () => {
  const l = log([
    [7, 100, 20220425, 0, 5, 0], [7, 101, 20220425, 1, 6, 1], [7, 102, 20220425, 2, 7, 0], // one run of 3 → chunks [100,101] [102]
    [8, 101, 20220425, 3, 1, 0],
    [7, 103, 20220426, 2000, 9, 0], [7, 100, 20220426, 2001, 9, 0], // after a 33 h gap: a new run
    [7, 999, 20220426, 2002, 9, 0], // video outside the catalog: skipped
  ]);
  const videoIndex = new Map([[100, 0], [101, 1], [102, 2], [103, 3]]);
  const sessions = buildSessions(l, { gapMs: 24 * 3600 * 1000, sessionLength: 2, minItems: 2 }, videoIndex, new Map([[7, [102, 555]]]));
  assert.deepEqual(sessions.map((s) => [s.user, s.day, [...s.items], [...s.history]]), [
    [7, 20220425, [0, 1], [2]],
    [7, 20220426, [3, 0], [2, 0, 1, 2]], // the dropped 1-item chunk [102] still enters the history
  ]);
  assert.deepEqual([...sessions[0].playTimeMs], [5, 6]);
  assert.equal(sessionLabel(sessions[0], 'ltr', { swtThresholdMs: 0 }), 1);
  assert.equal(splitDay(sessions, 1), 20220426);
  assert.throws(() => splitDay(sessions, 2), (e: Error) => e.name === 'RewardDataError' && /--testDays=2/.test(e.message));
});

test('reads the real KuaiRand-Pure log columns', { skip: !existsSync(DATA) && 'no ../shared/data' }, async () => {
  const l = await readKuaiRandLog(DATA, 2000);
  assert.equal(l.userId.length, 2000);
  assert.equal(l.day[0], 20220425); // the slice starts on 2022-04-25 and is sorted by time
  for (let r = 1; r < 2000; r++) assert.ok(l.timeMs[r] >= l.timeMs[r - 1]);
  assert.ok(l.longView.every((x) => x === 0 || x === 1));
  assert.ok(indexVideos(l).size > 100);
  await assert.rejects(readKuaiRandLog('does-not-exist'), (e: Error) => e.name === 'RewardDataError' && /--kuairand/.test(e.message));
});
