import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InteractionBuilder } from '../../../models/data/dataset.ts';
import { heldOutExamples, leaveOneOutSplit, TEST, timeSplit, TRAIN, trainSequences, VALIDATION } from '../../../models/data/splits.ts';
import { ALL_RULES, countSessions, DEFAULT_SESSION_RULES, gapSessions, RULE_CONSUMED, RULE_EXPLICIT, RULE_PLAY_TIME, windowSessions } from '../../../models/data/sessions.ts';

const MIN = 60_000;

function rows(list: [string, number, number, number?, number?][]) {
  // [user, item, minute, play seconds, like]
  const b = new InteractionBuilder(['play_time_ms', 'like']);
  for (const [user, item, minute, play = 0, like = 0] of list) b.add(user, item, minute * MIN, [play * 1000, like]);
  return b.build();
}

test('leave-one-out: last = test, second-last = validation; history capped, validation in the test history', () => {
  const data = rows([['1', 0, 1], ['1', 1, 2], ['1', 2, 3], ['1', 3, 4], ['1', 4, 5], ['2', 5, 1], ['2', 6, 2], ['3', 7, 1]]);
  const split = leaveOneOutSplit(data);
  assert.deepEqual([...split.rowSplit], [TRAIN, TRAIN, TRAIN, VALIDATION, TEST, TRAIN, TEST, TRAIN]);
  const test1 = heldOutExamples(data, split, TEST, 3);
  assert.deepEqual(test1.map((e) => [e.user, [...e.history], [...e.targets]]), [[0, [1, 2, 3], [4]], [1, [5], [6]]]);
  const valid = heldOutExamples(data, split, VALIDATION, 20);
  assert.deepEqual(valid.map((e) => [e.user, [...e.history], [...e.targets]]), [[0, [0, 1, 2], [3]]]);
  assert.deepEqual(trainSequences(data, split).map((s) => [...s]), [[0, 1, 2], [5], [7]]);
});

test('time split: last days test, the days before validation', () => {
  const b = new InteractionBuilder([]);
  for (let d = 0; d < 6; d++) b.add('u', d, d * 86_400_000, [], d);
  const data = b.build();
  const split = timeSplit(data, 1, 2);
  assert.equal(split.testDay, 4);
  assert.equal(split.validationDay, 3);
  assert.deepEqual([...split.rowSplit], [TRAIN, TRAIN, TRAIN, VALIDATION, TEST, TEST]);
  const ex = heldOutExamples(data, split, TEST, 2);
  assert.deepEqual([...ex[0].history], [2, 3]);
  assert.deepEqual([...ex[0].targets], [4, 5]);
});

test('gap sessions and each quality rule on its own', () => {
  const rules = { ...DEFAULT_SESSION_RULES, gapMinutes: 30, minConsumed: 5, consumedPlayMs: 3000, minTotalPlayMs: 60_000 };
  const data = rows([
    // user 1, session A (minutes 0-8): 5 consumed × 20 s = 100 s, one like → all rules
    ['1', 0, 0, 20], ['1', 1, 2, 20], ['1', 2, 4, 20, 1], ['1', 3, 6, 20], ['1', 4, 8, 20],
    // session B after a 40-minute gap: 5 consumed but 5 × 4 s = 20 s, no like → rule 1 only
    ['1', 5, 48, 4], ['1', 6, 49, 4], ['1', 7, 50, 4], ['1', 8, 51, 4], ['1', 9, 52, 4],
    // user 2: one long view with a like → rules 2 and 3; then one skip 31 minutes later → none
    ['2', 0, 0, 70, 1], ['2', 1, 31, 1],
  ]);
  const s = gapSessions(data, rules);
  assert.deepEqual([...s.offsets], [0, 5, 10, 11, 12]);
  assert.deepEqual([...s.user], [0, 0, 1, 1]);
  assert.deepEqual([...s.flags], [ALL_RULES, RULE_CONSUMED, RULE_PLAY_TIME | RULE_EXPLICIT, 0]);
  assert.deepEqual(countSessions(s), { sessions: 4, consumed: 2, play_time: 2, explicit: 2, high_quality: 1 });
});

test('window sessions (no play time): every m consecutive train items, never held-out rows', () => {
  const data = rows([['1', 0, 1], ['1', 1, 2], ['1', 2, 3], ['1', 3, 4], ['1', 4, 5], ['1', 5, 6], ['2', 6, 1], ['2', 7, 2]]);
  const split = leaveOneOutSplit(data);
  const s = windowSessions(data, split, { ...DEFAULT_SESSION_RULES, windowLength: 3 });
  // user 1 has train rows 0..3 → windows [0,1,2] and [1,2,3]; user 2 has 1 train row → none
  assert.deepEqual([...s.offsets], [0, 3, 6]);
  assert.deepEqual([...s.rows], [0, 1, 2, 1, 2, 3]);
  assert.deepEqual([...s.flags], [ALL_RULES, ALL_RULES]);
});
