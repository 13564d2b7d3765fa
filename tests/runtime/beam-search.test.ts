import assert from 'node:assert/strict';
import { test } from 'node:test';
import { beamSearch, historyPaths, type DecoderSession, type TrieView } from '../../runtime/beam-search.ts';
import { BeamSearchOptionError, DecoderOutputError } from '../../runtime/errors.ts';
import { BOS, tokenId, vocabSize } from '../../runtime/tokens.ts';

// Hand-built trie, levels 2, K 4, BFS CSR:
//   root ─0→ n1 ─0→ item0, ─1→ item1
//        ─1→ n2 ─0→ item2
//        ─2→ n3 ─1→ item4, ─3→ item3
const LEVELS = 2;
const K = 4;
const VOCAB = vocabSize(LEVELS, K); // 10
const trie: TrieView = {
  levels: LEVELS,
  codebookSize: K,
  itemCount: 5,
  childStart: new Int32Array([0, 3, 5, 6, 8]),
  childCode: new Uint16Array([0, 1, 2, 0, 1, 0, 1, 3]),
  childNode: new Int32Array([1, 2, 3, 0, 1, 2, 4, 3]),
};
const ITEM_CODES = [[0, 0], [0, 1], [1, 0], [2, 3], [2, 1]]; // [items, levels]

/** A decoder whose logits are a function of the row's token prefix; it rebuilds prefixes from `parents`. */
class ScriptedSession implements DecoderSession {
  prefixes: number[][] = [[]];
  calls = 0;
  constructor(private logitsOf: (prefix: number[]) => Float32Array) {}
  async step(tokens: Int32Array, parents: Int32Array): Promise<Float32Array> {
    this.calls++;
    this.prefixes = Array.from(tokens, (t, b) => [...this.prefixes[parents[b]], t]);
    const out = new Float32Array(tokens.length * VOCAB); // [rows, vocab]
    this.prefixes.forEach((p, b) => out.set(this.logitsOf(p), b * VOCAB));
    return out;
  }
}

/**
 * The same decoder offering `stepCodeLogProbs`: the log-softmax of its logits at the K codes of the level
 * that follows each row's prefix (what the runtime forms from decoder_step.onnx's outputs), rounded to
 * float32. step() throws: the search must read only the normalised output when it is offered.
 */
class NormalisedSession extends ScriptedSession {
  constructor(logitsOf: (prefix: number[]) => Float32Array, readonly twoTokenSteps = false) {
    super(logitsOf);
  }
  override async step(): Promise<Float32Array> {
    throw new Error('step() called on a session that offers stepCodeLogProbs');
  }
  async stepCodeLogProbs(tokens: Int32Array, parents: Int32Array): Promise<Float32Array> {
    const perRow = tokens.length / parents.length; // T: 2 = an item's last code and BOS
    if (perRow === 2) {
      assert.ok(this.twoTokenSteps, 'two tokens per row sent to a session without twoTokenSteps');
      for (let b = 0; b < parents.length; b++) assert.equal(tokens[2 * b + 1], BOS);
      this.prefixes = Array.from(parents, (p) => [...this.prefixes[p]]);
      for (const [b, prefix] of this.prefixes.entries()) prefix.push(tokens[2 * b]);
      tokens = tokens.filter((_, j) => j % 2 === 1); // the BOS column
      parents = Int32Array.from(parents, (_, b) => b);
    }
    const logits = await super.step(tokens, parents); // [rows, vocab]
    const out = new Float32Array(tokens.length * K); // [rows, K]
    this.prefixes.forEach((prefix, b) => {
      const level = Math.min((prefix.length - 1) % (LEVELS + 1), LEVELS - 1);
      const row = Array.from(logits.subarray(b * VOCAB, (b + 1) * VOCAB));
      for (let code = 0; code < K; code++) out[b * K + code] = row[tokenId(level, code, K)] - logSumExp(row);
    });
    return out;
  }
}

function table(entries: Record<string, Record<number, number>>): (prefix: number[]) => Float32Array {
  return (prefix) => {
    const logits = new Float32Array(VOCAB);
    for (const [token, value] of Object.entries(entries[prefix.join(',')] ?? {})) logits[Number(token)] = value;
    return logits;
  };
}

const logSumExp = (xs: number[]): number => Math.log(xs.reduce((s, x) => s + Math.exp(x), 0));

/** Pseudo-random logits in [−3, 3) from an FNV-style hash of the prefix (seeded, deterministic). */
function hashedLogits(seed: number, tokenSalt: number, vocabSalt: number): (prefix: number[]) => Float32Array {
  return (prefix) => {
    let h = seed;
    for (const t of prefix) h = Math.imul(h ^ (t + tokenSalt), 16777619);
    const out = new Float32Array(VOCAB);
    for (let v = 0; v < VOCAB; v++) {
      h = Math.imul(h ^ (v + vocabSalt), 16777619);
      out[v] = ((h >>> 0) / 2 ** 32) * 6 - 3;
    }
    return out;
  };
}

test('keeps the best beams by summed full-vocab log-softmax (second-best first code wins)', async () => {
  const t0 = tokenId(0, 0, K);
  const t2 = tokenId(0, 2, K);
  const session = new ScriptedSession(table({
    [`${BOS}`]: { [t0]: 2, [t2]: 3 },
    [`${BOS},${t2}`]: { [tokenId(1, 1, K)]: 1 },
    [`${BOS},${t0}`]: { [tokenId(1, 1, K)]: 5 },
  }));
  const result = await beamSearch(session, trie, { beamWidth: 2, sessionLength: 1 });
  const lse0 = logSumExp([2, 3, ...Array(8).fill(0)]);
  assert.deepEqual(Array.from(result.items), [1, 4]);
  const expected = [2 - lse0 + 5 - logSumExp([5, ...Array(9).fill(0)]), 3 - lse0 + 1 - logSumExp([1, ...Array(9).fill(0)])];
  result.logProb.forEach((s, b) => assert.ok(Math.abs(s - expected[b]) < 1e-5, `beam ${b}: ${s} vs ${expected[b]}`));
  assert.equal(session.calls, 2, 'BOS, then the first code; the last code needs no logits');
});

test('ties break by parent row then code; no repeats, exclude honoured, dead prefixes skipped', async () => {
  const session = new ScriptedSession(() => new Float32Array(VOCAB));
  const exclude = new Uint8Array([1, 0, 0, 0, 0]); // item0 never generated
  const result = await beamSearch(session, trie, { beamWidth: 3, sessionLength: 2, exclude });
  assert.deepEqual(Array.from(result.items), [1, 2, 1, 4, 1, 3]);
  for (const s of result.logProb) assert.ok(Math.abs(s - 4 * Math.log(1 / VOCAB)) < 1e-5);
  // BOS between the items is fed by the search: the second item's first-code logits follow [.., c2, BOS].
  for (const p of session.prefixes) assert.equal(p[3], BOS);
});

test('exclusions stay with their search: concurrent searches on one trie equal the same searches one at a time, and none changes the next', async () => {
  const logits = hashedLogits(3, 5, 7);
  const run = (exclude?: Uint8Array) => beamSearch(new ScriptedSession(logits), trie, { beamWidth: 3, sessionLength: 2, exclude });
  const excludes = [undefined, new Uint8Array([1, 1, 0, 0, 0]), new Uint8Array([0, 0, 1, 1, 0]), new Uint8Array([0, 0, 0, 0, 1]), new Uint8Array([1, 1, 0, 0, 0])];
  const sessions = (r: { items: Int32Array; logProb: Float32Array }) => [Array.from(r.items), Array.from(r.logProb)];
  const alone = [];
  for (const exclude of excludes) alone.push(sessions(await run(exclude)));
  // Items 0 and 1 are all of prefix 0: excluding them changes the sessions, so counts left behind would show.
  assert.notDeepEqual(alone[1][0], alone[0][0]);
  assert.deepEqual(alone[4], alone[1]);
  // Interleaved at every decoder step: the first search with exclusions borrows the trie's spare counts, the others copy.
  const together = await Promise.all(excludes.map(run));
  assert.deepEqual(together.map(sessions), alone);
  for (const [i, exclude] of excludes.entries()) assert.deepEqual(sessions(await run(exclude)), alone[i], `exclusions ${i} after the others`);
});

test('equals exhaustive enumeration when the beam is wide enough', async () => {
  const logitsOf = hashedLogits(2166136261, 17, 101);
  const exclude = new Uint8Array([0, 0, 1, 0, 0]);
  const sessions: { items: number[]; score: number }[] = [];
  for (let a = 0; a < 5; a++) {
    for (let b = 0; b < 5; b++) {
      if (a === b || exclude[a] || exclude[b]) continue;
      const tokens = [BOS, ...ITEM_CODES[a].map((c, l) => tokenId(l, c, K)), BOS, ...ITEM_CODES[b].map((c, l) => tokenId(l, c, K))];
      let score = 0;
      for (let p = 1; p < tokens.length; p++) {
        if (tokens[p] === BOS) continue;
        const logits = Array.from(logitsOf(tokens.slice(0, p)));
        score += logits[tokens[p]] - logSumExp(logits);
      }
      sessions.push({ items: [a, b], score });
    }
  }
  sessions.sort((x, y) => y.score - x.score);
  const result = await beamSearch(new ScriptedSession(logitsOf), trie, { beamWidth: 50, sessionLength: 2, exclude });
  assert.equal(result.logProb.length, sessions.length); // 4 × 3 = 12 valid sessions
  assert.deepEqual(Array.from(result.items), sessions.flatMap((s) => s.items));
  sessions.forEach((s, b) => assert.ok(Math.abs(result.logProb[b] - s.score) < 1e-4));
  // Narrow beam: still valid sessions, sorted.
  const narrow = await beamSearch(new ScriptedSession(logitsOf), trie, { beamWidth: 3, sessionLength: 2, exclude });
  assert.equal(narrow.logProb.length, 3);
  assert.deepEqual(Array.from(narrow.items.subarray(0, 2)), sessions[0].items);
  // A decoder that returns the next level's code log-probabilities: the same sessions and scores, wide and narrow.
  // With twoTokenSteps, an item's last code and the next BOS go in one call: one call fewer per item boundary.
  for (const beamWidth of [50, 3]) {
    const scripted = new ScriptedSession(logitsOf);
    const logits = await beamSearch(scripted, trie, { beamWidth, sessionLength: 2, exclude });
    for (const twoTokenSteps of [false, true]) {
      const session = new NormalisedSession(logitsOf, twoTokenSteps);
      const normalised = await beamSearch(session, trie, { beamWidth, sessionLength: 2, exclude });
      const what = `beam ${beamWidth}${twoTokenSteps ? ', two-token steps' : ''}`;
      assert.deepEqual(Array.from(normalised.items), Array.from(logits.items), what);
      normalised.logProb.forEach((s, b) => assert.ok(Math.abs(s - logits.logProb[b]) < 1e-5, `${what} row ${b}: ${s} vs ${logits.logProb[b]}`));
      assert.equal(session.calls, scripted.calls - (twoTokenSteps ? 1 : 0), what); // sessions of 2 items: one boundary
    }
  }
});

test('historyBias: sessions and scores of the biased distribution, by exhaustive enumeration', async () => {
  const logitsOf = hashedLogits(40503, 29, 7);
  const history = [1, 3]; // item1 = codes [0, 1] (under n1), item3 = [2, 3] (under n3)
  const { onPath, inHistory } = historyPaths(trie, history);
  assert.deepEqual(Array.from(onPath), [0, 1, 0, 1]); // n1 and n3 (the root is never marked)
  assert.deepEqual(Array.from(inHistory), [0, 1, 0, 1, 0]);
  const bias = [0.8, -2.5];
  // The biased distribution over the full vocabulary: at level l every code token whose prefix follows a history
  // item gets bias[l] added, then the log-softmax. Float64, every 2-item session, no repeats.
  const biasedLogProb = (prefixCodes: number[], level: number, code: number, logits: number[]): number => {
    const onHistoryPath = (c: number): boolean => history.some((h) => ITEM_CODES[h].slice(0, level).every((x, j) => x === prefixCodes[j]) && ITEM_CODES[h][level] === c);
    const z = logits.map((x, v) => {
      const c = v - tokenId(level, 0, K);
      return x + (c >= 0 && c < K && onHistoryPath(c) ? bias[level] : 0);
    });
    return z[tokenId(level, code, K)] - logSumExp(z);
  };
  const expected: { items: number[]; score: number }[] = [];
  for (let a = 0; a < 5; a++) {
    for (let b = 0; b < 5; b++) {
      if (a === b) continue;
      let score = 0;
      const prefix = [BOS];
      for (const item of [a, b]) {
        ITEM_CODES[item].forEach((c, l) => {
          score += biasedLogProb(ITEM_CODES[item].slice(0, l), l, c, Array.from(logitsOf(prefix)));
          prefix.push(tokenId(l, c, K));
        });
        prefix.push(BOS);
      }
      expected.push({ items: [a, b], score });
    }
  }
  expected.sort((x, y) => y.score - x.score);
  for (const session of [new ScriptedSession(logitsOf), new NormalisedSession(logitsOf), new NormalisedSession(logitsOf, true)]) {
    const result = await beamSearch(session, trie, { beamWidth: 50, sessionLength: 2, historyBias: { bias, history } });
    assert.deepEqual(Array.from(result.items), expected.flatMap((s) => s.items));
    expected.forEach((s, b) => assert.ok(Math.abs(result.logProb[b] - s.score) < 1e-5, `row ${b}: ${result.logProb[b]} vs ${s.score}`));
  }
  // Zero bias is the plain search.
  const plain = await beamSearch(new ScriptedSession(logitsOf), trie, { beamWidth: 50, sessionLength: 2 });
  const zero = await beamSearch(new ScriptedSession(logitsOf), trie, { beamWidth: 50, sessionLength: 2, historyBias: { bias: [0, 0], history } });
  assert.deepEqual(Array.from(zero.items), Array.from(plain.items));
  assert.deepEqual(Array.from(zero.logProb), Array.from(plain.logProb));
  await assert.rejects(beamSearch(new ScriptedSession(logitsOf), trie, { beamWidth: 2, sessionLength: 1, historyBias: { bias: [1], history } }), BeamSearchOptionError);
  await assert.rejects(beamSearch(new ScriptedSession(logitsOf), trie, { beamWidth: 2, sessionLength: 1, historyBias: { bias: [0, 0], history: [7] } }), /not an item index/);
});

test('historyBias with renormalize: the biased logits renormalised over the allowed children', async () => {
  // One item, history = [item4] (codes [2, 1]); uniform logits. Level 0: codes 0, 1, 2 allowed, code 2 biased by
  // +1; level 1 under n3: item3 (code 3) and item4 (code 1, biased by −1).
  const history = [4];
  const bias = [1, -1];
  const result = await beamSearch(new ScriptedSession(() => new Float32Array(VOCAB)), trie, { beamWidth: 5, sessionLength: 1, renormalize: true, historyBias: { bias, history } });
  const first = (c: number): number => (c === 2 ? 1 : 0) - Math.log(2 + Math.E);
  const want = new Map([
    [0, first(0) - Math.log(2)], [1, first(0) - Math.log(2)], [2, first(1)],
    [3, first(2) - Math.log(1 + Math.exp(-1))], [4, first(2) - 1 - Math.log(1 + Math.exp(-1))],
  ]);
  assert.deepEqual(Array.from(result.items), [3, 2, 4, 0, 1]); // −0.86, −1.55, −1.86, −2.24, −2.24
  result.items.forEach((item, b) => assert.ok(Math.abs(result.logProb[b] - want.get(item)!) < 1e-6, `item ${item}: ${result.logProb[b]} vs ${want.get(item)}`));
});

test('bad options and bad decoder outputs raise typed errors', async () => {
  const session = new ScriptedSession(() => new Float32Array(VOCAB));
  await assert.rejects(beamSearch(session, trie, { beamWidth: 0, sessionLength: 1 }), BeamSearchOptionError);
  await assert.rejects(beamSearch(session, trie, { beamWidth: 2, sessionLength: 1, exclude: new Uint8Array(3) }), /3 entries but the trie has 5/);
  const short: DecoderSession = { step: async () => new Float32Array(VOCAB - 1) };
  await assert.rejects(beamSearch(short, trie, { beamWidth: 2, sessionLength: 1 }), DecoderOutputError);
  const vocabWide: DecoderSession = { step: async () => new Float32Array(VOCAB), stepCodeLogProbs: async () => new Float32Array(VOCAB) };
  await assert.rejects(beamSearch(vocabWide, trie, { beamWidth: 2, sessionLength: 1 }), /rows × codebookSize = 1 × 4/);
});

test('decoder outputs: code_scores give the code log-probabilities of the full logits', async () => {
  const { OnnxDecoderSession } = await import('../../runtime/onnx-decoder-session.ts');
  const ort = await import('onnxruntime-node');
  const K = 3;
  const levels = 2;
  const V = vocabSize(levels, K); // 2 + 2 · 3
  const rows = 2;
  // Per row the full logits; the next level after BOS is level 0 (codes at 2 … 4).
  const logits = Float32Array.of(0.5, -1, 2, 0.25, -3, 1, 1, 0, /* row 1 */ -2, 0, 0.5, 4, 1, -1, 0, 3);
  const codes = (r: number) => logits.subarray(r * V + 2, r * V + 2 + K);
  const maxSum = new Float32Array(2 * rows);
  for (let r = 0; r < rows; r++) {
    const row = logits.subarray(r * V, (r + 1) * V);
    maxSum[2 * r] = Math.max(...row);
    maxSum[2 * r + 1] = row.reduce((s, x) => s + Math.exp(x - maxSum[2 * r]), 0);
  }
  const scores = new Float32Array(rows * (K + 2));
  for (let r = 0; r < rows; r++) { scores.set(codes(r), r * (K + 2)); scores.set(maxSum.subarray(2 * r, 2 * r + 2), r * (K + 2) + K); }
  const outputs: Record<string, () => InstanceType<typeof ort.Tensor>> = {
    logits: () => new ort.Tensor('float32', logits, [rows, V]),
    code_scores: () => new ort.Tensor('float32', scores, [rows, K + 2]),
    present_k: () => new ort.Tensor('float32', new Float32Array(0), [1, rows, 1, 0, 1]),
    present_v: () => new ort.Tensor('float32', new Float32Array(0), [1, rows, 1, 0, 1]),
  };
  const fake = (names: string[]) => ({
    inputMetadata: [{ name: 'token', isTensor: true, shape: ['B', 'T'] }],
    outputNames: [...names, 'present_k', 'present_v'],
    run: async (_feeds: unknown, fetches: string[]) => Object.fromEntries(fetches.map((n) => [n, outputs[n]()])),
  });
  const cross = { cross_k: outputs.present_k(), cross_v: outputs.present_v(), memory_bias: outputs.present_k() };
  const shape = { decoderLayers: 1, heads: 1, headDim: 1, codebookSize: K };
  const packed = await new OnnxDecoderSession(ort as never, fake(['logits', 'code_scores']) as never, cross, shape).stepCodeLogProbs(Int32Array.of(BOS, BOS), Int32Array.of(0, 0));
  for (let r = 0; r < rows; r++) {
    const row = Array.from(logits.subarray(r * V, (r + 1) * V));
    const logZ = Math.log(row.reduce((s, x) => s + Math.exp(x), 0));
    for (let c = 0; c < K; c++) assert.ok(Math.abs(packed[r * K + c] - (logits[r * V + 2 + c] - logZ)) < 1e-6, `row ${r} code ${c}`);
  }
});

test('renormalize: codes scored among the allowed children only, with full logits or code log-probabilities', async () => {
  // n2 (first code 1) has one child, but the model puts most of that level's mass on an invalid code: over the
  // full vocabulary item2 ranks last, over the allowed children it is certain and ranks first.
  const scores = table({
    [`${BOS},${tokenId(0, 0, K)}`]: { [tokenId(1, 0, K)]: 2, [tokenId(1, 1, K)]: 2 },
    [`${BOS},${tokenId(0, 1, K)}`]: { [tokenId(1, 2, K)]: 5 },
  });
  const full = await beamSearch(new ScriptedSession(scores), trie, { beamWidth: 5, sessionLength: 1 });
  assert.deepEqual(Array.from(full.items), [0, 1, 4, 3, 2]);
  for (const session of [new ScriptedSession(scores), new NormalisedSession(scores)]) {
    const renormalized = await beamSearch(session, trie, { beamWidth: 5, sessionLength: 1, renormalize: true });
    // First codes tie at 1/3; item2 then has 1, the others 1/2 (equal up to rounding, so their order is not asserted).
    assert.equal(renormalized.items[0], 2);
    assert.deepEqual(Array.from(renormalized.items.subarray(1)).sort(), [0, 1, 3, 4]);
    const expected = [-Math.log(3), -Math.log(6), -Math.log(6), -Math.log(6), -Math.log(6)];
    renormalized.logProb.forEach((s, b) => assert.ok(Math.abs(s - expected[b]) < 1e-6, `beam ${b}: ${s} vs ${expected[b]}`));
  }
  // Excluded items leave the allowed set: with item2 excluded, first code 1 is dead and codes 0 and 2 share the level.
  const excluded = await beamSearch(new ScriptedSession(scores), trie, { beamWidth: 5, sessionLength: 1, renormalize: true, exclude: Uint8Array.of(0, 0, 1, 0, 0) });
  assert.deepEqual(Array.from(excluded.items).sort(), [0, 1, 3, 4]);
  excluded.logProb.forEach((s) => assert.ok(Math.abs(s - Math.log(1 / 4)) < 1e-6, `${s}`));
});
