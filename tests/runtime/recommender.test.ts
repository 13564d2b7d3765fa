// The runtime core (runtime/bundle-runner.ts, runtime/backends.ts, through runtime/local-recommender.ts) in Node over
// onnxruntime-web's wasm backend (what createNodeRecommender runs in Node), on a tiny bundle the project's exporter
// builds from seeded random weights.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeTestBundle, type TestBundle } from './fixture.ts';
import { createNodeRecommender } from '../../runtime-node/node-recommender.ts';
import { ReferenceDecoderSession } from '../../models/seed/reference.ts';
import { rewardForward } from '../../models/reward/reference.ts';
import { beamSearch } from '../../runtime/beam-search.ts';
import { REWARD_TIE } from '../../runtime/reward-runner.ts';
import { SemanticIdTrie } from '../../runtime/semantic-id-trie.ts';
import { encoderTokens } from '../../runtime/tokens.ts';
import { rerankByTransitions, transitionCandidates, TransitionTable } from '../../runtime/transitions.ts';
import { createHash } from 'node:crypto';
import { deviceToExecutionProviders } from '../../runtime/onnx.ts';
import type { Recommender, RecommendResult } from '../../runtime/recommender.ts';

let root: string;
let bundle: TestBundle;
let recommender: Recommender;
const HISTORY = [3, 17, 5, 42, 9]; // item indices, oldest → newest

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'onerec-runtime-'));
  bundle = await writeTestBundle(join(root, 'tiny'));
  recommender = createNodeRecommender();
  await recommender.load(bundle.dir);
});
after(async () => {
  await recommender.dispose();
  rmSync(root, { recursive: true, force: true });
});

test('recommend = beam search over the float reference forward (same items, log-probs within 1e-4)', async () => {
  const { config, weights, codes } = bundle;
  const trie = SemanticIdTrie.build(codes, config.levels, config.codebookSize);
  for (const history of [HISTORY, [], [59]]) {
    const got = await recommender.recommend(history, { beamWidth: 8 });
    const exclude = new Uint8Array(bundle.items);
    for (const i of history) exclude[i] = 1;
    const tokens = encoderTokens(history, codes, config.levels, config.codebookSize, config.maxHistory);
    const want = await beamSearch(new ReferenceDecoderSession(weights, config, tokens), trie, { beamWidth: 8, sessionLength: config.sessionLength, exclude });
    assert.equal(got.sessions.length, want.logProb.length);
    got.sessions.forEach((s, b) => {
      assert.deepEqual(Array.from(s.items), Array.from(want.items.subarray(b * config.sessionLength, (b + 1) * config.sessionLength)), `history ${history} beam ${b}`);
      assert.ok(Math.abs(s.logProb - want.logProb[b]) < 1e-4, `beam ${b}: ${s.logProb} vs ${want.logProb[b]}`);
      assert.deepEqual(s.ids, Array.from(s.items, (i) => `item-${i}`));
    });
    assert.equal(got.rankedBy, 'log-prob'); // the tiny bundle has no reward model
    assert.equal(got.coldStart, history.length === 0);
  }
});

test('score() teacher-forces the same log-probs that beam search accumulated', async () => {
  const got = await recommender.recommend(HISTORY);
  const scored = await recommender.score(HISTORY, got.sessions.map((s) => Array.from(s.items)));
  got.sessions.forEach((s, b) => assert.ok(Math.abs(scored.logProb[b] - s.logProb) < 1e-4, `${scored.logProb[b]} vs ${s.logProb}`));
  assert.equal(scored.towers, null);
  // By external id too; a session's 2-item prefix has the higher log-prob (fewer negative terms).
  const byId = await recommender.score(HISTORY.map((i) => `item-${i}`), [got.sessions[0].ids]);
  assert.ok(Math.abs(byId.logProb[0] - got.sessions[0].logProb) < 1e-4);
  const prefix = await recommender.score(HISTORY, [Array.from(got.sessions[0].items.slice(0, 2))]);
  assert.ok(prefix.logProb[0] > byId.logProb[0]);
  await assert.rejects(recommender.score(HISTORY, [[1, 2, 3], [4, 5]]), { name: 'InvalidArgumentError' });
});

test('a bundle with a history bias: applied when the history is not excluded (recommend = the biased beam search over the reference forward, score() agrees); off by default with the exclusion', async () => {
  const { config, weights, codes } = bundle;
  const dir = join(root, 'biased');
  cpSync(bundle.dir, dir, { recursive: true });
  const bias = Array.from({ length: config.levels }, (_, l) => (l % 2 === 0 ? 1.2 : -2.5));
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ ...manifest, historyBias: { bias } }));
  const biased = createNodeRecommender();
  try {
    await biased.load(dir);
    const trie = SemanticIdTrie.build(codes, config.levels, config.codebookSize);
    const tokens = encoderTokens(HISTORY, codes, config.levels, config.codebookSize, config.maxHistory);
    for (const excludeHistory of [true, false]) {
      const got = await biased.recommend(HISTORY, { beamWidth: 8, excludeHistory });
      const exclude = excludeHistory ? Uint8Array.from({ length: bundle.items }, (_, i) => (HISTORY.includes(i) ? 1 : 0)) : undefined;
      const historyBias = excludeHistory ? undefined : { bias, history: HISTORY }; // the default: the layer only without the exclusion
      const want = await beamSearch(new ReferenceDecoderSession(weights, config, tokens), trie, { beamWidth: 8, sessionLength: config.sessionLength, exclude, historyBias });
      got.sessions.forEach((s, b) => {
        assert.deepEqual(Array.from(s.items), Array.from(want.items.subarray(b * config.sessionLength, (b + 1) * config.sessionLength)), `excludeHistory ${excludeHistory} beam ${b}`);
        assert.ok(Math.abs(s.logProb - want.logProb[b]) < 1e-4, `beam ${b}: ${s.logProb} vs ${want.logProb[b]}`);
      });
      const scored = await biased.score(HISTORY, got.sessions.map((s) => Array.from(s.items)), { historyBias: !excludeHistory });
      got.sessions.forEach((s, b) => assert.ok(Math.abs(scored.logProb[b] - s.logProb) < 1e-4, `score ${scored.logProb[b]} vs ${s.logProb}`));
    }
    const items = (r: RecommendResult): number[][] => r.sessions.map((s) => Array.from(s.items));
    assert.deepEqual(items(await biased.recommend(HISTORY)), items(await recommender.recommend(HISTORY)));
    const off = await biased.recommend(HISTORY, { excludeHistory: false, historyBias: false });
    assert.deepEqual(items(off), items(await recommender.recommend(HISTORY, { excludeHistory: false })));
    // Forced on together with the exclusion.
    const both = await biased.recommend(HISTORY, { historyBias: true, beamWidth: 8 });
    const exclude = Uint8Array.from({ length: bundle.items }, (_, i) => (HISTORY.includes(i) ? 1 : 0));
    const want = await beamSearch(new ReferenceDecoderSession(weights, config, tokens), trie, { beamWidth: 8, sessionLength: config.sessionLength, exclude, historyBias: { bias, history: HISTORY } });
    assert.deepEqual(items(both), Array.from({ length: want.logProb.length }, (_, b) => Array.from(want.items.subarray(b * config.sessionLength, (b + 1) * config.sessionLength))));
  } finally {
    await biased.dispose();
  }
});

test('a bundle with a transition prior: recommend() reranks the beam by log P + λ · log-prior (rankedBy "transitions"); transitions: false keeps the beam order; a manifest without the file is refused', async () => {
  const dir = join(root, 'transitions');
  cpSync(bundle.dir, dir, { recursive: true });
  // Seeded sequences over the catalog, so that the history's last items have successors among the beam's items.
  const sequences = Array.from({ length: 40 }, (_, u) => Int32Array.from({ length: 6 }, (_, j) => (u * 7 + j * 13) % bundle.items));
  sequences.push(Int32Array.from([42, 9, 11, 12, 13]), Int32Array.from([9, 11, 12, 13]));
  const table = TransitionTable.build(sequences, bundle.items);
  const bytes = table.encode();
  writeFileSync(join(dir, 'transitions.bin'), bytes);
  const params = { lambda: 1, window: 3, decay: 0.5, epsilon: 1e-3, smoothing: 1 };
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
  manifest.files.transitions = { path: 'transitions.bin', bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ ...manifest, transitions: params }));
  const fused = createNodeRecommender();
  try {
    await fused.load(dir);
    const plain = await fused.recommend(HISTORY, { transitions: false });
    assert.equal(plain.rankedBy, 'log-prob');
    const items = (r: RecommendResult): number[][] => r.sessions.map((x) => Array.from(x.items));
    assert.deepEqual(items(plain), items(await recommender.recommend(HISTORY)), 'off: the bundle without the prior');
    const got = await fused.recommend(HISTORY);
    assert.equal(got.rankedBy, 'transitions');
    const m = bundle.config.sessionLength;
    const flat = Int32Array.from(plain.sessions.flatMap((x) => Array.from(x.items)));
    const { order } = rerankByTransitions(table, params, HISTORY, flat, plain.sessions.length, m, plain.sessions.map((x) => x.logProb));
    assert.deepEqual(items(got), order.map((i) => items(plain)[i]));
    assert.notDeepEqual(order, order.slice().sort((a, b) => a - b), 'the prior changed the order here (else the test shows nothing)');
    got.sessions.forEach((x, i) => assert.equal(x.logProb, plain.sessions[order[i]].logProb, 'log-probabilities are the model\'s'));
    await assert.rejects(fused.recommend(HISTORY, { transitions: 'yes' as unknown as boolean }), { name: 'InvalidArgumentError' });
  } finally {
    await fused.dispose();
  }
  // Sessions of one item with `candidates` 3 and η: the table's 3 likeliest next items outside the beam (and outside
  // the excluded history) join it with the model's own log P (as score() gives it), the pool is reranked, the best
  // beamWidth are returned.
  const pooled = { ...params, history: -1, candidates: 3 };
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ ...manifest, transitions: pooled }));
  const withPool = createNodeRecommender();
  try {
    await withPool.load(dir);
    const beam = await withPool.recommend(HISTORY, { sessionLength: 1, transitions: false });
    const beamItems = beam.sessions.map((x) => x.items[0]);
    const extra = Array.from(transitionCandidates(table, pooled, HISTORY, 3, (i) => beamItems.includes(i) || HISTORY.includes(i)));
    assert.equal(extra.length, 3, 'the history\'s last items have successors outside the beam (else the test shows nothing)');
    const scored = await withPool.score(HISTORY, extra.map((i) => [i]));
    const pool = [...beamItems, ...extra];
    const logProb = [...beam.sessions.map((x) => x.logProb), ...scored.logProb];
    const { order } = rerankByTransitions(table, pooled, HISTORY, Int32Array.from(pool), pool.length, 1, logProb);
    const got = await withPool.recommend(HISTORY, { sessionLength: 1 });
    assert.equal(got.rankedBy, 'transitions');
    assert.deepEqual(got.sessions.map((x) => x.items[0]), order.slice(0, beamItems.length).map((i) => pool[i]));
    assert.ok(got.sessions.some((x) => extra.includes(x.items[0])), 'an extra candidate made the cut');
    got.sessions.forEach((x, i) => assert.equal(x.logProb, logProb[order[i]]));
    // Longer sessions get no extras: the beam reranked as before.
    const longer = await withPool.recommend(HISTORY);
    const plainLong = await withPool.recommend(HISTORY, { transitions: false });
    const m = bundle.config.sessionLength;
    const flat = Int32Array.from(plainLong.sessions.flatMap((x) => Array.from(x.items)));
    const want = rerankByTransitions(table, pooled, HISTORY, flat, plainLong.sessions.length, m, plainLong.sessions.map((x) => x.logProb)).order;
    assert.deepEqual(longer.sessions.map((x) => Array.from(x.items)), want.map((i) => Array.from(plainLong.sessions[i].items)));
  } finally {
    await withPool.dispose();
  }
  const withParams = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
  const { transitions: _, ...withoutParams } = withParams;
  const refused = createNodeRecommender();
  try {
    // `through` names the split the table's counts end with: 'train' or 'validation', nothing else.
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ ...withParams, transitions: { ...withParams.transitions, through: 'test' } }));
    await assert.rejects(refused.load(dir), (e: Error) => e.name === 'BundleFormatError' && /"transitions.through" must be 'train' or 'validation', got "test"/.test(e.message));
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify(withoutParams));
    await assert.rejects(refused.load(dir), (e: Error) => e.name === 'BundleFormatError' && /"files.transitions" is there but "transitions"/.test(e.message));
  } finally {
    await refused.dispose();
  }
});

test('unknown history items are ignored and reported; none left → cold start; sessions are valid and diverse', async () => {
  const withUnknown = await recommender.recommend(['item-3', 'no-such-item', 17, 999, -1, 2.5, 5, 'item-42', 9]);
  assert.deepEqual(withUnknown.ignoredHistory, ['no-such-item', 999, -1, 2.5]);
  const plain = await recommender.recommend(HISTORY);
  assert.deepEqual(withUnknown.sessions.map((s) => Array.from(s.items)), plain.sessions.map((s) => Array.from(s.items)));
  for (const s of plain.sessions) for (const item of s.items) assert.ok(!HISTORY.includes(item), `history item ${item} recommended`);

  const cold = await recommender.recommend(['nobody-knows-this']);
  assert.equal(cold.coldStart, true);
  assert.deepEqual(cold.ignoredHistory, ['nobody-knows-this']);
  assert.ok(cold.sessions.length > 0);
  for (const s of cold.sessions) {
    assert.equal(new Set(s.items).size, s.items.length, 'an item repeated within a session');
    for (const item of s.items) assert.ok(item >= 0 && item < bundle.items);
  }
  const keep = await recommender.recommend(HISTORY, { excludeHistory: false, beamWidth: 4, candidates: 2, sessionLength: 2 });
  assert.equal(keep.sessions.length, 2);
  assert.equal(keep.sessions[0].items.length, 2);
});

test('calls are chained: concurrent recommends equal sequential ones', async () => {
  const histories = [HISTORY, [1, 2], [], [40, 41, 42, 43, 44, 45, 46, 47, 48, 49]];
  const sequential: RecommendResult[] = [];
  for (const h of histories) sequential.push(await recommender.recommend(h));
  const concurrent = await Promise.all(histories.map((h) => recommender.recommend(h)));
  const itemsOf = (r: typeof sequential) => r.map((x) => x.sessions.map((s) => Array.from(s.items)));
  assert.deepEqual(itemsOf(concurrent), itemsOf(sequential));
});

test('the display catalog is fetched only when load() asks for it; ids come from items.bin either way', async () => {
  const fresh = createNodeRecommender();
  try {
    const plain = await fresh.load(bundle.dir);
    assert.equal(plain.catalog, null);
    assert.deepEqual([...plain.fromNetwork].sort(), ['decoderStep', 'encoder', 'items']);
    const first = (await fresh.recommend([3, 'item-7'])).sessions[0];
    assert.deepEqual(first.ids, Array.from(first.items, (i) => `item-${i}`));
    const withCatalog = await fresh.load(bundle.dir, { catalog: true });
    assert.deepEqual(withCatalog.catalog, Array.from({ length: plain.items }, (_, i) => ({ id: `item-${i}`, title: `Item ${i}` })));
    assert.deepEqual([...withCatalog.fromNetwork].sort(), ['catalog', 'decoderStep', 'encoder', 'items']);
    assert.deepEqual((await fresh.recommend([3, 'item-7'])).sessions[0], first);
    await assert.rejects(fresh.load(bundle.dir, { catalog: 'yes' as never }), { name: 'InvalidArgumentError', message: /options\.catalog/ });
  } finally {
    await fresh.dispose();
  }
});

test('decimal external ids: a history by id equals it by index, sessions name the ids, other spellings of an id are unknown; LoadInfo.timings covers the load', async () => {
  // Shuffled ids past 2^32, so the runtime keeps them as numbers with its id table (runtime/item-index.ts ItemIds).
  const id = (i: number): string => String(5_000_000_000 + 13 * ((i * 7) % 60));
  const dir = join(root, 'decimal-ids');
  await writeTestBundle(dir, { ids: id }); // the same seed: the same codes and weights as the shared bundle
  const fresh = createNodeRecommender();
  try {
    const info = await fresh.load(dir);
    const { timings } = info;
    const parts = [timings.manifestMs, timings.readMs, timings.sha256Ms, timings.cacheWriteMs, timings.itemsMs, timings.trieMs, timings.checkMs, timings.runnerMs ?? -1];
    assert.ok(parts.every((ms) => ms >= 0), JSON.stringify(timings));
    assert.ok(parts.reduce((a, b) => a + b, 0) <= info.loadMs + 1, `parts ${JSON.stringify(timings)} exceed loadMs ${info.loadMs}`);
    const byIndex = await fresh.recommend(HISTORY);
    const odd = [`0${id(1)}`, `+${id(2)}`, `${id(3)}.0`, ` ${id(4)}`, '5000000001', 'item-3'];
    const byId = await fresh.recommend([...HISTORY.map(id), ...odd]);
    assert.deepEqual(byId.ignoredHistory, odd);
    const itemsOf = (r: RecommendResult) => r.sessions.map((s) => Array.from(s.items));
    assert.deepEqual(itemsOf(byId), itemsOf(byIndex));
    assert.deepEqual(itemsOf(byIndex), itemsOf(await recommender.recommend(HISTORY)), 'ids do not change generation');
    for (const s of byId.sessions) assert.deepEqual(s.ids, Array.from(s.items, id));
  } finally {
    await fresh.dispose();
  }
});

test('typed errors: bad options, bad device, not loaded, bad manifest version, tampered file', async () => {
  await assert.rejects(recommender.recommend(HISTORY, { beamWidth: 0 }), { name: 'InvalidArgumentError', message: /beamWidth/ });
  await assert.rejects(recommender.recommend(HISTORY, { beamWidth: 4, candidates: 5 }), { name: 'InvalidArgumentError', message: /candidates.*1\.\.beamWidth \(4\)/ });
  await assert.rejects(recommender.recommend(HISTORY, { sessionLength: 99 }), { name: 'InvalidArgumentError', message: /sessionLength/ });
  assert.throws(() => deviceToExecutionProviders('cuda' as never), { name: 'InvalidDeviceError', message: /'auto', 'webgpu', 'wasm'/ });
  assert.deepEqual(deviceToExecutionProviders('auto'), ['webgpu', 'wasm']);

  const fresh = createNodeRecommender();
  await assert.rejects(fresh.recommend(HISTORY), { name: 'NotLoadedError' });

  const v3 = join(root, 'v3');
  cpSync(bundle.dir, v3, { recursive: true });
  const manifest = JSON.parse(readFileSync(join(v3, 'manifest.json'), 'utf8'));
  writeFileSync(join(v3, 'manifest.json'), JSON.stringify({ ...manifest, version: 3 }));
  await assert.rejects(fresh.load(v3), { name: 'BundleVersionError', message: /manifest "version" 3 is not a bundle layout; this runtime reads version 2/ });

  const tampered = join(root, 'tampered');
  cpSync(bundle.dir, tampered, { recursive: true });
  const bytes = readFileSync(join(tampered, 'decoder_step.onnx'));
  bytes[bytes.length >> 1] ^= 0xff;
  writeFileSync(join(tampered, 'decoder_step.onnx'), bytes);
  await assert.rejects(fresh.load(tampered), { name: 'BundleIntegrityError', message: /decoder_step\.onnx: sha256 .* does not match/ });
  await assert.rejects(fresh.load(join(root, 'missing')), { name: 'BundleFetchError' });
  await fresh.dispose();
});

test('reward rerank: towers = the float reward reference, sessions ordered by Σ weights·towers; rerank:false keeps log-prob order', async () => {
  const withReward = await writeTestBundle(join(root, 'tiny-reward'), { reward: true });
  const { config: rc, weights: rw, towerWeights } = withReward.reward!;
  const r = createNodeRecommender();
  const info = await r.load(withReward.dir);
  assert.deepEqual(info.towers, ['swt', 'vtr', 'ltr']);
  for (const history of [HISTORY, [], Array.from({ length: 14 }, (_, i) => i * 4)]) {
    const got = await r.recommend(history, { beamWidth: 8, candidates: 6 });
    assert.equal(got.rankedBy, 'reward');
    assert.equal(got.sessions.length, 6);
    const plain = await r.recommend(history, { beamWidth: 8, candidates: 6, rerank: false });
    assert.equal(plain.rankedBy, 'log-prob');
    assert.equal(plain.sessions[0].towers, null);
    // Same candidate set, reordered.
    const key = (s: { items: Int32Array }) => Array.from(s.items).join(',');
    assert.deepEqual(got.sessions.map(key).sort(), plain.sessions.map(key).sort());
    for (let b = 1; b < plain.sessions.length; b++) assert.ok(plain.sessions[b - 1].logProb >= plain.sessions[b].logProb);
    for (const s of got.sessions) {
      const want = rewardForward(rw, rc, history, Int32Array.from(s.items)); // [1, T]
      s.towers!.forEach((p, t) => assert.ok(Math.abs(p - want[t]) < 1e-5, `tower ${t}: ${p} vs ${want[t]}`));
      const sum = towerWeights.reduce((acc, w, t) => acc + w * want[t], 0);
      assert.ok(Math.abs(s.reward! - sum) < 1e-5);
    }
    for (let b = 1; b < got.sessions.length; b++) {
      const [prev, next] = [got.sessions[b - 1], got.sessions[b]];
      // Higher reward first; rewards within REWARD_TIE keep the beam (log-prob) order.
      assert.ok(prev.reward! - next.reward! > REWARD_TIE || (Math.abs(prev.reward! - next.reward!) <= REWARD_TIE && prev.logProb >= next.logProb), `sessions ${b - 1}, ${b}`);
    }
  }
  // Shorter sessions are padded to the graph's m with −1; score() reports towers for given sessions.
  const short = await r.recommend(HISTORY, { sessionLength: 2, beamWidth: 4 });
  const padded = Int32Array.from([...short.sessions[0].items, -1, -1]);
  const want = rewardForward(rw, rc, HISTORY, padded);
  short.sessions[0].towers!.forEach((p, t) => assert.ok(Math.abs(p - want[t]) < 1e-5));
  const scored = await r.score(HISTORY, [Array.from(short.sessions[0].items)]);
  assert.ok(Math.abs(scored.reward![0] - short.sessions[0].reward!) < 1e-6);
  await r.dispose();
});
