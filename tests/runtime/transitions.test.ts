// The transition prior (runtime/transitions.ts): the counted table, its file, the log-prior of a session and the
// rerank, on hand-made sequences whose numbers are worked out in the comments; and λ's fit (models/export/transitions-fit.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkTransitionParams, rerankByTransitions, TransitionTable, TRANSITIONS_MAGIC, transitionCandidates, transitionLogPrior } from '../../runtime/transitions.ts';
import { fitTransitionWeights, rerankedMetrics, trainingSequences, trainTransitionTable } from '../../models/export/transitions-fit.ts';

// 6 items. Pairs: 0→1 ×3, 0→2 ×1, 1→2 ×2, 2→0 ×1, 3→4 ×1; 5→5 (a repeat) is not counted.
const SEQUENCES = [[0, 1, 2], [0, 1, 2, 0], [0, 1], [0, 2], [3, 4], [5, 5]].map((s) => Int32Array.from(s));

test('build: counts of consecutive distinct pairs, totals per item, successors ascending; maxPerItem keeps the most frequent', () => {
  const t = TransitionTable.build(SEQUENCES, 6);
  assert.deepEqual(Array.from(t.offsets), [0, 2, 3, 4, 5, 5, 5]);
  assert.deepEqual(Array.from(t.next), [1, 2, 2, 0, 4]);
  assert.deepEqual(Array.from(t.counts), [3, 1, 2, 1, 1]);
  assert.deepEqual(Array.from(t.totals), [4, 2, 1, 1, 0, 0]);
  assert.equal(t.count(0, 1), 3);
  assert.equal(t.count(0, 3), 0);
  assert.equal(t.count(5, 5), 0);
  const top1 = TransitionTable.build(SEQUENCES, 6, 1);
  assert.deepEqual(Array.from(top1.next), [1, 2, 0, 4]); // item 0 keeps 1 (count 3) and drops 2 (count 1) …
  assert.deepEqual(Array.from(top1.totals), [4, 2, 1, 1, 0, 0]); // … but its total still counts it
  assert.throws(() => TransitionTable.build([Int32Array.of(0, 9)], 6), RangeError);
});

test('transitions.bin round-trips; damaged files are refused with a BundleFormatError', () => {
  for (const items of [6, 70_000]) { // u16 successors, then u32 past 65,536 items
    const t = TransitionTable.build([...SEQUENCES, Int32Array.of(items - 1, 0)], items);
    const back = TransitionTable.decode(t.encode(), items, 'transitions.bin');
    assert.deepEqual([back.offsets, back.next, back.counts, back.totals], [t.offsets, t.next, t.counts, t.totals]);
    assert.equal(back.next.BYTES_PER_ELEMENT, items <= 65_536 ? 2 : 4);
  }
  const bytes = TransitionTable.build(SEQUENCES, 6).encode();
  const refused = (b: Uint8Array, items: number, pattern: RegExp) => assert.throws(() => TransitionTable.decode(b, items, 'x/transitions.bin'), (e: Error) => e.name === 'BundleFormatError' && pattern.test(e.message) && e.message.includes('x/transitions.bin'));
  refused(bytes, 7, /over 6 items, the bundle has 7/);
  refused(bytes.subarray(0, bytes.length - 1), 6, /bytes where 6 items and 5 pairs take/);
  const magic = bytes.slice();
  magic[0] ^= 1;
  refused(magic, 6, /bad magic/);
  const order = bytes.slice(); // swap item 0's successors 1, 2 → 2, 1
  const at = 16 + 4 * 7 + 4 * 6;
  order[at] = 2;
  order[at + 2] = 1;
  refused(order, 6, /not strictly ascending/);
  assert.equal(new DataView(bytes.buffer).getUint32(0, true), TRANSITIONS_MAGIC);
});

test('the log-prior of a session: the window\'s items vote, decayed, over their smoothed totals', () => {
  const t = TransitionTable.build(SEQUENCES, 6);
  const p = { window: 2, decay: 0.5, epsilon: 0.01, smoothing: 1 };
  // history […, 0, 1]; session [2]: 1→2 is 2 of 2 (2 / 3), 0→2 is 1 of 4 (1 / 5, weight 0.5)
  assert.ok(Math.abs(transitionLogPrior(t, p, [0, 1], [2]) - Math.log(0.01 + 2 / 3 + 0.5 / 5)) < 1e-12);
  // session [2, 0] after [1]: item 2 as above with only 1 before it in the window's first place and nothing further
  // back than the history's start; item 0 after 2 (1 of 1: 1 / 2) and, decayed, after 1 (never: 0)
  const want = Math.log(0.01 + 2 / 3) + Math.log(0.01 + 1 / 2);
  assert.ok(Math.abs(transitionLogPrior(t, p, [1], [2, 0]) - want) < 1e-12);
  // an item with no successors and an empty history give ε
  assert.ok(Math.abs(transitionLogPrior(t, p, [4], [3]) - Math.log(0.01)) < 1e-12);
  assert.ok(Math.abs(transitionLogPrior(t, p, [], [1]) - Math.log(0.01)) < 1e-12);
});

test('rerank: log P + λ · log-prior, best first; λ 0 and equal scores keep the beam order', () => {
  const t = TransitionTable.build(SEQUENCES, 6);
  const base = { window: 1, decay: 1, epsilon: 0.01, smoothing: 0 };
  const sessions = Int32Array.of(3, 2, 1); // beam order after history [0]: prior 0.01, 0.26, 0.76
  const logProb = [-1, -2, -3];
  assert.deepEqual(rerankByTransitions(t, { ...base, lambda: 0 }, [0], sessions, 3, 1, logProb).order, [0, 1, 2]);
  // λ 1: −1 + ln .01 = −5.61, −2 + ln .26 = −3.35, −3 + ln .76 = −3.27
  const { order, score } = rerankByTransitions(t, { ...base, lambda: 1 }, [0], sessions, 3, 1, logProb);
  assert.deepEqual(order, [2, 1, 0]);
  assert.ok(Math.abs(score[2] - (-3 + Math.log(0.76))) < 1e-12);
  assert.deepEqual(rerankByTransitions(t, { ...base, lambda: 1 }, [0], Int32Array.of(4, 5), 2, 1, [-1, -1]).order, [0, 1]);
  // η: each session item in the history adds η. History [3, 0]: item 3 is a repeat, so −3.27 vs −5.61 + 0 … with η −3
  // session [3] scores −1 + ln .01 − 3 = −8.61, below [2] (−3.35) and [1] (−3.27); two repeats in one session count twice
  const eta = rerankByTransitions(t, { ...base, lambda: 1, history: -3 }, [3, 0], sessions, 3, 1, logProb);
  assert.deepEqual(eta.order, [2, 1, 0]);
  assert.ok(Math.abs(eta.score[0] - (-1 + Math.log(0.01) - 3)) < 1e-12);
  assert.ok(Math.abs(rerankByTransitions(t, { ...base, lambda: 0, history: -3 }, [3, 0], Int32Array.of(3, 0), 1, 2, [-1]).score[0] - (-1 - 6)) < 1e-12);
});

test('the table\'s own candidates: the window\'s successors by prior, ties to the lower item, skips honoured', () => {
  const t = TransitionTable.build(SEQUENCES, 6);
  const p = { window: 2, decay: 0.5, epsilon: 0.01, smoothing: 1 };
  // after [0, 1]: 2 ← 1 (2 / 3) and 0 (0.5 · 1 / 5) = .767; 1 ← 0 (0.5 · 3 / 5) = .3; nothing else has a count
  assert.deepEqual(Array.from(transitionCandidates(t, p, [0, 1], 5)), [2, 1]);
  assert.deepEqual(Array.from(transitionCandidates(t, p, [0, 1], 1)), [2]);
  assert.deepEqual(Array.from(transitionCandidates(t, p, [0, 1], 5, (i) => i === 2)), [1]);
  assert.deepEqual(Array.from(transitionCandidates(t, p, [4], 5)), []); // item 4 has no successor
  assert.deepEqual(Array.from(transitionCandidates(t, p, [], 5)), []);
  assert.deepEqual(Array.from(transitionCandidates(t, p, [0, 1], 0)), []);
  // a tie: after [3] (window 1) only 4, after [2, 3] with decay 1 and no smoothing: 0 ← 2 (1) and 4 ← 3 (1) tie: 0 first
  assert.deepEqual(Array.from(transitionCandidates(t, { ...p, decay: 1, smoothing: 0 }, [2, 3], 5)), [0, 4]);
});

test('the manifest\'s constants are checked', () => {
  const ok = { lambda: 1, window: 3, decay: 0.5, epsilon: 1e-3, smoothing: 1 };
  assert.deepEqual(checkTransitionParams(ok), ok); // history and candidates are optional (bundles made before them)
  assert.deepEqual(checkTransitionParams({ ...ok, history: -2, candidates: 10 }), { ...ok, history: -2, candidates: 10 });
  for (const [key, bad] of [['lambda', -1], ['window', 0], ['window', 1.5], ['decay', 0], ['decay', 1.5], ['epsilon', 0], ['smoothing', -1], ['lambda', 'x'], ['history', 'x'], ['history', Infinity], ['candidates', -1], ['candidates', 1.5], ['candidates', 1001]] as const) {
    assert.match(String(checkTransitionParams({ ...ok, [key]: bad })), new RegExp(`"${key}"`), `${key} = ${bad}`);
  }
  assert.match(String(checkTransitionParams(null)), /must be/);
});

test('weights fit: the smallest λ within one paired standard error of the best NDCG@10; the table counts training items only', () => {
  const data = { itemCount: 6, levels: 1, codebookSize: 8, codes: new Uint16Array(6), sequences: SEQUENCES.map((s) => Int32Array.from([...s, 5, 5])) };
  assert.deepEqual(trainingSequences(data).map((s) => Array.from(s)), SEQUENCES.map((s) => Array.from(s)));
  const table = trainTransitionTable(data);
  assert.deepEqual(Array.from(table.totals), [4, 2, 1, 1, 0, 0]); // the appended validation/test items (5, 5) are not counted
  // two users after item 0: the beam ranks 3 first, but the targets are 1 and 1; the prior (0→1: 3 / 5) lifts item 1
  const beams = [0, 1].map(() => ({ history: [0], target: 1, items: Int32Array.of(3, 4, 1), logProb: [-1, -1.5, -2] }));
  const fit = fitTransitionWeights(table, beams, [0, 0.5, 1], [0]);
  assert.deepEqual(fit.grid.map((g) => g.lambda), [0, 0.5, 1]);
  assert.ok(Math.abs(fit.grid[0]['ndcg@10'] - 1 / Math.log2(4)) < 1e-12); // rank 3 without the prior
  assert.equal(fit.grid[1]['ndcg@10'], 1); // λ 0.5: item 1 first
  assert.equal(fit.lambda, 0.5); // λ 1 ties at 1 and is not taken
  const m = rerankedMetrics(table, { lambda: 1, window: 3, decay: 0.5, epsilon: 1e-3, smoothing: 1 }, beams);
  assert.deepEqual([m['ndcg@10'], m['recall@10'], Array.from(m.perUser)], [1, 1, [1, 1]]);
  // Users who disagree: with λ 0.5 one gains a first place and the other loses its first place to rank 2, so the
  // best λ is ahead by a difference whose paired standard error is as large as its mean: the smaller λ is kept.
  const mixed = [
    { history: [0], target: 1, items: Int32Array.of(3, 1), logProb: [-1, -2] }, // the prior lifts 1: gain 1 − 1/log2(3)
    { history: [0], target: 3, items: Int32Array.of(3, 1), logProb: [-1, -2] }, // and drops 3 to second: loss of the same size
    { history: [0], target: 1, items: Int32Array.of(3, 1), logProb: [-1, -2] },
  ];
  const f2 = fitTransitionWeights(table, mixed, [0, 0.5], [0]);
  assert.ok(f2.grid[1]['ndcg@10'] > f2.grid[0]['ndcg@10']);
  assert.equal(f2.lambda, 0);
});

test('weights fit with the table\'s extra candidates and η: extras join the rerank, repeats of the history are weighed', () => {
  const data = { itemCount: 6, levels: 1, codebookSize: 8, codes: new Uint16Array(6), sequences: SEQUENCES.map((s) => Int32Array.from([...s, 5, 5])) };
  const table = trainTransitionTable(data);
  const base = { window: 3, decay: 0.5, epsilon: 1e-3, smoothing: 1, candidates: 1 };
  // The beam (3, 4) misses the target 1; the table's extra 1 (scored −3 by the model) wins once λ lifts it (0 → 1: 3 / 5).
  const users = [0, 1].map(() => ({ history: [0], target: 1, items: Int32Array.of(3, 4), logProb: [-1, -1.5], extra: { items: Int32Array.of(1), logProb: [-3] } }));
  assert.equal(rerankedMetrics(table, { ...base, lambda: 1, candidates: 0 }, users)['recall@10'], 0); // without the extra
  assert.equal(rerankedMetrics(table, { ...base, lambda: 1 }, users)['ndcg@10'], 1);
  const fit = fitTransitionWeights(table, users, [0, 1], [0, -4], base);
  assert.deepEqual([fit.lambda, fit.history, fit.candidates, fit.grid.length], [1, 0, 1, 4]); // η changes nothing here: 0 is kept
  // The target is never a repeat but the beam's first item is (item 0, in the history): η −4 sends it below the target.
  const repeats = [0, 1].map(() => ({ history: [2, 0], target: 1, items: Int32Array.of(0, 1), logProb: [-1, -1.2] }));
  const f2 = fitTransitionWeights(table, repeats, [0], [0, -1, -4], { ...base, candidates: 0 });
  assert.ok(Math.abs(f2.grid[0]['ndcg@10'] - 1 / Math.log2(3)) < 1e-12);
  assert.deepEqual([f2.grid[1]['ndcg@10'], f2.grid[2]['ndcg@10']], [1, 1]);
  assert.equal(f2.history, -1); // the η nearest 0 among the equally best
});
