// The load-time probe of `device: 'auto'` (runtime/backends.ts probedCandidate): the WGSL model and the wasm kernels each
// time one small recommendation, the faster is kept (the kernels only beyond PROBE_MARGIN), the loser released. Here over
// fake runners on a fake clock (the rule, the budget, the messages); over the real engines: backend-probe-engines.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { firstBackend, PROBE_BUDGET_MS, PROBE_MARGIN, probedCandidate, type BackendCandidate, type ProbeOptions } from '../../runtime/backends.ts';
import type { BundleRunner } from '../../runtime/bundle-runner.ts';
import { checkLoadArguments } from '../../runtime/arguments.ts';
import type { BackendProbe, RecommendOptions } from '../../runtime/recommender.ts';

/** A runner whose every recommend() advances `clock.ms` by the next of `costs` (the last one repeating). */
function fakeRunner(clock: { ms: number }, costs: number[], fail?: string) {
  const calls: { history: number[]; options: RecommendOptions }[] = [];
  const runner = {
    models: { shape: { maxHistory: 8, levels: 3, beamWidth: 8 }, trie: { itemCount: 60 } },
    fallbackReasons: [] as string[],
    probe: null as BackendProbe | null,
    released: false,
    calls,
    recommend: async (history: number[], options: RecommendOptions) => {
      if (fail) throw new Error(fail);
      clock.ms += costs[Math.min(calls.length, costs.length - 1)];
      calls.push({ history, options });
    },
    release: async () => { runner.released = true; },
  };
  return runner;
}
type Fake = ReturnType<typeof fakeRunner>;

/** A candidate giving `outcome`; its build advances `clock` by `buildMs`. */
const candidate = (name: string, outcome: Fake | string, clock?: { ms: number }, buildMs = 0): BackendCandidate & { made: number } => {
  const c = { name, made: 0, create: async () => { c.made++; if (clock) clock.ms += buildMs; return outcome as unknown as BundleRunner | string; } };
  return c;
};

/** The probe over a WGSL and a kernels runner costing `wgsl` and `wasm` ms per call. */
async function probe(wgsl: number[], wasm: number[], options: ProbeOptions = {}, buildMs = 0) {
  const clock = { ms: 0 };
  const gpu = fakeRunner(clock, wgsl);
  const kernels = fakeRunner(clock, wasm);
  const won = await firstBackend([probedCandidate(candidate('wgsl', gpu, clock, 1000), candidate('wasm-simd', kernels, clock, buildMs), { now: () => clock.ms, ...options })], ['[webgpu] before']);
  return { won: won as unknown as Fake, gpu, kernels, clock };
}

test('the faster engine is kept: the kernels beyond the margin, with the figures in fallbackReasons; the loser released', async () => {
  // Warm-ups 30 + 9 ms are not timed; the best of the timed calls decides.
  const { won, gpu, kernels, clock } = await probe([30, 14, 12.5, 13], [9, 4.5, 4, 5]);
  assert.equal(won, kernels);
  assert.deepEqual([gpu.released, kernels.released], [true, false]);
  assert.deepEqual(won.fallbackReasons, ['[webgpu] before', '[wgsl] probe: 12.5 ms per call against 4.0 on the wasm kernels (encoder + 3 decoder steps at beam 8, best of 3)']);
  assert.deepEqual(won.probe, { wgslMs: 12.5, wasmMs: 4, rounds: 3, chosen: 'wasm-simd', probeMs: clock.ms - 1000 });
  assert.equal(clock.ms, 1000 + 30 + 14 + 12.5 + 13 + 9 + 4.5 + 4 + 5); // probeMs leaves out the WGSL build (load() makes it anyway)
  // The workload: the first maxHistory items, one item, nothing excluded, no bias, no rerank; the same on both engines.
  const call = { history: [0, 1, 2, 3, 4, 5, 6, 7], options: { sessionLength: 1, excludeHistory: false, historyBias: false, rerank: false } };
  assert.deepEqual([gpu.calls, kernels.calls], [Array(4).fill(call), Array(4).fill(call)]);
});

test(`near-ties keep WebGPU: the kernels win only when wgslMs > ${PROBE_MARGIN} × wasmMs`, async () => {
  for (const [wgsl, wasm, chosen] of [[5, 4, 'wgsl'], [5.5, 4, 'wasm-simd'], [3, 4, 'wgsl'], [4.5, 4, 'wgsl']] as const) {
    const { won, gpu, kernels } = await probe([wgsl], [wasm]);
    assert.equal(won.probe!.chosen, chosen, `${wgsl} vs ${wasm}`);
    assert.equal(won, chosen === 'wgsl' ? gpu : kernels);
    assert.deepEqual([gpu.released, kernels.released], chosen === 'wgsl' ? [false, true] : [true, false]);
    // A line only where WGSL lost: fallbackReasons say why a candidate was not used.
    assert.equal(won.fallbackReasons.length, chosen === 'wgsl' ? 1 : 2);
  }
});

test(`the budget (${PROBE_BUDGET_MS} ms, warm-ups included, builds not) bounds the timed calls, one per engine at least`, async () => {
  assert.equal((await probe([100], [100])).won.probe!.rounds, 1); // the warm-ups alone spend it
  assert.equal((await probe([10], [10], { budgetMs: 45 })).won.probe!.rounds, 2); // 20 warm-up, 40 after one round, 60 after two
  const { won, gpu } = await probe([1], [1]);
  assert.deepEqual([won.probe!.rounds, gpu.calls.length], [3, 4]); // at most `rounds` (3) timed calls after the warm-up
  // The kernels' build is outside the budget (a fixed cost), inside probeMs.
  const built = await probe([10], [10], {}, 200);
  assert.deepEqual([built.won.probe!.rounds, built.won.probe!.probeMs], [3, 200 + 80]);
});

test('no probe where either engine does not come up; an engine whose call throws loses', async () => {
  const clock = { ms: 0 };
  const gpu = fakeRunner(clock, [1]);
  const wasmDeclines = candidate('wasm-simd', 'the kernels cannot read this graph');
  const kept = await probedCandidate(candidate('wgsl', gpu), wasmDeclines).create() as unknown as Fake;
  assert.deepEqual([kept, kept.probe, kept.fallbackReasons, gpu.calls.length, gpu.released], [gpu, null, [], 0, false]);

  const wasmUnused = candidate('wasm-simd', fakeRunner(clock, [1]));
  assert.equal(await probedCandidate(candidate('wgsl', 'no WebGPU device for the WGSL model: lost'), wasmUnused).create(), 'no WebGPU device for the WGSL model: lost');
  assert.equal(wasmUnused.made, 0);

  for (const failing of ['wgsl', 'wasm-simd']) {
    const a = fakeRunner(clock, [1], failing === 'wgsl' ? 'device lost' : undefined);
    const b = fakeRunner(clock, [1], failing === 'wasm-simd' ? 'out of memory' : undefined);
    const won = await probedCandidate(candidate('wgsl', a), candidate('wasm-simd', b)).create() as unknown as Fake;
    assert.equal(won, failing === 'wgsl' ? b : a);
    assert.deepEqual([a.released, b.released], failing === 'wgsl' ? [true, false] : [false, true]);
    assert.deepEqual([won.probe, won.fallbackReasons], [null, [`[${failing}] probe: recommend() threw ${failing === 'wgsl' ? 'device lost' : 'out of memory'}`]]);
  }
});

test('LoadOptions.probe is a boolean', () => {
  assert.equal(checkLoadArguments('/b/manifest.json', { probe: false }).probe, false);
  assert.throws(() => checkLoadArguments('/b/manifest.json', { probe: 'off' }), (e: Error) => e.name === 'InvalidArgumentError' && /probe/.test(e.message));
});
