// The GPU-resident search (runtime/webgpu-search.ts through WebGpuDecoder.searchSession): the shared beam search gives the
// sessions it gives over the one-step-per-call session of the same WGSL model (same items, same log-probabilities,
// bit for bit: the search reads the same float32 scores), with one read-back per call (searchReadBacks 'session', the
// default) or per generated item ('item'); where the CPU search chooses otherwise than the selection kernel (here:
// `renormalize`, which the kernel does not apply) the rest runs again from the search's choice and the sessions are
// still the same. WebGPU here is Dawn on SwiftShader.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { writeTestBundle } from './fixture.ts';
import { openDevice } from '../../models/engine/device.ts';
import { fileAwareFetch } from '../../runtime-node/node-recommender.ts';
import { fetchBundle } from '../../runtime/loader.ts';
import type { BundleModels } from '../../runtime/loader.ts';
import { WebGpuDecoder, type SearchReadBacks } from '../../runtime/webgpu-decoder.ts';
import { aliveLeafCounts, beamSearch, historyPaths, type BeamSearchOptions } from '../../runtime/beam-search.ts';
import { encoderTokens } from '../../runtime/tokens.ts';

const SHIPPED = join(import.meta.dirname, '..', '..', 'models', 'bundles');
let root: string;
let device: GPUDevice;

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'onerec-gpu-search-'));
  device = (await openDevice({ quiet: true })).device;
});
after(() => rmSync(root, { recursive: true, force: true }));

async function load(dir: string): Promise<BundleModels> {
  return (await fetchBundle(pathToFileURL(dir).href, { fetch: fileAwareFetch as typeof fetch, cache: false })).models;
}

/**
 * For each history: the search over searchSession against the search over sessionFromTokens (the per-step session),
 * on one WGSL model; returns the read-backs and mispredictions of each searchSession call. `contextExclude: false`
 * leaves the search's exclusions out of the SearchContext (the alive counts still hold them).
 */
async function compare(models: BundleModels, histories: number[][], options: Omit<BeamSearchOptions, 'exclude' | 'historyBias'> & { excludeHistory?: boolean; bias?: number[]; selectCacheRows?: number; selectSubgroups?: boolean; searchReadBacks?: SearchReadBacks; contextExclude?: boolean }): Promise<{ readBacks: number[]; mispredictions: number[] }> {
  const gpu = await WebGpuDecoder.create(device, models.decoderStep, models.members, { encoderOnnx: models.encoder, selectCacheRows: options.selectCacheRows, selectSubgroups: options.selectSubgroups, searchReadBacks: options.searchReadBacks });
  const { trie, shape } = models;
  const readBacks: number[] = [];
  const mispredictions: number[] = [];
  try {
    for (const history of histories) {
      const exclude = options.excludeHistory === false ? undefined : new Uint8Array(trie.itemCount);
      for (const item of history) if (exclude) exclude[item] = 1;
      const codes = new Uint16Array(trie.itemCount * trie.levels);
      for (let i = 0; i < trie.itemCount; i++) codes.set(trie.itemCodes(i), i * trie.levels);
      const tokens = encoderTokens(Int32Array.from(history), codes, shape.levels, shape.codebookSize, shape.maxHistory);
      const historyBias = options.bias && history.length > 0 ? { bias: options.bias, history } : undefined;
      const search = { beamWidth: options.beamWidth, sessionLength: options.sessionLength, renormalize: options.renormalize, exclude, historyBias };
      const want = await beamSearch(gpu.sessionFromTokens(tokens, options.beamWidth), trie, search);
      const before = { ...gpu.stats };
      const context = { trie, beamWidth: options.beamWidth, sessionLength: options.sessionLength, alive: aliveLeafCounts(trie, exclude), exclude: options.contextExclude === false ? undefined : exclude, historyBias: historyBias && { bias: historyBias.bias, paths: historyPaths(trie, history) } };
      const got = await beamSearch(gpu.searchSession(tokens, options.beamWidth, context), trie, search);
      readBacks.push(gpu.stats.readBacks - before.readBacks);
      mispredictions.push(gpu.stats.mispredictions - before.mispredictions);
      const what = `history [${history}] ${JSON.stringify(options)}`;
      assert.ok(want.logProb.length > 0, what);
      assert.deepEqual(Array.from(got.items), Array.from(want.items), what);
      assert.deepEqual(Array.from(got.logProb), Array.from(want.logProb), what);
    }
  } finally {
    gpu.dispose();
  }
  return { readBacks, mispredictions };
}

const none = (histories: unknown[]): number[] => histories.map(() => 0); // no misprediction in any call

test('tiny bundle: the CPU search\'s sessions, one read-back per call (per generated item with searchReadBacks \'item\')', async () => {
  const bundle = await writeTestBundle(join(root, 'tiny'), { reward: false });
  const models = await load(bundle.dir);
  const histories = [[3, 17, 5, 42, 9], [], [59, 0, 12]];
  for (const [beamWidth, sessionLength] of [[8, models.shape.sessionLength], [5, 2], [1, 3]]) {
    const session = await compare(models, histories, { beamWidth, sessionLength });
    assert.deepEqual(session.mispredictions, none(histories));
    assert.deepEqual(session.readBacks, histories.map(() => 1), `beam ${beamWidth}: read-backs per call`);
    const item = await compare(models, histories, { beamWidth, sessionLength, searchReadBacks: 'item' });
    assert.deepEqual(item.mispredictions, none(histories));
    assert.deepEqual(item.readBacks, histories.map(() => sessionLength), `beam ${beamWidth}, per item: read-backs per call`);
  }
});

test('tiny bundle, a SearchContext without the search\'s exclusions: one read-back per item where the alive counts exclude items, one per call where they exclude none', async () => {
  const bundle = await writeTestBundle(join(root, 'tiny-no-exclude'), { reward: false });
  const models = await load(bundle.dir);
  const histories = [[3, 17, 5, 42, 9], []];
  const { readBacks, mispredictions } = await compare(models, histories, { beamWidth: 8, sessionLength: models.shape.sessionLength, contextExclude: false });
  assert.deepEqual(mispredictions, none(histories));
  assert.deepEqual(readBacks, [models.shape.sessionLength, 1]);
});

test('tiny bundle, each variant of the selection kernel (register cache or rescans of global memory; subgroup or barrier-tree reduction): the same sessions', async () => {
  const bundle = await writeTestBundle(join(root, 'tiny-rescan'), { reward: false });
  const models = await load(bundle.dir);
  assert.ok(device.features.has('subgroups'), 'SwiftShader has subgroups (of 4): the subgroup reduction runs here');
  const histories = [[3, 17, 5, 42, 9], [59, 0, 12]];
  const bias = [0.9, -0.4, 1.5, -8].slice(0, models.shape.levels);
  // Cache 2 rows: the first step of the search (1 row) takes the register path, the later steps (8 rows) rescan.
  for (const kernel of [{ selectCacheRows: 2, selectSubgroups: true }, { selectCacheRows: 2, selectSubgroups: false }, { selectSubgroups: false }]) {
    for (const options of [{ beamWidth: 8, sessionLength: models.shape.sessionLength }, { beamWidth: 8, sessionLength: models.shape.sessionLength, excludeHistory: false, bias }]) {
      const { readBacks, mispredictions } = await compare(models, histories, { ...options, ...kernel });
      assert.deepEqual(mispredictions, none(histories), JSON.stringify({ ...options, ...kernel }));
      assert.deepEqual(readBacks, histories.map(() => 1));
    }
  }
});

test('tiny bundle with the history kept and a history bias (the kernel applies it too, at the last level on the history\'s items): the CPU search\'s sessions, one read-back per call', async () => {
  const bundle = await writeTestBundle(join(root, 'tiny-bias'), { reward: false });
  const models = await load(bundle.dir);
  const histories = [[3, 17, 5, 42, 9], [59, 0, 12], [1, 2, 3, 4, 5, 6, 7, 8]];
  const bias = [0.9, -0.4, 1.5, -8].slice(0, models.shape.levels);
  for (const searchReadBacks of ['session', 'item'] as const) {
    const { readBacks, mispredictions } = await compare(models, histories, { beamWidth: 8, sessionLength: models.shape.sessionLength, excludeHistory: false, bias, searchReadBacks });
    assert.deepEqual(mispredictions, none(histories));
    assert.deepEqual(readBacks, histories.map(() => (searchReadBacks === 'session' ? 1 : models.shape.sessionLength)));
  }
});

test('where the CPU search chooses otherwise than the kernel (renormalize, history kept), the sessions are still the CPU search\'s', async () => {
  const bundle = await writeTestBundle(join(root, 'tiny-renormalize'), { reward: false });
  const models = await load(bundle.dir);
  const histories = [[3, 17, 5, 42, 9], [59, 0, 12]];
  const { sessionLength, levels } = models.shape;
  const session = await compare(models, histories, { beamWidth: 8, sessionLength, renormalize: true, excludeHistory: false });
  assert.ok(session.mispredictions.every((n) => n > 0), 'renormalize changes the scores; the kernel should have been overruled at least once per call');
  // Each disagreement runs the rest of the session again: one more read-back.
  assert.deepEqual(session.readBacks, session.mispredictions.map((n) => 1 + n));
  const item = await compare(models, histories, { beamWidth: 8, sessionLength, renormalize: true, excludeHistory: false, searchReadBacks: 'item' });
  assert.ok(item.mispredictions.every((n) => n > 0));
  assert.deepEqual(item.readBacks, item.mispredictions.map((n) => sessionLength + n));
  item.readBacks.forEach((n) => assert.ok(n <= sessionLength * levels, `${n} read-backs`));
});

// ~1 min on SwiftShader: 6,361 items, beam 8 and 32, sessions of 5 items.
test('the shipped KuaiRand bundle: the CPU search\'s sessions, one read-back per call', async (t) => {
  const dir = join(SHIPPED, 'kuairand');
  if (!existsSync(join(dir, 'manifest.json'))) return t.skip('models/bundles/kuairand is not in this checkout');
  const models = await load(dir);
  const histories = [[5, 900, 77, 4000, 12], []];
  for (const beamWidth of [8, 32]) {
    const { readBacks, mispredictions } = await compare(models, histories, { beamWidth, sessionLength: models.shape.sessionLength });
    assert.deepEqual(mispredictions, none(histories));
    assert.deepEqual(readBacks, histories.map(() => 1));
  }
});

// The shipped Beauty bundles (12,101 items, int4, sessions of 2 items): the single model and the ensemble of two, each
// with the history excluded and with the history kept under the bundle's own history bias. Slow on SwiftShader, ~30 s
// and ~60 s alone (up to twice that beside another file): the ensemble's first decoder compiles both members' pipelines
// (~23 s), and each of the four searches (per-step reference and GPU-resident, two options) takes 6–7 s.
for (const name of ['beauty', 'beauty-ensemble']) {
  test(`the shipped ${name} bundle: the CPU search's sessions, one read-back per call (history excluded, and kept with its history bias)`, async (t) => {
    const dir = join(SHIPPED, name);
    if (!existsSync(join(dir, 'manifest.json'))) return t.skip(`models/bundles/${name} is not in this checkout`);
    const models = await load(dir);
    assert.ok(models.historyBias, `${name} has a history bias`);
    const histories = [[5, 900, 77, 4000, 12]];
    for (const options of [{ beamWidth: 8, sessionLength: 2 }, { beamWidth: 8, sessionLength: 2, excludeHistory: false, bias: models.historyBias! }]) {
      const { readBacks, mispredictions } = await compare(models, histories, options);
      assert.deepEqual(mispredictions, [0], JSON.stringify(options));
      assert.deepEqual(readBacks, [1]);
    }
  });
}
