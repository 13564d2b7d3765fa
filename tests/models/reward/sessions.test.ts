import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { readDataset } from '../../../models/data/readers.ts';
import { DEFAULT_REWARD_SESSION_RULES, DEFAULT_SESSION_RULES, rewardSessions } from '../../../models/data/sessions.ts';
import type { PreparedData } from '../../../models/data/prepared.ts';
import { sessionLabel } from '../../../models/reward/labels.ts';
import { calendarDate, observedSessions, splitDay } from '../../../models/reward/sessions.ts';

const DATA = '../shared/data/kuairand-pure';
const DAY_0 = Date.UTC(2022, 3, 25) / 86_400_000; // 2022-04-25 in Unix days

/** Prepared rows of users '7' (index 0) and '8' (index 1): [user, item, day index, minute, play ms, like]. */
function prepared(rows: [user: number, item: number, day: number, minute: number, play: number, like: number][], prior: number[][]) {
  const userOffsets = Int32Array.from([0, ...[0, 1].map((u) => rows.filter((r) => r[0] <= u).length)]);
  const col = (i: number) => Float32Array.from(rows, (r) => r[i]);
  const zeros = new Float32Array(rows.length);
  const data = {
    dir: 'test', meta: { firstDay: DAY_0 } as PreparedData['meta'], userOffsets, item: Int32Array.from(rows, (r) => r[1]), timeMs: Float64Array.from(rows, (r) => r[3] * 60_000),
    day: Int32Array.from(rows, (r) => r[2]),
    signals: { play_time_ms: col(4), duration_ms: zeros.map(() => 1000), long_view: zeros, like: col(5), follow: zeros, comment: zeros, forward: zeros },
    priorHistory: { offsets: Int32Array.from([0, prior[0].length, prior[0].length + prior[1].length]), item: Int32Array.from(prior.flat()) },
  };
  return data;
}

test('reward sessions: gap cuts, chunks of sessionLength, minItems, history = pre-period then earlier rows', () => {
  const data = prepared([
    [0, 0, 0, 0, 5, 0], [0, 1, 0, 1, 6, 1], [0, 2, 0, 2, 7, 0], // one run of 3 → chunks [0,1] [2]
    [0, 3, 1, 2000, 9, 0], [0, 0, 1, 2001, 9, 0], // after a 33 h gap: a new run
    [1, 1, 0, 3, 1, 0],
  ], [[2], []]);
  const rules = { gapHours: 24, sessionLength: 2, minItems: 2 };
  const cut = rewardSessions(data, rules, DEFAULT_SESSION_RULES);
  assert.deepEqual([...cut.offsets], [0, 2, 4]);
  assert.deepEqual([...cut.rows], [0, 1, 3, 4]);
  const sessions = observedSessions({ ...data, rewardSessions: cut }, 50);
  assert.deepEqual(sessions.map((s) => [s.user, s.day, [...s.items], [...s.history]]), [
    [0, 20220425, [0, 1], [2]],
    [0, 20220426, [3, 0], [2, 0, 1, 2]], // the dropped 1-item chunk [2] still enters the history
  ]);
  assert.deepEqual(sessions.map((s) => [...observedSessions({ ...data, rewardSessions: cut }, 2)[sessions.indexOf(s)].history]), [[2], [1, 2]]); // the most recent maxHistory
  assert.deepEqual([...sessions[0].playTimeMs], [5, 6]);
  assert.equal(sessionLabel(sessions[0], 'ltr', { swtThresholdMs: 0 }), 1);
  assert.equal(splitDay(sessions, 1), 20220426);
  assert.throws(() => splitDay(sessions, 2), (e: Error) => e.name === 'RewardDataError' && /--testDays=2/.test(e.message));
  assert.throws(() => observedSessions({ ...data, rewardSessions: undefined }, 50), (e: Error) => e.name === 'RewardDataError' && /onerec prepare/.test(e.message));
  assert.equal(calendarDate(DAY_0 + 6), 20220501);
});

test('KuaiRand-Pure: the prepared reward sessions are the ones the committed alignment report counted', { skip: !existsSync(DATA) && 'no ../shared/data' }, async () => {
  const dataset = await readDataset(DATA);
  assert.ok(dataset.priorHistory && dataset.firstDay === DAY_0);
  const sessions = observedSessions({ dir: DATA, meta: { firstDay: dataset.firstDay } as PreparedData['meta'], ...dataset, rewardSessions: rewardSessions(dataset, DEFAULT_REWARD_SESSION_RULES, DEFAULT_SESSION_RULES) }, 50);
  // bench/results/kuairand-align.json: --testDays 4 --valDays 1 (defaults); its reward model trains on the days before
  // validation and is measured on the test days.
  const report = JSON.parse(readFileSync('bench/results/kuairand-align.json', 'utf8')) as { reward_model: { split_day: number; train_sessions: number; test_sessions: number }; periods: { train: string } };
  const split = splitDay(sessions, 4);
  const trainEnd = splitDay(sessions, 5);
  assert.equal(split, report.reward_model.split_day);
  assert.equal(report.periods.train, `day < ${trainEnd}`);
  assert.equal(sessions.filter((s) => s.day < trainEnd).length, report.reward_model.train_sessions);
  assert.equal(sessions.filter((s) => s.day >= split).length, report.reward_model.test_sessions);
  for (const s of sessions) assert.ok(s.items.length >= 2 && s.items.length <= 5 && s.history.length <= 50);
});
